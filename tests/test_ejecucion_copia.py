"""``curso ejecutar`` copia solo lo que necesita el cuaderno, sin seguir enlaces.

- Un cuaderno suelto (``~/x.ipynb``, ``/tmp/x.ipynb``): el cuaderno y los archivos que nombra.
- Un cuaderno del curso: la carpeta de su módulo, sin enlaces ni archivos especiales y sin
  entrar nunca en la carpeta temporal, aunque esté dentro.
- Las FIFO y los enlaces rotos no rompen nada: se avisa en español.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from course_utils import ejecucion
from course_utils.ejecucion import ejecutar_cuaderno, preparar_carpeta


def _contenido(carpeta: Path) -> set[str]:
    return {
        p.relative_to(carpeta).as_posix()
        for p in carpeta.rglob("*")
        if p.is_file() or p.is_symlink()
    }


def _cuaderno(*fuentes: str):
    return new_notebook(cells=[new_code_cell(f) for f in fuentes])


def _escribir(ruta: Path, nb) -> Path:
    ruta.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, ruta)
    return ruta


def _carpeta_hostil(carpeta: Path, fuera: Path) -> None:
    """Una carpeta con FIFO, enlaces rotos y enlaces que salen de ella."""
    carpeta.mkdir(parents=True, exist_ok=True)
    fuera.mkdir(parents=True, exist_ok=True)
    (fuera / "secreto.txt").write_text("secreto")
    os.mkfifo(carpeta / "tuberia")
    (carpeta / "roto").symlink_to(carpeta / "no-existe")
    (carpeta / "enlace.txt").symlink_to(fuera / "secreto.txt")
    (carpeta / "enlace_carpeta").symlink_to(fuera)


def test_cuaderno_suelto_copia_solo_lo_que_nombra(tmp_path):
    casa = tmp_path / "casa"
    fuera = tmp_path / "fuera"
    _carpeta_hostil(casa, fuera)
    (casa / "datos.csv").write_text("1,2\n")
    (casa / "sub").mkdir()
    (casa / "sub" / "tabla.txt").write_text("x")
    (casa / "otro.txt").write_text("no se nombra")
    (casa / "Documentos").mkdir()
    (casa / "Documentos" / "privado.txt").write_text("no")
    nb = _cuaderno(
        'import pandas\ndf = open("datos.csv").read()\nt = open("sub/tabla.txt")',
        'print("Documentos")\nopen("enlace.txt")\nopen("../fuera/secreto.txt")\nopen("tuberia")',
        "%run otro_que_no_existe.py\n!cat 'sub/tabla.txt'\nopen('enlace_carpeta/secreto.txt')",
    )
    ruta = _escribir(casa / "x.ipynb", nb)
    destino = tmp_path / "temporal" / "casa"
    avisos = preparar_carpeta(ruta, nb, destino)
    assert _contenido(destino) == {"x.ipynb", "datos.csv", "sub/tabla.txt"}
    assert sorted(avisos) == [
        f"se omite {casa / 'enlace.txt'}: es un enlace simbólico",
        f"se omite {casa / 'enlace_carpeta'}: es un enlace simbólico",
        f"se omite {casa / 'tuberia'}: es una FIFO",
    ]
    # La carpeta original sigue igual.
    assert (casa / "tuberia").exists() and (casa / "roto").is_symlink()
    assert (fuera / "secreto.txt").read_text() == "secreto"


def test_cuaderno_del_curso_copia_su_modulo_sin_enlaces(tmp_path):
    raiz = tmp_path / "curso"
    (raiz / "autograder").mkdir(parents=True)
    (raiz / "autograder" / "nbgrader_config.py").write_text("")
    modulo = raiz / "solutions" / "01_x"
    _carpeta_hostil(modulo, tmp_path / "fuera")
    (modulo / "datos.txt").write_text("datos")
    (modulo / "sub").mkdir()
    (modulo / "sub" / "a.txt").write_text("a")
    (modulo / ".ipynb_checkpoints").mkdir()
    (modulo / ".ipynb_checkpoints" / "x-checkpoint.ipynb").write_text("{}")
    nb = _cuaderno("print(1)")
    ruta = _escribir(modulo / "01_x.ipynb", nb)
    assert ejecucion.es_del_curso(ruta)
    assert not ejecucion.es_del_curso(tmp_path / "x.ipynb")
    # La carpeta temporal está dentro del módulo: la copia no entra en sí misma.
    temporal = modulo / "tmp"
    destino = temporal / "01_x"
    avisos = preparar_carpeta(ruta, nb, destino, excluir=temporal)
    assert _contenido(destino) == {"01_x.ipynb", "datos.txt", "sub/a.txt"}
    texto = "\n".join(avisos)
    assert "tuberia: es una FIFO" in texto
    for enlace in ("roto", "enlace.txt", "enlace_carpeta"):
        assert f"{modulo / enlace}: es un enlace simbólico" in texto
    assert (modulo / "tuberia").exists() and (modulo / "roto").is_symlink()


def test_ejecutar_cuaderno_en_la_carpeta_temporal(tmp_path, monkeypatch, capsys):
    """Como ``/tmp/x.ipynb``: el cuaderno está en la carpeta temporal del sistema."""
    temporal = tmp_path / "tmp"
    temporal.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporal))
    (temporal / "datos.csv").write_text("42\n")
    (temporal / "otro.txt").write_text("no se nombra")
    os.mkfifo(temporal / "tuberia")
    (temporal / "roto").symlink_to(temporal / "no-existe")
    nb = _cuaderno(
        "import os\n"
        "assert open('datos.csv').read() == '42\\n'\n"
        "visibles = sorted(os.listdir('.'))\n"
        "assert visibles == ['datos.csv', 'x.ipynb'], visibles"
    )
    ruta = _escribir(temporal / "x.ipynb", nb)
    resultado = ejecutar_cuaderno(ruta, tiempo_celda=120)
    assert resultado.correcto, resultado.primer_error
    assert resultado.avisos == []
    assert sorted(p.name for p in temporal.iterdir()) == [
        "datos.csv",
        "otro.txt",
        "roto",
        "tuberia",
        "x.ipynb",
    ]
    capsys.readouterr()
