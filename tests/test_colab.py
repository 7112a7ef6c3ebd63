"""Google Colab: la celda de configuración de CONTRIBUIR.md y la nota de Graphviz.

La prueba lenta simula Colab: un entorno virtual nuevo que solo «trae» lo que trae Colab (los
paquetes de .venv menos el curso, torchviz y mlxtend), un módulo ``google.colab`` falso y
``CURSO_FUENTE`` apuntando a esta copia del curso; la celda debe instalar lo que falta.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from course_utils import grafos

RAIZ = Path(__file__).resolve().parents[1]
# Lo que Colab no trae: se instala en la celda de configuración.
FALTAN_EN_COLAB = ("torchviz", "mlxtend", "course_utils", "autograder", "curso_pytorch")


def celda_de_configuracion() -> str:
    """El código de la celda de configuración tal como lo documenta CONTRIBUIR.md."""
    guia = (RAIZ / "CONTRIBUIR.md").read_text(encoding="utf-8")
    seccion = guia.split("3. Celda de configuración", 1)[1].split("\n4. ", 1)[0]
    bloque = re.search(r"```python\n(.*?)\n\s*```", seccion, re.S).group(1)
    return textwrap.dedent(bloque)


def _programa(carpeta: Path, codigo: int) -> None:
    carpeta.mkdir(parents=True, exist_ok=True)
    (carpeta / "dot").write_text(f"#!/bin/sh\nexit {codigo}\n")
    (carpeta / "dot").chmod(0o755)


def test_nota_dice_que_parte_de_graphviz_falta(monkeypatch, tmp_path):
    _programa(tmp_path / "bien", 0)
    monkeypatch.setenv("PATH", str(tmp_path / "bien"))
    assert grafos.nota_graphviz() == ""
    monkeypatch.setitem(sys.modules, "graphviz", None)  # falta el paquete de Python
    nota = grafos.nota_graphviz()
    assert "falta el paquete de Python «graphviz»" in nota and "pip install graphviz" in nota
    assert "apt-get" not in nota
    monkeypatch.setenv("PATH", str(tmp_path / "vacio"))  # y también el programa
    nota = grafos.nota_graphviz()
    assert "falta el programa «dot»" in nota and "tampoco está el paquete" in nota
    assert "pip install graphviz" in nota and "apt-get install graphviz" in nota
    monkeypatch.delitem(sys.modules, "graphviz")  # solo falta el programa
    nota = grafos.nota_graphviz()
    assert "falta el programa «dot»" in nota and "el paquete de Python «graphviz» sí está" in nota
    _programa(tmp_path / "roto", 1)
    monkeypatch.setenv("PATH", str(tmp_path / "roto"))
    assert f"({tmp_path / 'roto' / 'dot'}) no funciona" in grafos.nota_graphviz()


def test_celda_de_configuracion_documentada():
    celda = celda_de_configuracion()
    compile(celda, "<celda de configuración>", "exec")
    fuente = re.search(r'^FUENTE_DEL_CURSO = "([^"]+)"$', celda, re.M)
    assert fuente, "la fuente del curso debe ser una constante"
    assert re.fullmatch(r"git\+https://github\.com/[\w.-]+/[\w.-]+@v\d+\.\d+\.\d+", fuente[1]), (
        "la fuente debe ser una etiqueta de versión, no una rama"
    )
    assert 'os.environ.get("CURSO_FUENTE", FUENTE_DEL_CURSO)' in celda
    for texto in ('"--no-deps"', '"torchviz"', '"mlxtend"', "IProgress not found"):
        assert texto in celda
    assert "import course_utils as cu" in celda


def _ejecutar_en_ipython(python: str, codigo: str, entorno: dict, cwd: Path):
    """Ejecuta ``codigo`` como una celda de IPython con ``google.colab`` cargado."""
    programa = textwrap.dedent(
        """
        import sys, types
        sys.modules["google"] = types.ModuleType("google")
        sys.modules["google.colab"] = types.ModuleType("google.colab")
        from IPython.core.interactiveshell import InteractiveShell
        celda = sys.stdin.read()
        resultado = InteractiveShell.instance().run_cell(celda)
        sys.exit(0 if resultado.success else 3)
        """
    )
    return subprocess.run(
        [python, "-c", programa],
        input=codigo,
        capture_output=True,
        text=True,
        env=entorno,
        cwd=cwd,
        timeout=600,
    )


def test_si_falla_la_instalacion_un_solo_mensaje_en_espanol(tmp_path):
    entorno = {**os.environ, "CURSO_FUENTE": str(tmp_path / "no-existe"), "PIP_NO_INDEX": "1"}
    proceso = _ejecutar_en_ipython(sys.executable, celda_de_configuracion(), entorno, tmp_path)
    salida = proceso.stdout + proceso.stderr
    assert proceso.returncode == 3, salida
    assert f"No se pudo instalar el curso ({tmp_path / 'no-existe'})" in salida
    assert "Traceback" not in salida and "NameError" not in salida
    assert salida.count("No se pudo instalar") == 1


@pytest.mark.lento
def test_colab_simulado_instala_lo_que_falta(tmp_path):
    """Entorno nuevo con lo que trae Colab; la celda instala el curso desde esta copia."""
    base = tmp_path / "lo-que-trae-colab"
    base.mkdir()
    paquetes = Path(sysconfig.get_paths()["purelib"])
    for entrada in paquetes.iterdir():
        nombre = entrada.name.lower().replace("-", "_")
        if entrada.suffix == ".pth" or nombre.startswith(("__editable__", *FALTAN_EN_COLAB)):
            continue
        (base / entrada.name).symlink_to(entrada)
    colab = tmp_path / "colab"
    subprocess.run([sys.executable, "-m", "venv", str(colab)], check=True, timeout=300)
    python = str(colab / "bin" / "python")
    propios = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(propios) / "lo_que_trae_colab.pth").write_text(f"{base}\n")
    sin_instalar = subprocess.run(
        [python, "-c", "import torch, IPython; import torchviz"], capture_output=True, text=True
    )
    assert "No module named 'torchviz'" in sin_instalar.stderr, sin_instalar.stderr
    descarga = subprocess.run(
        [python, "-m", "pip", "download", "-q", "--no-deps", "-d", str(tmp_path), "torchviz"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if descarga.returncode != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"sin acceso a PyPI:\n{descarga.stderr}")
        pytest.skip("sin acceso a PyPI para instalar torchviz y mlxtend")

    entorno = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "CI")}
    entorno["CURSO_FUENTE"] = str(RAIZ)
    proceso = _ejecutar_en_ipython(python, celda_de_configuracion(), entorno, tmp_path)
    salida = proceso.stdout + proceso.stderr
    assert proceso.returncode == 0, salida
    assert "Warning" not in salida and "WARNING" not in salida, salida
    comprobacion = subprocess.run(
        [
            python,
            "-c",
            "import course_utils, torchviz, mlxtend; from tqdm.auto import tqdm; "
            "print(course_utils.__file__)",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=entorno,
    )
    assert comprobacion.returncode == 0, comprobacion.stderr
    assert comprobacion.stdout.strip().startswith(str(colab)), comprobacion.stdout
