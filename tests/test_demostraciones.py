"""Celdas de demostración que se saltan al calificar (:mod:`autograder.demostraciones`).

Un alumno nunca puede perder nota por ello: solo se salta el código idéntico al de una celda
publicada con la etiqueta ``demostracion`` del que no depende nada de lo que se ejecuta. Las
soluciones sacan la misma nota y las mismas salidas en las celdas calificadas con y sin saltar
las demostraciones.
"""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from test_autograder import hay_aislamiento

from autograder.configuracion import modulos_del_curso
from autograder.demostraciones import (
    ETIQUETA,
    celdas_a_saltar,
    fuentes_de_demostracion,
    nombres_de_celda,
)

RAIZ = Path(__file__).resolve().parents[1]
MODULOS = modulos_del_curso(RAIZ)


def _cuaderno(*fuentes: str, respuestas: tuple[int, ...] = ()):
    """Cuaderno con una celda de código por fuente; las de ``respuestas`` son de nbgrader."""
    celdas = [new_code_cell(f) for f in fuentes]
    for i in respuestas:
        celdas[i].metadata["nbgrader"] = {"solution": True, "grade_id": f"r{i}", "grade": False}
    return new_notebook(cells=celdas)


# --- Análisis de nombres ------------------------------------------------------------------


def test_nombres_dentro_de_funciones_son_diferidos_y_los_locales_no_cuentan():
    n = nombres_de_celda("def f(a):\n    r = a + G\n    return [r * k for k in R]\nx = f(1)\n")
    assert n.seguros == {"f", "x"}
    assert {"G", "R"} <= n.diferidos and not {"a", "r", "k"} & n.diferidos
    assert "a" not in n.libres and not n.dinamico


def test_definiciones_condicionales_no_son_seguras():
    n = nombres_de_celda(
        "if cond:\n    x = 1\nfor i in range(3):\n    y = i\ntry:\n    z = 1\nexcept E:\n    pass"
    )
    assert {"x", "y", "i", "z"} <= n.definidos
    assert not n.seguros & {"x", "y", "i", "z"}


def test_uso_antes_de_definir_en_la_misma_celda():
    assert "x" in nombres_de_celda("x = x + 1").libres
    assert "x" not in nombres_de_celda("x = 1\nprint(x)").libres
    assert "x" in nombres_de_celda("x += 1").libres


@pytest.mark.parametrize(
    "fuente",
    ["globals()['x'] = 1", "eval('x')", "exec('y = x')", "vars()", "get_ipython().user_ns",
     "import sys\nsys.modules['__main__'].__dict__", "%time y = x",
     "import __main__\nprint(__main__.x)", "import sys\nsys.modules['__main__'].x",
     "import inspect\ninspect.currentframe().f_locals"],
)  # fmt: skip
def test_acceso_dinamico(fuente):
    assert nombres_de_celda(fuente).dinamico


def test_sintaxis_de_ipython_inofensiva():
    n = nombres_de_celda("%matplotlib inline\n!ls\nx = 1")
    assert not n.dinamico and n.seguros == {"x"}


def test_celda_invalida_no_define_ni_usa_nada():
    n = nombres_de_celda("def (:")
    assert not (n.definidos or n.libres or n.diferidos or n.dinamico)


# --- Qué se salta --------------------------------------------------------------------------


def test_solo_se_salta_codigo_publicado_como_demostracion():
    nb = _cuaderno("import torch", "print(torch.ones(2))", "plt.plot([1])  # cambiada")
    assert celdas_a_saltar(nb, {"print(torch.ones(2))", "plt.plot([1])"}) == {1}


def test_lo_que_dicen_los_metadatos_de_la_entrega_no_cuenta():
    nb = _cuaderno("def f():\n    return 1", "print(f())")
    nb.cells[0].metadata["tags"] = [ETIQUETA]  # el alumno etiqueta su propia celda
    assert celdas_a_saltar(nb, {"print(f())"}) == {1}


def test_las_celdas_de_nbgrader_no_se_saltan_nunca():
    nb = _cuaderno("x = 1", respuestas=(0,))
    assert celdas_a_saltar(nb, {"x = 1"}) == set()


def test_una_demostracion_que_usa_el_alumno_se_ejecuta():
    demo = "datos = cargar()"
    nb = _cuaderno(demo, "def resolver():\n    return len(datos)", respuestas=(1,))
    assert celdas_a_saltar(nb, {demo}) == set()
    # Si la respuesta no la usa, se salta.
    nb = _cuaderno(demo, "def resolver(datos):\n    return len(datos)", respuestas=(1,))
    assert celdas_a_saltar(nb, {demo}) == {0}


def test_celda_anadida_por_el_alumno_que_usa_la_demostracion():
    demo = "x = 10"
    nb = _cuaderno("import torch", demo, "y = x * 2", "def f():\n    return 1", respuestas=(3,))
    assert celdas_a_saltar(nb, {demo}, publicadas={"import torch", demo}) == set()


def test_la_ultima_definicion_segura_tapa_a_la_demostracion():
    demo = "x = torch.zeros(3)"
    nb = _cuaderno(demo, "x = torch.ones(3)", "assert x.sum() == 3")
    assert celdas_a_saltar(nb, {demo}, publicadas={demo, "x = torch.ones(3)"}) == {0}


def test_una_redefinicion_del_alumno_no_tapa_a_la_demostracion():
    # Su celda podría fallar antes de definir x: entonces x vendría de la demostración.
    demo = "x = torch.zeros(3)"
    nb = _cuaderno(demo, "x = calcular()", "assert x.sum() == 0", respuestas=(1,))
    assert celdas_a_saltar(nb, {demo}) == set()


def test_una_redefinicion_condicional_no_tapa_a_la_demostracion():
    demo = "x = 1"
    nb = _cuaderno(demo, "if rapido:\n    x = 2", "print(x)")
    assert celdas_a_saltar(nb, {demo}) == set()
    nb = _cuaderno(demo, "x = 2", "print(x)")
    assert celdas_a_saltar(nb, {demo}) == {0}


def test_una_funcion_usada_mas_tarde_depende_de_la_demostracion():
    demo = "escala = 3"
    nb = _cuaderno("def f(v):\n    return v * escala", demo, "assert f(2) == 6")
    assert celdas_a_saltar(nb, {demo}) == set()


def test_cadena_de_demostraciones():
    demos = {"a = 1", "b = a + 1", "print(b)"}
    nb = _cuaderno("import math", *sorted(demos, key=["a = 1", "b = a + 1", "print(b)"].index))
    assert celdas_a_saltar(nb, demos) == {1, 2, 3}
    nb.cells.append(new_code_cell("assert b == 2"))  # la prueba usa b: a y b se ejecutan
    assert celdas_a_saltar(nb, demos) == {3}


def test_acceso_dinamico_del_alumno_no_salta_nada():
    demo = "x = 1"
    nb = _cuaderno(demo, "def f():\n    return globals()['x']", respuestas=(1,))
    assert celdas_a_saltar(nb, {demo}) == set()


# --- Las etiquetas de los cuadernos del curso --------------------------------------------


@pytest.mark.parametrize("modulo", MODULOS)
def test_etiquetas_coherentes(modulo):
    """Cada celda etiquetada se puede saltar de verdad en la solución y en la versión del
    alumno, no es de nbgrader ni la de configuración, y las dos versiones coinciden."""
    solucion = nbformat.read(RAIZ / "solutions" / modulo / f"{modulo}.ipynb", as_version=4)
    alumno = nbformat.read(RAIZ / "notebooks" / modulo / f"{modulo}.ipynb", as_version=4)
    demos = fuentes_de_demostracion(solucion)
    assert demos, "el módulo no tiene celdas de demostración"
    assert fuentes_de_demostracion(alumno) == demos
    etiquetadas = {
        i
        for i, c in enumerate(solucion.cells)
        if c.cell_type == "code" and ETIQUETA in c.metadata.get("tags", [])
    }
    for i in etiquetadas:
        celda = solucion.cells[i]
        assert "nbgrader" not in celda.metadata and "configuracion" not in celda.metadata.get(
            "tags", []
        ), f"celda {i + 1}"
    assert celdas_a_saltar(solucion, demos) == etiquetadas
    publicadas = {c.source for c in alumno.cells if c.cell_type == "code"}
    saltadas = {alumno.cells[i].source for i in celdas_a_saltar(alumno, demos, publicadas)}
    assert saltadas == demos


# --- Las soluciones, con y sin saltar ------------------------------------------------------


def _a_medias(modulo: str):
    """La solución con las respuestas pares sin hacer (las del cuaderno del alumno)."""
    solucion = nbformat.read(RAIZ / "solutions" / modulo / f"{modulo}.ipynb", as_version=4)
    alumno = nbformat.read(RAIZ / "notebooks" / modulo / f"{modulo}.ipynb", as_version=4)
    vacias = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in alumno.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    nb = copy.deepcopy(solucion)
    respuestas = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    for celda in respuestas[::2]:
        celda.source = vacias[celda.metadata["nbgrader"]["grade_id"]]
    # Y una celda propia al final que usa algo de una demostración: esa se ejecuta.
    demo = next(
        c
        for c in nb.cells
        if ETIQUETA in c.metadata.get("tags", []) and nombres_de_celda(c.source).seguros
    )
    nombre = sorted(nombres_de_celda(demo.source).seguros)[0]
    nb.cells += [new_markdown_cell("Mis notas"), new_code_cell(f"print(type({nombre}).__name__)")]
    return nb


def _salidas_calificadas(trabajo: Path) -> dict:
    """(alumno, módulo, grade_id) -> texto de las salidas de cada celda de prueba."""
    salidas = {}
    for ruta in sorted((trabajo / "calificados").glob("*/*/*.ipynb")):
        alumno, modulo = ruta.parts[-3], ruta.parts[-2]
        for celda in nbformat.read(ruta, as_version=4).cells:
            meta = celda.metadata.get("nbgrader", {})
            if not meta.get("grade"):
                continue
            # El texto de un flujo puede llegar en varios trozos (según el momento): se unen.
            texto = ""
            for salida in celda.get("outputs", []):
                if salida.output_type == "stream":
                    texto += salida.text
                elif salida.output_type == "error":
                    texto += f"\n{salida.ename}: {salida.evalue}\n"
                else:
                    texto += json.dumps(salida.get("data", {}).get("text/plain", "")) + "\n"
            salidas[(alumno, modulo, meta["grade_id"])] = texto
    return salidas


def _notas(trabajo: Path) -> dict:
    with (trabajo / "notas.csv").open(encoding="utf-8") as archivo:
        return {tuple(list(fila.values())[:2]): fila for fila in csv.DictReader(archivo)}


@pytest.mark.lento
def test_misma_nota_y_salidas_con_y_sin_saltar_demostraciones(tmp_path):
    from autograder.calificacion import Opciones, calificar

    entregas = tmp_path / "entregas"
    for modulo in MODULOS:
        destino = entregas / "solucion" / modulo
        destino.mkdir(parents=True)
        nb = nbformat.read(RAIZ / "solutions" / modulo / f"{modulo}.ipynb", as_version=4)
        nbformat.write(nb, destino / f"{modulo}.ipynb")
    for modulo in MODULOS[2:3]:  # descenso por gradiente: semillas y estado entre celdas
        destino = entregas / "a_medias" / modulo
        destino.mkdir(parents=True)
        nbformat.write(_a_medias(modulo), destino / f"{modulo}.ipynb")
    resultados = {}
    for saltar in (True, False):
        trabajo = tmp_path / ("saltando" if saltar else "todo")
        opciones = Opciones(
            trabajo=trabajo,
            aislar=hay_aislamiento(),
            progreso=False,
            saltar_demostraciones=saltar,
        )
        informe = calificar(entregas, RAIZ, opciones)
        filas = {(f.alumno, f.modulo): (f.puntos, f.maximo) for f in informe.filas}
        resultados[saltar] = (filas, _notas(trabajo), _salidas_calificadas(trabajo))
    filas, notas, salidas = resultados[True]
    assert filas == resultados[False][0]
    assert notas == resultados[False][1]
    assert salidas == resultados[False][2]
    for (alumno, _modulo), (puntos, maximo) in filas.items():
        if alumno == "solucion":
            assert puntos == maximo > 0
        else:
            assert 0 < puntos < maximo
    # Las demostraciones de verdad no se ejecutaron: sin salidas en la copia calificada.
    for modulo in MODULOS:
        ruta = tmp_path / "saltando" / "calificados" / "solucion" / modulo / f"{modulo}.ipynb"
        nb = nbformat.read(ruta, as_version=4)
        demos = [c for c in nb.cells if ETIQUETA in c.metadata.get("tags", [])]
        assert demos and all(not c.outputs and c.execution_count is None for c in demos)
