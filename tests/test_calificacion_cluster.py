"""``curso calificar --cluster``: un planificador de Dask y dos trabajadores de verdad en
127.0.0.1 califican igual que el ejecutor local, aunque un trabajador muera a mitad (SIGKILL)
y aunque una entrega haga caer su núcleo; una tarea que tumba dos trabajadores vuelve como
fallida para ese alumno, sin repetirse más ni bloquear el lote."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from test_autograder import (  # noqa: E402
    _libro_y_contexto,
    crear_curso_juguete,
    ejecutar_lote,
    hay_aislamiento,
)
from test_calificacion_robustez import (  # noqa: E402
    TIEMPO_CELDA,
    _filas,
    construir_lote,
)

from autograder import calificacion, entregas  # noqa: E402
from autograder.calificacion import Opciones, calificar  # noqa: E402
from autograder.configuracion import sin_avisos_sqlalchemy  # noqa: E402

pytestmark = pytest.mark.lento

PRUEBAS = Path(__file__).resolve().parent
ALUMNOS = ["correcto", "en_blanco", "mitad", "oculto", "borradas", "muere", "avisos"]
LIMITE = 240  # segundos: nada de estas pruebas puede quedarse colgado más


def _puerto_libre() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """Planificador y trabajadores (con su nanny) en 127.0.0.1; se detienen siempre."""

    def __init__(self, trabajadores: int = 2):
        self.direccion = f"tcp://127.0.0.1:{_puerto_libre()}"
        puerto = self.direccion.rsplit(":", 1)[1]
        entorno = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PRUEBAS), *sys.path])}
        dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
        self.procesos = [
            subprocess.Popen(
                [*dask, "--host", "127.0.0.1", "--port", puerto, "--no-dashboard"],
                env=entorno,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        ]
        for _ in range(trabajadores):
            self.procesos.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "distributed.cli.dask_worker",
                        self.direccion,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--memory-limit",
                        "0",
                        "--no-dashboard",
                    ],
                    env=entorno,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        from distributed import Client

        self.cliente = Client(self.direccion, timeout=60, set_as_default=False)
        self.cliente.wait_for_workers(trabajadores, timeout=120)

    def pids(self) -> dict[str, int]:
        """Dirección -> pid de cada proceso trabajador (no de su nanny)."""
        return self.cliente.run(os.getpid)

    def cerrar(self) -> None:
        try:
            self.cliente.close()
        finally:
            for proceso in self.procesos:
                with_suppress_kill(proceso)


def with_suppress_kill(proceso: subprocess.Popen) -> None:
    try:
        os.killpg(proceso.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proceso.wait(timeout=30)


@pytest.fixture
def cluster():
    grupo = Cluster(2)
    try:
        yield grupo
    finally:
        grupo.cerrar()


@pytest.fixture(scope="module")
def referencia(tmp_path_factory):
    """El lote calificado en serie con el ejecutor local."""
    base = tmp_path_factory.mktemp("cluster")
    raiz = crear_curso_juguete(base / "curso")
    construir_lote(raiz, base / "todas")
    carpeta = base / "entregas"
    carpeta.mkdir()
    for alumno in ALUMNOS:
        shutil.copy(base / "todas" / f"{alumno}_01_juguete.ipynb", carpeta)
    serie = calificar(carpeta, raiz, _opciones(base / "trabajo_serie", trabajadores=1))
    return raiz, base, carpeta, _filas(serie)


def _opciones(trabajo: Path, **cambios) -> Opciones:
    return Opciones(
        trabajo=trabajo,
        tiempo_celda=TIEMPO_CELDA,
        aislar=hay_aislamiento(),
        progreso=False,
        **cambios,
    )


def test_cluster_califica_igual_que_en_local(referencia, cluster):
    raiz, base, carpeta, esperado = referencia
    inicio = time.monotonic()
    informe = calificar(carpeta, raiz, _opciones(base / "trabajo_dask", cluster=cluster.direccion))
    assert time.monotonic() - inicio < LIMITE
    assert _filas(informe) == esperado
    assert "núcleo" in esperado["muere"][1] or esperado["muere"][0] < 5  # hostil: su núcleo cae
    # El cliente escribió lo que devolvieron los trabajadores.
    trabajo = base / "trabajo_dask"
    assert (trabajo / "calificados/correcto/01_juguete/01_juguete.ipynb").is_file()
    assert (trabajo / "calificados/correcto/01_juguete/datos.txt").is_file()
    assert (trabajo / "retroalimentacion/mitad/01_juguete/01_juguete.html").is_file()
    assert (trabajo / "registros/correcto/01_juguete.log").is_file()


def test_trabajador_matado_a_mitad(referencia, cluster):
    """SIGKILL a un trabajador mientras califica: su tarea se repite en otro y las notas son
    las mismas."""
    raiz, base, carpeta, esperado = referencia
    pids = cluster.pids()
    matado = []

    def matar():
        limite = time.monotonic() + LIMITE
        while time.monotonic() < limite and not matado:
            for direccion, tareas in cluster.cliente.processing().items():
                if tareas and direccion in pids:
                    os.kill(pids[direccion], signal.SIGKILL)
                    matado.append(direccion)
                    return
            time.sleep(0.2)

    hilo = threading.Thread(target=matar, daemon=True)
    hilo.start()
    informe = calificar(
        carpeta, raiz, _opciones(base / "trabajo_matado", cluster=cluster.direccion)
    )
    hilo.join(timeout=5)
    assert matado
    assert _filas(informe) == esperado


def matar_trabajador(tarea, ctx, manual):
    """Sustituto de ``calificar_tarea`` (se importa en los trabajadores): «dani» tumba su
    trabajador siempre; «bob», solo la primera vez (marca en ``tarea.origen``)."""
    marca = Path(tarea.origen)
    if tarea.alumno == "dani" or (tarea.alumno == "bob" and not marca.exists()):
        marca.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    resultado = calificacion.Resultado(alumno=tarea.alumno, modulo=tarea.modulo)
    resultado.notas["c"] = {"c_prueba": {"auto_score": 1.0, "needs_manual_grade": False}}
    return resultado


def test_entrega_que_tumba_dos_trabajadores(tmp_path, cluster):
    from nbgrader.api import Gradebook

    from autograder.ejecutores.dask import EjecutorDask

    url, ctx = _libro_y_contexto(tmp_path)
    (tmp_path / "plantilla").mkdir()
    (tmp_path / "plantilla" / "gradebook.db").write_bytes(b"")
    ctx = dataclasses.replace(ctx, plantilla=str(tmp_path / "plantilla"))
    alumnos = ["ana", "bob", "carla", "dani"]
    tareas = [
        entregas.Tarea(alumno=a, modulo="m", origen=str(tmp_path / f"marca-{a}")) for a in alumnos
    ]
    inicio = time.monotonic()
    grupo = EjecutorDask(cluster.direccion)
    try:
        with sin_avisos_sqlalchemy():
            resultados = ejecutar_lote(grupo, tareas, ctx, url, matar_trabajador)
    finally:
        grupo.cerrar()
    assert time.monotonic() - inicio < LIMITE
    assert resultados[("dani", "m")].errores == {
        "c": "la calificación hizo caer dos trabajadores del clúster; no se repite más"
    }
    assert {a: resultados[(a, "m")].errores for a in ("ana", "bob", "carla")} == dict.fromkeys(
        ("ana", "bob", "carla"), {}
    )
    with sin_avisos_sqlalchemy(), Gradebook(url) as gb:
        notas = {a: gb.find_submission("m", a).score for a in alumnos}
    assert notas == {"ana": 1.0, "bob": 1.0, "carla": 1.0, "dani": 0.0}
    # El planificador vuelve a su ajuste de reintentos.
    assert (
        cluster.cliente.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
        != 1
    )


def test_sin_dask_da_un_error_en_espanol(monkeypatch):
    import builtins

    from autograder.ejecutores import crear_ejecutor

    original = builtins.__import__

    def sin_distributed(nombre, *args, **kwargs):
        if nombre == "distributed" or nombre.startswith("distributed."):
            raise ImportError(nombre)
        return original(nombre, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", sin_distributed)
    with pytest.raises(calificacion.ErrorCalificacion, match=r"curso-pytorch\[cluster\]"):
        crear_ejecutor(2, "tcp://127.0.0.1:1")


def test_el_secreto_del_curso_no_viaja_con_las_tareas(tmp_path, monkeypatch):
    """Cada tarea lleva solo la clave de su alumno; ni ella ni el contexto llevan el secreto
    (en Dask se envían por la red a los trabajadores)."""
    import pickle

    import nbformat
    from test_autograder import cuaderno_alumno

    from course_utils.variantes import clave_de_alumno

    raiz = crear_curso_juguete(tmp_path / "curso")
    for alumno in ("ana", "bob"):
        destino = tmp_path / "entregas" / alumno / "01_juguete"
        destino.mkdir(parents=True)
        nbformat.write(cuaderno_alumno(raiz, "01_juguete"), destino / "01_juguete.ipynb")
    enviado = {}

    class Parar(Exception):
        pass

    def capturar(grupo, tareas, ctx, *args, **kwargs):
        enviado.update(tareas=list(tareas), ctx=ctx)
        raise Parar

    monkeypatch.setattr(calificacion, "_ejecutar", capturar)
    secreto = "secreto-del-curso-que-no-sale"
    opciones = Opciones(trabajo=tmp_path / "trabajo", aislar=False, progreso=False, secreto=secreto)
    with pytest.raises(calificacion.ErrorCalificacion):  # Parar, envuelto
        calificar(tmp_path / "entregas", raiz, opciones)
    datos = pickle.dumps((enviado["tareas"], enviado["ctx"]))
    assert secreto.encode() not in datos
    assert {t.alumno: t.clave for t in enviado["tareas"]} == {
        a: clave_de_alumno(secreto, a) for a in ("ana", "bob")
    }
