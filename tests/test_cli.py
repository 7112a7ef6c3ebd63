"""La orden ``curso``: ayuda y errores en español, ``curso ejecutar`` y ``curso abrir``."""

from __future__ import annotations

import json
import os
import re
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

import course_utils
from course_utils import cli

CURSO = Path(sys.executable).parent / "curso"
INGLES = [
    "usage:",
    "show this help",
    "options:",
    "positional arguments",
    "error: argument ",
    "invalid choice",
    "unrecognized arguments",
    "required",
    "expected one argument",
]


def _entorno(**extra: str) -> dict[str, str]:
    entorno = {k: v for k, v in os.environ.items() if k not in ("CI", "CURSO_RAPIDO")}
    entorno["PATH"] = f"{CURSO.parent}{os.pathsep}{entorno.get('PATH', '')}"
    entorno.update(extra)
    return entorno


def curso(*argumentos: str, cwd=None, timeout=300, **entorno: str):
    return subprocess.run(
        [str(CURSO), *argumentos],
        cwd=cwd,
        env=_entorno(**entorno),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_la_orden_curso_esta_instalada():
    assert CURSO.exists(), f"falta {CURSO}: instala el proyecto (pip install -e .)"


# --- Ayuda y errores en español ------------------------------------------------------------------


@pytest.mark.parametrize(
    "argumentos", [["--help"], ["-h"], ["--ayuda"], ["abrir", "--ayuda"], ["ejecutar", "--help"]]
)
def test_ayuda_en_espanol(argumentos):
    proceso = curso(*argumentos)
    assert proceso.returncode == 0, proceso.stderr
    ayuda = proceso.stdout
    assert ayuda.startswith("uso: curso")
    assert "opciones:" in ayuda and "muestra esta ayuda y sale" in ayuda
    for ingles in INGLES:
        assert ingles not in ayuda, f"texto en inglés en la ayuda: {ingles!r}\n{ayuda}"


def test_ayuda_general_lista_las_ordenes():
    ayuda = curso("--help").stdout
    for texto in ("abrir", "ejecutar", "órdenes:", "--version"):
        assert texto in ayuda


def test_ayuda_de_cada_orden_lista_sus_opciones():
    assert all(
        o in curso("abrir", "-h").stdout
        for o in ("--puerto N", "--sin-navegador", "--directorio DIR")
    )
    assert all(
        o in curso("ejecutar", "-h").stdout
        for o in ("CUADERNO", "--alumno", "--rapido", "--tiempo-celda S", "argumentos:")
    )


def test_version():
    proceso = curso("--version")
    assert proceso.returncode == 0
    assert proceso.stdout.strip() == f"curso {course_utils.__version__}"


@pytest.mark.parametrize(
    ("argumentos", "mensaje"),
    [
        ([], "faltan argumentos obligatorios: ORDEN"),
        (["volar"], "opción no válida: 'volar'"),
        (["abrir", "--puerto", "x"], "puerto no válido: 'x'"),
        (["abrir", "--puerto", "70000"], "puerto no válido: '70000'"),
        (["abrir", "--puerto"], "se esperaba un valor"),
        (["abrir", "--otra"], "argumentos no reconocidos: --otra"),
        (["ejecutar", "--tiempo-celda", "0"], "segundos no válidos: '0'"),
    ],
)
def test_errores_de_uso_en_espanol(argumentos, mensaje):
    proceso = curso(*argumentos)
    assert proceso.returncode == 2
    assert "error: " in proceso.stderr and mensaje in proceso.stderr, proceso.stderr
    assert proceso.stderr.startswith("uso: curso")
    for ingles in INGLES:
        assert ingles not in proceso.stderr, proceso.stderr


def test_ayuda_no_importa_torch():
    codigo = (
        "import sys\nfrom course_utils import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'curso --help importa torch'\n"
    )
    proceso = subprocess.run([sys.executable, "-c", codigo], capture_output=True, text=True)
    assert proceso.returncode == 0, proceso.stderr


# --- Raíz del proyecto ---------------------------------------------------------------------------


def _raiz_falsa(carpeta: Path) -> Path:
    (carpeta / "solutions").mkdir(parents=True)
    (carpeta / "autograder").mkdir()
    (carpeta / "autograder" / "nbgrader_config.py").write_text("c = get_config()\n")
    return carpeta


def test_raiz_desde_variable_y_desde_subcarpeta(tmp_path, monkeypatch):
    raiz = _raiz_falsa(tmp_path / "curso")
    monkeypatch.setenv("CURSO_RAIZ", str(raiz))
    assert cli.raiz_proyecto() == raiz.resolve()
    monkeypatch.delenv("CURSO_RAIZ")
    subcarpeta = raiz / "solutions" / "01_x"
    subcarpeta.mkdir()
    monkeypatch.chdir(subcarpeta)
    assert cli.raiz_proyecto() == raiz.resolve()


def test_raiz_invalida_da_error_en_espanol(tmp_path, monkeypatch):
    monkeypatch.setenv("CURSO_RAIZ", str(tmp_path))
    with pytest.raises(cli.ErrorCurso, match="no es la carpeta del curso"):
        cli.raiz_proyecto()


def test_raiz_junto_al_paquete_instalado(tmp_path, monkeypatch):
    monkeypatch.delenv("CURSO_RAIZ", raising=False)
    monkeypatch.chdir(tmp_path)
    junto = Path(cli.__file__).resolve().parent.parent
    if (junto / "solutions").is_dir():  # instalación editable
        assert cli.raiz_proyecto() == junto
    else:
        with pytest.raises(cli.ErrorCurso, match="CURSO_RAIZ"):
            cli.raiz_proyecto()


# --- curso ejecutar ------------------------------------------------------------------------------


def _cuaderno(carpeta: Path, nombre: str, *celdas: str, etiquetas=None) -> Path:
    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[v4.new_code_cell(fuente) for fuente in celdas])
    for indice, lista in (etiquetas or {}).items():
        nb.cells[indice].metadata["tags"] = lista
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    ruta = carpeta / nombre / f"{nombre}.ipynb"
    ruta.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, ruta)
    return ruta


@pytest.fixture(scope="module")
def juguetes(tmp_path_factory):
    """Cuadernos de prueba: uno correcto, uno con error y dos al estilo del alumno."""
    carpeta = tmp_path_factory.mktemp("juguetes")
    _cuaderno(
        carpeta,
        "bien",
        "x = 1\nprint(x)",
        "open('salida.txt', 'w').write('hola')",
        "raise ValueError('error mostrado a propósito')",
        etiquetas={2: ["raises-exception"]},
    )
    _cuaderno(carpeta, "mal", "x = 1", "1 / 0", "print('no llega')")
    _cuaderno(
        carpeta,
        "alumno",
        "def f():\n    raise NotImplementedError('Completa')",
        "f()",
        "print('sigue')",
        "f()",
    )
    _cuaderno(
        carpeta,
        "alumno_mal",
        "def f():\n    raise NotImplementedError('Completa')",
        "f()",
        "int('a')",
    )
    _cuaderno(
        carpeta,
        "rapido",
        "import os\nassert os.environ.get('CURSO_RAPIDO') == '1', 'sin modo rápido'",
    )
    _cuaderno(carpeta, "lento", "import time\ntime.sleep(30)")
    _cuaderno(carpeta, "muere", "import os\nos._exit(3)", "print('no llega')")
    return carpeta


def _fila(salida: str, nombre: str) -> list[str]:
    linea = next(linea for linea in salida.splitlines() if linea.startswith(nombre + " "))
    return linea.split()


@pytest.mark.lento
def test_ejecutar_muestra_tabla_y_falla_si_algun_cuaderno_falla(juguetes):
    antes = {p: p.read_bytes() for p in juguetes.rglob("*") if p.is_file()}
    proceso = curso("ejecutar", "bien", "mal", "alumno", cwd=juguetes)
    assert proceso.returncode == 1, proceso.stdout + proceso.stderr
    salida = proceso.stdout
    assert salida.splitlines()[1].split() == ["cuaderno", "estado", "segundos"]
    assert _fila(salida, "bien/bien.ipynb")[1] == "correcto"
    assert float(_fila(salida, "bien/bien.ipynb")[2]) > 0
    assert _fila(salida, "mal/mal.ipynb")[1] == "falla"
    assert _fila(salida, "alumno/alumno.ipynb")[1] == "falla"
    assert "1 de 3 cuadernos correctos" in salida
    assert "mal/mal.ipynb: celda 2: ZeroDivisionError: division by zero" in salida
    assert "alumno/alumno.ipynb: celda 2: NotImplementedError: Completa" in salida
    despues = {p: p.read_bytes() for p in juguetes.rglob("*") if p.is_file()}
    assert despues == antes, "curso ejecutar no debe escribir en la carpeta de los cuadernos"


@pytest.mark.lento
def test_ejecutar_correcto_sale_con_cero(juguetes):
    proceso = curso("ejecutar", str(juguetes / "bien" / "bien.ipynb"), cwd=juguetes)
    assert proceso.returncode == 0, proceso.stdout + proceso.stderr
    assert "1 de 1 cuadernos correctos" in proceso.stdout


@pytest.mark.lento
def test_ejecutar_alumno_solo_permite_not_implemented(juguetes):
    proceso = curso("ejecutar", "--alumno", "alumno", "alumno_mal", cwd=juguetes)
    assert proceso.returncode == 1
    assert _fila(proceso.stdout, "alumno/alumno.ipynb")[1] == "correcto"
    assert "(2 celdas con NotImplementedError" in proceso.stdout
    assert _fila(proceso.stdout, "alumno_mal/alumno_mal.ipynb")[1] == "falla"
    assert "alumno_mal/alumno_mal.ipynb: celda 3: ValueError" in proceso.stdout


@pytest.mark.lento
@pytest.mark.parametrize(
    ("opciones", "entorno", "codigo"),
    [([], {}, 1), (["--rapido"], {}, 0), ([], {"CI": "true"}, 0)],
    ids=["normal", "--rapido", "CI=true"],
)
def test_modo_rapido_llega_al_nucleo(juguetes, opciones, entorno, codigo):
    proceso = curso("ejecutar", *opciones, "rapido", cwd=juguetes, **entorno)
    assert proceso.returncode == codigo, proceso.stdout + proceso.stderr
    assert ("modo rápido (CURSO_RAPIDO=1)" in proceso.stdout) == (codigo == 0)


@pytest.mark.lento
def test_tiempo_maximo_por_celda(juguetes):
    proceso = curso("ejecutar", "--tiempo-celda", "2", "lento", cwd=juguetes)
    assert proceso.returncode == 1
    assert "lento/lento.ipynb: celda 1: TimeoutError: la celda tardó más de 2 s" in proceso.stdout
    assert "KeyboardInterrupt" not in proceso.stdout


@pytest.mark.lento
def test_nucleo_que_muere(juguetes):
    proceso = curso("ejecutar", "muere", cwd=juguetes)
    assert proceso.returncode == 1
    assert "muere/muere.ipynb: celda 1: DeadKernelError" in proceso.stdout


@pytest.mark.lento
def test_ejecutar_sin_argumentos_usa_solutions_o_notebooks(tmp_path, juguetes):
    raiz = _raiz_falsa(tmp_path / "curso")
    bien = (juguetes / "bien" / "bien.ipynb").read_bytes()
    for carpeta in ("solutions", "notebooks"):
        (raiz / carpeta / "01_x").mkdir(parents=True, exist_ok=True)
        (raiz / carpeta / "01_x" / "01_x.ipynb").write_bytes(bien)
    proceso = curso("ejecutar", cwd=tmp_path, CURSO_RAIZ=str(raiz))
    assert proceso.returncode == 0, proceso.stdout + proceso.stderr
    assert "curso/solutions/01_x/01_x.ipynb" in proceso.stdout
    proceso = curso("ejecutar", "--alumno", cwd=tmp_path, CURSO_RAIZ=str(raiz))
    assert "curso/notebooks/01_x/01_x.ipynb" in proceso.stdout


def test_ejecutar_errores_en_espanol(tmp_path):
    proceso = curso("ejecutar", "no_existe.ipynb", cwd=tmp_path)
    assert proceso.returncode == 2
    assert "curso: error: No existe el cuaderno no_existe.ipynb" in proceso.stderr
    raiz = _raiz_falsa(tmp_path / "vacio")
    proceso = curso("ejecutar", cwd=tmp_path, CURSO_RAIZ=str(raiz))
    assert proceso.returncode == 1
    assert "No hay ningún cuaderno que ejecutar" in proceso.stderr


# --- curso abrir ---------------------------------------------------------------------------------


def _curso_con_cuadernos(tmp_path: Path) -> Path:
    raiz = _raiz_falsa(tmp_path / "curso")
    _cuaderno(raiz / "notebooks", "01_a", "print('original')")
    (raiz / "notebooks" / "01_a" / "figura.png").write_bytes(b"png")
    _cuaderno(raiz / "notebooks", "02_b", "print('original')")
    (raiz / "notebooks" / "02_b" / ".ipynb_checkpoints").mkdir()
    (raiz / "notebooks" / "02_b" / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    return raiz


def test_copiar_cuadernos_nunca_sobrescribe(tmp_path):
    raiz = _curso_con_cuadernos(tmp_path)
    trabajo = tmp_path / "trabajo"
    (trabajo / "01_a").mkdir(parents=True)
    (trabajo / "01_a" / "01_a.ipynb").write_text("MI TRABAJO")
    copiados = cli.copiar_cuadernos(raiz / "notebooks", trabajo)
    assert [p.as_posix() for p in copiados] == ["01_a/figura.png", "02_b/02_b.ipynb"]
    assert (trabajo / "01_a" / "01_a.ipynb").read_text() == "MI TRABAJO"
    assert not (trabajo / "02_b" / ".ipynb_checkpoints").exists()
    assert cli.copiar_cuadernos(raiz / "notebooks", trabajo) == []


class _Exec(Exception):
    pass


def _abrir_sin_lanzar(monkeypatch, capsys, *argumentos):
    """Ejecuta «curso abrir» en este proceso y devuelve (orden de JupyterLab, salida)."""
    llamada = {}

    def execve(programa, argv, entorno):
        llamada.update(programa=programa, argv=argv, cwd=os.getcwd(), entorno=entorno)
        raise _Exec

    monkeypatch.setattr(cli.os, "execve", execve)
    with pytest.raises(_Exec):
        cli.main(["abrir", *argumentos])
    return llamada, capsys.readouterr().out


def test_abrir_prepara_jupyterlab(tmp_path, monkeypatch, capsys):
    raiz = _curso_con_cuadernos(tmp_path)
    monkeypatch.setenv("CURSO_RAIZ", str(raiz))
    monkeypatch.chdir(tmp_path)
    puerto = _puerto_libre()
    llamada, salida = _abrir_sin_lanzar(
        monkeypatch, capsys, "--puerto", str(puerto), "--sin-navegador"
    )
    trabajo = raiz / "mi-curso"
    assert llamada["argv"][:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={trabajo}" in llamada["argv"]
    assert f"--ServerApp.port={puerto}" in llamada["argv"] and "--no-browser" in llamada["argv"]
    assert Path(llamada["cwd"]) == trabajo
    assert f"Tu trabajo se guarda en {trabajo}" in salida and "Ctrl+C" in salida
    assert "01_a/01_a.ipynb" in salida and "02_b/02_b.ipynb" in salida
    monkeypatch.chdir(tmp_path)
    llamada, salida = _abrir_sin_lanzar(monkeypatch, capsys)
    assert "No hay cuadernos nuevos" in salida
    assert "--no-browser" not in llamada["argv"]


def test_abrir_da_la_direccion_y_calla_a_jupyter(tmp_path, monkeypatch, capsys):
    raiz = _curso_con_cuadernos(tmp_path)
    monkeypatch.setenv("CURSO_RAIZ", str(raiz))
    monkeypatch.delenv("JUPYTER_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    puerto = _puerto_libre()
    llamada, salida = _abrir_sin_lanzar(monkeypatch, capsys, "--puerto", str(puerto))
    clave = llamada["entorno"]["JUPYTER_TOKEN"]
    assert len(clave) >= 32 and clave not in " ".join(llamada["argv"])
    assert f"http://localhost:{puerto}/lab?token={clave}" in salida
    assert f"--ServerApp.port={puerto}" in llamada["argv"]
    assert "--ServerApp.port_retries=0" in llamada["argv"]
    assert "--ServerApp.log_level=WARN" in llamada["argv"]
    assert "--ServerApp.jpserver_extensions=course_utils.jupyterlab=True" in llamada["argv"]
    # Puerto ocupado: se usa el siguiente libre y la dirección lleva el puerto de verdad.
    with socket.socket() as ocupado:
        ocupado.bind(("127.0.0.1", 0))
        ocupado.listen()
        puerto = ocupado.getsockname()[1]
        monkeypatch.chdir(tmp_path)
        llamada, salida = _abrir_sin_lanzar(monkeypatch, capsys, "--puerto", str(puerto))
    usado = int(re.search(r"--ServerApp.port=(\d+)", " ".join(llamada["argv"])).group(1))
    assert usado != puerto and f"El puerto {puerto} está ocupado: uso el {usado}." in salida
    assert f"http://localhost:{usado}/lab?token=" in salida


def test_abrir_carpeta_sin_permiso_de_escritura(tmp_path, monkeypatch, capsys):
    raiz = _curso_con_cuadernos(tmp_path)
    monkeypatch.setenv("CURSO_RAIZ", str(raiz))
    solo_lectura = tmp_path / "solo_lectura"
    solo_lectura.mkdir()

    def sin_permiso(*args, **kwargs):
        raise PermissionError(13, "Permiso denegado")

    monkeypatch.setattr(cli.tempfile, "NamedTemporaryFile", sin_permiso)
    assert cli.main(["abrir", "--directorio", str(solo_lectura)]) == 1
    error = capsys.readouterr().err
    assert f"No se puede escribir en la carpeta de trabajo {solo_lectura}" in error
    assert "--directorio" in error and "Traceback" not in error


def test_abrir_comprueba_curso_dispositivo(tmp_path, monkeypatch, capsys):
    raiz = _curso_con_cuadernos(tmp_path)
    monkeypatch.setenv("CURSO_RAIZ", str(raiz))
    monkeypatch.setenv("CURSO_DISPOSITIVO", "tpu")
    assert cli.main(["abrir", "--directorio", str(tmp_path / "t")]) == 1
    error = capsys.readouterr().err
    assert (
        "«tpu»" in error and "CURSO_DISPOSITIVO" in error and "no es un dispositivo válido" in error
    )


def test_abrir_no_trabaja_dentro_de_notebooks(tmp_path, monkeypatch, capsys):
    raiz = _curso_con_cuadernos(tmp_path)
    monkeypatch.setenv("CURSO_RAIZ", str(raiz))
    assert cli.main(["abrir", "--directorio", str(raiz / "notebooks" / "01_a")]) == 1
    assert "no puede estar dentro de notebooks/" in capsys.readouterr().err


def _puerto_libre() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pedir(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as respuesta:
            return respuesta.status, respuesta.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """«curso abrir» de verdad, en segundo plano, en un puerto libre de 127.0.0.1."""
    tmp_path = tmp_path_factory.mktemp("abrir")
    raiz = _curso_con_cuadernos(tmp_path)
    trabajo = tmp_path / "trabajo"
    (trabajo / "01_a").mkdir(parents=True)
    (trabajo / "01_a" / "01_a.ipynb").write_text("MI TRABAJO")
    puerto, clave = _puerto_libre(), "clave-de-prueba"
    base = f"http://127.0.0.1:{puerto}"
    ruta_log = tmp_path / "jupyter.log"
    registro = ruta_log.open("w")
    proceso = subprocess.Popen(
        [
            str(CURSO),
            "abrir",
            "--puerto",
            str(puerto),
            "--sin-navegador",
            "--directorio",
            str(trabajo),
        ],
        env=_entorno(
            CURSO_RAIZ=str(raiz),
            JUPYTER_TOKEN=clave,
            JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
            JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        ),
        stdout=registro,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        limite = time.monotonic() + 120
        estado = None
        while time.monotonic() < limite and proceso.poll() is None and estado != 200:
            time.sleep(0.5)
            try:
                estado, _ = _pedir(f"{base}/api/status?token={clave}")
            except OSError:
                estado = None
        assert estado == 200, f"JupyterLab no respondió en {base}:\n{ruta_log.read_text()[-3000:]}"
        yield {"base": base, "clave": clave, "trabajo": trabajo, "log": ruta_log, "tmp": tmp_path}
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
def test_abrir_arranca_jupyterlab_en_la_carpeta_de_trabajo(jupyterlab):
    base, clave, trabajo = jupyterlab["base"], jupyterlab["clave"], jupyterlab["trabajo"]
    estado, cuerpo = _pedir(f"{base}/api/status?token={clave}")
    assert estado == 200 and json.loads(cuerpo)["started"]
    estado, _ = _pedir(f"{base}/api/status")
    assert estado == 403, "JupyterLab debe pedir la clave (token)"
    estado, contenido = _pedir(f"{base}/api/contents/01_a?token={clave}")
    assert estado == 200
    assert {f["name"] for f in json.loads(contenido)["content"]} == {"01_a.ipynb", "figura.png"}
    estado, pagina = _pedir(f"{base}/lab?token={clave}")
    assert estado == 200 and b"JupyterLab" in pagina
    # Interfaz para el alumno: en español y sin los paneles de instructor de nbgrader.
    datos = re.search(rb'id="jupyter-config-data"[^>]*>(.*?)</script>', pagina, re.S)
    assert "@jupyter/nbgrader" in json.loads(datos.group(1))["disabledExtensions"]
    estado, ajustes = _pedir(
        f"{base}/lab/api/settings/@jupyterlab/translation-extension:plugin?token={clave}"
    )
    assert json.loads(ajustes)["schema"]["properties"]["locale"]["default"] == "es_ES"
    estado, _ = _pedir(f"{base}/formgrader?token={clave}")
    assert estado == 404, "el formgrader de nbgrader no debe estar activo para el alumno"
    log = jupyterlab["log"].read_text()
    assert "Tu trabajo se guarda en" in log and "Ctrl+C" in log
    assert (trabajo / "01_a" / "01_a.ipynb").read_text() == "MI TRABAJO"
    assert (trabajo / "02_b" / "02_b.ipynb").exists()
