"""JupyterLab en un navegador de verdad: Chromium del sistema manejado con Playwright.

«curso abrir» arranca JupyterLab (127.0.0.1, puerto libre) sobre una copia de los cuadernos del
alumno; Chromium abre el módulo 1, comprueba que los menús, la barra del cuaderno y el menú
contextual están en español, ejecuta todas las celdas (el gráfico de tiempos se ve), rellena la
respuesta de ``tabla_multiplicar`` con la solución de ``solutions/`` y ve «✔ ¡Correcto!».
Playwright no descarga navegadores: usa ``/usr/bin/chromium`` (Debian: apt-get install chromium).
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

RAIZ = Path(__file__).resolve().parents[1]
CURSO = Path(sys.executable).parent / "curso"
MODULO = "01_tensores"
RESPUESTA = "m01_tabla"  # grade_id de la celda de respuesta del ejercicio que se rellena

MENUS = ["Archivo", "Editar", "Ver", "Ejecutar", "Núcleo", "Pestañas", "Configuración", "Ayuda"]
# Textos en inglés que el paquete de idioma no traduce y que course_utils/jupyterlab completa.
INGLES_BARRA = [
    "Cut this cell",
    "Copy this cell",
    "Paste this cell from the clipboard",
    "Run this cell and advance",
    "Restart the kernel and run all cells",
    "Select the cell type",
    "Kernel status",
]
INGLES_CONTEXTO = [
    "Cut Cell",
    "Copy Cell",
    "Paste Cell Below",
    "Delete Cell",
    "Merge Cell Above",
    "Merge Cell Below",
    "Clear Cell Output",
    "Clear Outputs of All Cells",
    "Create New View for Cell Output",
]
SIGUIENTE_CELDA_DE_CODIGO = (
    "xpath=following-sibling::div[contains(concat(' ', @class, ' '), ' jp-CodeCell ')][1]"
)
INGLES_MENUS = ["Run", "Kernel", "Tabs", "Run Selected Cell", "Restart Kernel…", "Open Recent"]


def _chromium() -> str | None:
    for nombre in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(nombre):
            return os.path.realpath(shutil.which(nombre))
    return None


def _falta(motivo: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{motivo} (bash instalar.sh --pruebas lo instala)")
    pytest.skip(motivo)


def _puerto_libre() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _solucion(grade_id: str) -> str:
    """Código de la respuesta en el cuaderno del instructor, sin las marcas de nbgrader."""
    nb = nbformat.read(RAIZ / "solutions" / MODULO / f"{MODULO}.ipynb", as_version=4)
    for celda in nb.cells:
        if celda.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return re.sub(r"[ \t]*### (BEGIN|END) SOLUTION\n?", "", celda.source)
    raise AssertionError(f"no está la respuesta {grade_id} en solutions/{MODULO}")


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """«curso abrir» con el curso de verdad, en segundo plano y en un puerto libre."""
    tmp = tmp_path_factory.mktemp("navegador")
    puerto, clave = _puerto_libre(), "clave-del-navegador"
    entorno = {k: v for k, v in os.environ.items() if k not in ("CI", "CURSO_DISPOSITIVO")}
    entorno.update(
        CURSO_RAIZ=str(RAIZ),
        CURSO_RAPIDO="1",
        CURSO_SIN_RED="1",
        JUPYTER_TOKEN=clave,
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "ajustes"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "espacios"),
        PATH=f"{CURSO.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    registro = (tmp / "jupyter.log").open("w")
    orden = [str(CURSO), "abrir", "--puerto", str(puerto), "--sin-navegador"]
    proceso = subprocess.Popen(
        [*orden, "--directorio", str(tmp / "trabajo")],
        env=entorno,
        stdout=registro,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{puerto}"
    try:
        limite, estado = time.monotonic() + 180, None
        while time.monotonic() < limite and proceso.poll() is None and estado != 200:
            time.sleep(0.5)
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={clave}", timeout=5) as r:
                    estado = r.status
            except (OSError, urllib.error.HTTPError):
                estado = None
        texto = (tmp / "jupyter.log").read_text()
        assert estado == 200, f"JupyterLab no respondió en {base}:\n{texto[-3000:]}"
        yield {"base": base, "clave": clave, "log": tmp / "jupyter.log"}
    finally:
        if proceso.poll() is None:
            os.killpg(proceso.pid, signal.SIGTERM)
            try:
                proceso.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proceso.pid, signal.SIGKILL)
                proceso.wait(timeout=10)
        registro.close()


@pytest.mark.lento
def test_cuaderno_del_alumno_en_chromium(jupyterlab):
    navegador = _chromium()
    if navegador is None:
        _falta("falta Chromium (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _falta("falta Playwright para Python (pip install -e '.[dev]')")

    base, clave = jupyterlab["base"], jupyterlab["clave"]
    argumentos = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=navegador, headless=True, args=argumentos)
        try:
            pagina = chromium.new_page(viewport={"width": 1280, "height": 900})
            pagina.goto(f"{base}/lab/tree/{MODULO}/{MODULO}.ipynb?token={clave}")
            cuaderno = pagina.locator(".jp-NotebookPanel:visible .jp-Notebook")
            expect(cuaderno.locator(".jp-Cell").first).to_be_visible(timeout=120_000)
            estado = pagina.locator(".jp-StatusBar-Widget", has_text="Python 3").first
            expect(estado).to_contain_text("Inactivo", timeout=180_000)

            # Interfaz en español: menús, barra del cuaderno y menú contextual de una celda.
            assert pagina.locator(".lm-MenuBar-itemLabel").all_inner_texts() == MENUS
            titulos = pagina.eval_on_selector_all(
                ".jp-NotebookPanel:visible .jp-Toolbar [title]",
                "els => els.map(e => e.getAttribute('title'))",
            )
            assert "Ejecutar esta celda y avanzar (Shift+Enter)" in titulos, titulos
            for ingles in INGLES_BARRA:
                assert not any(t.startswith(ingles) for t in titulos), (ingles, titulos)
            cuaderno.locator(".jp-CodeCell").first.click(button="right")
            contexto = pagina.locator(".lm-Menu .lm-Menu-itemLabel").all_inner_texts()
            pagina.keyboard.press("Escape")
            assert "Cortar la celda" in contexto, contexto
            assert not set(INGLES_CONTEXTO) & set(contexto), contexto
            pagina.locator(".lm-MenuBar-item", has_text="Núcleo").click()
            submenu = pagina.locator(".lm-Menu .lm-Menu-itemLabel").all_inner_texts()
            pagina.keyboard.press("Escape")
            assert not set(INGLES_MENUS) & set(submenu), submenu
            assert not pagina.locator(".Toastify__toast").count(), (
                "no debe salir el aviso de noticias"
            )

            # Ejecutar todo: se para en el primer ejercicio sin hacer; el gráfico se ve.
            pagina.locator(".lm-MenuBar-item", has_text="Ejecutar").click()
            todas = re.compile(r"^Ejecutar todas las celdas$")
            pagina.locator(".lm-Menu-item:visible", has_text=todas).click()
            sin_hacer = cuaderno.locator(".jp-OutputArea-output", has_text="NotImplementedError")
            expect(sin_hacer.first).to_be_attached(timeout=600_000)
            imagen = cuaderno.locator(".jp-OutputArea-output img").first
            imagen.scroll_into_view_if_needed()
            ancho, alto = imagen.evaluate("i => [i.naturalWidth, i.naturalHeight]")
            assert ancho > 100 and alto > 100, "el gráfico no se dibujó"

            # Rellenar la respuesta (sustituye el raise NotImplementedError) y comprobarla.
            candidata = cuaderno.locator(".jp-CodeCell", has_text="raise NotImplementedError")
            candidata = candidata.filter(has_text="def tabla_multiplicar").first
            candidata.evaluate("celda => celda.setAttribute('data-curso', 'respuesta')")
            respuesta = cuaderno.locator(".jp-CodeCell[data-curso=respuesta]")
            respuesta.scroll_into_view_if_needed()
            respuesta.locator(".cm-content").click()
            pagina.keyboard.press("Control+a")
            pagina.keyboard.insert_text(_solucion(RESPUESTA))
            pagina.keyboard.press("Shift+Enter")  # la respuesta
            pagina.keyboard.press("Shift+Enter")  # su celda de comprobación, la siguiente
            prueba = respuesta.locator(SIGUIENTE_CELDA_DE_CODIGO)
            prueba.scroll_into_view_if_needed()
            salida = prueba.locator(".jp-OutputArea-output")
            expect(salida.first).to_contain_text("✔ ¡Correcto!", timeout=120_000)
            assert "Error" not in " ".join(salida.all_inner_texts())
        finally:
            chromium.close()
    # «curso abrir» dio la dirección en español y el registro de Jupyter quedó en silencio.
    log = jupyterlab["log"].read_text()
    assert f"http://localhost:{base.rsplit(':', 1)[1]}/lab?token={clave}" in log
    assert "Jupyter Server" not in log and "is running at" not in log


# --- Traducción complementaria -----------------------------------------------------------------


def _msgids_de_jupyterlab() -> set[str]:
    """Textos traducibles del JupyterLab instalado (paquetes JS y menús de los esquemas)."""
    import jupyterlab

    lab = Path(sys.prefix) / "share" / "jupyter" / "lab"
    if not (lab / "static").is_dir():
        lab = Path(jupyterlab.__file__).parent.parent.parent.parent.parent / "share/jupyter/lab"
    cadena = r'"((?:[^"\\]|\\.)*)"'
    llamada = re.compile(rf"\.(__|_p|_n|_np)\({cadena}(?:\s*,\s*{cadena})?")
    ids = set()
    for ruta in glob.glob(str(lab / "static" / "*.js")):
        for tipo, a, b in llamada.findall(Path(ruta).read_text(encoding="utf-8", errors="replace")):
            a, b = json.loads(f'"{a}"'), json.loads(f'"{b}"') if b else ""
            ids.add(f"{a}\x04{b}" if tipo in ("_p", "_np") else a)
    for ruta in glob.glob(str(lab / "schemas" / "**" / "*.json"), recursive=True):
        texto = Path(ruta).read_text(encoding="utf-8")
        ids |= {f"menu\x04{x}" for x in re.findall(r'"label":\s*"([^"]+)"', texto)}
    return ids


def test_la_traduccion_complementaria_corresponde_a_este_jupyterlab():
    datos = json.loads((RAIZ / "course_utils" / "jupyterlab" / "es_ES.json").read_text("utf-8"))
    traducciones = datos["jupyterlab"]
    assert traducciones[""]["language"] == "es-ES"
    ids = _msgids_de_jupyterlab()
    if not ids:
        pytest.skip("no se encuentran los archivos de JupyterLab")
    desconocidos = [k for k in traducciones if k and k not in ids]
    assert not desconocidos, f"textos que este JupyterLab ya no usa: {desconocidos}"
    for clave, formas in traducciones.items():
        if clave:
            assert isinstance(formas, list) and all(f.strip() for f in formas), clave
            assert "Kernel" not in " ".join(formas) and "Notebook" not in " ".join(formas)
