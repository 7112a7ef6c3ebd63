"""``curso calificar`` de principio a fin, con nbgrader de verdad, sobre el curso de juguete.

Un lote de entregas correctas, incorrectas y hostiles (construidas a partir del cuaderno del
alumno) recibe exactamente las notas y los estados esperados; la retroalimentación no muestra
nada de las pruebas ocultas; el CSV y el libro de notas coinciden; calificar en serie da lo
mismo que en paralelo; ``--db`` funciona con otro SQLite y con PostgreSQL.
"""

from __future__ import annotations

import copy
import csv
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from test_autograder import (
    MAXIMOS,
    OCULTOS,
    RESPUESTAS,
    celda_de,
    crear_curso_juguete,
    cuaderno_alumno,
    hay_aislamiento,
    posicion_de,
)

from autograder.calificacion import Opciones, calificar

pytestmark = pytest.mark.lento

TIEMPO_CELDA = 20
MAX_SALIDA_MB = 1


def _con(respuestas: dict, **cambios) -> dict:
    return {**respuestas, **cambios}


def _sin_avisos_de_copia(estado: str) -> str:
    """El estado sin los indicios de copia (aquí muchas entregas son idénticas a propósito)."""
    partes = [p for p in estado.split("; ") if not p.startswith("respuestas idénticas")]
    return "; ".join(partes) or "calificado"


def construir_lote(raiz: Path, carpeta: Path) -> dict[str, tuple[float, str]]:
    """Escribe el lote en ``carpeta``; devuelve alumno -> (puntos, texto esperado en el estado)."""
    carpeta.mkdir(parents=True)
    publicado = cuaderno_alumno(raiz, "01_juguete")
    prueba1 = posicion_de(publicado, "m01_doble_prueba")
    prueba2 = posicion_de(publicado, "m01_norma_prueba")
    esperado = {}

    def escribir(alumno, nb, puntos, estado="calificado", modulo="01_juguete"):
        nbformat.write(nb, carpeta / f"{alumno}_{modulo}.ipynb")
        esperado[alumno] = (puntos, estado)

    escribir("correcto", cuaderno_alumno(raiz, "01_juguete", RESPUESTAS), 5)
    escribir("en_blanco", cuaderno_alumno(raiz, "01_juguete"), 0)
    escribir(
        "mitad",
        cuaderno_alumno(
            raiz, "01_juguete", _con(RESPUESTAS, m01_norma="def norma(v):\n    return v.sum()")
        ),
        2,
    )
    # Solo acierta la prueba visible: las ocultas también se ejecutan.
    escribir(
        "oculto",
        cuaderno_alumno(
            raiz,
            "01_juguete",
            _con(RESPUESTAS, m01_doble="def doble(x):\n    return torch.tensor([2.0, 4.0])"),
        ),
        3,
    )
    (carpeta / "json_corrupto_01_juguete.ipynb").write_text('{"cells": [{"cell_type": "co')
    esperado["json_corrupto"] = (0, "JSON corrupto")
    (carpeta / "vacio_01_juguete.ipynb").write_bytes(b"")
    esperado["vacio"] = (0, "archivo vacío")

    # Celdas borradas y reordenadas: la prueba 1 se repone; la 2, antes de su respuesta, falla.
    nb = cuaderno_alumno(raiz, "01_juguete", RESPUESTAS)
    nb.cells.remove(celda_de(nb, "m01_doble_prueba"))
    p2 = celda_de(nb, "m01_norma_prueba")
    nb.cells.remove(p2)
    nb.cells.insert(nb.cells.index(celda_de(nb, "m01_norma")), p2)
    escribir("borradas", nb, 2, "faltaban (se han restaurado): m01_doble_prueba")

    # Pruebas cambiadas por `pass`, con metadatos tocados y «skip-execution»: se califica con
    # las originales y, sin respuestas, no hay puntos.
    nb = cuaderno_alumno(raiz, "01_juguete")
    for grade_id in ("m01_doble_prueba", "m01_norma_prueba"):
        celda = celda_de(nb, grade_id)
        celda.source = "pass"
        celda.metadata["tags"] = ["skip-execution"]
    celda_de(nb, "m01_norma_prueba").metadata["nbgrader"]["grade"] = False
    celda_de(nb, "m01_norma_prueba").metadata["nbgrader"]["points"] = 100
    escribir("trampas", nb, 0, "celdas de prueba modificadas")

    # Guardado en Colab: metadatos de Colab, sin ids, `!pip install` y salidas viejas.
    nb = cuaderno_alumno(raiz, "01_juguete", RESPUESTAS)
    nb.metadata = {
        "colab": {"provenance": [], "name": "01_juguete.ipynb"},
        "accelerator": "GPU",
        "kernelspec": {"name": "python3", "display_name": "Python 3"},
        "language_info": {"name": "python"},
    }
    nb.cells.insert(1, new_code_cell("!pip install paquete-que-no-existe\n!nvidia-smi"))
    datos = json.loads(nbformat.writes(nb))
    datos["nbformat_minor"] = 0
    for i, celda in enumerate(datos["cells"]):
        celda.pop("id", None)
        celda["metadata"]["id"] = f"colab{i}"
        if celda["cell_type"] == "code":
            celda["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["viejo\n"]}]
            celda["execution_count"] = 3
    (carpeta / "colab_01_juguete.ipynb").write_text(json.dumps(datos))
    esperado["colab"] = (5, "órdenes de sistema")

    nb = cuaderno_alumno(raiz, "01_juguete", RESPUESTAS)
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    nb.metadata["language_info"] = {"name": "R"}
    escribir("nucleo_r", nb, 5)
    nb = cuaderno_alumno(raiz, "01_juguete", RESPUESTAS)
    nb.metadata = {}
    escribir("sin_metadatos", nb, 5)

    bucle = "def doble(x):\n    while True:\n        pass"
    escribir(
        "bucle",
        cuaderno_alumno(raiz, "01_juguete", _con(RESPUESTAS, m01_doble=bucle)),
        3,
        f"tiempo agotado en la celda {prueba1}",
    )
    memoria = "def doble(x):\n    return torch.ones(60_000, 60_000)"
    escribir(
        "memoria",
        cuaderno_alumno(raiz, "01_juguete", _con(RESPUESTAS, m01_doble=memoria)),
        3,
        f"memoria agotada en la celda {prueba1}",
    )
    muere = "def norma(v):\n    import os\n    os._exit(1)"
    escribir(
        "muere",
        cuaderno_alumno(raiz, "01_juguete", _con(RESPUESTAS, m01_norma=muere)),
        2,
        f"el núcleo murió en la celda {prueba2}",
    )
    senal = "def doble(x):\n    import os\n    os.kill(os.getpid(), 9)"
    escribir(
        "senal",
        cuaderno_alumno(raiz, "01_juguete", _con(RESPUESTAS, m01_doble=senal)),
        0,
        f"el núcleo murió en la celda {prueba1}",
    )
    nan = "def doble(x):\n    return x * float('nan')"
    escribir("nan", cuaderno_alumno(raiz, "01_juguete", _con(RESPUESTAS, m01_doble=nan)), 3)
    otro = _con(
        RESPUESTAS,
        m01_doble="def doble(x):\n    return (2 * x).to('meta')",
        m01_norma="def norma(v):\n    return torch.sqrt((v.double() ** 2).sum())",
    )
    escribir("meta_dtype", cuaderno_alumno(raiz, "01_juguete", otro), 3)
    avisos = (
        "import warnings\nimport numpy as np\n\n"
        "def doble(x):\n"
        '    warnings.warn("cuidado con los avisos", UserWarning)\n'
        "    np.log(np.zeros(1))\n"
        "    torch.tensor(torch.ones(1))\n"
        "    return 2 * x"
    )
    escribir("avisos", cuaderno_alumno(raiz, "01_juguete", _con(RESPUESTAS, m01_doble=avisos)), 5)
    # Busca las soluciones, el libro de notas y las demás entregas: aislado no ve nada de eso.
    rutas = [raiz / "solutions", raiz.parent / "trabajo" / "gradebook.db", carpeta]
    espia = (
        "import os\n\n"
        "def doble(x):\n"
        f"    rutas = {[str(r) for r in rutas]!r}\n"
        '    rutas.append(os.path.join(os.getcwd(), "..", "..", "..", "gradebook.db"))\n'
        '    rutas.append(os.path.join(os.getcwd(), "..", "..", "..", "entregas"))\n'
        "    vistas = [r for r in rutas if os.path.exists(r)]\n"
        "    assert not vistas, vistas\n"
        "    return 2 * x"
    )
    if hay_aislamiento():
        escribir("espia", cuaderno_alumno(raiz, "01_juguete", _con(RESPUESTAS, m01_doble=espia)), 5)
    # Otro módulo, con un nombre de archivo que no dice nada: se reconoce por los grade_id.
    nbformat.write(cuaderno_alumno(raiz, "02_extra", RESPUESTAS), carpeta / "extra.ipynb")
    esperado["extra"] = (1, "calificado")

    # Celdas copiadas y pegadas (Jupyter copia los metadatos de nbgrader): la prueba 1, dos
    # veces (la primera copia modificada), y la respuesta 2 con una versión vieja detrás.
    nb = cuaderno_alumno(raiz, "01_juguete", RESPUESTAS)
    prueba = celda_de(nb, "m01_doble_prueba")
    copia = copy.deepcopy(prueba)
    copia.id = "copia-prueba"
    copia.source = "print('mi prueba')"
    nb.cells.insert(nb.cells.index(prueba), copia)
    respuesta = copy.deepcopy(celda_de(nb, "m01_norma"))
    respuesta.id = "copia-respuesta"
    respuesta.source = "def norma_vieja(v):\n    return 0"
    nb.cells.insert(nb.cells.index(celda_de(nb, "m01_norma_prueba")), respuesta)
    escribir("copiada", nb, 5, "copiada y pegada")

    # Guardado en Colab con metadatos de widgets sin «state» (nbconvert falla con KeyError) y
    # una salida de widget sin modelo: nota y retroalimentación.
    nb = cuaderno_alumno(raiz, "01_juguete", RESPUESTAS)
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {"version_major": 2, "version_minor": 0}
    }
    nb.cells.insert(
        1,
        new_code_cell(
            "from IPython.display import display\n"
            "display({'application/vnd.jupyter.widget-view+json': {'version_major': 2}}, "
            "raw=True)"
        ),
    )
    escribir("widgets", nb, 5)

    # Mucha salida (el máximo del lote es MAX_SALIDA_MB): se recorta sin cambiar la nota.
    nb = cuaderno_alumno(raiz, "01_juguete", RESPUESTAS)
    for i in range(3):
        nb.cells.insert(2 + i, new_code_cell(f"print('{i}' * 600_000)"))
    escribir("salida_enorme", nb, 5, "salida recortada")

    # Lo que el código del alumno escribe en stderr durante una prueba no resta.
    depura = (
        "import sys\n\ndef doble(x):\n    print('depurando doble', file=sys.stderr)\n"
        "    return 2 * x"
    )
    escribir("stderr", cuaderno_alumno(raiz, "01_juguete", _con(RESPUESTAS, m01_doble=depura)), 5)

    # Un cuaderno en el formato 3 de nbformat se convierte.
    v3 = nbformat.convert(cuaderno_alumno(raiz, "01_juguete", RESPUESTAS), 3)
    (carpeta / "formato3_01_juguete.ipynb").write_text(nbformat.writes(v3, version=3))
    esperado["formato3"] = (5, "calificado")

    # Un nombre de archivo que no es UTF-8 no impide los informes.
    nbformat.write(
        cuaderno_alumno(raiz, "01_juguete", RESPUESTAS),
        carpeta / os.fsdecode(b"Jos\xe9_01_juguete.ipynb"),
    )
    esperado["jos_xe9"] = (5, "calificado")

    # Un enlace a la solución del instructor nunca se califica.
    (carpeta / "enlace_01_juguete.ipynb").symlink_to(
        raiz / "solutions" / "01_juguete" / "01_juguete.ipynb"
    )
    return esperado


@pytest.fixture(scope="module")
def lote(tmp_path_factory):
    base = tmp_path_factory.mktemp("robustez")
    raiz = crear_curso_juguete(base / "curso")
    esperado = construir_lote(raiz, base / "entregas")
    trabajo = base / "trabajo"
    inicio = time.monotonic()
    informe = calificar(
        base / "entregas",
        raiz,
        Opciones(
            trabajo=trabajo,
            tiempo_celda=TIEMPO_CELDA,
            aislar=hay_aislamiento(),
            progreso=False,
            max_salida_mb=MAX_SALIDA_MB,
        ),
    )
    print(f"\nlote de {len(esperado)} entregas: {time.monotonic() - inicio:.1f} s")
    return raiz, base, trabajo, informe, esperado


def test_notas_y_estados_exactos(lote):
    _, _, _, informe, esperado = lote
    obtenido = {f.alumno: f for f in informe.filas}
    assert set(obtenido) == set(esperado)
    for alumno, (puntos, estado) in esperado.items():
        fila = obtenido[alumno]
        assert (fila.puntos, estado in _sin_avisos_de_copia(fila.estado)) == (puntos, True), (
            alumno,
            fila,
        )
        assert fila.maximo == MAXIMOS[fila.modulo]
    # Los casos limpios no acumulan incidencias espurias.
    limpios = ["correcto", "en_blanco", "mitad", "oculto", "nan", "avisos", "nucleo_r"]
    for alumno in [*limpios, "widgets", "stderr", "formato3", "jos_xe9"]:
        assert _sin_avisos_de_copia(obtenido[alumno].estado) == "calificado", obtenido[alumno]
    # El enlace a la solución se ignora y se avisa.
    assert "se ignora enlace_01_juguete.ipynb: es un enlace simbólico (nunca se siguen)" in (
        informe.avisos
    )
    assert obtenido["jos_xe9"].archivos.startswith("01_juguete: Jos\\xe9_01_juguete.ipynb (")


def test_csv_y_libro_de_notas_coinciden(lote):
    from nbgrader.api import Gradebook

    _, _, trabajo, informe, esperado = lote
    with informe.notas_csv.open(encoding="utf-8") as archivo:
        filas = {f["alumno"]: f for f in csv.DictReader(archivo)}
    assert set(filas) == set(esperado)
    cabecera = list(filas["correcto"])
    assert cabecera[:2] == ["alumno", "origen"] and cabecera[-1] == "total"
    for columna in ("m01_doble_prueba", "m01_norma_prueba", "01_juguete", "01_juguete_estado"):
        assert columna in cabecera
    assert filas["mitad"]["m01_doble_prueba"] == "2" and filas["mitad"]["m01_norma_prueba"] == "0"
    assert filas["json_corrupto"]["01_juguete_estado"] == "JSON corrupto"
    assert filas["extra"]["02_extra"] == "1" and filas["extra"]["01_juguete"] == ""
    for alumno, (puntos, _) in esperado.items():
        assert float(filas[alumno]["total"]) == puntos
    with Gradebook(informe.db_url) as gb:
        for alumno, (puntos, _) in esperado.items():
            modulo = "02_extra" if alumno == "extra" else "01_juguete"
            entrega = gb.find_submission(modulo, alumno)
            assert entrega.score == puntos and not entrega.needs_manual_grade, alumno
    assert informe.db_url == f"sqlite:///{trabajo / 'gradebook.db'}"
    with informe.resumen_csv.open(encoding="utf-8") as archivo:
        lineas = list(csv.reader(archivo))
    assert lineas[0] == ["alumno", "módulo", "puntos", "máximo", "estado", "segundos", "archivos"]
    assert len(lineas) == len(esperado) + 1
    assert filas["jos_xe9"]["origen"] == "Jos\\xe9_01_juguete.ipynb"


def test_retroalimentacion_sin_pruebas_ocultas(lote):
    _, _, trabajo, _, esperado = lote
    paginas = sorted((trabajo / "retroalimentacion").glob("*/*/*.html"))
    assert {p.parts[-3] for p in paginas} == set(esperado)
    for pagina in paginas:
        texto = pagina.read_text(encoding="utf-8")
        for oculto in OCULTOS:
            assert oculto not in texto, (pagina, oculto)
        assert "HIDDEN TESTS" not in texto
        assert 'lang="es"' in texto
    correcto = (trabajo / "retroalimentacion/correcto/01_juguete/01_juguete.html").read_text()
    assert "Puntuación: 5.0 / 5.0" in correcto and "Celda de prueba" in correcto
    assert "pruebas ocultas: no se muestran" in correcto and "Score" not in correcto
    # El error de la prueba oculta se ve solo como «Tipo: mensaje».
    oculto = (trabajo / "retroalimentacion/oculto/01_juguete/01_juguete.html").read_text()
    assert "ErrorComprobacion" in oculto
    assert "Cell In[" not in oculto and "----&gt;" not in oculto
    roto = (trabajo / "retroalimentacion/json_corrupto/01_juguete/01_juguete.html").read_text()
    assert "JSON corrupto" in roto
    # Retroalimentación completa también con widgets rotos y con la salida recortada; las
    # incidencias se le cuentan al alumno.
    for alumno in ("widgets", "salida_enorme", "copiada"):
        texto = (trabajo / f"retroalimentacion/{alumno}/01_juguete/01_juguete.html").read_text()
        assert "5 / 5" in texto or "5.0 / 5.0" in texto, alumno
    copiada = (trabajo / "retroalimentacion/copiada/01_juguete/01_juguete.html").read_text()
    assert "Incidencias al calificar" in copiada and "copiada y pegada" in copiada
    calificado = trabajo / "calificados/salida_enorme/01_juguete/01_juguete.ipynb"
    assert calificado.stat().st_size < 2 * MAX_SALIDA_MB * 2**20


def test_copias_en_formato_nbgrader(lote):
    _, _, trabajo, _, _ = lote
    assert (trabajo / "entregas/correcto/01_juguete/01_juguete.ipynb").is_file()
    calificado = trabajo / "calificados/correcto/01_juguete"
    assert (calificado / "datos.txt").read_text() == "datos del módulo\n"
    nb = nbformat.read(calificado / "01_juguete.ipynb", as_version=4)
    assert "BEGIN HIDDEN TESTS" in celda_de(nb, "m01_doble_prueba").source
    assert (trabajo / "registros/correcto/01_juguete.log").is_file()


def test_serie_igual_que_en_paralelo(lote):
    raiz, base, _, informe, _ = lote
    alumnos = ["correcto", "mitad", "oculto", "borradas", "muere", "avisos"]
    carpeta = base / "serie"
    carpeta.mkdir()
    for alumno in alumnos:
        shutil.copy(base / "entregas" / f"{alumno}_01_juguete.ipynb", carpeta)
    serie = calificar(
        carpeta,
        raiz,
        Opciones(
            trabajadores=1,
            trabajo=base / "trabajo_serie",
            db_url=f"sqlite:///{base / 'serie.db'}",
            tiempo_celda=TIEMPO_CELDA,
            aislar=hay_aislamiento(),
            progreso=False,
        ),
    )
    paralelo = _filas(informe)
    assert _filas(serie) == {a: paralelo[a] for a in alumnos}
    # --db con otro archivo SQLite: el libro de notas por defecto no se crea.
    assert (base / "serie.db").is_file()
    assert not (base / "trabajo_serie" / "gradebook.db").exists()


def test_recalificar_conserva_notas_manuales(lote):
    from nbgrader.api import Gradebook

    raiz, base, _, _, _ = lote
    carpeta = base / "manual"
    carpeta.mkdir()
    shutil.copy(base / "entregas" / "mitad_01_juguete.ipynb", carpeta)
    opciones = Opciones(
        trabajo=base / "trabajo_manual",
        tiempo_celda=TIEMPO_CELDA,
        aislar=hay_aislamiento(),
        progreso=False,
    )
    primero = calificar(carpeta, raiz, opciones)
    with Gradebook(primero.db_url) as gb:
        gb.find_grade("m01_norma_prueba", "01_juguete", "01_juguete", "mitad").manual_score = 1.5
        gb.db.commit()
    segundo = calificar(carpeta, raiz, opciones)
    assert [(f.alumno, f.puntos) for f in segundo.filas] == [("mitad", 3.5)]
    with Gradebook(segundo.db_url) as gb:
        assert len(gb.students) == 1
        nota = gb.find_grade("m01_norma_prueba", "01_juguete", "01_juguete", "mitad")
        assert (nota.auto_score, nota.manual_score, nota.needs_manual_grade) == (0.0, 1.5, True)
    pagina = base / "trabajo_manual/retroalimentacion/mitad/01_juguete/01_juguete.html"
    assert "Puntuación: 3.5 / 5.0" in pagina.read_text()


def _filas(informe) -> dict:
    return {f.alumno: (f.puntos, _sin_avisos_de_copia(f.estado)) for f in informe.filas}


def test_continuar_sin_repetir_lo_calificado(lote, tmp_path):
    """Repetir la orden (p. ej. tras un Ctrl+C) conserva lo calificado y sigue con lo que
    falta; una entrega que cambia se califica de nuevo, y con ``recalificar``, todas."""
    from nbgrader.api import Gradebook

    raiz, base, _, _, _ = lote
    carpeta = tmp_path / "entregas"
    carpeta.mkdir()
    for alumno in ("correcto", "mitad"):
        shutil.copy(base / "entregas" / f"{alumno}_01_juguete.ipynb", carpeta)
    opciones = Opciones(
        trabajo=tmp_path / "t",
        tiempo_celda=TIEMPO_CELDA,
        aislar=hay_aislamiento(),
        progreso=False,
    )
    primero = calificar(carpeta, raiz, opciones)
    copias = {
        a: tmp_path / "t" / "calificados" / a / "01_juguete" / "01_juguete.ipynb"
        for a in ("correcto", "mitad")
    }
    fechas = {a: c.stat().st_mtime_ns for a, c in copias.items()}
    shutil.copy(base / "entregas" / "oculto_01_juguete.ipynb", carpeta)
    segundo = calificar(carpeta, raiz, opciones)
    assert _filas(segundo) == {**_filas(primero), "oculto": (3, "calificado")}
    assert {a: c.stat().st_mtime_ns for a, c in copias.items()} == fechas  # sin repetir
    assert any(a.startswith("2 entrega(s) ya calificada(s)") for a in segundo.avisos)
    with Gradebook(segundo.db_url) as gb:
        assert sorted(s.id for s in gb.students) == ["correcto", "mitad", "oculto"]
    # «mitad» entrega otra versión: solo se califica esa.
    shutil.copy(base / "entregas" / "correcto_01_juguete.ipynb", carpeta / "mitad_01_juguete.ipynb")
    tercero = calificar(carpeta, raiz, opciones)
    assert _filas(tercero)["mitad"] == (5, "calificado")
    assert copias["correcto"].stat().st_mtime_ns == fechas["correcto"]
    assert copias["mitad"].stat().st_mtime_ns != fechas["mitad"]
    opciones.recalificar = True
    cuarto = calificar(carpeta, raiz, opciones)
    assert _filas(cuarto) == _filas(tercero)
    assert copias["correcto"].stat().st_mtime_ns != fechas["correcto"]
    assert not any("ya calificada" in a for a in cuarto.avisos)


def test_sin_retroalimentacion_queda_una_pagina_con_la_nota(lote, tmp_path, monkeypatch):
    """Si la retroalimentación no se puede generar, el alumno recibe una página en español con
    su nota y el estado lo dice (los trabajadores se crean con fork para heredar el fallo)."""
    from autograder import calificacion
    from autograder.ejecutores import local

    raiz, base, _, _, _ = lote
    monkeypatch.setattr(local, "contexto_multiproceso", lambda: multiprocessing.get_context("fork"))
    monkeypatch.setattr(calificacion, "_generar_retro", lambda cfg, logger, cuaderno: None)
    carpeta = tmp_path / "entregas"
    carpeta.mkdir()
    shutil.copy(base / "entregas" / "correcto_01_juguete.ipynb", carpeta)
    informe = calificar(
        carpeta,
        raiz,
        Opciones(
            trabajadores=1,
            trabajo=tmp_path / "t",
            tiempo_celda=TIEMPO_CELDA,
            aislar=hay_aislamiento(),
            progreso=False,
        ),
    )
    [fila] = informe.filas
    assert fila.puntos == 5
    assert "no se pudo generar la retroalimentación de 01_juguete.ipynb" in fila.estado
    pagina = tmp_path / "t/retroalimentacion/correcto/01_juguete/01_juguete.html"
    texto = pagina.read_text(encoding="utf-8")
    assert "no se pudo generar la retroalimentación" in texto and "Puntuación: 5 / 5" in texto


def test_orden_calificar_falla_cerrada_sin_bubblewrap(lote, tmp_path, monkeypatch, capsys):
    from course_utils.cli import main

    raiz, base, _, _, _ = lote
    monkeypatch.setenv("CURSO_RAIZ", str(raiz))
    monkeypatch.setenv("PATH", str(tmp_path))  # sin bwrap
    codigo = main(["calificar", str(base / "entregas"), "--trabajo", str(tmp_path / "t")])
    salida = capsys.readouterr()
    assert codigo == 1
    assert "bubblewrap" in salida.err and "--sin-aislamiento" in salida.err
    assert not (tmp_path / "t" / "gradebook.db").exists()


def test_orden_calificar_de_principio_a_fin(lote, tmp_path):
    raiz, base, _, _, _ = lote
    carpeta = tmp_path / "entregas"
    carpeta.mkdir()
    shutil.copy(base / "entregas" / "correcto_01_juguete.ipynb", carpeta / "Zoé Martín.ipynb")
    opciones = [] if hay_aislamiento() else ["--sin-aislamiento"]
    proceso = subprocess.run(
        [
            sys.executable,
            "-m",
            "course_utils.cli",
            "calificar",
            str(carpeta),
            "--trabajo",
            str(tmp_path / "t"),
            "--tiempo-celda",
            str(TIEMPO_CELDA),
            "--trabajadores",
            "1",
            *opciones,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "CURSO_RAIZ": str(raiz)},
        timeout=300,
    )
    assert proceso.returncode == 0, proceso.stderr
    lineas = proceso.stdout.splitlines()
    assert lineas[0].split() == ["alumno", "módulo", "puntos", "máximo", "estado"]
    assert lineas[2].split() == ["zoe_martin", "01_juguete", "5", "5", "calificado"]
    assert "Calificando" in proceso.stderr  # barra de progreso
    assert (tmp_path / "t" / "notas.csv").is_file()


def _servidor_postgres():
    """Arranca un PostgreSQL propio (solo socket Unix); devuelve (url, parar) o None."""
    binarios = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not binarios or os.geteuid() != 0 or shutil.which("runuser") is None:
        return None
    bin_ = binarios[-1]
    # Fuera de la carpeta temporal de pytest, que el usuario postgres no puede atravesar.
    carpeta = Path(tempfile.mkdtemp(prefix="curso-pg-"))
    datos, socket = carpeta / "datos", carpeta / "socket"
    socket.mkdir()
    for ruta in (carpeta, socket):
        shutil.chown(ruta, "postgres")

    def como_postgres(*orden):
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *map(str, orden)],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def parar():
        como_postgres(bin_ / "pg_ctl", "-D", datos, "-m", "fast", "-w", "stop")
        shutil.rmtree(carpeta, ignore_errors=True)

    iniciado = como_postgres(bin_ / "initdb", "-D", datos, "-A", "trust", "-U", "postgres")
    arranque = (
        iniciado.returncode
        or como_postgres(
            bin_ / "pg_ctl",
            "-D",
            datos,
            "-w",
            "-l",
            carpeta / "registro.log",
            "-o",
            f"-k {socket} -c listen_addresses=''",
            "start",
        ).returncode
    )
    if (
        arranque
        or como_postgres(bin_ / "createdb", "-h", socket, "-U", "postgres", "notas").returncode
    ):
        parar()
        return None
    return f"postgresql://postgres@/notas?host={socket}", parar


def test_libro_de_notas_postgresql(lote):
    pytest.importorskip("psycopg2")
    raiz, base, _, _, _ = lote
    servidor = _servidor_postgres()
    if servidor is None:
        pytest.skip("no se puede arrancar un PostgreSQL local (hace falta root y postgresql)")
    url, parar = servidor
    try:
        carpeta = base / "pg_entregas"
        carpeta.mkdir()
        for alumno in ("correcto", "mitad", "json_corrupto"):
            shutil.copy(base / "entregas" / f"{alumno}_01_juguete.ipynb", carpeta)
        shutil.copy(base / "entregas" / "extra.ipynb", carpeta)
        informe = calificar(
            carpeta,
            raiz,
            Opciones(
                db_url=url,
                trabajo=base / "trabajo_pg",
                tiempo_celda=TIEMPO_CELDA,
                aislar=hay_aislamiento(),
                progreso=False,
            ),
        )
        assert {(f.alumno, f.puntos) for f in informe.filas} == {
            ("correcto", 5),
            ("mitad", 2),
            ("json_corrupto", 0),
            ("extra", 1),
        }
        from nbgrader.api import Gradebook

        with Gradebook(informe.db_url) as gb:  # con el controlador que haya instalado
            assert sorted(s.id for s in gb.students) == [
                "correcto",
                "extra",
                "json_corrupto",
                "mitad",
            ]
            assert gb.find_submission("01_juguete", "mitad").score == 2
        assert not (base / "trabajo_pg" / "gradebook.db").exists()
    finally:
        parar()
