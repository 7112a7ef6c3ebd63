"""``curso calificar`` sobre los cuadernos reales del curso, con nbgrader de verdad.

Los cuadernos de solución sacan la nota máxima; los del alumno sin hacer, cero; un lote de
entregas incorrectas y hostiles construido a partir de ellos recibe exactamente lo esperado; y
la retroalimentación no contiene nada de las pruebas ocultas.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
import pytest
from test_autograder import hay_aislamiento

from autograder.calificacion import Opciones, calificar
from autograder.configuracion import modulos_del_curso
from autograder.generacion import generar_tareas

pytestmark = pytest.mark.lento

RAIZ = Path(__file__).resolve().parents[1]
MODULOS = modulos_del_curso(RAIZ)


def _celdas(nb, tipo: str):
    """Celdas de prueba (``"grade"``) o de respuesta (``"solution"``) de nbgrader."""
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get(tipo)]


def lineas_ocultas(nb) -> list[str]:
    """Líneas distintivas de los bloques de pruebas ocultas (las que nunca deben verse)."""
    lineas = []
    for celda in _celdas(nb, "grade"):
        dentro = False
        for linea in celda.source.splitlines():
            if "BEGIN HIDDEN TESTS" in linea:
                dentro = True
            elif "END HIDDEN TESTS" in linea:
                dentro = False
            elif dentro and len(linea.strip()) >= 12 and not linea.strip().startswith("#"):
                lineas.append(linea.strip())
    return lineas


def _sin_ocultas(fuente: str) -> str:
    lineas, dentro = [], False
    for linea in fuente.splitlines():
        if "BEGIN HIDDEN TESTS" in linea:
            dentro = True
        elif "END HIDDEN TESTS" in linea:
            dentro = False
        elif not dentro:
            lineas.append(linea)
    return "\n".join(lineas)


@pytest.fixture(scope="module")
def curso(tmp_path_factory):
    if not MODULOS:
        pytest.skip("solutions/ aún no tiene módulos")
    base = tmp_path_factory.mktemp("curso_real")
    publicado = generar_tareas(
        RAIZ, MODULOS, base / "generado", f"sqlite:///{base / 'generado.db'}"
    )
    entregas = base / "entregas"
    esperado = {}  # (alumno, módulo) -> (puntos o None para el máximo, texto del estado)
    propio = {}  # (alumno, módulo) -> texto de la entrega fuera de los bloques ocultos

    def guardar(alumno, modulo, nb=None, texto=None):
        ruta = entregas / alumno / modulo / f"{modulo}.ipynb"
        ruta.parent.mkdir(parents=True, exist_ok=True)
        if texto is not None:
            ruta.write_text(texto)
            return
        nbformat.write(nb, ruta)
        propio[(alumno, modulo)] = "\n".join(_sin_ocultas(c.source) for c in nb.cells)

    for modulo in MODULOS:
        solucion = nbformat.read(RAIZ / "solutions" / modulo / f"{modulo}.ipynb", as_version=4)
        alumno = nbformat.read(publicado / modulo / f"{modulo}.ipynb", as_version=4)
        guardar("solucion", modulo, solucion)
        esperado[("solucion", modulo)] = (None, "calificado")
        guardar("en_blanco", modulo, alumno)
        esperado[("en_blanco", modulo)] = (0, "calificado")
    primero = MODULOS[0]
    solucion = nbformat.read(RAIZ / "solutions" / primero / f"{primero}.ipynb", as_version=4)
    alumno = nbformat.read(publicado / primero / f"{primero}.ipynb", as_version=4)

    # Pruebas sustituidas por `pass` sin hacer los ejercicios: cero.
    trampas = copy.deepcopy(alumno)
    for celda in _celdas(trampas, "grade"):
        celda.source = "pass"
    guardar("trampas", primero, trampas)
    esperado[("trampas", primero)] = (0, "celdas de prueba modificadas")

    # Solución guardada en Colab, con `!pip install`: nota máxima.
    colab = copy.deepcopy(solucion)
    colab.metadata = {"colab": {"provenance": []}, "accelerator": "GPU"}
    colab.cells.insert(1, nbformat.v4.new_code_cell("!pip install -q curso-pytorch"))
    guardar("colab", primero, colab)
    esperado[("colab", primero)] = (None, "órdenes de sistema")
    # Sus respuestas son las de la solución: el informe lo señala en las dos entregas.
    esperado[("solucion", primero)] = (None, "respuestas idénticas a las de colab")

    # El núcleo muere al definir la primera respuesta: lo que sigue vale cero.
    hostil = copy.deepcopy(solucion)
    respuesta = _celdas(hostil, "solution")[0]
    respuesta.source = "import os\nos._exit(3)\n" + respuesta.source
    guardar("hostil", primero, hostil)
    posicion = hostil.cells.index(respuesta) + 1
    esperado[("hostil", primero)] = (0, f"el núcleo murió en la celda {posicion}")

    guardar("errores", primero, texto='{"cells": [')
    esperado[("errores", primero)] = (0, "JSON corrupto")

    trabajo = base / "trabajo"
    informe = calificar(
        entregas, RAIZ, Opciones(trabajo=trabajo, aislar=hay_aislamiento(), progreso=False)
    )
    publico = {
        m: "\n".join(c.source for c in nbformat.read(publicado / m / f"{m}.ipynb", 4).cells)
        for m in MODULOS
    }
    return informe, trabajo, esperado, propio, publico


def test_notas_del_curso_real(curso):
    informe, _, esperado, _, _ = curso
    filas = {(f.alumno, f.modulo): f for f in informe.filas}
    assert set(filas) == set(esperado)
    for clave, (puntos, estado) in esperado.items():
        fila = filas[clave]
        assert fila.maximo > 0
        assert fila.puntos == (fila.maximo if puntos is None else puntos), fila
        assert estado in fila.estado, fila


def test_retroalimentacion_real_sin_pruebas_ocultas(curso):
    _, trabajo, esperado, propio, publico = curso
    for alumno, modulo in esperado:
        pagina = trabajo / "retroalimentacion" / alumno / modulo / f"{modulo}.html"
        texto = pagina.read_text(encoding="utf-8")
        assert "BEGIN HIDDEN TESTS" not in texto and "HIDDEN" not in texto
        if alumno == "errores":
            continue
        assert "Puntuación" in texto and 'lang="es"' in texto
        solucion = nbformat.read(RAIZ / "solutions" / modulo / f"{modulo}.ipynb", as_version=4)
        # Lo que ya ve cualquier alumno o la propia entrega contiene (p. ej. la solución) no
        # cuenta como filtración.
        conocido = propio[(alumno, modulo)] + publico[modulo]
        ocultas = [x for x in lineas_ocultas(solucion) if x not in conocido]
        # El HTML resalta el código con etiquetas: se compara el texto sin ellas.
        plano = re.sub(r"<[^>]+>", "", texto).replace("&quot;", '"').replace("&#39;", "'")
        plano = plano.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        for linea in ocultas:
            assert linea not in plano, (alumno, modulo, linea)
