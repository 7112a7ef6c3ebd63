"""Límites de cada entrega entera (autograder/aislamiento.py), también calificando como root.

Cada prueba ejecuta un núcleo real con límites pequeños (600 MB, 64 procesos, unos segundos de
CPU, decenas de MB de disco): procesos, memoria y CPU se cuentan sumando todos los procesos de
la entrega, la carpeta de trabajo tiene un tamaño máximo, los procesos hijos tienen menos
prioridad y el cuaderno entero un tiempo máximo de reloj, también dentro de una celda. Además,
``curso calificar`` dice qué mecanismo limita cada entrega y se niega a calificar sin ninguno
salvo con ``--sin-limites``.
"""

from __future__ import annotations

import ast
import textwrap
import time
from pathlib import Path

import pytest
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from autograder import aislamiento, calificacion
from autograder.aislamiento import (
    NINGUNO,
    USUARIO_SIN_PRIVILEGIOS,
    EjecutarAislado,
    ErrorAislamiento,
    GestorNucleoAislado,
    comprobar_limites,
    motivo_fallo,
)
from autograder.ejecucion import NOMBRE_NO_EJECUTADA, NOMBRE_TIEMPO, EjecutarRobusto
from autograder.preprocesadores import incidencias

RAIZ = Path(__file__).resolve().parent.parent


def _mecanismo() -> str:
    try:
        return comprobar_limites()
    except ErrorAislamiento:
        return NINGUNO


def _hay_bwrap() -> bool:
    try:
        aislamiento.comprobar_aislamiento()
    except ErrorAislamiento:
        return False
    return True


requiere_limites = pytest.mark.skipif(
    _mecanismo() == NINGUNO, reason="aquí no se puede limitar cada entrega entera"
)


def _cuaderno(*celdas):
    return new_notebook(cells=[new_code_cell(textwrap.dedent(c).strip()) for c in celdas])


def _config(**rasgos):
    config = Config()
    for nombre, valor in rasgos.items():
        setattr(config.GestorNucleoAislado, nombre, valor)
    return config


def _salida(celda) -> str:
    return "".join(o.get("text", "") for o in celda.outputs if o.output_type == "stream")


def _ejecutar(nb, carpeta, config, **opciones):
    cliente = NotebookClient(
        nb,
        kernel_manager_class=GestorNucleoAislado,
        config=config,
        resources={"metadata": {"path": str(carpeta)}},
        allow_errors=True,
        timeout=120,
        **opciones,
    )
    cliente.execute()
    return nb


def _muere(nb, carpeta, config) -> DeadKernelError:
    """Ejecuta el cuaderno esperando que la vigilancia mate el núcleo."""
    ejecutor = EjecutarAislado(config=config, timeout=300)
    with pytest.raises(DeadKernelError) as error:
        ejecutor.preprocess(nb, {"metadata": {"path": str(carpeta)}})
    return error.value


# --- Mecanismo --------------------------------------------------------------------------------


@requiere_limites
def test_el_nucleo_no_tiene_privilegios(tmp_path):
    nb = _cuaderno(
        """
        import os
        print(os.getresuid())
        estado = open("/proc/self/status").read()
        print([x.split()[1] for x in estado.splitlines() if x.startswith("CapEff")])
        import subprocess
        print(subprocess.run(["unshare", "--user", "true"]).returncode != 0)
        """
    )
    _ejecutar(nb, tmp_path, _config())
    uid, capacidades, sin_anidados = _salida(nb.cells[0]).splitlines()
    assert capacidades == "['0000000000000000']"
    if aislamiento._mecanismo(True).uid:  # calificador root: un uid propio sin privilegios
        assert uid == str((aislamiento._UID_NUCLEO,) * 3)
        assert sin_anidados == "True"
    assert _mecanismo() in (aislamiento.CGROUP_V2, USUARIO_SIN_PRIVILEGIOS)


def test_cgroup_que_no_es_cgroup_no_se_usa_ni_se_toca(tmp_path, monkeypatch):
    falso = tmp_path / "cgroup"
    falso.mkdir()
    (falso / "cgroup.controllers").write_text("memory pids cpu")
    (falso / "cgroup.subtree_control").write_text("")
    antes = {p.name: p.read_text() for p in falso.iterdir()}
    monkeypatch.setenv("CURSO_CGROUP", str(falso))
    assert aislamiento._base_cgroup() is None
    assert {p.name: p.read_text() for p in falso.iterdir()} == antes


def test_sin_mecanismo_dice_que_hacer(monkeypatch):
    sin_nada = aislamiento._Mecanismo(NINGUNO, detalle="motivo de prueba")
    monkeypatch.setitem(aislamiento._mecanismos, True, sin_nada)
    assert comprobar_limites() == NINGUNO
    with pytest.raises(ErrorAislamiento) as error:
        comprobar_limites(exigir=True)
    mensaje = str(error.value)
    assert "motivo de prueba" in mensaje and "--sin-limites" in mensaje
    assert "CURSO_CGROUP" in mensaje


# --- Procesos, memoria, CPU y disco de la entrega ---------------------------------------------


@pytest.mark.lento
@requiere_limites
def test_procesos_de_toda_la_entrega(tmp_path):
    # Como root, RLIMIT_NPROC no se aplicaba: los 300 procesos arrancaban.
    nb = _cuaderno(
        """
        import os, time
        hijos = []
        try:
            for _ in range(300):
                pid = os.fork()
                if pid == 0:
                    time.sleep(60)
                    os._exit(0)
                hijos.append(pid)
        except OSError as error:
            print("PARADO", error.errno)
        for pid in hijos:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        print(len(hijos))
        """
    )
    _ejecutar(nb, tmp_path, _config(procesos=64))
    parado, hijos = _salida(nb.cells[0]).split("\n")[:2]
    assert parado == "PARADO 11"  # EAGAIN
    assert 0 < int(hijos) < 64


@pytest.mark.lento
@requiere_limites
def test_memoria_de_toda_la_entrega(tmp_path):
    # Tres hijos de 300 MB caben cada uno en RLIMIT_AS (600 MB), pero no los tres en la entrega.
    nb = _cuaderno(
        """
        import subprocess, sys, time
        orden = [sys.executable, "-c", "import time; x = b'x' * (300 * 2**20); time.sleep(60)"]
        hijos = [subprocess.Popen(orden) for _ in range(3)]
        fin = time.monotonic() + 60
        while all(h.poll() is None for h in hijos) and time.monotonic() < fin:
            time.sleep(0.2)
        time.sleep(2)
        print([h.poll() for h in hijos])
        for h in hijos:
            h.kill()
        """
    )
    _ejecutar(nb, tmp_path, _config(memoria_mb=600))
    estados = ast.literal_eval(_salida(nb.cells[0]))
    assert estados.count(None) < 3 and -9 in estados  # el núcleo sigue vivo y contesta


@pytest.mark.lento
@requiere_limites
def test_cpu_de_toda_la_entrega(tmp_path):
    # RLIMIT_CPU cuenta cada proceso por separado: tres hijos gastaban 3 × 6 s y el núcleo seguía.
    nb = _cuaderno(
        """
        import subprocess, sys, time
        hijos = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
        for hijo in hijos:
            hijo.wait()
        time.sleep(60)
        print("VIVO")
        """
    )
    error = _muere(nb, tmp_path, _config(cpu_segundos=6))
    assert motivo_fallo(error) == "se agotó el tiempo de CPU permitido (6 s)"


@pytest.mark.lento
@requiere_limites
def test_los_hijos_tienen_menos_prioridad(tmp_path):
    if _mecanismo() == aislamiento.CGROUP_V2:
        pytest.skip("con cgroup, cpu.max ya limita la CPU de toda la entrega")
    nb = _cuaderno(
        r"""
        import os, subprocess, sys
        espera = (
            "import os, time\n"
            "for _ in range(300):\n"
            "    if os.getpriority(os.PRIO_PROCESS, 0) == 19:\n"
            "        break\n"
            "    time.sleep(0.2)\n"
            "print(os.getpriority(os.PRIO_PROCESS, 0))\n"
        )
        hijo = subprocess.run([sys.executable, "-c", espera], capture_output=True, text=True)
        print(hijo.stdout.strip(), os.getpriority(os.PRIO_PROCESS, 0))
        """
    )
    _ejecutar(nb, tmp_path, _config())
    hijo, nucleo = _salida(nb.cells[0]).split()
    assert hijo == "19" and nucleo != "19"  # el hijo, con menos prioridad; el núcleo, no


@pytest.mark.lento
@requiere_limites
def test_disco_de_la_carpeta_de_trabajo(tmp_path):
    if "--size" not in aislamiento._bwrap_probados[aislamiento.comprobar_aislamiento()]:
        pytest.skip("bwrap sin --size (anterior a 0.7)")
    (tmp_path / "datos.txt").write_text("datos del alumno")
    nb = _cuaderno(
        """
        import os
        print(os.getcwd())
        print(open("datos.txt").read())
        with open("a.bin", "wb") as archivo:
            archivo.write(b"x" * (30 * 2**20))
        try:
            with open("b.bin", "wb") as archivo:
                archivo.write(b"x" * (30 * 2**20))
            print("ESCRITO")
        except OSError as error:
            print("LLENO", error.errno)
        """
    )
    en_el_anfitrion = []

    def mirar(cell, **_):
        carpeta = Path(_salida(cell).splitlines()[0])
        en_el_anfitrion.extend(p.name for p in carpeta.iterdir())

    _ejecutar(nb, tmp_path, _config(disco_mb=40), on_cell_executed=mirar)
    salida = _salida(nb.cells[0]).splitlines()
    assert salida[1:] == ["datos del alumno", "LLENO 28"]  # ENOSPC
    assert en_el_anfitrion == []  # nada llegó al disco del anfitrión
    assert sorted(p.name for p in tmp_path.iterdir()) == ["datos.txt"]


@pytest.mark.lento
def test_disco_vigilado_sin_tmpfs(tmp_path):
    # Sin aislamiento la carpeta de trabajo está en el disco: la vigilancia mide lo que ocupa.
    nb = _cuaderno(
        """
        import time
        for numero in range(3):
            with open(f"trozo{numero}.bin", "wb") as archivo:
                archivo.write(b"x" * (15 * 2**20))
        try:
            open("grande.bin", "wb").write(b"x" * (30 * 2**20))
        except OSError as error:
            print("GRANDE", error.errno)
        time.sleep(60)
        print("VIVO")
        """
    )
    error = _muere(nb, tmp_path, _config(aislar=False, disco_mb=20))
    assert motivo_fallo(error) == "se superó el espacio en disco permitido (20 MB)"
    assert list(tmp_path.iterdir()) == []


# --- Tiempo del cuaderno ----------------------------------------------------------------------


@pytest.mark.lento
def test_tiempo_del_cuaderno_tambien_dentro_de_una_celda(tmp_path):
    nb = _cuaderno("print('hola')", "import time\ntime.sleep(600)", "print('después')")
    config = _config(aislar=_hay_bwrap())
    config.EjecutarRobusto.tiempo_total = 15
    ejecutor = EjecutarRobusto(config=config, timeout=300)
    inicio = time.monotonic()
    ejecutor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert time.monotonic() - inicio < 150  # terminó por el cuaderno, no por la celda (300 s)
    assert _salida(nb.cells[0]).strip() == "hola"
    assert NOMBRE_TIEMPO in [o.ename for o in nb.cells[1].outputs if o.output_type == "error"]
    assert [o.ename for o in nb.cells[2].outputs] == [NOMBRE_NO_EJECUTADA]
    mensajes = [i["mensaje"] for i in incidencias(nb)]
    assert "se agotó el tiempo total del cuaderno (15 s)" in mensajes


# --- curso calificar --------------------------------------------------------------------------


def _sin_mecanismo(monkeypatch):
    sin_nada = aislamiento._Mecanismo(NINGUNO, detalle="motivo de prueba")
    monkeypatch.setitem(aislamiento._mecanismos, True, sin_nada)
    monkeypatch.setattr(calificacion, "comprobar_aislamiento", lambda: "/usr/bin/bwrap")


def test_calificar_se_niega_sin_limites_por_entrega(tmp_path, monkeypatch):
    _sin_mecanismo(monkeypatch)
    entregas, trabajo = tmp_path / "entregas", tmp_path / "trabajo"
    entregas.mkdir()
    opciones = calificacion.Opciones(trabajo=trabajo, progreso=False)
    with pytest.raises(ErrorAislamiento, match="--sin-limites"):
        calificacion.calificar(entregas, RAIZ, opciones)
    assert not trabajo.exists()
    # Con --sin-limites (o --sin-aislamiento) sigue: aquí se para porque no hay entregas.
    for opciones in (
        calificacion.Opciones(trabajo=trabajo, progreso=False, sin_limites=True),
        calificacion.Opciones(trabajo=trabajo, progreso=False, aislar=False),
    ):
        with pytest.raises(calificacion.ErrorCalificacion, match="No hay entregas"):
            calificacion.calificar(entregas, RAIZ, opciones)


def test_orden_calificar_dice_que_hacer_y_que_limites_hay(tmp_path, monkeypatch, capsys):
    from course_utils.cli import construir_analizador, main

    _sin_mecanismo(monkeypatch)
    monkeypatch.setenv("CURSO_RAIZ", str(RAIZ))
    (tmp_path / "entregas").mkdir()
    orden = ["calificar", str(tmp_path / "entregas"), "--trabajo", str(tmp_path / "t")]
    assert main(orden) == 1
    error = capsys.readouterr().err
    assert "No se puede limitar cada entrega entera" in error and "--sin-limites" in error
    args = construir_analizador().parse_args([*orden, "--sin-limites", "--tiempo-cuaderno", "900"])
    assert args.sin_limites and args.tiempo_cuaderno == 900

    recibidas = []

    def calificar_falso(carpeta, raiz, opciones):
        recibidas.append(opciones)
        return calificacion.Informe(
            filas=[],
            notas_csv=Path("notas.csv"),
            resumen_csv=Path("resumen.csv"),
            retroalimentacion=Path("retroalimentacion"),
            db_url="sqlite://",
            avisos=[],
            limites=NINGUNO,
        )

    monkeypatch.setattr(calificacion, "calificar", calificar_falso)
    assert main([*orden, "--sin-limites", "--tiempo-cuaderno", "900"]) == 0
    assert "Límites por entrega: ninguno" in capsys.readouterr().out
    assert recibidas[0].sin_limites and recibidas[0].tiempo_cuaderno == 900


def test_tiempo_del_cuaderno_llega_a_cada_tarea(tmp_path):
    from autograder.entregas import Tarea

    ctx = calificacion._Contexto(
        raiz=str(RAIZ),
        plantilla="",
        trabajo=str(tmp_path),
        temporal=str(tmp_path),
        tiempo_celda=10,
        memoria_mb=1000,
        cpu_segundos=600,
        hilos=1,
        aislar=False,
        cuadernos={},
        orden={},
        tiempo_cuaderno=900,
    )
    tarea = Tarea(alumno="ana", modulo="01_tensores", origen="ana.ipynb")
    cfg = calificacion._config_tarea(ctx, tmp_path, tarea)
    assert cfg.EjecutarRobusto.tiempo_total == 900
    ctx.tiempo_cuaderno = 0
    assert calificacion._config_tarea(ctx, tmp_path, tarea).EjecutarRobusto.tiempo_total == 600


def test_cgroup_sin_controladores_no_se_usa(tmp_path, monkeypatch):
    # Una jerarquía que no crea los archivos de un cgroup de verdad: se prueba y se descarta.
    (tmp_path / "cgroup.subtree_control").write_text("memory pids cpu")
    monkeypatch.setattr(aislamiento, "_montaje_cgroup2", lambda: tmp_path)
    monkeypatch.setattr(aislamiento.os, "geteuid", lambda: 0)
    monkeypatch.delenv("CURSO_CGROUP", raising=False)
    assert aislamiento._base_cgroup() is None
    base = tmp_path / "curso-calificacion"
    assert list(base.iterdir()) == []  # no creó ningún archivo
    # Con los controladores «repartidos», el cgroup de prueba no los tiene: se borra.
    (base / "cgroup.subtree_control").write_text("memory pids cpu")
    assert aislamiento._base_cgroup() is None
    assert [p.name for p in base.iterdir()] == ["cgroup.subtree_control"]
