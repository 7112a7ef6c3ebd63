"""Informe de la clase (autograder/informe_clase.py) a partir de una carpeta de trabajo fingida."""

from __future__ import annotations

import base64
import csv
import re
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from autograder import informe_clase

MODULO = "02_autograd"
PISTA_Z = "parece el gradiente de z, no el de la pérdida: aplica la regla de la cadena hasta loss."


def _celda_prueba(grade_id, puntos, salidas=()):
    celda = new_code_cell("cu.comprobar_gradientes(...)")
    celda.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": True,
        "grade_id": grade_id,
        "points": puntos,
        "schema_version": 3,
        "task": False,
    }
    celda.outputs = list(salidas)
    return celda


def _cuaderno(salidas_a=(), salidas_b=()):
    return new_notebook(
        cells=[
            new_markdown_cell("# Módulo 2: Autograd"),
            new_markdown_cell("#### 1b. Las derivadas a mano (2 puntos)"),
            _celda_prueba("m02_a_mano_prueba", 2, salidas_a),
            new_markdown_cell("### Ejercicio 2: diferencias centrales (3 puntos)"),
            _celda_prueba("m02_diferencias_prueba", 3, salidas_b),
        ]
    )


def _error(ename, evalue):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _escribir_csv(ruta: Path, filas: list[list[str]]):
    with ruta.open("w", newline="", encoding="utf-8") as archivo:
        csv.writer(archivo).writerows(filas)


def _carpeta(tmp_path: Path) -> tuple[Path, Path]:
    raiz, trabajo = tmp_path / "curso", tmp_path / "calificacion"
    (raiz / "solutions" / MODULO).mkdir(parents=True)
    nbformat.write(_cuaderno(), raiz / "solutions" / MODULO / f"{MODULO}.ipynb")
    z = _error(
        "ErrorComprobacion",
        f"El gradiente respecto a a no coincide: tu valor es -4.\nPista: {PISTA_Z}",
    )
    z2 = _error(
        "ErrorComprobacion",
        f"El gradiente respecto a b no coincide: tu valor es 3.5.\nPista: {PISTA_Z}",
    )
    entregas = {
        "ana": ((), ()),
        "berta": ((z,), ()),
        "carlos": ((z2,), (_error("NotImplementedError", "Completa este ejercicio"),)),
        "dora": ((_error("CellTimeoutError", "la celda superó el tiempo"),), ()),
    }
    for alumno, (a, b) in entregas.items():
        carpeta = trabajo / "calificados" / alumno / MODULO
        carpeta.mkdir(parents=True)
        nbformat.write(_cuaderno(a, b), carpeta / f"{MODULO}.ipynb")
    (trabajo / "retroalimentacion" / "carlos" / MODULO).mkdir(parents=True)
    (trabajo / "retroalimentacion" / "carlos" / MODULO / f"{MODULO}.html").write_text(
        "<html></html>"
    )
    _escribir_csv(
        trabajo / "resumen.csv",
        [
            ["alumno", "módulo", "puntos", "máximo", "estado", "segundos"],
            ["ana", MODULO, "5", "5", "calificado", "1"],
            ["berta", MODULO, "3", "5", "calificado", "1"],
            [
                "carlos",
                MODULO,
                "0",
                "5",
                "posible manipulación en m02_a_mano_prueba (celda 3): se cambió builtins.print; "
                "entrega idéntica a la de dora",
                "1",
            ],
            ["dora", MODULO, "3", "5", "tiempo agotado en la celda 3", "1"],
            ["eva", "?", "0", "0", "no se reconoce el módulo del cuaderno", "0"],
        ],
    )
    _escribir_csv(
        trabajo / "notas.csv",
        [
            ["alumno", "origen", "m02_a_mano_prueba", "m02_diferencias_prueba", MODULO, "total"],
            ["ana", "a.ipynb", "2", "3", "5", "5"],
            ["berta", "b.ipynb", "0", "3", "3", "3"],
            ["carlos", "c.ipynb", "0", "0", "0", "0"],
            ["dora", "d.ipynb", "0", "3", "3", "3"],
        ],
    )
    return raiz, trabajo


def _texto(html: str) -> str:
    html = re.sub(r"<style.*?</style>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_informe_de_la_clase(tmp_path):
    raiz, trabajo = _carpeta(tmp_path)
    ruta = informe_clase.escribir_informe(trabajo, raiz)
    assert ruta == trabajo / "informe.html"
    html = ruta.read_text(encoding="utf-8")
    texto = _texto(html)
    assert '<html lang="es">' in html and "Informe de la clase" in texto
    assert "5 alumnos, 5 entregas" in texto and "3 entregas para revisar" in texto
    # Distribución de notas: un PNG de matplotlib dentro del HTML.
    imagen = re.search(r'src="data:image/png;base64,([^"]+)" alt="Histograma de las notas', html)
    assert base64.b64decode(imagen.group(1))[:8] == b"\x89PNG\r\n\x1a\n"
    assert "media 2,75 y mediana 3 de 5 puntos" in texto
    # Aciertos por ejercicio.
    assert "Ejercicio 1b: las derivadas a mano 1/4" in texto
    assert "Ejercicio 2: diferencias centrales 3/4" in texto
    # Fallos más frecuentes: la pista, contada por alumnos, aunque los valores difieran.
    assert f"Ejercicio 1b: las derivadas a mano 2 alumnos Pista: {PISTA_Z}" in texto
    assert "1 alumno tiempo agotado (¿un bucle infinito?)" in texto
    assert "1 alumno sin hacer (NotImplementedError)" in texto
    # Entregas que conviene revisar: todo lo que no quedó «calificado».
    revisar = texto.split("Entregas que conviene revisar")[-1]
    assert "ana" not in revisar and "berta" not in revisar
    for esperado in (
        "carlos retroalimentación 02_autograd 0/5 posible manipulación",
        "entrega idéntica a la de dora",
        "dora 02_autograd 3/5 tiempo agotado en la celda 3",
        "eva ? 0/0 no se reconoce el módulo",
    ):
        assert esperado in revisar, esperado
    assert f'href="retroalimentacion/carlos/{MODULO}/{MODULO}.html"' in html
    # Sin red ni scripts.
    assert "<script" not in html and not re.search(r"""(src|href)=["']?(https?:)?//""", html)


def test_el_informe_nunca_hace_fallar_la_calificacion(tmp_path):
    assert informe_clase.escribir_informe(tmp_path / "no-existe", tmp_path) is None


def test_orden_para_rehacer_el_informe(tmp_path, monkeypatch, capsys):
    raiz, trabajo = _carpeta(tmp_path)
    (raiz / "autograder").mkdir()
    (raiz / "autograder" / "nbgrader_config.py").write_text("c = get_config()\n")
    monkeypatch.setenv("CURSO_RAIZ", str(raiz))
    assert informe_clase.main([str(trabajo)]) == 0
    assert "Informe de la clase:" in capsys.readouterr().out
    assert informe_clase.main([str(tmp_path)]) == 1
    assert "No hay resumen.csv" in capsys.readouterr().out
