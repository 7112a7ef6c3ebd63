"""``curso generar``: la versión del alumno se genera con nbgrader, es estable y está al día."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from test_autograder import crear_curso_juguete

from autograder.configuracion import modulos_del_curso
from autograder.generacion import ErrorGeneracion, generar

RAIZ_REPO = Path(__file__).resolve().parents[1]


def test_notebooks_del_curso_al_dia():
    """Falla si notebooks/ no coincide con lo que genera `curso generar` desde solutions/."""
    if not modulos_del_curso(RAIZ_REPO):
        pytest.skip("solutions/ aún no tiene módulos")
    cambios = generar(RAIZ_REPO, comprobar=True)
    assert not cambios, "notebooks/ no está al día; ejecuta «curso generar»:\n" + "\n".join(
        map(str, cambios)
    )


@pytest.fixture
def curso(tmp_path):
    return crear_curso_juguete(tmp_path, generar_notebooks=False)


def _fuentes(ruta: Path) -> str:
    return "\n".join(c.source for c in nbformat.read(ruta, as_version=4).cells)


def test_genera_la_version_del_alumno(curso):
    cambios = generar(curso)
    assert sorted((c.ruta, c.tipo) for c in cambios) == [
        ("notebooks/01_juguete/01_juguete.ipynb", "nuevo"),
        ("notebooks/01_juguete/datos.txt", "nuevo"),
        ("notebooks/02_extra/02_extra.ipynb", "nuevo"),
    ]
    ruta = curso / "notebooks" / "01_juguete" / "01_juguete.ipynb"
    texto = _fuentes(ruta)
    assert "BEGIN SOLUTION" not in texto and "return 2 * x" not in texto
    assert 'raise NotImplementedError("Completa este ejercicio")' in texto
    assert "# TU CÓDIGO AQUÍ" in texto
    assert "HIDDEN TESTS" not in texto and "_valores_ocultos_doble" not in texto
    assert "comprobar_tensor(resultado" in texto  # la prueba visible sí queda
    nb = nbformat.read(ruta, as_version=4)
    for celda in nb.cells:
        meta = celda.metadata.get("nbgrader", {})
        if meta.get("locked") or meta.get("grade") or meta.get("solution"):
            assert meta.get("checksum"), celda.source
        if celda.cell_type == "code":
            assert celda.outputs == [] and celda.execution_count is None
    assert (curso / "notebooks" / "01_juguete" / "datos.txt").read_text() == "datos del módulo\n"
    assert not (curso / "calificacion").exists()  # no toca el libro de notas del instructor


def test_generar_dos_veces_no_cambia_nada(curso):
    generar(curso)
    ruta = curso / "notebooks" / "01_juguete" / "01_juguete.ipynb"
    antes = ruta.read_bytes()
    os.utime(ruta, (1, 1))
    assert generar(curso) == []
    assert ruta.read_bytes() == antes and ruta.stat().st_mtime == 1  # ni siquiera se reescribe


def test_comprobar_detecta_cambios_sin_escribir(curso):
    generar(curso)
    fuente = curso / "solutions" / "01_juguete" / "01_juguete.ipynb"
    nb = json.loads(fuente.read_text())
    nb["cells"][0]["source"] = ["# Módulo de juguete, corregido"]
    fuente.write_text(json.dumps(nb))
    sobrante = curso / "notebooks" / "01_juguete" / "viejo.txt"
    sobrante.write_text("x")
    (curso / "notebooks" / "99_retirado").mkdir()
    (curso / "notebooks" / "99_retirado" / "99_retirado.ipynb").write_text("{}")
    publicado = curso / "notebooks" / "01_juguete" / "01_juguete.ipynb"
    antes = publicado.read_bytes()
    cambios = generar(curso, comprobar=True)
    assert sorted((c.ruta, c.tipo) for c in cambios) == [
        ("notebooks/01_juguete/01_juguete.ipynb", "cambia"),
        ("notebooks/01_juguete/viejo.txt", "sobra"),
        ("notebooks/99_retirado/99_retirado.ipynb", "sobra"),
    ]
    assert publicado.read_bytes() == antes and sobrante.exists()
    # Un módulo concreto (por prefijo) solo mira ese módulo.
    assert [c.tipo for c in generar(curso, ["01"], comprobar=True)] == ["cambia", "sobra"]
    generar(curso)
    assert "corregido" in _fuentes(publicado)
    assert not sobrante.exists() and not (curso / "notebooks" / "99_retirado").exists()
    assert generar(curso, comprobar=True) == []


def test_modulo_inexistente(curso):
    with pytest.raises(ErrorGeneracion, match="No existe el módulo '07'.*01_juguete, 02_extra"):
        generar(curso, ["07"])


def test_error_de_nbgrader_en_espanol(curso):
    fuente = curso / "solutions" / "02_extra" / "02_extra.ipynb"
    nb = json.loads(fuente.read_text())
    nb["cells"][3]["source"] = ["### BEGIN HIDDEN TESTS\n", "x = 1\n"]  # sin END
    fuente.write_text(json.dumps(nb))
    with pytest.raises(ErrorGeneracion, match="nbgrader no pudo generar 02_extra"):
        generar(curso, ["02_extra"])


def test_orden_generar(curso, monkeypatch, capsys):
    from course_utils.cli import main

    monkeypatch.setenv("CURSO_RAIZ", str(curso))
    assert main(["generar", "--comprobar"]) == 1
    salida = capsys.readouterr().out
    assert "no está al día" in salida and "notebooks/02_extra/02_extra.ipynb: falta" in salida
    assert main(["generar"]) == 0
    assert "creado: notebooks/01_juguete/01_juguete.ipynb" in capsys.readouterr().out
    assert main(["generar", "--comprobar"]) == 0
    assert capsys.readouterr().out == "notebooks/ está al día.\n"
    assert main(["generar", "99"]) == 1
    assert "No existe el módulo '99'" in capsys.readouterr().err
