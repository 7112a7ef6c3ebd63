"""Retroalimentación para el alumno (autograder/retroalimentacion.py y su plantilla).

Las pruebas unitarias construyen a mano cuadernos «ya calificados» (salidas y trazas como las de
IPython); la prueba lenta califica de verdad, con nbgrader, el curso de juguete con un alumno
que imprime las entradas ocultas desde su función.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from traitlets.config import Config

from autograder import retroalimentacion as retro
from autograder.configuracion import PLANTILLAS, cargar_config

RAIZ = Path(__file__).resolve().parents[1]
ROJO, FIN = "\x1b[31m", "\x1b[39m"


def _meta(grade_id, **campos):
    meta = {"grade_id": grade_id, "schema_version": 3, "task": False, "grade": False}
    meta.update({"solution": False, "locked": False, **campos})
    return {"nbgrader": meta}


def _md(texto, bloqueada=True, grade_id=None):
    celda = new_markdown_cell(texto)
    if bloqueada:
        celda.metadata.update(_meta(grade_id or f"md{abs(hash(texto)) % 10**6}", locked=True))
    return celda


def _respuesta(grade_id, fuente, ejecucion):
    celda = new_code_cell(fuente, execution_count=ejecucion)
    celda.metadata.update(_meta(grade_id, solution=True))
    return celda


def _prueba(grade_id, fuente, ejecucion, salidas, puntos=2, nota=0):
    celda = new_code_cell(fuente, execution_count=ejecucion)
    celda.metadata.update(_meta(grade_id, grade=True, locked=True, points=puntos))
    celda.metadata["nbgrader"]["score"] = nota
    celda.outputs = salidas
    return celda


def _traza(ename, evalue, *marcos):
    """Traza como la de IPython (con colores): marcos = (ejecución, línea, función o None)."""
    lineas = [f"{ROJO}{'-' * 75}{FIN}", f"{ROJO}{ename}{FIN}    Traceback (most recent call last)"]
    for ejecucion, linea, funcion in marcos:
        cabecera = f"\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[{ejecucion}]\x1b[39m"
        cabecera += f"\x1b[32m, line {linea}\x1b[39m"
        if funcion:
            cabecera += f", in \x1b[36m{funcion}\x1b[39m"
        lineas.append(cabecera + f"\n\x1b[32m----> \x1b[39m{linea} algo()\n")
    lineas.append(f"{ROJO}{ename}{FIN}: {evalue}")
    return new_output("error", ename=ename, evalue=evalue, traceback=lineas)


PRUEBA_GRADIENTES = (
    "cu.comprobar_gradientes(derivadas, perdida, 2.0, 3.0, f_intermedia=z_clasica)\n"
    "### BEGIN HIDDEN TESTS\n"
    "_CASOS_SECRETOS = [(0.731, -2.25), (14.5, 3.0)]\n"
    "for _caso in _CASOS_SECRETOS:\n"
    "    cu.comprobar_gradientes(derivadas, perdida, *_caso, f_intermedia=z_clasica)\n"
    "### END HIDDEN TESTS\n"
    'print("✔ ¡Correcto!")'
)
MENSAJE_Z = (
    "El gradiente respecto a a no coincide con lo esperado: tu valor es -4 (error absoluto ≈ 4)."
    " (También fallan: b.)\nPista: parece el gradiente de z, no el de la pérdida: aplica la regla"
    " de la cadena hasta loss (multiplica por ∂loss/∂z)."
)


def _cuaderno(*celdas):
    nb = new_notebook(cells=list(celdas))
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def _limpiar(nb, timeout=60):
    config = Config()
    config.Execute.timeout = timeout
    recursos = {"nbgrader": {"student": "ana", "assignment": "02_x", "notebook": "02_x"}}
    return retro.LimpiarRetroalimentacion(config=config).preprocess(nb, recursos)


def _prueba_de(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _texto(celda) -> str:
    return "\n".join(
        s.get("text", "") + s.get("evalue", "") + "".join(s.get("traceback", []))
        for s in celda.outputs
    )


def test_doctests():
    resultado = doctest.testmod(retro)
    assert resultado.attempted > 0 and resultado.failed == 0


# --- Mensajes de las comprobaciones ---------------------------------------------------------


def test_el_mensaje_entero_y_la_pista_llegan_al_alumno():
    nb = _cuaderno(
        _md("#### 1b. Las derivadas a mano (2 puntos)\n\nDeriva a mano."),
        _respuesta("m02_a_mano", "def derivadas(a, b):\n    return (-4, 3)", 4),
        _prueba(
            "m02_a_mano_prueba",
            PRUEBA_GRADIENTES,
            5,
            [_traza("ErrorComprobacion", MENSAJE_Z, (5, 1, None))],
        ),
    )
    nb, recursos = _limpiar(nb)
    prueba = _prueba_de(nb, "m02_a_mano_prueba")
    (error,) = prueba.outputs
    assert error.evalue == MENSAJE_Z
    assert error.traceback == [f"ErrorComprobacion: {MENSAJE_Z}"]
    assert "Cell In" not in _texto(prueba)
    (ejercicio,) = recursos["retroalimentacion"]["ejercicios"]
    assert ejercicio["nombre"] == "Ejercicio 1b: las derivadas a mano"
    assert (ejercicio["puntos"], ejercicio["maximo"], ejercicio["correcto"]) == ("0", "2", False)
    assert ejercicio["pista"].startswith("parece el gradiente de z, no el de la pérdida")
    assert "_CASOS_SECRETOS" not in prueba.source and "0.731" not in prueba.source
    assert "pruebas ocultas: no se muestran" in prueba.source


def test_lo_que_imprime_el_alumno_durante_las_pruebas_no_se_muestra():
    secreto = "0.731, -2.25"
    hexadecimal = secreto.encode().hex()
    salidas = [
        new_output("stream", name="stdout", text=f"entradas: {secreto}\n"),
        new_output(
            "stream",
            name="stdout",
            text=f"✔ ¡Correcto! Los gradientes respecto a a y b coinciden con la referencia.\n"
            f"{hexadecimal}\n✔ {hexadecimal}\n✔ ¡Correcto! 14.5\n",
        ),
        new_output("stream", name="stderr", text=f"{secreto}\n"),
        new_output("display_data", data={"text/plain": secreto, "image/png": "iVBORw0KGgo="}),
        new_output("execute_result", data={"text/plain": secreto}, execution_count=5),
    ]
    nb = _cuaderno(
        _md("### Ejercicio 2: derivadas (2 puntos)"),
        _respuesta("m02_a_mano", "def derivadas(a, b):\n    print(a, b)\n    return (1, 2)", 4),
        _prueba("m02_a_mano_prueba", PRUEBA_GRADIENTES, 5, salidas, nota=2),
    )
    nb, recursos = _limpiar(nb)
    prueba = _prueba_de(nb, "m02_a_mano_prueba")
    assert [s.output_type for s in prueba.outputs] == ["stream"]
    assert prueba.outputs[0].text == (
        "✔ ¡Correcto! Los gradientes respecto a a y b coinciden con la referencia."
    )
    texto = _texto(prueba)
    for filtrado in ("0.731", "2.25", "14.5", hexadecimal, "image/png"):
        assert filtrado not in texto
    assert recursos["retroalimentacion"]["ejercicios"][0]["correcto"]


def test_el_error_que_lanza_el_codigo_del_alumno_no_muestra_su_mensaje():
    secreto = "[0.731, -2.25]"
    traza = _traza("ValueError", f"secreto {secreto}", (5, 4, None), (4, 3, "derivadas"))
    nb = _cuaderno(
        _respuesta("r", "def derivadas(a, b):\n    raise ValueError(str([a, b]))", 4),
        _prueba("r_prueba", PRUEBA_GRADIENTES, 5, [traza]),
    )
    nb, _ = _limpiar(nb)
    prueba = _prueba_de(nb, "r_prueba")
    assert "0.731" not in _texto(prueba) and "secreto" not in _texto(prueba)
    (error,) = prueba.outputs
    assert error.ename == "ValueError"
    assert "durante las pruebas ocultas" in error.evalue
    # La misma clase de error con un nombre inventado por el alumno no deja pasar el nombre.
    nb = _cuaderno(
        _respuesta("r", "...", 4),
        _prueba("r_prueba", PRUEBA_GRADIENTES, 5, [_traza("c0ffee1234", "x", (5, 1, None))]),
    )
    nb, _ = _limpiar(nb)
    assert "c0ffee1234" not in _texto(_prueba_de(nb, "r_prueba"))


def test_el_mensaje_de_error_del_alumno_citado_por_la_comprobacion_se_quita():
    mensaje = (
        "La función derivadas lanza un error en el caso 2 de 3 (entradas: tensor (3,), número): "
        "ValueError: 0.731 -2.25 6465616462656566\nPista: tensor forma número"
    )
    nb = _cuaderno(
        _respuesta("r", "...", 4),
        _prueba(
            "r_prueba", PRUEBA_GRADIENTES, 5, [_traza("ErrorComprobacion", mensaje, (5, 4, None))]
        ),
    )
    nb, _ = _limpiar(nb)
    (error,) = _prueba_de(nb, "r_prueba").outputs
    assert error.evalue == (
        "La función derivadas lanza un error en el caso 2 de 3 (entradas: tensor (3,), número): "
        "ValueError (el mensaje de tu error no se muestra aquí)."
    )


def test_palabras_y_numeros_ocultos_se_tapan():
    mensaje = (
        "La salida de _CASOS_SECRETOS no coincide: tu valor es 0.731 y c0ffee.\n"
        "    cu.comprobar_gradientes(derivadas, perdida, *_caso, f_intermedia=z_clasica)\n"
        "Pista: revisa la forma."
    )
    nb = _cuaderno(
        _respuesta("r", "...", 4),
        _prueba(
            "r_prueba", PRUEBA_GRADIENTES, 5, [_traza("AssertionError", mensaje, (5, 5, None))]
        ),
    )
    nb, _ = _limpiar(nb)
    (error,) = _prueba_de(nb, "r_prueba").outputs
    assert error.evalue == "La salida de … no coincide: tu valor es … y ….\nPista: revisa la forma."


def test_tiempo_agotado_dice_el_limite_y_sugiere_un_bucle_infinito():
    salidas = [
        _traza("KeyboardInterrupt", "", (5, 1, None), (4, 2, "derivadas")),
        new_output(
            "error", ename="CellTimeoutError", evalue="x", traceback=["CellTimeoutError: x"]
        ),
    ]
    nb = _cuaderno(_respuesta("r", "...", 4), _prueba("r_prueba", PRUEBA_GRADIENTES, 5, salidas))
    nb, recursos = _limpiar(nb, timeout=45)
    (error,) = _prueba_de(nb, "r_prueba").outputs
    assert error.ename == "CellTimeoutError"
    assert "tiempo máximo de ejecución (45 s)" in error.evalue and "bucle infinito" in error.evalue
    assert "bucle infinito" in recursos["retroalimentacion"]["ejercicios"][0]["mensaje"]


def test_sin_completar_y_nucleo_muerto():
    stub = _traza("NotImplementedError", "Completa este ejercicio", (5, 1, None), (4, 2, "f"))
    muerto = new_output(
        "error",
        ename="DeadKernelError",
        evalue="el núcleo murió en la celda 6 (memoria agotada)",
        traceback=["DeadKernelError: el núcleo murió en la celda 6 (memoria agotada)"],
    )
    nb = _cuaderno(
        _respuesta("r", "...", 4),
        _prueba("a_prueba", PRUEBA_GRADIENTES, 5, [stub]),
        _prueba("b_prueba", PRUEBA_GRADIENTES, 6, [muerto]),
    )
    nb, _ = _limpiar(nb)
    assert "Todavía no has completado" in _prueba_de(nb, "a_prueba").outputs[0].evalue
    assert _prueba_de(nb, "b_prueba").outputs[0].evalue == muerto.evalue


def test_salidas_de_las_demas_celdas():
    antes = new_code_cell("print('hola')", execution_count=1)
    antes.outputs = [new_output("stream", name="stdout", text="hola\n... Output truncated ...\n")]
    despues = new_code_cell("print(guardado)", execution_count=6)
    despues.outputs = [new_output("stream", name="stdout", text="0.731 -2.25\n")]
    nb = _cuaderno(
        antes,
        _respuesta("r", "...", 4),
        _prueba("r_prueba", PRUEBA_GRADIENTES, 5, [], nota=2),
        despues,
    )
    nb, _ = _limpiar(nb)
    assert nb.cells[0].outputs[0].text == "hola\n… (salida recortada) …\n"
    assert nb.cells[3].outputs == []
    assert nb.cells[3].metadata["retroalimentacion"]["sin_salidas"]
    assert _prueba_de(nb, "r_prueba").outputs[0].text == "✔ ¡Correcto!"


def test_nombres_de_los_ejercicios():
    celdas = [
        _md("## Ejercicios"),
        _md("### Ejercicio 1: crear un tensor (1 punto)"),
        _respuesta("a", "...", 1),
        _prueba("a_prueba", "x", 2, []),
        _md("### Ejercicio 4: regresión con `nn.Linear` y *broadcasting* (2 puntos)"),
        _prueba("b_prueba", "x", 3, []),
        _md("#### 1b. Las derivadas a mano (2 puntos)\n\nTexto."),
        _prueba("c_prueba", "x", 4, []),
        new_code_cell("1"),
        _prueba("d_prueba", "x", 5, []),
    ]
    assert retro.nombres_de_ejercicios(celdas) == {
        "a_prueba": "Ejercicio 1: crear un tensor",
        "b_prueba": "Ejercicio 4: regresión con nn.Linear y broadcasting",
        "c_prueba": "Ejercicio 1b: las derivadas a mano",
        "d_prueba": "Ejercicio 1b: las derivadas a mano",
    }
    assert retro.nombres_de_ejercicios([_prueba("x_prueba", "x", 1, [])]) == {
        "x_prueba": "Celda de prueba x_prueba"
    }


def test_nombres_en_los_cuadernos_del_curso():
    for ruta in sorted((RAIZ / "solutions").glob("*/*.ipynb")):
        nombres = retro.nombres_de_ejercicios(nbformat.read(ruta, as_version=4).cells)
        assert nombres, ruta
        for grade_id, nombre in nombres.items():
            assert re.fullmatch(r"Ejercicio \d+[a-z]?: [^()]+", nombre), (
                ruta.name,
                grade_id,
                nombre,
            )


@pytest.mark.parametrize(
    ("latex", "texto"),
    [
        (r"\partial\,\text{loss}/\partial a", "∂\u2009loss/∂a"),
        (r"\sigma(-46) \approx 1.05 \cdot 10^{-20}", "σ(−46) ≈ 1.05 · 10⁻²⁰"),
        (r"\|Bv - c\|^2 \le 10^{-6}", "‖Bv − c‖² ≤ 10⁻⁶"),
        (r"\dfrac{d}{dz} \log \sigma(z) = \sigma(-z)", "d/dz log σ(z) = σ(−z)"),
        (r"W^\top x_i", "Wᵀxᵢ"),
        (r"\begin{aligned} m &= 3a, \\ p &= \max(m, 0) \end{aligned}", "m = 3a,\np = max(m, 0)"),
    ],
)
def test_formulas_como_texto(latex, texto):
    assert retro.latex_a_texto(latex) == texto


# --- Página HTML -----------------------------------------------------------------------------


def _html(nb, recursos_extra=None) -> str:
    config = Config()
    config.HTMLExporter.template_name = "retroalimentacion"
    config.HTMLExporter.extra_template_basedirs = [str(PLANTILLAS)]
    recursos = {
        "nbgrader": {
            "student": "ana",
            "assignment": "02_autograd",
            "notebook": "02_autograd",
            "score": 2.0,
            "max_score": 4.0,
            "late_penalty": 0,
        },
        "config_dir": "",
        "inlining": {},
        **(recursos_extra or {}),
    }
    nb, recursos = retro.LimpiarRetroalimentacion(config=config).preprocess(nb, recursos)
    nb, recursos = CSSHTMLHeaderPreprocessor(config=config).preprocess(nb, recursos)
    html, _ = HTMLExporter(config=config).from_notebook_node(nb, resources=recursos)
    return html


def test_pagina_en_espanol_sin_recursos_externos(tmp_path):
    figura = new_code_cell("plt.plot([1, 2])", execution_count=1)
    figura.outputs = [
        new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})
    ]
    nb = _cuaderno(
        _md("# Módulo 2: Autograd"),
        _md("## 1. La idea\n\nCon $a = 2$ y\n\n$$\\frac{\\partial z}{\\partial a} = 3$$"),
        figura,
        _md("## Ejercicios"),
        _md("#### 1b. Las derivadas a mano (2 puntos)"),
        _respuesta("m02_a_mano", "def derivadas(a, b):\n    return (-4, 3)", 4),
        _prueba(
            "m02_a_mano_prueba",
            PRUEBA_GRADIENTES,
            5,
            [_traza("ErrorComprobacion", MENSAJE_Z, (5, 1, None))],
        ),
        _md("### Ejercicio 2: otra cosa (2 puntos)"),
        _respuesta("m02_otra", "def f():\n    return 1", 6),
        _prueba(
            "m02_otra_prueba",
            "cu.comprobar_escalar(f(), 1)",
            7,
            [
                new_output(
                    "stream", name="stdout", text="✔ ¡Correcto! F coincide con lo esperado.\n"
                )
            ],
            nota=2,
        ),
        _md("## Resumen"),
    )
    html = _html(nb, {"incidencias": ["se desactivaron las órdenes de sistema de 1 celda"]})
    assert '<html lang="es">' in html
    assert "<title>ana · Módulo 2: Autograd: retroalimentación</title>" in html
    assert "Puntuación: 2.0 / 4.0" in html
    assert "Ejercicio 1b: las derivadas a mano — 0/2" in html
    assert "Ejercicio 2: otra cosa — 2/2" in html
    assert "Pista: parece el gradiente de z" in html
    assert html.count("<details") == 4  # dos grupos de celdas sin nota y dos celdas de prueba
    assert "Celda de prueba" in html and "se desactivaron las órdenes de sistema" in html
    assert "white-space: pre-wrap" in html and "overflow-wrap: anywhere" in html
    assert "∂z/∂a = 3" in html and "$" not in re.sub(r"<style.*?</style>", "", html, flags=re.S)
    assert 'alt="Figura generada por el código de la celda"' in html
    assert "No description" not in html and "In&nbsp;[" not in html
    assert "<script" not in html and "mathjax" not in html.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    (tmp_path / "pagina.html").write_text(html, encoding="utf-8")


def test_el_markdown_del_alumno_no_puede_meter_html():
    propia = new_markdown_cell("Mi nota <script>alert(1)</script> `<b>`")
    html = _html(_cuaderno(propia, _respuesta("r", "...", 1), _prueba("r_prueba", "x", 2, [])))
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_la_configuracion_usa_esta_limpieza():
    preprocesadores = cargar_config(RAIZ).GenerateFeedback.preprocessors
    assert "autograder.retroalimentacion.LimpiarRetroalimentacion" in preprocesadores


# --- De principio a fin, con nbgrader --------------------------------------------------------


@pytest.mark.lento
def test_retroalimentacion_real_con_un_alumno_que_espia(tmp_path):
    from test_autograder import (
        OCULTOS,
        RESPUESTAS,
        crear_curso_juguete,
        cuaderno_alumno,
        hay_aislamiento,
    )

    from autograder.calificacion import Opciones, calificar

    raiz = crear_curso_juguete(tmp_path / "curso")
    entregas = tmp_path / "entregas"
    entregas.mkdir()
    espia = {
        **RESPUESTAS,
        "m01_doble": "def doble(x):\n"
        "    print('ENTRADA', x.tolist(), bytes(str(x.tolist()), 'utf8').hex())\n"
        "    return 2 * x",
        "m01_norma": "def norma(v):\n"
        "    if len(v) == 3:\n"
        "        raise ValueError('secreto ' + str(v.tolist()))\n"
        "    return torch.sqrt((v ** 2).sum())",
    }
    nbformat.write(cuaderno_alumno(raiz, "01_juguete", espia), entregas / "espia_01_juguete.ipynb")
    bucle = {**RESPUESTAS, "m01_norma": "def norma(v):\n    while True:\n        pass"}
    nbformat.write(cuaderno_alumno(raiz, "01_juguete", bucle), entregas / "bucle_01_juguete.ipynb")
    trabajo = tmp_path / "trabajo"
    informe = calificar(
        entregas,
        raiz,
        Opciones(trabajo=trabajo, tiempo_celda=15, aislar=hay_aislamiento(), progreso=False),
    )
    assert [f.alumno for f in informe.filas] == ["bucle", "espia"]
    # Tiempo agotado: el límite de esta calificación y la sugerencia del bucle infinito.
    pagina = (trabajo / "retroalimentacion/bucle/01_juguete/01_juguete.html").read_text()
    assert "superó el tiempo máximo de ejecución (15 s)" in pagina and "bucle" in pagina
    assert "infinito" in pagina
    pagina = (trabajo / "retroalimentacion/espia/01_juguete/01_juguete.html").read_text()
    sin_codigo = re.sub(r'<div class="highlight.*?</div>', "", pagina, flags=re.S)
    for oculto in [*OCULTOS, "-6.25", "12.0", "secreto", "ENTRADA"]:
        assert oculto not in sin_codigo, oculto
    assert b"7.25".hex() not in pagina and "2d372e3235" not in pagina
    assert "✔ ¡Correcto! doble(x) coincide con lo esperado." in pagina
    assert "Ejercicio 1 — " in pagina and "Ejercicio 2 — 0/3" in pagina
    assert "Tu código lanzó ValueError durante las pruebas ocultas" in pagina
    assert "<title>espia · Módulo de juguete: retroalimentación</title>" in pagina
    # `curso calificar` escribe también el informe de la clase.
    informe = (trabajo / "informe.html").read_text(encoding="utf-8")
    assert "Informe de la clase" in informe and "Ejercicio 2" in informe
    assert "data:image/png;base64," in informe
