"""Pruebas unitarias de la calificación (autograder/) y curso de juguete para las demás.

El curso de juguete (dos módulos con pruebas visibles y ocultas que usan
``course_utils.comprobaciones``) no depende del contenido del curso real; lo usan también
``test_calificacion_*.py`` y ``test_generacion.py``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.utils import determine_grade

from autograder import calificacion, entregas, preprocesadores, retroalimentacion
from autograder.aislamiento import ErrorAislamiento, comprobar_aislamiento
from autograder.configuracion import cargar_config, sin_avisos_sqlalchemy, version_alembic
from autograder.ejecucion import error_de_memoria
from autograder.generacion import generar

RAIZ_REPO = Path(__file__).resolve().parents[1]


@functools.cache
def hay_aislamiento() -> bool:
    """Si bubblewrap puede aislar aquí (si no, las pruebas califican sin aislamiento)."""
    try:
        comprobar_aislamiento()
    except ErrorAislamiento:
        return False
    return True


# Textos que solo aparecen en las pruebas ocultas del curso de juguete (código, entradas y
# valores esperados): nunca deben verse en la retroalimentación.
OCULTOS = [
    "_valores_ocultos_doble",
    "7.25",
    "_entrada_oculta_norma",
    "84.0",
    "85.0",
    "_caso_oculto_extra",
    "-4.5",
]

RESPUESTAS = {
    "m01_doble": "def doble(x):\n    return 2 * x",
    "m01_norma": "def norma(v):\n    return torch.sqrt((v ** 2).sum())",
    "m02_triple": "def triple(x):\n    return 3 * x",
}
MAXIMOS = {"01_juguete": 5, "02_extra": 1}

_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _celda(
    tipo, fuente, ident, grade_id=None, solution=False, grade=False, locked=False, puntos=None
):
    celda = (new_code_cell if tipo == "code" else new_markdown_cell)(fuente)
    celda.id = ident
    if grade_id:
        meta = {
            "grade": grade,
            "grade_id": grade_id,
            "locked": locked,
            "schema_version": 3,
            "solution": solution,
            "task": False,
        }
        if puntos is not None:
            meta["points"] = puntos
        celda.metadata["nbgrader"] = meta
    return celda


def _cuaderno_juguete():
    prueba_doble = (
        "resultado = doble(torch.tensor([1.0, 2.0]))\n"
        'cu.comprobar_tensor(resultado, torch.tensor([2.0, 4.0]), nombre="doble(x)")\n'
        "### BEGIN HIDDEN TESTS\n"
        "_valores_ocultos_doble = torch.arange(5.0) - 7.25\n"
        "cu.comprobar_funcion(doble, lambda x: 2 * x, [(_valores_ocultos_doble,)], mostrar=False)\n"
        "### END HIDDEN TESTS"
    )
    prueba_norma = (
        'cu.comprobar_escalar(norma(torch.tensor([3.0, 4.0])), 5.0, nombre="norma")\n'
        "### BEGIN HIDDEN TESTS\n"
        "_entrada_oculta_norma = torch.tensor([12.0, 5.0, 84.0])\n"
        'cu.comprobar_escalar(norma(_entrada_oculta_norma), 85.0, nombre="norma", mostrar=False)\n'
        "### END HIDDEN TESTS"
    )
    nb = new_notebook(metadata={"kernelspec": _KERNELSPEC, "language_info": {"name": "python"}})
    nb.cells = [
        _celda("markdown", "# Módulo de juguete", "titulo"),
        _celda(
            "code",
            "import torch\nimport course_utils as cu\n\nprint(open('datos.txt').read().strip())",
            "configuracion",
        ),
        _celda("markdown", "## Ejercicio 1", "enunciado1", "m01_doble_enunciado", locked=True),
        _celda(
            "code",
            'def doble(x):\n    """Devuelve 2·x."""\n    ### BEGIN SOLUTION\n    return 2 * x\n'
            "    ### END SOLUTION",
            "respuesta1",
            "m01_doble",
            solution=True,
        ),
        _celda(
            "code", prueba_doble, "prueba1", "m01_doble_prueba", grade=True, locked=True, puntos=2
        ),
        _celda("markdown", "## Ejercicio 2", "enunciado2", "m01_norma_enunciado", locked=True),
        _celda(
            "code",
            'def norma(v):\n    """Norma euclídea."""\n    ### BEGIN SOLUTION\n'
            "    return torch.sqrt((v ** 2).sum())\n    ### END SOLUTION",
            "respuesta2",
            "m01_norma",
            solution=True,
        ),
        _celda(
            "code", prueba_norma, "prueba2", "m01_norma_prueba", grade=True, locked=True, puntos=3
        ),
        _celda("markdown", "## Resumen", "resumen"),
    ]
    return nb


def _cuaderno_extra():
    prueba = (
        'cu.comprobar_escalar(triple(2.0), 6.0, nombre="triple")\n'
        "### BEGIN HIDDEN TESTS\n"
        "_caso_oculto_extra = -1.5\n"
        'cu.comprobar_escalar(triple(_caso_oculto_extra), -4.5, nombre="triple", mostrar=False)\n'
        "### END HIDDEN TESTS"
    )
    nb = new_notebook(metadata={"kernelspec": _KERNELSPEC, "language_info": {"name": "python"}})
    nb.cells = [
        _celda("markdown", "# Módulo extra", "titulo"),
        _celda("code", "import course_utils as cu", "configuracion"),
        _celda(
            "code",
            "def triple(x):\n    ### BEGIN SOLUTION\n    return 3 * x\n    ### END SOLUTION",
            "respuesta",
            "m02_triple",
            solution=True,
        ),
        _celda("code", prueba, "prueba", "m02_triple_prueba", grade=True, locked=True, puntos=1),
    ]
    return nb


def crear_curso_juguete(raiz: Path, generar_notebooks: bool = True) -> Path:
    """Crea en ``raiz`` un curso de juguete (solutions/, configuración y notebooks/)."""
    for modulo, nb in (("01_juguete", _cuaderno_juguete()), ("02_extra", _cuaderno_extra())):
        carpeta = raiz / "solutions" / modulo
        carpeta.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, carpeta / f"{modulo}.ipynb")
    (raiz / "solutions" / "01_juguete" / "datos.txt").write_text("datos del módulo\n")
    (raiz / "autograder").mkdir(exist_ok=True)
    shutil.copyfile(
        RAIZ_REPO / "autograder" / "nbgrader_config.py", raiz / "autograder" / "nbgrader_config.py"
    )
    if generar_notebooks:
        generar(raiz)
    return raiz


def cuaderno_alumno(raiz: Path, modulo: str, respuestas=None):
    """Versión del alumno de un módulo con las respuestas dadas (grade_id -> código)."""
    nb = nbformat.read(raiz / "notebooks" / modulo / f"{modulo}.ipynb", as_version=4)
    for celda in nb.cells:
        grade_id = celda.metadata.get("nbgrader", {}).get("grade_id")
        if respuestas and grade_id in respuestas:
            celda.source = respuestas[grade_id]
    return nb


def celda_de(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def posicion_de(nb, grade_id: str) -> int:
    """Posición (desde 1) de una celda, como la cuenta el resumen."""
    return nb.cells.index(celda_de(nb, grade_id)) + 1


@pytest.fixture(scope="module")
def curso_juguete(tmp_path_factory):
    return crear_curso_juguete(tmp_path_factory.mktemp("curso"))


# --- Configuración ---------------------------------------------------------------------------


def test_configuracion_en_espanol_y_coherente():
    config = cargar_config(RAIZ_REPO)
    assert config.CourseDirectory.source_directory == "solutions"
    assert config.CourseDirectory.release_directory == "notebooks"
    assert config.CourseDirectory.db_url.endswith("calificacion/gradebook.db")
    assert "TU CÓDIGO AQUÍ" in config.ClearSolutions.code_stub["python"]
    for clave in ("type_changed_warning", "changed_warning", "failed_warning", "passed_warning"):
        mensaje = config.Validator[clave]
        assert "{num_" in mensaje and "CELDA" in mensaje and "CELL" not in mensaje
    assert 0 < config.Execute.timeout <= 600
    assert "faltaba" in config.OverwriteCells.missing_cell_notification
    # `curso calificar` usa estas listas tal cual: blindan la nota y limpian la retroalimentación.
    assert "autograder.preprocesadores.RestaurarCeldas" in config.Autograde.sanitize_preprocessors
    assert config.Autograde.autograde_preprocessors[0] == "autograder.ejecucion.EjecutarRobusto"
    assert "autograder.preprocesadores.FiltrarAvisos" in config.Autograde.autograde_preprocessors
    assert config.Autograde.sanitize_preprocessors.index(
        "autograder.preprocesadores.QuitarCopias"
    ) < config.Autograde.sanitize_preprocessors.index("nbgrader.preprocessors.DeduplicateIds")
    despues = config.Autograde.autograde_preprocessors
    assert despues.index("autograder.preprocesadores.LimitarSalidas") < despues.index(
        "nbgrader.preprocessors.SaveAutoGrades"
    )
    assert config.LimitarSalidas.max_mb > 0
    retro = config.GenerateFeedback.preprocessors
    assert retro.index("autograder.preprocesadores.MostrarIncidencias") < retro.index(
        "autograder.retroalimentacion.LimpiarRetroalimentacion"
    )


def test_calificacion_ignorada_por_git():
    assert "calificacion/" in (RAIZ_REPO / ".gitignore").read_text().splitlines()


@pytest.mark.lento
def test_version_alembic_igual_que_la_de_nbgrader():
    from autograder import configuracion

    assert version_alembic() == configuracion._alembic_original()


# --- Preprocesadores -------------------------------------------------------------------------


def _celda_prueba(fuente="comprobar()", puntos=2):
    return _celda("code", fuente, "p", "m_prueba", grade=True, locked=True, puntos=puntos)


def test_separar_avisos():
    texto = (
        "/x/torch/a.py:12: UserWarning: cuidado\n  return f(x)\n"
        " 50%|█████     | 5/10 [00:01<00:01,  4.99it/s]\n"
        "<ipython-input>:3: RuntimeWarning: divide by zero\n  y = 1 / x\n"
        "Traceback (most recent call last):\nValueError: mal\n"
    )
    avisos, resto = preprocesadores.separar_avisos(texto)
    assert "UserWarning" in avisos and "RuntimeWarning" in avisos and "it/s" in avisos
    assert "  return f(x)" in avisos
    assert resto == "Traceback (most recent call last):\nValueError: mal\n"


def test_filtrar_avisos_no_resta_puntos_pero_los_errores_si():
    nb = new_notebook()
    aviso = _celda_prueba()
    aviso.outputs = [
        new_output("stream", name="stderr", text="a.py:1: UserWarning: ojo\n  x()\n"),
        new_output("stream", name="stdout", text="✔ ¡Correcto!\n"),
    ]
    # El código del alumno escribe en stderr sin fallar: no resta puntos.
    depura = _celda_prueba()
    depura.outputs = [new_output("stream", name="stderr", text="depurando: x = 3\n")]
    error = _celda_prueba()
    error.outputs = [
        new_output("stream", name="stderr", text="algo fue mal\n"),
        new_output("error", ename="ValueError", evalue="mal", traceback=["ValueError: mal"]),
    ]
    normal = _celda("code", "print(1)", "n")
    normal.outputs = [new_output("stream", name="stderr", text="aviso\n")]
    nb.cells = [aviso, depura, error, normal]
    nb, _ = preprocesadores.FiltrarAvisos().preprocess(nb, {})
    assert determine_grade(nb.cells[0]) == (2.0, 2.0)
    assert any("UserWarning" in s.get("text", "") for s in nb.cells[0].outputs)
    assert determine_grade(nb.cells[1]) == (2.0, 2.0)
    assert nb.cells[1].outputs[0].text == "depurando: x = 3\n"
    assert determine_grade(nb.cells[2]) == (0, 2.0)
    assert nb.cells[2].outputs[1].output_type == "error"
    assert nb.cells[3].outputs[0].name == "stderr"  # fuera de las pruebas no se toca


def _ids(nb) -> list:
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]


def test_quitar_copias_califica_la_original(monkeypatch):
    from nbgrader.preprocessors import CheckCellMetadata, DeduplicateIds

    prueba = "comprobar(doble)"
    nb = new_notebook()
    nb.cells = [
        _celda("code", "def doble(x): return 2 * x", "r1", "m_resp", solution=True),
        _celda("code", "pass  # la cambié", "p1", "m_prueba", grade=True, locked=True, puntos=2),
        _celda("code", "def doble(x): return 0", "r2", "m_resp", solution=True),
        _celda("code", prueba, "p2", "m_prueba", grade=True, locked=True, puntos=2),
        _celda("code", prueba, "p3", "m_prueba", grade=True, locked=True, puntos=2),
    ]
    monkeypatch.setattr(
        preprocesadores.QuitarCopias,
        "_originales",
        lambda self, resources: {"m_prueba": ("code", {prueba})},
    )
    nb, _ = preprocesadores.QuitarCopias().preprocess(nb, {})
    # La respuesta: la primera; la prueba: la primera que coincide con el original.
    assert _ids(nb) == ["m_resp", None, None, "m_prueba", None]
    mensajes = [i["mensaje"] for i in preprocesadores.incidencias(nb)]
    assert mensajes == [
        "la celda m_resp aparece 2 veces (¿copiada y pegada?): se califica la de la posición 1 "
        "y la copia de la posición 3 cuenta como una celda normal",
        "la celda m_prueba aparece 3 veces (¿copiada y pegada?): se califica la de la posición "
        "4 y las copias de las posiciones 2, 5 cuentan como celdas normales",
    ]
    # nbgrader ya no encuentra duplicados ni metadatos vacíos.
    nb, _ = DeduplicateIds().preprocess(nb, {})
    nb, _ = CheckCellMetadata().preprocess(nb, {})
    assert _ids(nb) == ["m_resp", None, None, "m_prueba", None]


def test_quitar_copias_sin_libro_de_notas_se_queda_con_la_primera():
    nb = new_notebook()
    nb.cells = [_celda_prueba("a"), _celda_prueba("b"), _celda("code", "x", "o")]
    nb, _ = preprocesadores.QuitarCopias().preprocess(nb, {})
    assert _ids(nb) == ["m_prueba", None, None]


def _salidas_enormes(nb, mb: float):
    texto = "x" * int(mb * 2**20)
    celdas = []
    # Prueba que falla con una traza enorme, prueba con nota parcial e imagen enorme,
    # prueba correcta que imprime mucho y celdas normales con mucha salida.
    falla = _celda_prueba()
    falla.outputs = [
        new_output("stream", name="stdout", text=texto),
        new_output("error", ename="ValueError", evalue=texto, traceback=[texto] * 3 + ["fin"]),
    ]
    parcial = _celda_prueba()
    parcial.outputs = [
        new_output("display_data", data={"image/png": texto}),
        new_output("execute_result", data={"text/plain": "0.5", "text/html": texto}),
    ]
    bien = _celda_prueba()
    bien.outputs = [new_output("stream", name="stdout", text=texto)]
    celdas = [falla, parcial, bien]
    for i in range(5):
        normal = _celda("code", "print(x)", f"n{i}")
        normal.outputs = [new_output("stream", name="stdout", text=texto)]
        celdas.append(normal)
    nb.cells = celdas
    return nb


def test_limitar_salidas_recorta_sin_cambiar_la_nota():
    nb = _salidas_enormes(new_notebook(), 1)
    antes = [determine_grade(c) for c in nb.cells[:3]]
    assert antes == [(0, 2.0), (0.5, 2.0), (2.0, 2.0)]
    recortador = preprocesadores.LimitarSalidas(max_mb=2)
    nb, _ = recortador.preprocess(nb, {})
    assert len(json.dumps([c.outputs for c in nb.cells])) <= 2 * 2**20
    assert [determine_grade(c) for c in nb.cells[:3]] == antes
    error = nb.cells[0].outputs[1]
    assert error.output_type == "error" and error.ename == "ValueError"
    assert "salida recortada" in nb.cells[3].outputs[0].text
    mensaje = preprocesadores.incidencias(nb)[0]["mensaje"]
    assert mensaje.startswith("salida recortada: las salidas del cuaderno ocupaban")
    # Por debajo del máximo no se toca nada.
    nb = _salidas_enormes(new_notebook(), 0.1)
    copia = json.dumps(nb)
    nb, _ = recortador.preprocess(nb, {})
    assert json.dumps(nb) == copia


def test_limitar_salidas_con_miles_de_salidas_pequenas():
    nb = new_notebook()
    prueba = _celda_prueba()
    prueba.outputs = [new_output("stream", name="stdout", text="y" * 900) for _ in range(3000)]
    prueba.outputs.append(new_output("execute_result", data={"text/plain": "1.5"}))
    nb.cells = [prueba]
    nb, _ = preprocesadores.LimitarSalidas(max_mb=1).preprocess(nb, {})
    assert len(json.dumps(nb.cells[0].outputs)) <= 2**20
    assert determine_grade(nb.cells[0]) == (1.5, 2.0)
    assert "3000 salidas omitidas" in nb.cells[0].outputs[0].text


def test_mostrar_incidencias_en_la_retroalimentacion():
    nb = new_notebook(cells=[_celda("markdown", "# Título", "t")])
    preprocesadores.anotar(nb, "salida", "salida recortada: m01_doble_prueba *grande*")
    preprocesadores.anotar(nb, "salida", "salida recortada: m01_doble_prueba *grande*")
    nb, recursos = preprocesadores.MostrarIncidencias().preprocess(nb, {})
    assert recursos["incidencias"] == ["salida recortada: m01_doble_prueba *grande*"]
    primera = nb.cells[0]
    assert primera.cell_type == "markdown" and "Incidencias al calificar" in primera.source
    assert "m01\\_doble\\_prueba \\*grande\\*" in primera.source
    nbformat.validate(nb)
    vacio = new_notebook(cells=[_celda("markdown", "# Título", "t")])
    vacio, recursos = preprocesadores.MostrarIncidencias().preprocess(vacio, {})
    assert len(vacio.cells) == 1 and recursos["incidencias"] == []


def test_limpiar_retroalimentacion_quita_lo_oculto():
    nb = new_notebook()
    prueba = _celda_prueba(
        "visible(1)\n### BEGIN HIDDEN TESTS\n_secreto = calcula(17.5)\n"
        "assert abs(_secreto - 99.125) < 1\n### END HIDDEN TESTS\nfinal()"
    )
    prueba.outputs = [
        new_output("stream", name="stdout", text="✔ ¡Correcto!\n_secreto = calcula(17.5)\n"),
        new_output(
            "error",
            ename="AssertionError",
            evalue="valores distintos\nesperado 99.125",
            traceback=["Cell In[3], line 3", "----> 3 assert abs(_secreto - 99.125) < 1"],
        ),
    ]
    otra = _celda("code", "print(globals())", "o")
    otra.outputs = [
        new_output("stream", name="stdout", text="x\n_secreto = calcula(17.5)\n"),
        new_output("stream", name="stdout", text="1\n... Output truncated ...\n"),
    ]
    respuesta = _celda("code", "# TU CÓDIGO AQUÍ", "r", "m_respuesta", solution=True)
    respuesta.metadata["nbgrader"]["comment"] = "No response."
    nb.cells = [prueba, otra, respuesta]
    nb.metadata[preprocesadores.CLAVE_METADATOS] = {"incidencias": []}
    nb, _ = retroalimentacion.LimpiarRetroalimentacion().preprocess(nb, {})
    texto = json.dumps(nb)
    assert "_secreto" not in texto and "99.125" not in texto and "17.5" not in texto
    assert "visible(1)" in prueba.source and "final()" in prueba.source
    assert "pruebas ocultas" in prueba.source
    # (Las demás reglas de la retroalimentación se prueban con autograder/retroalimentacion.py.)
    assert respuesta.metadata["nbgrader"]["comment"] == "Sin respuesta."
    assert preprocesadores.CLAVE_METADATOS not in nb.metadata


def test_neutralizar_ordenes_de_sistema():
    nb = new_notebook()
    nb.cells = [
        _celda("code", "!pip install algo\nx = 1\n  %pip install otro", "a"),
        _celda("code", "%%bash\nrm -rf /", "b"),
        _celda("code", "%matplotlib inline\ny = 2", "c"),
        _celda("code", "!ls", "d", "m_enunciado", locked=True),
    ]
    nb, _ = preprocesadores.NeutralizarOrdenesSistema().preprocess(nb, {})
    a, b, c, d = (celda.source for celda in nb.cells)
    assert a.splitlines() == [
        "# [desactivado al calificar] !pip install algo",
        "x = 1",
        "# [desactivado al calificar]   %pip install otro",
    ]
    assert all(linea.startswith("# [desactivado") for linea in b.splitlines())
    assert c == "%matplotlib inline\ny = 2" and d == "!ls"
    assert "órdenes de sistema" in preprocesadores.incidencias(nb)[0]["mensaje"]


def test_reparar_metadatos_quita_los_danados():
    nb = new_notebook()
    buena = _celda_prueba()
    mala = _celda("code", "x", "m", "m_mala", grade=True, locked=True)  # sin puntos
    mala.metadata["nbgrader"]["points"] = "muchos"
    nb.cells = [buena, mala]
    nb, _ = preprocesadores.RepararMetadatos().preprocess(nb, {})
    assert "nbgrader" in nb.cells[0].metadata and "nbgrader" not in nb.cells[1].metadata
    assert "dañados" in preprocesadores.incidencias(nb)[0]["mensaje"]


def test_error_de_memoria():
    assert error_de_memoria("MemoryError", "")
    assert error_de_memoria("RuntimeError", "DefaultCPUAllocator: can't allocate memory")
    assert error_de_memoria("_ArrayMemoryError", "Unable to allocate 74.5 GiB")
    assert not error_de_memoria("ErrorComprobacion", "doble(x) no coincide")


# --- Lectura de entregas ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contenido", "error"),
    [
        (b"", "archivo vacío"),
        (b"  \n", "archivo vacío"),
        (b'{"cells": [', "JSON corrupto"),
        (b"\xff\xfe\x00", "no es un cuaderno (no es texto UTF-8)"),
        (b'{"hola": 1}', "no es un cuaderno de Jupyter (falta la lista de celdas)"),
    ],
)
def test_leer_cuaderno_errores(tmp_path, contenido, error):
    ruta = tmp_path / "x.ipynb"
    ruta.write_bytes(contenido)
    assert calificacion._leer_cuaderno(str(ruta)) == (None, error)


def test_leer_cuaderno_repara_y_limpia(tmp_path):
    nb = new_notebook(cells=[new_code_cell("print(1)")])
    datos = json.loads(nbformat.writes(nb))
    datos["cells"][0]["source"] = ["print(", "1)"]
    datos["cells"][0]["outputs"] = [{"output_type": "raro"}]  # salida inválida
    datos["metadata"]["colab"] = {"provenance": []}
    ruta = tmp_path / "x.ipynb"
    ruta.write_text(json.dumps(datos))
    leido, error = calificacion._leer_cuaderno(str(ruta))
    assert error is None and leido.cells[0].source == "print(1)" and leido.cells[0].outputs == []


def test_normalizar_nombres():
    assert entregas.normalizar("José Pérez Núñez") == "jose_perez_nunez"
    assert entregas.normalizar("../../etc/passwd") == "etc_passwd"
    assert entregas._ids_unicos(["Ana López", "ana_lopez", "Bea"]) == {
        "Ana López": "ana_lopez",
        "Bea": "bea",
        "ana_lopez": "ana_lopez_2",
    }


def _escribir(ruta: Path, nb) -> Path:
    ruta.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, ruta)
    return ruta


def test_recoger_todos_los_formatos(curso_juguete, tmp_path):
    raiz = curso_juguete
    definiciones = entregas.leer_definiciones(raiz, ["01_juguete", "02_extra"])
    carpeta = tmp_path / "entregas"
    juguete = cuaderno_alumno(raiz, "01_juguete", RESPUESTAS)
    extra = cuaderno_alumno(raiz, "02_extra", RESPUESTAS)
    # Formato de nbgrader, con fecha y un cuaderno renombrado por el alumno.
    _escribir(carpeta / "carla" / "01_juguete" / "01_juguete-Copy1.ipynb", juguete)
    (carpeta / "carla" / "01_juguete" / "timestamp.txt").write_text("2024-03-01 10:00:00")
    # Sueltos: el módulo se reconoce por los grade_id aunque el nombre no diga nada.
    _escribir(carpeta / "Bea Núñez_entrega final.ipynb", extra)
    _escribir(carpeta / "bob_01_juguete.ipynb", juguete)
    # Descarga plana de Moodle: «Nombre_id_assignsubmission_file_<archivo>».
    _escribir(carpeta / "Hugo Sanz_77_assignsubmission_file_01_juguete.ipynb", juguete)
    (carpeta / "roto_01_juguete.ipynb").write_text('{"cells": [')
    (carpeta / "misterio.ipynb").write_text("{")
    (carpeta / "notas.txt").write_text("no es una entrega")
    # ZIP con dos módulos y basura de macOS; ZIP dañado.
    with zipfile.ZipFile(carpeta / "Ana Pérez.zip", "w") as z:
        z.writestr("trabajo/01_juguete.ipynb", nbformat.writes(juguete))
        z.writestr("trabajo/otro nombre.ipynb", nbformat.writes(extra))
        z.writestr("__MACOSX/trabajo/._01_juguete.ipynb", "basura")
    (carpeta / "dani.zip").write_bytes(b"no es un zip")
    # Carpeta por alumno (plataforma de cursos) con dos versiones del mismo cuaderno.
    viejo = _escribir(carpeta / "Eva_123_assignsubmission_file_" / "v1.ipynb", juguete)
    nuevo = _escribir(carpeta / "Eva_123_assignsubmission_file_" / "v2.ipynb", juguete)
    os.utime(viejo, (1, 1))

    tareas, avisos = entregas.recoger(carpeta, definiciones, tmp_path / "tmp")
    por_clave = {(t.alumno, t.modulo): t for t in tareas}
    assert set(por_clave) == {
        ("ana_perez", "01_juguete"),
        ("ana_perez", "02_extra"),
        ("bea_nunez_entrega_final", "02_extra"),
        ("bob", "01_juguete"),
        ("carla", "01_juguete"),
        ("dani", "?"),
        ("eva", "01_juguete"),
        ("hugo_sanz", "01_juguete"),
        ("misterio", "?"),
        ("roto", "01_juguete"),
    }
    assert por_clave[("carla", "01_juguete")].marca_tiempo == "2024-03-01 10:00:00"
    assert list(por_clave[("carla", "01_juguete")].cuadernos) == ["01_juguete"]
    assert por_clave[("dani", "?")].errores == {"dani": "ZIP dañado"}
    assert "no se reconoce el módulo" in por_clave[("misterio", "?")].errores["misterio"]
    assert "JSON corrupto" in por_clave[("misterio", "?")].errores["misterio"]
    assert por_clave[("roto", "01_juguete")].cuadernos  # el JSON se revisa al calificar
    assert por_clave[("eva", "01_juguete")].cuadernos["01_juguete"] == str(nuevo)
    assert any("varias versiones" in n for n in por_clave[("eva", "01_juguete")].notas)
    assert avisos == ["se ignora notas.txt: no es un cuaderno (.ipynb) ni un .zip"]

    # Con --modulo, lo que no se reconoce se asigna a ese módulo.
    tareas, _ = entregas.recoger(carpeta, definiciones, tmp_path / "tmp2", modulo="01_juguete")
    assert ("misterio", "01_juguete") in {(t.alumno, t.modulo) for t in tareas}


def _fechar(ruta: Path, anio: int) -> None:
    import datetime

    marca = datetime.datetime(anio, 3, 1, 10, 0).timestamp()
    os.utime(ruta, (marca, marca))


def test_recoger_entradas_hostiles(curso_juguete, tmp_path):
    raiz = curso_juguete
    definiciones = entregas.leer_definiciones(raiz, ["01_juguete", "02_extra"])
    carpeta = tmp_path / "entregas"
    juguete = cuaderno_alumno(raiz, "01_juguete", RESPUESTAS)
    extra = cuaderno_alumno(raiz, "02_extra", RESPUESTAS)
    # Nombre que no es UTF-8 (latin-1): se ve como \xe9 y no rompe nada.
    _escribir(carpeta / os.fsdecode(b"Jos\xe9 Ruiz_01_juguete.ipynb"), juguete)
    # Enlaces: a la solución del instructor, dentro de la carpeta de un alumno y a una carpeta.
    solucion = raiz / "solutions" / "01_juguete" / "01_juguete.ipynb"
    (carpeta / "tramposo_01_juguete.ipynb").symlink_to(solucion)
    _escribir(carpeta / "Luis" / "otro.ipynb", extra)
    (carpeta / "Luis" / "01_juguete.ipynb").symlink_to(solucion)
    (carpeta / "Luis" / "carpeta").symlink_to(solucion.parent, target_is_directory=True)
    _escribir(carpeta / "Marta" / "01_juguete" / "01_juguete.ipynb", juguete)
    (carpeta / "Marta" / "02_extra").mkdir()
    (carpeta / "Marta" / "02_extra" / "02_extra.ipynb").symlink_to(solucion)
    # Una FIFO con nombre de cuaderno no bloquea la recogida.
    os.mkfifo(carpeta / "fifo_01_juguete.ipynb")
    # Nombre largo de Moodle: una sola alumna, aunque entregue sueltos y en carpeta.
    largo = "María Concepción Fernández-Castellanos de la Santísima Trinidad Pérez"
    for modulo, nb in (("01_juguete", juguete), ("02_extra", extra)):
        _escribir(carpeta / f"{largo}_12345_assignsubmission_file_{modulo}.ipynb", nb)
    _escribir(carpeta / f"{largo}_12345_assignsubmission_file_" / "notas.ipynb", extra)
    # Gana la versión más reciente: un ZIP de 2020 frente a un cuaderno de 2024, y al revés.
    for alumno, anio_zip, anio_suelto in (("Ana", 2020, 2024), ("Bea", 2024, 2022)):
        with zipfile.ZipFile(carpeta / f"{alumno}.zip", "w") as z:
            info = zipfile.ZipInfo("trabajo/01_juguete.ipynb", (anio_zip, 3, 1, 10, 0, 0))
            z.writestr(info, nbformat.writes(juguete))
        _fechar(_escribir(carpeta / f"{alumno}_01_juguete.ipynb", juguete), anio_suelto)

    tareas, avisos = entregas.recoger(carpeta, definiciones, tmp_path / "tmp")
    por_clave = {(t.alumno, t.modulo): t for t in tareas}
    assert set(por_clave) == {
        ("ana", "01_juguete"),
        ("bea", "01_juguete"),
        ("fifo", "01_juguete"),
        ("jos_xe9_ruiz", "01_juguete"),
        ("luis", "02_extra"),
        ("maria_concepcion_fernandez-castellanos_de_la_santisima_trini", "01_juguete"),
        ("maria_concepcion_fernandez-castellanos_de_la_santisima_trini", "02_extra"),
        ("marta", "01_juguete"),
    }
    jose = por_clave[("jos_xe9_ruiz", "01_juguete")]
    assert jose.origen == "Jos\\xe9 Ruiz_01_juguete.ipynb"
    jose.origen.encode("utf-8")  # se puede escribir en el CSV
    assert por_clave[("fifo", "01_juguete")].errores == {"01_juguete": "no es un archivo normal"}
    # Los enlaces nunca se siguen: se ignoran y se avisa.
    assert sorted(a for a in avisos if "enlace" in a) == [
        "se ignora Luis/01_juguete.ipynb: es un enlace simbólico (nunca se siguen)",
        "se ignora Luis/carpeta: es un enlace simbólico (nunca se siguen)",
        "se ignora Marta/02_extra/02_extra.ipynb: es un enlace simbólico (nunca se siguen)",
        "se ignora tramposo_01_juguete.ipynb: es un enlace simbólico (nunca se siguen)",
    ]
    for tarea in tareas:
        assert all(Path(r).resolve() != solucion.resolve() for r in tarea.cuadernos.values())
    ana, bea = por_clave[("ana", "01_juguete")], por_clave[("bea", "01_juguete")]
    assert ana.cuadernos["01_juguete"] == str(carpeta / "Ana_01_juguete.ipynb")
    assert ana.archivos["01_juguete"] == "Ana_01_juguete.ipynb (2024-03-01 10:00:00)"
    assert ana.notas == [
        "varias versiones de 01_juguete: se usa Ana_01_juguete.ipynb (2024-03-01 10:00:00), "
        "la más reciente; se ignora Ana.zip:trabajo/01_juguete.ipynb (2020-03-01 10:00:00)"
    ]
    assert bea.archivos["01_juguete"] == "Bea.zip:trabajo/01_juguete.ipynb (2024-03-01 10:00:00)"
    assert "se ignora Bea_01_juguete.ipynb (2022-03-01 10:00:00)" in bea.notas[0]


def test_grade_ids_de_un_cuaderno_v3(curso_juguete):
    nb = cuaderno_alumno(curso_juguete, "01_juguete")
    v3 = json.loads(nbformat.writes(nbformat.convert(nb, 3), version=3))
    assert "worksheets" in v3
    assert entregas._grade_ids(v3) == entregas._grade_ids(json.loads(nbformat.writes(nb)))


# --- Órdenes ---------------------------------------------------------------------------------


def test_ordenes_registradas_con_ayuda_en_espanol(capsys):
    from course_utils.cli import construir_analizador

    analizador = construir_analizador()
    for orden, opciones in (
        ("generar", ["--comprobar", "MÓDULO"]),
        (
            "calificar",
            [
                "--trabajadores",
                "--db",
                "--trabajo",
                "--tiempo-celda",
                "--memoria-mb",
                "--sin-aislamiento",
                "--modulo",
                "--recalificar",
            ],
        ),
    ):
        with pytest.raises(SystemExit):
            analizador.parse_args([orden, "--ayuda"])
        ayuda = capsys.readouterr().out
        assert "uso:" in ayuda and "opciones" in ayuda and "usage" not in ayuda
        for opcion in opciones:
            assert opcion in ayuda
        assert "show this help" not in ayuda
    with pytest.raises(SystemExit) as salida:
        analizador.parse_args(["calificar", "x", "--trabajadores", "0"])
    assert salida.value.code == 2
    assert "entero positivo" in capsys.readouterr().err


def test_registrar_en_cualquier_analizador():
    from autograder.comandos import registrar

    analizador = argparse.ArgumentParser()
    registrar(analizador.add_subparsers())
    args = analizador.parse_args(
        ["calificar", "dir", "--db", "sqlite:////tmp/x.db", "--sin-aislamiento"]
    )
    assert args.db == "sqlite:////tmp/x.db" and args.sin_aislamiento and callable(args.funcion)


def test_tabla_del_resumen():
    informe = calificacion.Informe(
        filas=[
            calificacion.Fila("ana", "01_juguete", 5.0, 5.0, "calificado"),
            calificacion.Fila("bob", "01_juguete", 2.5, 5.0, "tiempo agotado en la celda 7"),
        ],
        notas_csv=Path("n.csv"),
        resumen_csv=Path("r.csv"),
        retroalimentacion=Path("r"),
        db_url="sqlite://",
        avisos=[],
    )
    assert informe.tabla().splitlines() == [
        "alumno  módulo      puntos  máximo  estado",
        "------  ----------  ------  ------  ------",
        "ana     01_juguete       5       5  calificado",
        "bob     01_juguete     2.5       5  tiempo agotado en la celda 7",
    ]


# --- Trabajadores ----------------------------------------------------------------------------


def _resultado_de(tarea):
    resultado = calificacion.Resultado(alumno=tarea.alumno, modulo=tarea.modulo)
    resultado.notas["c"] = {"c_prueba": {"auto_score": 1.0, "needs_manual_grade": False}}
    return resultado


def calificar_o_morir(tarea, ctx, manual):
    """Sustituto de ``calificar_tarea``: el proceso de «bob» muere de golpe."""
    if tarea.alumno == "bob":
        os._exit(7)
    return _resultado_de(tarea)


def calificar_o_ser_matado(tarea, ctx, manual):
    """Sustituto de ``calificar_tarea``: el sistema mata (SIGKILL) el proceso que califica a
    «bob» la primera vez (al repetirse, se califica) o, si se pide, siempre el de «dani» (y
    entonces a nadie más: que el grupo se rompa antes de que «bob» empiece no depende de la
    prueba)."""
    marca = Path(ctx.temporal) / f"matado-{tarea.alumno}"
    a_dani = (Path(ctx.temporal) / "matar-a-dani").exists()
    siempre = tarea.alumno == "dani" and a_dani
    if siempre or (tarea.alumno == "bob" and not a_dani and not marca.exists()):
        marca.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return _resultado_de(tarea)


def _libro_y_contexto(tmp_path):
    from nbgrader.api import Gradebook

    tmp_path.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{tmp_path / 'notas.db'}"
    with sin_avisos_sqlalchemy(), Gradebook(url) as gb:
        gb.add_assignment("m")
        gb.add_notebook("c", "m")
        gb.add_grade_cell("c_prueba", "c", "m", max_score=1, cell_type="code")
    ctx = calificacion._Contexto(
        raiz=str(tmp_path),
        plantilla="",
        trabajo=str(tmp_path),
        temporal=str(tmp_path),
        tiempo_celda=10,
        memoria_mb=1000,
        cpu_segundos=60,
        hilos=1,
        aislar=False,
        cuadernos={"m": ["c"]},
        orden={},
    )
    return url, ctx


def _lote_falso(tmp_path, funcion, alumnos=("ana", "bob", "carla", "dani"), matar_a_dani=False):
    url, ctx = _libro_y_contexto(tmp_path)
    if matar_a_dani:
        (tmp_path / "matar-a-dani").touch()
    tareas = [entregas.Tarea(alumno=a, modulo="m", origen=a) for a in alumnos]
    grupo = calificacion._Trabajadores(2)
    try:
        with sin_avisos_sqlalchemy():
            resultados = ejecutar_lote(grupo, tareas, ctx, url, funcion)
    finally:
        grupo.cerrar()
    return url, resultados


def ejecutar_lote(grupo, tareas, ctx, url, funcion, **opciones):
    """``calificacion._ejecutar`` con un módulo «m» de una sola prueba «c_prueba» (1 punto)."""
    return calificacion._ejecutar(
        grupo,
        tareas,
        ctx,
        {(t.alumno, "m"): None for t in tareas},
        url,
        {"m": {"c": [("c_prueba", 1.0)]}},
        progreso=False,
        funcion=funcion,
        **opciones,
    )


def _notas_del_libro(url, alumnos=("ana", "bob", "carla", "dani")):
    from nbgrader.api import Gradebook

    with sin_avisos_sqlalchemy(), Gradebook(url) as gb:
        assert sorted(s.id for s in gb.students) == sorted(alumnos)  # sin duplicados
        return {a: gb.find_submission("m", a).score for a in alumnos}


@pytest.mark.lento
def test_un_trabajador_muerto_no_detiene_el_lote(tmp_path):
    url, resultados = _lote_falso(tmp_path, calificar_o_morir)
    assert set(resultados) == {(a, "m") for a in ("ana", "bob", "carla", "dani")}
    assert resultados[("bob", "m")].errores == {
        "c": "el proceso de calificación terminó de forma inesperada (código 7)"
    }
    assert _notas_del_libro(url) == {"ana": 1.0, "bob": 0.0, "carla": 1.0, "dani": 1.0}


@pytest.mark.lento
def test_sigkill_a_un_trabajador_se_repite_una_vez(tmp_path):
    # «bob» se califica al repetirse en su propio proceso.
    url, resultados = _lote_falso(tmp_path / "una_vez", calificar_o_ser_matado)
    assert all(r.errores == {} for r in resultados.values())
    assert (tmp_path / "una_vez" / "matado-bob").exists()
    assert _notas_del_libro(url) == {"ana": 1.0, "bob": 1.0, "carla": 1.0, "dani": 1.0}
    # «dani» muere también al repetirse: solo ella pierde la nota.
    url, resultados = _lote_falso(tmp_path / "siempre", calificar_o_ser_matado, matar_a_dani=True)
    assert resultados[("dani", "m")].errores == {
        "c": "el proceso de calificación terminó de forma inesperada (señal SIGKILL)"
    }
    assert _notas_del_libro(url) == {"ana": 1.0, "bob": 1.0, "carla": 1.0, "dani": 0.0}


def test_interrumpir_deja_el_libro_de_notas_coherente(tmp_path, monkeypatch):
    """Un Ctrl+C a mitad de volcar una tarea no deja esa entrega a medias en el libro."""
    url, ctx = _libro_y_contexto(tmp_path)
    volcar = calificacion._volcar
    llamadas = []

    def volcar_e_interrumpir(gb, resultado, celdas):
        llamadas.append(resultado.alumno)
        if len(llamadas) == 3:  # a mitad de la tercera, tras crear alumno y entrega

            def interrumpir(*args, **kwargs):
                raise KeyboardInterrupt

            monkeypatch.setattr(gb, "find_grade", interrumpir)
        return volcar(gb, resultado, celdas)

    monkeypatch.setattr(calificacion, "_volcar", volcar_e_interrumpir)
    grupo = calificacion._Trabajadores(1)
    alumnos = ["ana", "bob", "carla", "dani"]
    tareas = [entregas.Tarea(alumno=a, modulo="m", origen=a) for a in alumnos]
    resultados = {}
    with pytest.raises(KeyboardInterrupt), sin_avisos_sqlalchemy():
        try:
            ejecutar_lote(grupo, tareas, ctx, url, calificar_o_morir, resultados=resultados)
        finally:
            grupo.detener()
            grupo.cerrar()
    guardados = llamadas[:2]
    assert sorted(resultados) == sorted((a, "m") for a in guardados)
    from nbgrader.api import Gradebook

    with sin_avisos_sqlalchemy(), Gradebook(url) as gb:
        assert sorted(s.id for s in gb.students) == sorted(guardados)
        assert len(gb.assignment_submissions("m")) == 2
        for alumno in guardados:
            entrega = gb.find_submission("m", alumno)
            assert entrega.score == (0.0 if alumno == "bob" else 1.0)
            assert all(g.auto_score is not None for n in entrega.notebooks for g in n.grades)
