"""Órdenes ``curso generar`` y ``curso calificar`` (las añade ``course_utils.cli``).

``registrar(ordenes)`` recibe el objeto de subórdenes de argparse; cada orden fija
``funcion`` (recibe los argumentos y devuelve el código de salida).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _entero_positivo(texto: str) -> int:
    try:
        valor = int(texto)
    except ValueError:
        valor = 0
    if valor < 1:
        raise argparse.ArgumentTypeError(f"se esperaba un entero positivo, no {texto!r}")
    return valor


def _url(texto: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(texto)
    except ArgumentError:
        raise argparse.ArgumentTypeError(
            f"URL de base de datos no válida: {texto!r} (p. ej. sqlite:////ruta/notas.db o "
            "postgresql://usuario@servidor/notas)"
        ) from None
    return texto


def _sin_clave(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def registrar(ordenes) -> None:
    """Añade ``generar`` y ``calificar`` a las subórdenes de ``curso``."""
    from autograder.aislamiento import Limites
    from autograder.configuracion import nucleos

    generar = ordenes.add_parser(
        "generar",
        help="regenera notebooks/ (versión del alumno) desde solutions/ con nbgrader",
        description="Genera la versión del alumno de cada módulo con nbgrader "
        "(generate_assignment): quita las soluciones y las pruebas ocultas, bloquea y firma las "
        "celdas y borra las salidas. Solo escribe los archivos que cambian; generar dos veces "
        "no cambia nada. No usa el libro de notas del instructor.",
    )
    generar.add_argument(
        "modulos",
        nargs="*",
        metavar="MÓDULO",
        help="módulos que generar, por nombre o prefijo (p. ej. 01_tensores o 01); "
        "por defecto, todos (y se borran de notebooks/ los módulos que ya no existen)",
    )
    generar.add_argument(
        "--comprobar",
        action="store_true",
        help="no escribe nada: dice qué cuadernos cambiarían y sale con código 1 si "
        "notebooks/ no está al día",
    )
    generar.set_defaults(funcion=_orden_generar)

    calificar = ordenes.add_parser(
        "calificar",
        help="califica con nbgrader las entregas de una carpeta y genera la retroalimentación",
        description="Califica con nbgrader (autograde) cada entrega de DIR, en paralelo y con el "
        "código de los alumnos aislado; genera la retroalimentación en HTML (sin pruebas "
        "ocultas), notas.csv, resumen.csv y una tabla resumen. DIR puede tener el formato de "
        "nbgrader (DIR/<alumno>/<módulo>/<cuaderno>.ipynb), cuadernos .ipynb o archivos .zip "
        "con el nombre de cada alumno, o una carpeta por alumno.",
    )
    calificar.add_argument("directorio", metavar="DIR", help="carpeta con las entregas")
    calificar.add_argument(
        "--trabajadores",
        type=_entero_positivo,
        default=0,
        metavar="N",
        help=f"entregas que se califican a la vez (por defecto, los núcleos: {nucleos()})",
    )
    calificar.add_argument(
        "--db",
        type=_url,
        metavar="URL",
        help="libro de notas de nbgrader (URL de SQLAlchemy, p. ej. "
        "postgresql://usuario@servidor/notas); por defecto, SQLite en el directorio de trabajo",
    )
    calificar.add_argument(
        "--trabajo",
        metavar="DIR",
        help="directorio de trabajo: entregas normalizadas, copias calificadas, "
        "retroalimentación, registros, CSV y libro de notas (por defecto <raíz>/calificacion)",
    )
    calificar.add_argument(
        "--tiempo-celda",
        type=_entero_positivo,
        metavar="S",
        help="segundos como máximo por celda; después se interrumpe "
        "(por defecto, Execute.timeout de autograder/nbgrader_config.py)",
    )
    calificar.add_argument(
        "--tiempo-cuaderno",
        type=_entero_positivo,
        metavar="S",
        help="segundos de reloj como máximo por cuaderno, también dentro de una celda larga; "
        "las celdas que falten no se ejecutan (por defecto, 10 veces el tiempo por celda y al "
        "menos 600)",
    )
    calificar.add_argument(
        "--memoria-mb",
        type=_entero_positivo,
        metavar="M",
        help="memoria máxima de cada entrega (con todos sus procesos) y memoria virtual de cada "
        f"proceso, en MB (por defecto {Limites().memoria_mb})",
    )
    calificar.add_argument(
        "--sin-aislamiento",
        action="store_true",
        help="ejecuta el código de los alumnos sin aislar (con red y acceso a tus archivos); "
        "solo si no se puede usar bubblewrap y confías en las entregas",
    )
    calificar.add_argument(
        "--cluster",
        metavar="DIRECCION",
        help="califica en un clúster de Dask: dirección del planificador, p. ej. "
        "tcp://HOST:8786 (requiere pip install 'curso-pytorch[cluster]'; los trabajadores "
        "solo necesitan el curso instalado y bubblewrap)",
    )
    calificar.add_argument(
        "--sin-limites",
        action="store_true",
        help="califica aunque no se pueda limitar cada entrega entera (memoria, procesos y CPU "
        "de todos sus procesos, con un cgroup v2 o un usuario sin privilegios); solo quedan los "
        "límites de cada proceso",
    )
    calificar.add_argument(
        "--modulo",
        metavar="M",
        help="módulo de las entregas sueltas cuyo módulo no se reconozca "
        "(por los grade_id de nbgrader o por el nombre del archivo)",
    )
    calificar.add_argument(
        "--sin-progreso",
        action="store_true",
        help="no muestra la barra de progreso",
    )
    calificar.add_argument(
        "--recalificar",
        action="store_true",
        help="vuelve a calificar también las entregas ya calificadas que no han cambiado (por "
        "defecto se conservan su nota y su retroalimentación, así que repetir la orden tras "
        "interrumpirla sigue donde se quedó)",
    )
    calificar.add_argument(
        "--todas-las-celdas",
        action="store_true",
        help="ejecuta también las celdas de demostración (gráficas, medidas de tiempo, "
        "entrenamientos de ejemplo), que por defecto se saltan porque no cuentan para la nota",
    )
    calificar.set_defaults(funcion=_orden_calificar)


def _orden_generar(args: argparse.Namespace) -> int:
    from autograder.configuracion import raiz_del_curso
    from autograder.generacion import ErrorGeneracion, generar
    from course_utils.raiz import ErrorCurso

    raiz = raiz_del_curso()
    try:
        cambios = generar(raiz, args.modulos or None, comprobar=args.comprobar)
    except ErrorGeneracion as error:
        raise ErrorCurso(str(error)) from None
    if args.comprobar:
        if not cambios:
            print("notebooks/ está al día.")
            return 0
        print("notebooks/ no está al día (ejecuta «curso generar»):")
        for cambio in cambios:
            print(f"  {cambio}")
        return 1
    if not cambios:
        print("notebooks/ ya estaba al día: no hay nada que cambiar.")
        return 0
    verbos = {"nuevo": "creado", "cambia": "actualizado", "sobra": "borrado"}
    for cambio in cambios:
        print(f"  {verbos[cambio.tipo]}: {cambio.ruta}")
    print(f"notebooks/ actualizado ({len(cambios)} archivo(s)).")
    return 0


def _orden_calificar(args: argparse.Namespace) -> int:
    from autograder.aislamiento import ErrorAislamiento, Limites
    from autograder.calificacion import ErrorCalificacion, Opciones, calificar
    from autograder.configuracion import raiz_del_curso
    from autograder.generacion import ErrorGeneracion
    from course_utils.raiz import ErrorCurso

    raiz = raiz_del_curso()
    opciones = Opciones(
        trabajadores=args.trabajadores,
        db_url=args.db,
        trabajo=Path(args.trabajo).expanduser().resolve() if args.trabajo else None,
        tiempo_celda=args.tiempo_celda,
        memoria_mb=args.memoria_mb or Limites().memoria_mb,
        aislar=not args.sin_aislamiento,
        modulo=args.modulo,
        progreso=not args.sin_progreso,
        recalificar=args.recalificar,
        tiempo_cuaderno=args.tiempo_cuaderno,
        sin_limites=args.sin_limites,
        cluster=args.cluster,
        saltar_demostraciones=not args.todas_las_celdas,
    )
    if args.sin_aislamiento:
        print(
            "Aviso: el código de los alumnos se ejecutará SIN aislar (--sin-aislamiento).",
            file=sys.stderr,
        )
    try:
        informe = calificar(Path(args.directorio).expanduser(), raiz, opciones)
    except ErrorAislamiento as error:
        raise ErrorCurso(str(error)) from None
    except (ErrorCalificacion, ErrorGeneracion) as error:
        raise ErrorCurso(str(error)) from None
    for aviso in informe.avisos:
        print(f"Aviso: {aviso}", file=sys.stderr)
    print(informe.tabla())
    print()
    print(f"Notas por ejercicio: {informe.notas_csv}")
    print(f"Resumen: {informe.resumen_csv}")
    print(f"Retroalimentación: {informe.retroalimentacion}/<alumno>/<módulo>/")
    print(f"Libro de notas: {_sin_clave(informe.db_url)}")
    print(f"Límites por entrega: {informe.limites}")
    return 0
