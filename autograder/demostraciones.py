"""Celdas de demostración que no se ejecutan al calificar.

Las celdas de código de ``solutions/`` con la etiqueta ``demostracion`` (gráficas, medidas de
tiempo, entrenamientos de ejemplo) no influyen en ninguna nota; al calificar se saltan para
que cada cuaderno cueste menos. Una celda de la entrega se salta solo si:

- su código es idéntico al de una celda etiquetada de la versión publicada (lo que diga la
  entrega en sus metadatos no cuenta: un alumno no puede saltarse nada propio), y
- nada de lo que se ejecuta depende de ella, en el orden de ejecución: ningún uso de un nombre
  que define (los usos dentro de funciones cuentan para todas las celdas siguientes) salvo
  que una celda publicada posterior lo vuelva a definir sin condiciones (análisis con ``ast``
  y ``symtable``; las definiciones de las celdas del alumno nunca cuentan como seguras), y
- ninguna celda del alumno accede al espacio de nombres de forma dinámica (``globals()``,
  ``eval``, ``exec``, ``__main__``, ``sys.modules``…); si lo hace, no se salta nada.

``tests/test_demostraciones.py`` comprueba que las soluciones sacan la misma nota y las mismas
salidas en las celdas calificadas con y sin saltar las demostraciones.

>>> import nbformat
>>> nb = nbformat.v4.new_notebook(cells=[
...     nbformat.v4.new_code_cell("x = 1"),
...     nbformat.v4.new_code_cell("print(x)"),
...     nbformat.v4.new_code_cell("y = 2")])
>>> sorted(celdas_a_saltar(nb, {"print(x)", "y = 2"}))
[1, 2]
>>> sorted(celdas_a_saltar(nb, {"x = 1", "y = 2"}))  # x se usa después: no se salta
[2]
"""

from __future__ import annotations

import ast
import functools
import symtable
from typing import NamedTuple

__all__ = [
    "ETIQUETA",
    "Nombres",
    "celdas_a_saltar",
    "fuentes_de_demostracion",
    "nombres_de_celda",
]

#: Etiqueta (``metadata.tags``) de las celdas de demostración en ``solutions/``.
ETIQUETA = "demostracion"

# Acceso dinámico al espacio de nombres: con él, el análisis de nombres no vale.
_DINAMICOS = frozenset(
    {"globals", "locals", "vars", "eval", "exec", "__builtins__", "__import__", "__main__"}
)  # fmt: skip
_ATRIBUTOS_DINAMICOS = frozenset({"__dict__", "user_ns", "f_globals", "f_locals", "modules"})


def fuentes_de_demostracion(nb) -> set[str]:
    """Código de las celdas etiquetadas como demostración de un cuaderno publicado."""
    return {
        celda.source
        for celda in nb.cells
        if celda.cell_type == "code" and ETIQUETA in celda.get("metadata", {}).get("tags", [])
    }


@functools.lru_cache(maxsize=512)
def _codigo(fuente: str) -> str | None:
    """Código Python de una celda (con la sintaxis de IPython traducida); None si no es
    válido (una celda así no llega a ejecutar nada)."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        codigo = TransformerManager().transform_cell(fuente)
        ast.parse(codigo)
    except (SyntaxError, ValueError):
        return None
    return codigo


def _globales_de_funciones(tabla: symtable.SymbolTable) -> set[str]:
    """Nombres globales que usan las funciones, lambdas y comprensiones de una celda."""
    nombres = set()
    for hija in tabla.get_children():
        if hija.get_type() != "class":
            nombres |= {s.get_name() for s in hija.get_symbols() if s.is_global()}
        nombres |= _globales_de_funciones(hija)
    return nombres


class Nombres(NamedTuple):
    """Nombres de una celda (ver :func:`nombres_de_celda`)."""

    definidos: frozenset[str]  # lo que puede dejar en el espacio de nombres
    seguros: frozenset[str]  # lo que deja seguro: asignaciones de primer nivel sin condición
    libres: frozenset[str]  # lo que usa al ejecutarse antes de definirlo ella misma
    diferidos: frozenset[str]  # lo que usan sus funciones (cuando se las llame)
    dinamico: bool  # accede al espacio de nombres de forma dinámica (globals(), eval…)


_SEGURAS = (ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)


@functools.lru_cache(maxsize=512)
def nombres_de_celda(fuente: str) -> Nombres:
    """Qué nombres define y usa el código de una celda (análisis conservador con ``ast``).

    Los usos dentro de funciones cuentan como diferidos; las definiciones dentro de ``if``,
    ``for``, ``try``… cuentan como posibles, no seguras. Una celda que no es Python válido no
    define ni usa nada (no llega a ejecutarse).

    >>> n = nombres_de_celda("import torch as t\\nx = t.ones(2) + y\\ndef f():\\n    return x + z")
    >>> sorted(n.seguros), sorted(n.libres), sorted(n.diferidos)
    (['f', 't', 'x'], ['y'], ['x', 'z'])
    """
    codigo = _codigo(fuente)
    if codigo is None:
        return Nombres(frozenset(), frozenset(), frozenset(), frozenset(), False)
    arbol = ast.parse(codigo)
    definidos: set[str] = set()
    _Definidos(definidos).visit(arbol)
    seguros, libres = set(), set()
    diferidos = _globales_de_funciones(symtable.symtable(codigo, "<celda>", "exec"))
    for sentencia in arbol.body:
        libres |= _usos(sentencia) - seguros
        if isinstance(sentencia, _SEGURAS) and not (
            isinstance(sentencia, ast.AnnAssign) and sentencia.value is None
        ):
            _Definidos(seguros).visit(sentencia)
    # Acceso dinámico; get_ipython() solo para %matplotlib y órdenes del sistema no lo es.
    nombres, llamadas, magias, dinamico = set(), 0, 0, False
    for nodo in ast.walk(arbol):
        if isinstance(nodo, (ast.Global, ast.Nonlocal)):
            definidos.update(nodo.names)
        elif isinstance(nodo, ast.Name):
            nombres.add(nodo.id)
            llamadas += nodo.id == "get_ipython"
        elif isinstance(nodo, ast.alias):
            nombres.add(nodo.name.split(".")[0])
        elif isinstance(nodo, ast.Attribute):
            dinamico = dinamico or nodo.attr in _ATRIBUTOS_DINAMICOS
        magias += _magia_inofensiva(nodo)
    dinamico = dinamico or bool(nombres & _DINAMICOS) or llamadas > magias
    return Nombres(
        frozenset(definidos),
        frozenset(seguros & definidos),
        frozenset(libres),
        frozenset(diferidos),
        dinamico,
    )


def _usos(sentencia: ast.stmt) -> set[str]:
    """Nombres que usa la sentencia al ejecutarse, fuera de funciones, lambdas y
    comprensiones (esos los da :func:`_globales_de_funciones`)."""
    usados = set()
    pendientes: list[ast.AST] = [sentencia]
    while pendientes:
        nodo = pendientes.pop()
        if isinstance(nodo, ast.Name) and not isinstance(nodo.ctx, ast.Store):
            usados.add(nodo.id)
        elif isinstance(nodo, ast.AugAssign) and isinstance(nodo.target, ast.Name):
            usados.add(nodo.target.id)
        elif isinstance(nodo, (ast.Global, ast.Nonlocal)):
            usados.update(nodo.names)
        if isinstance(nodo, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            # Decoradores y valores por defecto se evalúan al definir; el cuerpo, al llamar.
            pendientes += getattr(nodo, "decorator_list", []) + nodo.args.defaults
            pendientes += [d for d in nodo.args.kw_defaults if d is not None]
        elif isinstance(nodo, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            pendientes.append(nodo.generators[0].iter)  # lo único que se evalúa fuera
        else:
            pendientes += ast.iter_child_nodes(nodo)
    return usados


def _magia_inofensiva(nodo: ast.AST) -> bool:
    """``get_ipython().run_line_magic("matplotlib", …)``, ``.system(…)`` o ``.getoutput(…)``."""
    if not (
        isinstance(nodo, ast.Call)
        and isinstance(nodo.func, ast.Attribute)
        and isinstance(nodo.func.value, ast.Call)
        and isinstance(nodo.func.value.func, ast.Name)
        and nodo.func.value.func.id == "get_ipython"
    ):
        return False
    if nodo.func.attr in {"system", "getoutput"}:
        return True
    primero = nodo.args[0] if nodo.args else None
    return (
        nodo.func.attr == "run_line_magic"
        and isinstance(primero, ast.Constant)
        and primero.value == "matplotlib"
    )


class _Definidos(ast.NodeVisitor):
    """Nombres que una celda define en el espacio de nombres del cuaderno."""

    def __init__(self, definidos: set[str]):
        self.definidos = definidos

    def visit_Name(self, nodo: ast.Name) -> None:
        if not isinstance(nodo.ctx, ast.Load):
            self.definidos.add(nodo.id)

    def visit_FunctionDef(self, nodo) -> None:
        self.definidos.add(nodo.name)
        for expresion in [*nodo.decorator_list, *nodo.args.defaults, *nodo.args.kw_defaults]:
            if expresion is not None:
                self.visit(expresion)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, nodo: ast.ClassDef) -> None:
        self.definidos.add(nodo.name)
        for expresion in [*nodo.decorator_list, *nodo.bases, *nodo.keywords]:
            self.visit(expresion)

    def visit_Lambda(self, nodo: ast.Lambda) -> None:
        pass

    def visit_comprehension(self, nodo: ast.comprehension) -> None:
        # La variable de la comprensión no sale de ella; un «:=» dentro, sí.
        for expresion in [nodo.iter, *nodo.ifs]:
            self.visit(expresion)

    def visit_alias(self, nodo: ast.alias) -> None:
        self.definidos.add((nodo.asname or nodo.name).split(".")[0])

    def visit_ExceptHandler(self, nodo: ast.ExceptHandler) -> None:
        if nodo.name:
            self.definidos.add(nodo.name)
        self.generic_visit(nodo)

    def visit_MatchAs(self, nodo) -> None:
        if nodo.name:
            self.definidos.add(nodo.name)
        self.generic_visit(nodo)

    visit_MatchStar = visit_MatchAs

    def visit_MatchMapping(self, nodo) -> None:
        if nodo.rest:
            self.definidos.add(nodo.rest)
        self.generic_visit(nodo)


def celdas_a_saltar(nb, demostraciones: set[str], publicadas: set[str] | None = None) -> set[int]:
    """Índices de las celdas de ``nb`` (una entrega) que se pueden saltar al calificar.

    ``demostraciones`` es el código de las celdas etiquetadas de la versión publicada
    (:func:`fuentes_de_demostracion`) y ``publicadas``, el de todas sus celdas de código: las
    demás celdas, y las de respuesta, son del alumno (sus definiciones cuentan como posibles,
    no seguras). Sin ``publicadas``, solo las de respuesta son del alumno. Las celdas de
    nbgrader no se saltan nunca.
    """
    codigo = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    candidatas = {
        i
        for i in codigo
        if nb.cells[i].source in demostraciones and not nb.cells[i].metadata.get("nbgrader")
    }
    if not candidatas:
        return set()

    def del_alumno(i: int) -> bool:
        celda = nb.cells[i]
        if celda.metadata.get("nbgrader", {}).get("solution"):
            return True
        return publicadas is not None and celda.source not in publicadas

    nombres = {i: nombres_de_celda(nb.cells[i].source) for i in codigo}
    if any(nombres[i].dinamico for i in codigo if del_alumno(i)):
        return set()
    # Con el orden de ejecución: cada uso de una celda que se ejecuta depende de las
    # definiciones anteriores hasta la última segura; si alguna es de una candidata, esa
    # candidata se ejecuta (y se repite hasta que nada cambie).
    cambio = True
    while cambio:
        cambio = False
        diferidos: set[str] = set()
        for posicion, i in enumerate(codigo):
            if i in candidatas:
                continue
            diferidos |= nombres[i].diferidos
            for nombre in nombres[i].libres | diferidos:
                for j in reversed(codigo[:posicion]):
                    if nombre not in nombres[j].definidos:
                        continue
                    if j in candidatas:
                        candidatas.discard(j)
                        cambio = True
                    if nombre in nombres[j].seguros and not del_alumno(j):
                        break
    return candidatas
