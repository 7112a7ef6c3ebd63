"""Indicios de copia entre entregas: respuestas idénticas e identificadores que no cuadran.

- :func:`huella_respuestas`: huella de las celdas de respuesta de un cuaderno, normalizadas
  (sin comentarios ni diferencias de formato, vía ``ast``); None si no hay ninguna respondida.
  Con ``sin_nombres=True`` también se quitan los docstrings y los nombres locales de cada función
  (parámetros, variables, variables de bucle) pasan a ``_0``, ``_1``…: renombrar las variables
  no oculta la copia. Esta huella solo se da si las respuestas tienen al menos
  ``_MINIMO_NODOS`` nodos del árbol sintáctico: las respuestas cortas coinciden por azar.
- :func:`identificador_escrito`: el ``IDENTIFICADOR = "…"`` que el alumno escribió en la celda
  de configuración (None si no hay o está vacío).
- :func:`incidencias_de_copia`: a partir de (alumno, módulo, cuaderno) de todas las entregas,
  los avisos para el informe: «respuestas idénticas a las de …», «respuestas idénticas salvo
  los nombres de las variables a las de …» e «identificador escrito …».

>>> import nbformat
>>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('IDENTIFICADOR = "ana"')])
>>> identificador_escrito(nb)
'ana'
"""

from __future__ import annotations

import ast
import hashlib
from collections import defaultdict

__all__ = ["huella_respuestas", "identificador_escrito", "incidencias_de_copia"]

_ESQUELETO = "NotImplementedError"
# Unas 12 líneas de código: por debajo, dos respuestas honradas cortas pueden coincidir.
_MINIMO_NODOS = 150


class _Renombrar(ast.NodeTransformer):
    """Cambia los nombres locales de cada función por ``_0``, ``_1``… (en orden de aparición) y
    quita los docstrings. No toca atributos, globales, importaciones ni nombres de funciones."""

    def __init__(self):
        self.ambitos: list[dict[str, str]] = []

    @staticmethod
    def _locales(nodo) -> list[str]:
        argumentos = nodo.args
        nombres = [
            a.arg for a in (*argumentos.posonlyargs, *argumentos.args, *argumentos.kwonlyargs)
        ]
        nombres += [a.arg for a in (argumentos.vararg, argumentos.kwarg) if a is not None]
        globales = set()
        for hijo in ast.walk(nodo) if not isinstance(nodo, ast.Lambda) else ():
            if isinstance(hijo, ast.Global | ast.Nonlocal):
                globales.update(hijo.names)
            elif isinstance(hijo, ast.Name) and isinstance(hijo.ctx, ast.Store):
                nombres.append(hijo.id)
        return [n for n in dict.fromkeys(nombres) if n not in globales]

    def _funcion(self, nodo):
        exteriores = self.ambitos[-1] if self.ambitos else {}
        propios = {n: f"_{len(exteriores) + i}" for i, n in enumerate(self._locales(nodo))}
        self.ambitos.append({**exteriores, **propios})
        if isinstance(nodo, ast.Lambda):
            nodo.args = self.visit(nodo.args)
            nodo.body = self.visit(nodo.body)
        else:
            cuerpo = nodo.body
            if (
                cuerpo
                and isinstance(cuerpo[0], ast.Expr)
                and isinstance(cuerpo[0].value, ast.Constant)
                and isinstance(cuerpo[0].value.value, str)
            ):
                cuerpo = cuerpo[1:] or [ast.Pass()]
            nodo.args = self.visit(nodo.args)
            nodo.body = [self.visit(s) for s in cuerpo]
            nodo.decorator_list = [self.visit(d) for d in nodo.decorator_list]
        self.ambitos.pop()
        return nodo

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _funcion

    def visit_arg(self, nodo):
        nodo.arg = self.ambitos[-1].get(nodo.arg, nodo.arg) if self.ambitos else nodo.arg
        nodo.annotation = None
        return nodo

    def visit_Name(self, nodo):
        if self.ambitos:
            nodo.id = self.ambitos[-1].get(nodo.id, nodo.id)
        return nodo


def _normalizar(fuente: str, sin_nombres: bool = False) -> str | None:
    """Código sin comentarios ni formato (``ast.dump``); None si no es Python válido."""
    try:
        arbol = ast.parse(fuente)
    except (SyntaxError, ValueError):
        return None
    if sin_nombres:
        arbol = _Renombrar().visit(arbol)
    return ast.dump(arbol)


def _respondida(fuente: str) -> bool:
    return bool(fuente.strip()) and _ESQUELETO not in fuente


def huella_respuestas(nb, sin_nombres: bool = False) -> str | None:
    """Huella SHA-256 de las celdas de respuesta respondidas (None si no hay ninguna).

    Con ``sin_nombres``, la huella sin docstrings ni nombres locales, o None si las respuestas
    son demasiado cortas para que coincidir signifique algo (menos de ``_MINIMO_NODOS`` nodos).
    """
    partes, nodos = [], 0
    for celda in nb.cells:
        meta = celda.get("metadata", {}).get("nbgrader", {})
        if celda.get("cell_type") != "code" or not meta.get("solution"):
            continue
        fuente = celda.get("source", "")
        if _respondida(fuente):
            partes.append(_normalizar(fuente, sin_nombres) or fuente.strip())
            if sin_nombres:
                try:
                    nodos += sum(1 for _ in ast.walk(ast.parse(fuente)))
                except (SyntaxError, ValueError):
                    pass
    if not partes or (sin_nombres and nodos < _MINIMO_NODOS):
        return None
    return hashlib.sha256("\n\0".join(partes).encode()).hexdigest()


def identificador_escrito(nb) -> str | None:
    """Valor de ``IDENTIFICADOR = "…"`` en las celdas de código (el primero), o None."""
    for celda in nb.cells:
        if celda.get("cell_type") != "code" or "IDENTIFICADOR" not in celda.get("source", ""):
            continue
        try:
            arbol = ast.parse(celda["source"])
        except (SyntaxError, ValueError):
            continue
        for nodo in ast.walk(arbol):
            if (
                isinstance(nodo, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "IDENTIFICADOR" for t in nodo.targets)
                and isinstance(nodo.value, ast.Constant)
                and isinstance(nodo.value.value, str)
            ):
                return nodo.value.value.strip() or None
    return None


def incidencias_de_copia(entregas) -> dict[tuple[str, str], list[str]]:
    """Avisos de copia por (alumno, módulo) a partir de tuplas (alumno, módulo, cuaderno).

    >>> import nbformat
    >>> def cuaderno(respuesta, ident=""):
    ...     celdas = [nbformat.v4.new_code_cell(f'IDENTIFICADOR = "{ident}"'),
    ...               nbformat.v4.new_code_cell(respuesta)]
    ...     celdas[1].metadata["nbgrader"] = {"solution": True}
    ...     return nbformat.v4.new_notebook(cells=celdas)
    >>> avisos = incidencias_de_copia([
    ...     ("ana", "m1", cuaderno("def f():\\n    return 1  # mío", "ana")),
    ...     ("luis", "m1", cuaderno("def f():\\n  return 1", "ana")),
    ... ])
    >>> for aviso in avisos[("luis", "m1")]:
    ...     print(aviso)
    respuestas idénticas a las de ana
    el identificador escrito en el cuaderno (ana) no es el de esta entrega
    """
    grupos: dict[tuple[str, str], list[str]] = defaultdict(list)
    renombradas: dict[tuple[str, str], list[str]] = defaultdict(list)
    exacta: dict[tuple[str, str], str] = {}  # (alumno, módulo) -> huella exacta
    avisos: dict[tuple[str, str], list[str]] = defaultdict(list)
    for alumno, modulo, nb in entregas:
        huella = huella_respuestas(nb)
        if huella is not None:
            grupos[(modulo, huella)].append(alumno)
            exacta[(alumno, modulo)] = huella
        huella = huella_respuestas(nb, sin_nombres=True)
        if huella is not None:
            renombradas[(modulo, huella)].append(alumno)
        escrito = identificador_escrito(nb)
        if escrito is not None and escrito != alumno:
            avisos[(alumno, modulo)].append(
                f"el identificador escrito en el cuaderno ({escrito}) no es el de esta entrega"
            )
    for (modulo, _), alumnos in renombradas.items():
        for alumno in set(alumnos):
            propia = exacta.get((alumno, modulo))
            otros = sorted(
                {a for a in alumnos if propia is None or exacta.get((a, modulo)) != propia}
                - {alumno}
            )
            if otros:
                avisos[(alumno, modulo)].insert(
                    0,
                    "respuestas idénticas salvo los nombres de las variables a las de "
                    + ", ".join(otros),
                )
    for (modulo, _), alumnos in grupos.items():
        if len(set(alumnos)) < 2:
            continue
        for alumno in alumnos:
            otros = ", ".join(sorted(set(alumnos) - {alumno}))
            avisos[(alumno, modulo)].insert(0, f"respuestas idénticas a las de {otros}")
    return dict(avisos)
