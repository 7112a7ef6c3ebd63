"""Indicios de copia entre entregas: respuestas idénticas e identificadores que no cuadran.

- :func:`huella_respuestas`: huella de las celdas de respuesta de un cuaderno, normalizadas
  (sin comentarios ni diferencias de formato, vía ``ast``); None si no hay ninguna respondida.
- :func:`identificador_escrito`: el ``IDENTIFICADOR = "…"`` que el alumno escribió en la celda
  de configuración (None si no hay o está vacío).
- :func:`incidencias_de_copia`: a partir de (alumno, módulo, cuaderno) de todas las entregas,
  los avisos para el informe: «respuestas idénticas a las de …» e «identificador escrito …».

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


def _normalizar(fuente: str) -> str | None:
    """Código sin comentarios ni formato (``ast.dump``); None si no es Python válido."""
    try:
        return ast.dump(ast.parse(fuente))
    except (SyntaxError, ValueError):
        return None


def _respondida(fuente: str) -> bool:
    return bool(fuente.strip()) and _ESQUELETO not in fuente


def huella_respuestas(nb) -> str | None:
    """Huella SHA-256 de las celdas de respuesta respondidas (None si no hay ninguna)."""
    partes = []
    for celda in nb.cells:
        meta = celda.get("metadata", {}).get("nbgrader", {})
        if celda.get("cell_type") != "code" or not meta.get("solution"):
            continue
        fuente = celda.get("source", "")
        if _respondida(fuente):
            partes.append(_normalizar(fuente) or fuente.strip())
    if not partes:
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
    avisos: dict[tuple[str, str], list[str]] = defaultdict(list)
    for alumno, modulo, nb in entregas:
        huella = huella_respuestas(nb)
        if huella is not None:
            grupos[(modulo, huella)].append(alumno)
        escrito = identificador_escrito(nb)
        if escrito is not None and escrito != alumno:
            avisos[(alumno, modulo)].append(
                f"el identificador escrito en el cuaderno ({escrito}) no es el de esta entrega"
            )
    for (modulo, _), alumnos in grupos.items():
        if len(set(alumnos)) < 2:
            continue
        for alumno in alumnos:
            otros = ", ".join(sorted(set(alumnos) - {alumno}))
            avisos[(alumno, modulo)].insert(0, f"respuestas idénticas a las de {otros}")
    return dict(avisos)
