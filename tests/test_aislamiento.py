"""Pruebas del aislamiento de los núcleos de calificación (autograder/aislamiento.py).

Cada propiedad se comprueba con núcleos reales: un cuaderno hostil se ejecuta una vez en el
entorno aislado (fixture de módulo) y cada prueba mira una parte del resultado.
"""

import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_code_cell, new_notebook
from nbgrader.api import Gradebook
from nbgrader.converters import GenerateAssignment
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

from autograder import aislamiento
from autograder.aislamiento import (
    NINGUNO,
    EjecutarAislado,
    ErrorAislamiento,
    GestorNucleoAislado,
    Limites,
    comprobar_aislamiento,
    comprobar_limites,
    configurar_nbgrader,
    motivo_fallo,
)

RAIZ = Path(__file__).resolve().parent.parent
SECRETO = "contenido-secreto-" + uuid.uuid4().hex
VARIABLE_SECRETA = "CURSO_PRUEBA_TOKEN_SECRETO"
MARCA = "marca-proceso-" + uuid.uuid4().hex


def _hay_bwrap():
    try:
        comprobar_aislamiento()
    except ErrorAislamiento:
        return False
    return True


requiere_bwrap = pytest.mark.skipif(not _hay_bwrap(), reason="bubblewrap no funciona aquí")


class ServidorTCP:
    """Servidor TCP en 127.0.0.1 del anfitrión que cuenta las conexiones recibidas."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.puerto = self.socket.getsockname()[1]
        self.conexiones = 0
        threading.Thread(target=self._atender, daemon=True).start()

    def _atender(self):
        while True:
            try:
                conexion, _ = self.socket.accept()
            except OSError:
                return
            self.conexiones += 1
            conexion.close()

    def cerrar(self):
        self.socket.close()


def _procesos_con(marca):
    """PID de los procesos del anfitrión cuya línea de órdenes contiene ``marca``."""
    encontrados = []
    for entrada in Path("/proc").iterdir():
        if entrada.name.isdigit():
            try:
                linea = (entrada / "cmdline").read_bytes()
            except OSError:
                continue
            if marca.encode() in linea:
                encontrados.append(int(entrada.name))
    return encontrados


def _textos(celda, nombre):
    return "".join(
        o.get("text", "") for o in celda.outputs if o.output_type == "stream" and o.name == nombre
    )


def _errores(celda):
    return [o.ename for o in celda.outputs if o.output_type == "error"]


def _cuaderno(celdas):
    nb = new_notebook(cells=[new_code_cell(textwrap.dedent(c).strip()) for c in celdas.values()])
    for nombre, celda in zip(celdas, nb.cells, strict=True):
        celda.metadata["nombre"] = nombre
    return nb


def _por_nombre(nb):
    return {c.metadata["nombre"]: c for c in nb.cells}


def _ejecutar(nb, trabajo, config, **opciones):
    cliente = NotebookClient(
        nb,
        kernel_manager_class=GestorNucleoAislado,
        config=config,
        resources={"metadata": {"path": str(trabajo)}},
        allow_errors=True,
        timeout=120,
        **opciones,
    )
    cliente.execute()
    return nb


def _config(**rasgos):
    config = Config()
    for nombre, valor in rasgos.items():
        setattr(config.GestorNucleoAislado, nombre, valor)
    return config


@pytest.fixture(scope="module")
def escenario(tmp_path_factory):
    """Copia de trabajo, un vecino con un secreto, un servidor TCP y un secreto en el entorno."""
    base = tmp_path_factory.mktemp("aislamiento")
    trabajo = base / "alumno1" / "tarea"
    vecino = base / "alumno2" / "tarea"
    trabajo.mkdir(parents=True)
    vecino.mkdir(parents=True)
    (trabajo / "datos.txt").write_text("datos del alumno")
    (vecino / "secreto.txt").write_text(SECRETO)
    servidor = ServidorTCP()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(VARIABLE_SECRETA, SECRETO)
        mp.setenv("NBGRADER_EXECUTION", "autograde")
        yield {"trabajo": trabajo, "vecino": vecino, "servidor": servidor}
    servidor.cerrar()


def _celdas_hostiles(escenario):
    vecino = escenario["vecino"]
    return {
        "leer_vecino": f"print(open({str(vecino / 'secreto.txt')!r}).read())",
        "listar_repo": f"import os; print(sorted(os.listdir({str(RAIZ)!r})))",
        "leer_soluciones": f"print(os.listdir({str(RAIZ / 'solutions')!r}))",
        "ver_home": f"""
            import json
            ocultas = {json.dumps([str(p) for p in _ocultas_en_home()])}
            print(json.dumps([p for p in ocultas if os.path.exists(p)]))
        """,
        "escribir": f"""
            open("resultado.txt", "w").write("hecho")
            import sys
            destinos = [
                {str(vecino / "intruso.txt")!r},
                {str(RAIZ / "course_utils" / "intruso.py")!r},
                os.path.join(sys.prefix, "intruso.txt"),
                "/usr/intruso.txt",
            ]
            for destino in destinos:
                try:
                    open(destino, "w").write("x")
                    print("ESCRITO", destino)
                except OSError as error:
                    print("BLOQUEADO", type(error).__name__)
        """,
        "leer_datos": """
            print(open("datos.txt").read())
            print(sorted(os.listdir(".")))
        """,
        "modulo_propio": """
            import importlib
            open("ayuda_alumno.py", "w").write("VALOR = 7")
            importlib.invalidate_caches()
            import ayuda_alumno
            print(ayuda_alumno.VALOR)
        """,
        "especiales": """
            os.symlink("/", "enlace")
            os.mkfifo("tubo")
            os.makedirs("sub/interior")
            os.symlink("/usr", "sub/interior/otro")
            print(sorted(os.listdir(".")))
        """,
        "red": f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {escenario["servidor"].puerto}), timeout=5)
                print("CONECTADO")
            except OSError as error:
                print("SIN RED", type(error).__name__)
        """,
        "entorno": "import json, os; print(json.dumps(dict(os.environ)))",
        "avisos": """
            import warnings
            import numpy as np
            import torch
            warnings.warn("aviso de prueba")
            torch.tensor(torch.ones(2))
            np.log(np.zeros(1))
            os.write(2, b"ruido de bajo nivel en el descriptor 2")
            print("fin")
        """,
        "registro": """
            import logging
            logging.warning("aviso de registro")
            logging.getLogger("modulo.alumno").error("error de registro")
            logging.basicConfig(level=logging.INFO, format="%(levelname)s|%(message)s")
            logging.info("informacion")
            print("fin")
            logging.root.setLevel(logging.WARNING)
        """,
        "error_real": "raise ValueError('fallo de verdad')",
        "memoria": """
            grandes = ("torch.empty(10**11)", "torch.empty(3 * 10**9)", "bytearray(12 * 2**30)")
            for intento in grandes:
                try:
                    eval(intento)
                    print("RESERVADO", intento)
                except (RuntimeError, MemoryError) as error:
                    print("SIN MEMORIA", type(error).__name__)
        """,
        "entrenar": """
            import matplotlib.pyplot as plt
            torch.manual_seed(0)
            capas = [torch.nn.Linear(784, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)]
            modelo = torch.nn.Sequential(*capas)
            optimizador = torch.optim.SGD(modelo.parameters(), lr=0.1)
            x, y = torch.randn(2000, 784), torch.randint(0, 10, (2000,))
            for inicio in range(0, 2000, 50):
                optimizador.zero_grad()
                lote = slice(inicio, inicio + 50)
                perdida = torch.nn.functional.cross_entropy(modelo(x[lote]), y[lote])
                perdida.backward()
                optimizador.step()
            plt.plot([1, 2]); plt.savefig("grafico.png")
            print("ENTRENADO", torch.get_num_threads(), perdida.item() > 0)
        """,
        "limites": """
            import json, resource
            print(json.dumps({n: resource.getrlimit(getattr(resource, n))
                              for n in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC")}))
        """,
        "hilos": """
            import threading, time
            hilos = []
            try:
                for _ in range(100):
                    hilos.append(threading.Thread(target=time.sleep, args=(3,)))
                    hilos[-1].start()
            except RuntimeError:
                pass
            print("HILOS", len([h for h in hilos if h.is_alive()]))
            for hilo in hilos:
                hilo.join()
        """,
        "procesos": f"""
            import subprocess, time
            orden = [sys.executable, "-c", "import time; time.sleep(600)", {MARCA!r}]
            hijo = subprocess.Popen(orden, start_new_session=True)
            time.sleep(0.5)
            print(hijo.poll())
        """,
        "bucle": "while True:\n    pass",
        "tras_bucle": "print('sigo vivo')",
    }


def _ocultas_en_home():
    """Entradas del HOME del calificador y de /root que no llevan a nada montado."""
    montadas = [Path(p) for p in aislamiento._rutas_python()]
    ocultas = []
    for carpeta in {Path.home(), Path("/root")}:
        try:
            entradas = list(carpeta.iterdir())
        except OSError:
            continue
        ocultas += [e for e in entradas if not any(e == m or e in m.parents for m in montadas)]
    return ocultas


@pytest.fixture(scope="module")
def aislado(escenario):
    """Ejecuta las celdas hostiles una vez en un núcleo aislado."""
    if not _hay_bwrap():
        pytest.skip("bubblewrap no funciona aquí")
    nb = _cuaderno(_celdas_hostiles(escenario))
    vistos = {}

    def al_ejecutar(cell, cell_index, execute_reply):
        if cell.metadata["nombre"] == "procesos":
            vistos["procesos"] = _procesos_con(MARCA)
            vistos["transporte"] = cliente.km.transport

    config = _config(memoria_mb=2048, cpu_segundos=120, procesos=64)
    cliente = NotebookClient(
        nb,
        kernel_manager_class=GestorNucleoAislado,
        config=config,
        resources={"metadata": {"path": str(escenario["trabajo"])}},
        allow_errors=True,
        timeout=120,
        interrupt_on_timeout=True,
        timeout_func=lambda celda: 5 if celda.metadata["nombre"] == "bucle" else 120,
        on_cell_executed=al_ejecutar,
    )
    cliente.execute()
    fin = time.monotonic() + 10
    while _procesos_con(MARCA) and time.monotonic() < fin:
        time.sleep(0.2)
    vistos["procesos_despues"] = _procesos_con(MARCA)
    return _por_nombre(nb), vistos


@pytest.mark.lento
def test_no_lee_ficheros_de_otros_alumnos(aislado):
    celdas, _ = aislado
    assert _errores(celdas["leer_vecino"]) in (["FileNotFoundError"], ["PermissionError"])
    assert all(SECRETO not in json.dumps(c.outputs) for c in celdas.values())


@pytest.mark.lento
def test_no_ve_el_repositorio_ni_las_soluciones(aislado):
    celdas, _ = aislado
    visibles = set(json.loads(_textos(celdas["listar_repo"], "stdout").replace("'", '"')))
    assert "solutions" not in visibles and "autograder" not in visibles
    assert visibles <= {"course_utils", ".venv", "venv"}
    assert _errores(celdas["leer_soluciones"]) == ["FileNotFoundError"]


@pytest.mark.lento
def test_no_ve_el_home_del_calificador(aislado):
    celdas, _ = aislado
    assert _ocultas_en_home(), "la prueba necesita algo que ocultar en HOME o /root"
    assert json.loads(_textos(celdas["ver_home"], "stdout")) == []


@pytest.mark.lento
def test_solo_escribe_en_su_copia_de_trabajo(aislado, escenario):
    celdas, _ = aislado
    salida = _textos(celdas["escribir"], "stdout")
    assert "ESCRITO" not in salida and salida.count("BLOQUEADO") == 4
    # Escribe en su copia privada; la carpeta del cuaderno no cambia.
    assert sorted(p.name for p in escenario["trabajo"].iterdir()) == ["datos.txt"]
    assert _textos(celdas["modulo_propio"], "stdout").strip() == "7"
    assert _textos(celdas["leer_datos"], "stdout").startswith("datos del alumno")
    assert not (escenario["vecino"] / "intruso.txt").exists()
    assert not (RAIZ / "course_utils" / "intruso.py").exists()


@pytest.mark.lento
def test_enlaces_y_ficheros_especiales_quedan_en_su_copia(aislado, escenario):
    celdas, _ = aislado
    assert "'enlace'" in _textos(celdas["especiales"], "stdout")
    trabajo = escenario["trabajo"]
    assert not (trabajo / "enlace").is_symlink() and not (trabajo / "tubo").exists()
    assert not (trabajo / "sub").exists()


@pytest.mark.lento
def test_sin_red_y_habla_por_ipc(aislado, escenario):
    celdas, vistos = aislado
    assert _textos(celdas["red"], "stdout").startswith("SIN RED")
    assert escenario["servidor"].conexiones == 0
    assert vistos["transporte"] == "ipc"


@pytest.mark.lento
def test_entorno_limpio(aislado):
    celdas, _ = aislado
    entorno = json.loads(_textos(celdas["entorno"], "stdout"))
    assert VARIABLE_SECRETA not in entorno
    assert SECRETO not in json.dumps(entorno)
    assert entorno["MPLBACKEND"] == "Agg"
    assert entorno["OMP_NUM_THREADS"] == "1"
    assert entorno["NBGRADER_EXECUTION"] == "autograde"
    assert entorno["HOME"].startswith("/tmp/") and entorno["HOME"] != os.environ["HOME"]
    assert "JPY_PARENT_PID" not in entorno


@pytest.mark.lento
def test_avisos_sin_stderr_y_errores_reales(aislado):
    celdas, _ = aislado
    avisos = celdas["avisos"]
    assert _textos(avisos, "stderr") == "" and _errores(avisos) == []
    salida = _textos(avisos, "stdout")
    assert "UserWarning: aviso de prueba" in salida
    assert "To copy construct from a tensor" in salida
    assert "RuntimeWarning" in salida and salida.rstrip().endswith("fin")
    assert _errores(celdas["error_real"]) == ["ValueError"]
    # logging.warning() sin configurar (basicConfig implícito) y basicConfig(level=...) van a
    # stdout, no a stderr.
    registro = celdas["registro"]
    assert _textos(registro, "stderr") == "" and _errores(registro) == []
    assert _textos(registro, "stdout").splitlines() == [
        "WARNING:root:aviso de registro",
        "ERROR:modulo.alumno:error de registro",
        "INFO|informacion",
        "fin",
    ]


@pytest.mark.lento
def test_limite_de_memoria(aislado):
    celdas, _ = aislado
    salida = _textos(celdas["memoria"], "stdout")
    assert "RESERVADO" not in salida and salida.count("SIN MEMORIA") == 3
    assert _textos(celdas["entrenar"], "stdout").strip() == "ENTRENADO 1 True"
    limites = json.loads(_textos(celdas["limites"], "stdout"))
    assert limites["RLIMIT_AS"] == [2048 * 2**20] * 2
    assert limites["RLIMIT_CPU"][0] == 120
    assert limites["RLIMIT_NPROC"] == [64, 64]


def _hay_limites_por_entrega():
    try:
        return comprobar_limites() != NINGUNO
    except ErrorAislamiento:
        return False


@pytest.mark.lento
@pytest.mark.skipif(
    not _hay_limites_por_entrega(), reason="aquí no se puede limitar cada entrega entera"
)
def test_limite_de_procesos(aislado):
    celdas, _ = aislado
    assert int(_textos(celdas["hilos"], "stdout").split()[1]) < 64


@pytest.mark.lento
def test_interrupcion_por_tiempo_y_procesos_huerfanos(aislado):
    celdas, vistos = aislado
    assert _textos(celdas["procesos"], "stdout").strip() == "None"
    assert len(vistos["procesos"]) == 1, "el hijo debía seguir vivo mientras vivía el núcleo"
    assert vistos["procesos_despues"] == []
    assert _errores(celdas["bucle"])
    assert _textos(celdas["tras_bucle"], "stdout").strip() == "sigo vivo"


@pytest.mark.lento
@requiere_bwrap
def test_limite_de_cpu_mata_solo_el_nucleo(tmp_path):
    nb = _cuaderno({"bucle": "while True:\n    pass"})
    ejecutor = EjecutarAislado(config=_config(cpu_segundos=3), timeout=120)
    inicio = time.monotonic()
    with pytest.raises(DeadKernelError) as error:
        ejecutor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert time.monotonic() - inicio < 60
    assert motivo_fallo(error.value) == "se agotó el tiempo de CPU permitido (3 s)"
    assert "El núcleo murió: se agotó el tiempo de CPU" in str(error.value)


@pytest.mark.lento
def test_sin_aislamiento_mantiene_limites_y_avisos(escenario, tmp_path):
    celdas = _celdas_hostiles(escenario)
    celdas = {n: celdas[n] for n in ("leer_vecino", "red", "entorno", "limites")}
    celdas["aviso"] = "import os, warnings; warnings.warn('aviso'); os.write(2, b'x')"
    nb = _cuaderno(celdas)
    _ejecutar(nb, tmp_path, _config(aislar=False, memoria_mb=3000, cpu_segundos=77))
    celdas = _por_nombre(nb)
    # Sin bwrap el alumno sí ve la red y al vecino: lo que bloquea es el aislamiento.
    assert SECRETO in _textos(celdas["leer_vecino"], "stdout")
    assert _textos(celdas["red"], "stdout").strip() == "CONECTADO"
    entorno = json.loads(_textos(celdas["entorno"], "stdout"))
    assert VARIABLE_SECRETA not in entorno and entorno["MPLBACKEND"] == "Agg"
    limites = json.loads(_textos(celdas["limites"], "stdout"))
    assert limites["RLIMIT_AS"] == [3000 * 2**20] * 2 and limites["RLIMIT_CPU"][0] == 77
    aviso = celdas["aviso"]
    assert _textos(aviso, "stderr") == "" and "UserWarning: aviso" in _textos(aviso, "stdout")


def test_falla_cerrado_sin_bwrap(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ErrorAislamiento) as error:
        comprobar_aislamiento()
    mensaje = str(error.value)
    assert "no se encontró el programa «bwrap»" in mensaje
    assert "apt-get install bubblewrap" in mensaje and "--sin-aislamiento" in mensaje
    # El gestor tampoco arranca un núcleo sin aislar.
    with pytest.raises(ErrorAislamiento):
        _ejecutar(_cuaderno({"a": "print(1)"}), tmp_path, _config())


def test_falla_cerrado_si_bwrap_no_puede_aislar(monkeypatch, tmp_path):
    falso = tmp_path / "bwrap"
    falso.write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 3\n"
    )
    falso.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ErrorAislamiento) as error:
        comprobar_aislamiento()
    mensaje = str(error.value)
    assert "código 3" in mensaje and "No permissions to create new namespace" in mensaje
    assert "apt-get install bubblewrap" in mensaje and "--sin-aislamiento" in mensaje


@requiere_bwrap
def test_rechaza_carpeta_que_contiene_lo_montado_sin_tocar_nada(tmp_path):
    # Canarios: un enlace y una FIFO en la carpeta temporal y en la carpeta rechazada.
    temporal = Path(tempfile.gettempdir())
    canarios = [temporal / f"canario-{os.getpid()}", tmp_path / "canario"]
    fifo = temporal / f"canario-fifo-{os.getpid()}"
    for canario in canarios:
        canario.symlink_to(tmp_path)
    os.mkfifo(fifo)
    try:
        antes = set(temporal.glob("curso-nucleo-*"))
        for trabajo in (RAIZ, temporal):
            with pytest.raises(ErrorAislamiento, match="Ejecuta cada entrega en un directorio"):
                _ejecutar(_cuaderno({"a": "print(1)"}), trabajo, _config())
        gc.collect()
        assert set(temporal.glob("curso-nucleo-*")) <= antes  # no se creó ninguna carpeta
        # La limpieza de nbclient al salir del intérprete tampoco toca nada ajeno.
        orden = [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); import test_aislamiento as t;\n"
            "try:\n t._ejecutar(t._cuaderno({'a': 'print(1)'}), t.Path('/tmp'), t._config())\n"
            "except t.ErrorAislamiento: print('RECHAZADO')",
            str(Path(__file__).parent),
        ]
        salida = subprocess.run(orden, capture_output=True, text=True, timeout=120)
        assert "RECHAZADO" in salida.stdout, salida.stderr
        assert all(c.is_symlink() for c in canarios) and fifo.exists()
    finally:
        for canario in [*canarios, fifo]:
            canario.unlink(missing_ok=True)


def test_configurar_nbgrader_sustituye_execute():
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute, LimitOutput

    config = configurar_nbgrader(Config(), Limites(memoria_mb=1500, hilos=2), rutas_lectura=["."])
    preprocesadores = config.Autograde.autograde_preprocessors
    assert Execute not in preprocesadores and preprocesadores[0] is EjecutarAislado
    assert len(preprocesadores) == len(
        Autograde.class_traits()["autograde_preprocessors"].default()
    )
    assert config.GestorNucleoAislado.memoria_mb == 1500
    assert config.GestorNucleoAislado.hilos == 2 and config.GestorNucleoAislado.aislar is True
    assert config.GestorNucleoAislado.rutas_lectura == [str(Path.cwd())]
    propia = Config()
    propia.Autograde.autograde_preprocessors = ["nbgrader.preprocessors.Execute", LimitOutput]
    configurar_nbgrader(propia, aislar=False)
    assert propia.Autograde.autograde_preprocessors == [EjecutarAislado, LimitOutput]
    assert propia.GestorNucleoAislado.aislar is False


def test_motivo_fallo_reconoce_los_fallos():
    assert motivo_fallo("DeadKernelError: El núcleo murió: se superó el límite de memoria (9 MB)")
    assert motivo_fallo(DeadKernelError("Kernel died")) == "el núcleo se detuvo inesperadamente"
    assert motivo_fallo("RuntimeError: Kernel died before replying to kernel_info") == (
        "el núcleo no arrancó"
    )
    assert motivo_fallo("x\nMemoryError: Unable to allocate") == "se superó el límite de memoria"
    assert motivo_fallo("CellTimeoutError: ...") == "una celda superó el tiempo máximo"
    assert motivo_fallo("NameError: name 'x' is not defined") is None


# --- De principio a fin con nbgrader ---------------------------------------------------------

_CONFIG_CURSO = """\
from autograder.aislamiento import Limites, configurar_nbgrader

c = get_config()
c.CourseDirectory.root = {raiz!r}
c.CourseDirectory.db_url = "sqlite:///{raiz}/gradebook.db"
configurar_nbgrader(c, Limites(memoria_mb=3000, cpu_segundos=120))
"""


def _celda(fuente, **nbgrader):
    celda = new_code_cell(textwrap.dedent(fuente).strip())
    if nbgrader:
        celda.metadata["nbgrader"] = {"schema_version": 3, **nbgrader}
    return celda


def _nbgrader(curso, *argumentos):
    resultado = subprocess.run(
        [sys.executable, "-m", "nbgrader", *argumentos],
        cwd=curso,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resultado.returncode == 0, resultado.stdout + resultado.stderr
    return resultado.stdout + resultado.stderr


@pytest.mark.lento
@requiere_bwrap
def test_autograde_de_nbgrader_aislado(tmp_path):
    curso = tmp_path / "curso"
    curso.mkdir()
    (curso / "nbgrader_config.py").write_text(_CONFIG_CURSO.format(raiz=str(curso)))
    (curso / "secreto.txt").write_text(SECRETO)
    fuente = curso / "source" / "tarea" / "tarea.ipynb"
    fuente.parent.mkdir(parents=True)
    solucion = """
        def respuesta():
            ### BEGIN SOLUTION
            return 42
            ### END SOLUTION
    """
    prueba_aviso = """
        import torch
        torch.tensor(torch.ones(2))
        assert respuesta() == 42
        print("✔ ¡Correcto!")
    """
    prueba_registro = """
        import logging
        logging.warning("el alumno registra un aviso")
        assert respuesta() == 42
    """
    original = new_notebook(
        cells=[
            _celda(solucion, solution=True, grade=False, locked=False, task=False, grade_id="r"),
            _celda(
                "assert respuesta() == 42",
                solution=False,
                grade=True,
                locked=True,
                points=2,
                grade_id="p1",
            ),
            _celda(prueba_aviso, solution=False, grade=True, locked=True, points=1, grade_id="p2"),
            _celda(
                prueba_registro, solution=False, grade=True, locked=True, points=1, grade_id="p3"
            ),
        ]
    )
    original.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(original, fuente)
    generar = Config()
    generar.CourseDirectory.root = str(curso)
    generar.CourseDirectory.db_url = f"sqlite:///{curso}/gradebook.db"
    generar.CourseDirectory.assignment_id = "tarea"
    GenerateAssignment(coursedir=CourseDirectory(config=generar), config=generar).start()
    # Entrega hostil: resuelve el ejercicio e intenta leer el secreto y el libro de notas.
    entrega = nbformat.read(curso / "release" / "tarea" / "tarea.ipynb", as_version=4)
    victima, permisos = tmp_path / "victima.txt", tmp_path / "permisos.txt"
    victima.write_text("original")
    permisos.write_text("original")
    permisos.chmod(0o600)
    entrega.cells[0].source = textwrap.dedent(f"""
        def respuesta():
            return 42
        import os
        for ruta in ({str(curso / "secreto.txt")!r}, "../../../secreto.txt",
                     {str(curso / "gradebook.db")!r}):
            try:
                print("LEÍDO", open(ruta, errors="replace").read())
            except OSError as error:
                print("BLOQUEADO", type(error).__name__)
        # El cuaderno con las pruebas ocultas no está en la carpeta del núcleo.
        print("VISIBLE", os.path.exists("tarea.ipynb"))
        if os.path.exists("tarea.ipynb"):
            os.remove("tarea.ipynb")
        os.symlink({str(victima)!r}, "tarea.ipynb")
        os.symlink({str(permisos)!r}, "permisos.txt")
    """)
    entrega.cells.insert(1, new_code_cell("for _ in range(12):\n    print('x' * 1_000_000)"))
    destino = curso / "submitted" / "alumno1" / "tarea" / "tarea.ipynb"
    destino.parent.mkdir(parents=True)
    nbformat.write(entrega, destino)

    _nbgrader(curso, "autograde", "tarea")

    copia = curso / "autograded" / "alumno1" / "tarea"
    assert victima.read_text() == "original" and (permisos.stat().st_mode & 0o777) == 0o600
    assert not (copia / "tarea.ipynb").is_symlink() and not (copia / "permisos.txt").exists()
    calificado = nbformat.read(copia / "tarea.ipynb", 4)
    inundacion = _textos(calificado.cells[1], "stdout")
    assert len(inundacion) < 12_000_000 and "Salida recortada" in inundacion
    salida = _textos(calificado.cells[0], "stdout")
    assert salida.count("BLOQUEADO") == 3 and "LEÍDO" not in salida
    assert "VISIBLE False" in salida
    assert SECRETO not in json.dumps(calificado.cells[0].outputs)
    aviso = calificado.cells[3]
    assert _textos(aviso, "stderr") == "" and "To copy construct from a tensor" in _textos(
        aviso, "stdout"
    )
    registro = calificado.cells[4]
    assert _textos(registro, "stderr") == ""
    assert "WARNING:root:el alumno registra un aviso" in _textos(registro, "stdout")
    with Gradebook(f"sqlite:///{curso}/gradebook.db") as libro:
        nota = libro.find_submission_notebook("tarea", "tarea", "alumno1")
        assert (nota.score, nota.max_score) == (4, 4)
