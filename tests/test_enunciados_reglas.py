"""Las reglas que dice cada enunciado son las que se vigilan, y las pruebas las aplican.

Revisión estática de los ejercicios calificados de solutions/ (celdas de respuesta de nbgrader
con ``grade_id``), sin ejecutar nada:

- El enunciado (las celdas de Markdown justo antes de la respuesta) tiene un párrafo que empieza
  por «**Reglas.**» y cita entre comillas invertidas exactamente las operaciones de
  ``REGLAS[grade_id].textos()``: las prohibidas antes de «Debes usar» y las obligatorias
  después. Un ejercicio sin reglas dice «**Reglas.** Puedes usar cualquier función de PyTorch.».
- Toda clave de ``REGLAS`` es el ``grade_id`` de una celda de respuesta.
- En las celdas de prueba, las funciones del alumno (las que define su celda de respuesta) solo
  aparecen como primer argumento de ``cu.comprobar_funcion``, ``cu.comprobar_gradientes`` o
  ``cu.ejecutar_alumno``, o dentro de una lambda o una función que solo se pasa así; nunca se
  llaman directamente. Esas llamadas llevan ``ejercicio="<grade_id de la respuesta>"``.
- Ninguna celda de prueba guarda un valor esperado (``esperado``, ``referencia``, ``_m``…) antes
  de ejecutar la función del alumno: las referencias se calculan después.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from course_utils.reglas import REGLAS

RAIZ = Path(__file__).resolve().parent.parent
SOLUCIONES = sorted((RAIZ / "solutions").glob("*/*.ipynb"))
EJECUTORAS = {"comprobar_funcion", "comprobar_gradientes", "ejecutar_alumno"}
SIN_REGLAS = "**Reglas.** Puedes usar cualquier función de PyTorch."
# Nombres que suelen guardar un valor esperado o el resultado de una referencia.
ESPERADOS = re.compile(r"^_*(esperad[oa]s?|referencias?|\w+_ref|ref_\w+|sk|m|n|p|q|z|loss|pred)$")


@dataclass
class Ejercicio:
    cuaderno: str
    grade_id: str
    enunciado: str  # Markdown de las celdas justo antes de la respuesta
    respuesta: str
    pruebas: list[tuple[str, str]] = field(default_factory=list)  # (grade_id, fuente)

    @property
    def funciones(self) -> list[str]:
        """Funciones que define la celda de respuesta (las que escribe el alumno)."""
        arbol = ast.parse(self.respuesta)
        return [n.name for n in arbol.body if isinstance(n, ast.FunctionDef)]


def _ejercicios() -> list[Ejercicio]:
    ejercicios = []
    for ruta in SOLUCIONES:
        celdas = nbformat.read(ruta, as_version=4).cells
        actual = None
        for i, celda in enumerate(celdas):
            meta = celda.metadata.get("nbgrader", {})
            if meta.get("solution") and meta.get("grade_id"):
                anteriores = []
                for previa in reversed(celdas[:i]):
                    if previa.cell_type != "markdown":
                        break
                    anteriores.insert(0, previa.source)
                actual = Ejercicio(
                    ruta.relative_to(RAIZ).as_posix(),
                    meta["grade_id"],
                    "\n\n".join(anteriores),
                    celda.source,
                )
                ejercicios.append(actual)
            elif meta.get("grade") and actual is not None:
                if meta.get("grade_id", "").startswith(actual.grade_id + "_"):
                    actual.pruebas.append((meta["grade_id"], celda.source))
    return ejercicios


EJERCICIOS = _ejercicios()
por_ejercicio = pytest.mark.parametrize("ejercicio", EJERCICIOS, ids=lambda e: e.grade_id)


def _comillas(texto: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", texto))


def _parrafos_de_reglas(markdown: str) -> list[str]:
    parrafos = re.split(r"\n\s*\n", markdown)
    return [" ".join(p.split()) for p in parrafos if p.strip().startswith("**Reglas.**")]


def test_hay_ejercicios():
    assert len(EJERCICIOS) >= 12, [e.grade_id for e in EJERCICIOS]


@por_ejercicio
def test_el_enunciado_enumera_las_reglas(ejercicio):
    parrafos = _parrafos_de_reglas(ejercicio.enunciado)
    assert len(parrafos) == 1, (
        f"{ejercicio.cuaderno} ({ejercicio.grade_id}): el enunciado debe tener un párrafo que "
        f"empiece por «**Reglas.**»; tiene {len(parrafos)}"
    )
    parrafo = parrafos[0]
    regla = REGLAS.get(ejercicio.grade_id)
    if regla is None:
        assert parrafo == SIN_REGLAS, (
            f"{ejercicio.grade_id} no tiene reglas en REGLAS: su párrafo debe ser «{SIN_REGLAS}»,"
            f" no «{parrafo}»"
        )
        return
    prohibidas, requeridas = (_comillas(" ".join(textos)) for textos in regla.textos())
    antes, separador, despues = parrafo.partition("Debes usar")
    for donde, citadas, esperadas in [
        ("prohibidas (antes de «Debes usar»)", _comillas(antes), prohibidas),
        ("obligatorias (tras «Debes usar»)", _comillas(despues), requeridas),
    ]:
        sobran, faltan = sorted(citadas - esperadas), sorted(esperadas - citadas)
        assert not sobran and not faltan, (
            f"{ejercicio.grade_id}: el párrafo de reglas no cita las operaciones {donde} de "
            f"REGLAS.\n  sobran: {sobran}\n  faltan: {faltan}\n  párrafo: {parrafo}"
        )
    assert ("No puedes usar" in antes) == bool(prohibidas), parrafo
    assert bool(separador) == bool(requeridas), parrafo
    assert parrafo.endswith(("Se comprueba al ejecutar tu función.", "tus funciones.")), (
        f"{ejercicio.grade_id}: el párrafo de reglas debe terminar con «Se comprueba al ejecutar "
        f"tu función.» (o «tus funciones.»): {parrafo}"
    )


def test_cada_regla_es_de_un_ejercicio():
    respuestas = {e.grade_id for e in EJERCICIOS}
    sueltas = sorted(set(REGLAS) - respuestas)
    assert not sueltas, f"REGLAS tiene claves que no son celdas de respuesta: {sueltas}"


# --- Revisión estática de las celdas de prueba ---------------------------------------------------


class _Revision:
    """Cómo usa una celda de prueba las funciones del alumno."""

    def __init__(self, fuente: str, funciones: list[str], grade_id: str):
        self.arbol = ast.parse(fuente)
        self.funciones = set(funciones)
        self.grade_id = grade_id
        self.padres = {
            hijo: padre for padre in ast.walk(self.arbol) for hijo in ast.iter_child_nodes(padre)
        }
        self.defs = {n.name: n for n in ast.walk(self.arbol) if isinstance(n, ast.FunctionDef)}

    @staticmethod
    def es_ejecutora(nodo) -> bool:
        return (
            isinstance(nodo, ast.Call)
            and isinstance(nodo.func, ast.Attribute)
            and nodo.func.attr in EJECUTORAS
            and isinstance(nodo.func.value, ast.Name)
            and nodo.func.value.id == "cu"
        )

    def primer_argumento(self, nodo) -> bool:
        padre = self.padres.get(nodo)
        return self.es_ejecutora(padre) and bool(padre.args) and padre.args[0] is nodo

    def _funcion_envolvente(self, nodo):
        padre = self.padres.get(nodo)
        while padre is not None and not isinstance(padre, ast.Lambda | ast.FunctionDef):
            padre = self.padres.get(padre)
        return padre

    def _solo_se_pasa(self, definicion) -> bool:
        """Una lambda o def que solo se pasa como primer argumento de las ejecutoras."""
        if isinstance(definicion, ast.Lambda):
            return self.primer_argumento(definicion)
        usos = [
            n
            for n in ast.walk(self.arbol)
            if isinstance(n, ast.Name) and n.id == definicion.name and isinstance(n.ctx, ast.Load)
        ]
        return bool(usos) and all(
            self.primer_argumento(n)
            or (
                isinstance(self.padres.get(n), ast.Attribute)
                and self.padres[n].attr == "__name__"
                and isinstance(self.padres[n].ctx, ast.Store)
            )
            for n in usos
        )

    def usos_del_alumno(self) -> list[ast.Name]:
        return [
            n
            for n in ast.walk(self.arbol)
            if isinstance(n, ast.Name) and n.id in self.funciones and isinstance(n.ctx, ast.Load)
        ]

    def _ejecuta_al_alumno(self, primero) -> bool:
        """El primer argumento de una ejecutora es (o contiene) una función del alumno."""
        if isinstance(primero, ast.Name):
            if primero.id in self.funciones:
                return True
            definicion = self.defs.get(primero.id)
            primero = definicion if definicion is not None else primero
        if isinstance(primero, ast.Lambda | ast.FunctionDef):
            return any(
                isinstance(n, ast.Name) and n.id in self.funciones for n in ast.walk(primero)
            )
        return False

    def llamadas(self) -> list[ast.Call]:
        """Llamadas a las ejecutoras que ejecutan código del alumno."""
        return [
            n
            for n in ast.walk(self.arbol)
            if self.es_ejecutora(n)
            and (n.func.attr != "comprobar_gradientes" or self._ejecuta_al_alumno(n.args[0]))
        ]

    def problemas(self) -> list[str]:
        problemas = []
        for uso in self.usos_del_alumno():
            if self.primer_argumento(uso):
                continue
            envolvente = self._funcion_envolvente(uso)
            if envolvente is None or not self._solo_se_pasa(envolvente):
                problemas.append(
                    f"línea {uso.lineno}: {uso.id} se usa fuera de cu.comprobar_funcion, "
                    "cu.comprobar_gradientes o cu.ejecutar_alumno"
                )
        for llamada in self.llamadas():
            ejercicio = next((k.value for k in llamada.keywords if k.arg == "ejercicio"), None)
            if not (isinstance(ejercicio, ast.Constant) and ejercicio.value == self.grade_id):
                nombre = llamada.func.attr
                problemas.append(
                    f'línea {llamada.lineno}: cu.{nombre} sin ejercicio="{self.grade_id}"'
                )
        return problemas

    def _ejecuta(self, nodo) -> bool:
        """El nodo ejecuta código del alumno (una ejecutora o una def local que la contiene)."""
        for n in ast.walk(nodo):
            if self.es_ejecutora(n) and n in self.llamadas():
                return True
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
                definicion = self.defs.get(n.func.id)
                if definicion is not None and any(
                    self.es_ejecutora(m) for m in ast.walk(definicion)
                ):
                    return True
        return False

    def esperados_antes(self) -> list[str]:
        """Valores esperados guardados antes de ejecutar al alumno en el mismo bloque."""
        problemas = []
        for bloque in ast.walk(self.arbol):
            if isinstance(bloque, ast.FunctionDef | ast.Lambda):
                continue
            for campo in ("body", "orelse", "finalbody"):
                sentencias = getattr(bloque, campo, None)
                if not isinstance(sentencias, list):
                    continue
                for i, sentencia in enumerate(sentencias):
                    if not isinstance(sentencia, ast.Assign) or self._ejecuta(sentencia.value):
                        continue
                    nombres = [
                        n.id
                        for objetivo in sentencia.targets
                        for n in ast.walk(objetivo)
                        if isinstance(n, ast.Name) and ESPERADOS.match(n.id)
                    ]
                    if nombres and any(self._ejecuta(s) for s in sentencias[i + 1 :]):
                        problemas.append(
                            f"línea {sentencia.lineno}: {', '.join(nombres)} se calcula antes de "
                            "ejecutar la función del alumno"
                        )
        return problemas


@por_ejercicio
def test_las_pruebas_ejecutan_al_alumno_con_sus_reglas(ejercicio):
    assert ejercicio.funciones, f"{ejercicio.grade_id}: la respuesta no define ninguna función"
    assert ejercicio.pruebas, f"{ejercicio.grade_id}: sin celda de prueba"
    problemas, usadas = [], set()
    for grade_id, fuente in ejercicio.pruebas:
        revision = _Revision(fuente, ejercicio.funciones, ejercicio.grade_id)
        usadas |= {n.id for n in revision.usos_del_alumno()}
        problemas += [f"{grade_id}, {p}" for p in revision.problemas()]
        problemas += [f"{grade_id}, {p}" for p in revision.esperados_antes()]
    sin_probar = sorted(set(ejercicio.funciones) - usadas)
    if sin_probar:
        problemas.append(f"las pruebas no ejecutan {', '.join(sin_probar)}")
    assert not problemas, f"{ejercicio.cuaderno}:\n" + "\n".join(problemas)


def test_la_revision_detecta_usos_indebidos():
    fuente = """
esperado = 3
cu.comprobar_escalar(doble(1), esperado)
cu.comprobar_funcion(doble, lambda x: 2 * x, [1])
cu.ejecutar_alumno(lambda x: doble(x), 1, ejercicio="m01_doble")
def envoltura(x):
    return doble(x)
envoltura(2)
cu.comprobar_gradientes(envoltura, f, x, ejercicio="m01_otro")
cu.comprobar_gradientes([1.0], f, x)
"""
    revision = _Revision(fuente, ["doble"], "m01_doble")
    problemas = "\n".join(revision.problemas() + revision.esperados_antes())
    for esperado in [
        "línea 3: doble se usa fuera",
        'línea 4: cu.comprobar_funcion sin ejercicio="m01_doble"',
        "línea 7: doble se usa fuera",
        'línea 9: cu.comprobar_gradientes sin ejercicio="m01_doble"',
        "línea 2: esperado se calcula antes",
    ]:
        assert esperado in problemas, problemas
    assert "línea 5" not in problemas and "línea 10" not in problemas, problemas
