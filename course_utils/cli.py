"""Orden ``curso``: abre el curso en JupyterLab y ejecuta los cuadernos sin interfaz.

Las órdenes de calificación (``curso generar``, ``curso calificar``) las añade
``autograder.comandos.registrar``. Cada orden fija ``funcion`` (recibe los argumentos y devuelve
el código de salida) con ``set_defaults``. Este módulo no importa torch: ``curso --ayuda`` es
inmediato.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from course_utils import __version__
from course_utils.raiz import ErrorCurso, raiz_proyecto  # noqa: F401 (API de cli)

PUERTO_POR_DEFECTO = 8888
CARPETA_TRABAJO = "mi-curso"
IGNORADOS = {".ipynb_checkpoints", "__pycache__"}

# Mensajes de argparse (Python 3.10 a 3.14) y su traducción.
_TRADUCCIONES = {
    "usage: ": "uso: ",
    "positional arguments": "argumentos",
    "options": "opciones",
    "optional arguments": "opciones",
    "show this help message and exit": "muestra esta ayuda y sale",
    "show program's version number and exit": "muestra la versión y sale",
    "%(prog)s: error: %(message)s\n": "%(prog)s: error: %(message)s\n",
    "argument %(argument_name)s: %(message)s": "argumento %(argument_name)s: %(message)s",
    "unrecognized arguments: %s": "argumentos no reconocidos: %s",
    "the following arguments are required: %s": "faltan argumentos obligatorios: %s",
    "one of the arguments %s is required": "hace falta uno de estos argumentos: %s",
    "expected one argument": "se esperaba un valor",
    "expected at most one argument": "se esperaba como mucho un valor",
    "expected at least one argument": "se esperaba al menos un valor",
    "expected %s argument": "se esperaba %s valor",
    "expected %s arguments": "se esperaban %s valores",
    "ambiguous option: %(option)s could match %(matches)s": (
        "opción ambigua: %(option)s puede ser %(matches)s"
    ),
    "invalid %(type)s value: %(value)r": "valor no válido (%(type)s): %(value)r",
    "invalid choice: %(value)r (choose from %(choices)s)": (
        "opción no válida: %(value)r (elige entre %(choices)s)"
    ),
    "invalid choice: %(value)r, maybe you meant %(closest)r? (choose from %(choices)s)": (
        "opción no válida: %(value)r; ¿querías decir %(closest)r? (elige entre %(choices)s)"
    ),
    "not allowed with argument %s": "no se permite junto con el argumento %s",
    "ignored explicit argument %r": "se ignoró el valor explícito %r",
    "unknown parser %(parser_name)r (choices: %(choices)s)": (
        "orden desconocida %(parser_name)r (posibles: %(choices)s)"
    ),
    "can't open '%(filename)s': %(error)s": "no se puede abrir '%(filename)s': %(error)s",
    "unexpected option string: %s": "opción inesperada: %s",
}


def _traducir(mensaje: str) -> str:
    return _TRADUCCIONES.get(mensaje, mensaje)


def _ntraducir(singular: str, plural: str, n: int) -> str:
    return _traducir(singular if n == 1 else plural)


@contextlib.contextmanager
def _argparse_en_espanol():
    """Traduce los mensajes propios de argparse mientras se construye y se analiza."""
    originales = argparse._, argparse.ngettext
    argparse._, argparse.ngettext = _traducir, _ntraducir
    try:
        yield
    finally:
        argparse._, argparse.ngettext = originales


class Analizador(argparse.ArgumentParser):
    """``ArgumentParser`` en español: ``-h/--ayuda/--help`` y errores «error:» con código 2."""

    def __init__(self, *args, **kwargs):
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._positionals.title = "argumentos"
        self._optionals.title = "opciones"
        self.add_argument(
            "-h",
            "--ayuda",
            "--help",
            action="help",
            default=argparse.SUPPRESS,
            help="muestra esta ayuda y sale",
        )

    def parse_args(self, args=None, namespace=None):
        with _argparse_en_espanol():
            return super().parse_args(args, namespace)

    def parse_known_args(self, args=None, namespace=None):
        with _argparse_en_espanol():
            return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        with _argparse_en_espanol():
            return super().format_help()

    def format_usage(self) -> str:
        with _argparse_en_espanol():
            return super().format_usage()

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(
            2,
            f"{self.prog}: error: {message}\n"
            f"Escribe «{self.prog} --ayuda» para ver las opciones.\n",
        )


def _puerto(texto: str) -> int:
    try:
        valor = int(texto)
    except ValueError:
        valor = -1
    if not 1 <= valor <= 65535:
        raise argparse.ArgumentTypeError(f"puerto no válido: {texto!r} (un entero de 1 a 65535)")
    return valor


def _segundos(texto: str) -> float:
    try:
        valor = float(texto)
    except ValueError:
        valor = -1.0
    if not valor > 0:
        raise argparse.ArgumentTypeError(f"segundos no válidos: {texto!r} (un número positivo)")
    return valor


def _mostrar(ruta: Path) -> str:
    """Ruta relativa a la carpeta actual cuando es posible."""
    try:
        return str(ruta.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(ruta)


def copiar_cuadernos(origen: Path, destino: Path) -> list[Path]:
    """Copia a ``destino`` los ficheros de ``origen`` que aún no existen allí; nunca sobrescribe.

    Devuelve las rutas copiadas, relativas a ``destino``.

    >>> copiar_cuadernos(Path("notebooks"), Path("mi-curso"))  # doctest: +SKIP
    [PosixPath('01_tensores/01_tensores.ipynb'), ...]
    """
    copiados = []
    for fichero in sorted(origen.rglob("*")):
        relativa = fichero.relative_to(origen)
        if not fichero.is_file() or IGNORADOS.intersection(relativa.parts):
            continue
        nuevo = destino / relativa
        if nuevo.exists():
            continue
        nuevo.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(fichero, nuevo)
        copiados.append(relativa)
    return copiados


EXTENSIONES_NBGRADER = tuple(
    f"nbgrader.server_extensions.{nombre}"
    for nombre in ("formgrader", "validate_assignment", "assignment_list", "course_list")
)
# Completa la traducción al español de JupyterLab (course_utils/jupyterlab/__init__.py).
EXTENSION_TRADUCCION = "course_utils.jupyterlab"
PUERTOS_A_PROBAR = 50


def _puerto_libre(puerto: int, host: str = "127.0.0.1") -> bool:
    """Si se puede escuchar en ``puerto`` (como hará JupyterLab)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as prueba:
        try:
            prueba.bind((host, puerto))
        except OSError:
            return False
    return True


def _elegir_puerto(pedido: int) -> int:
    """El primer puerto libre desde ``pedido`` (como ``port_retries`` de Jupyter, pero sabiendo
    cuál queda, para mostrar la dirección)."""
    for puerto in range(pedido, min(pedido + PUERTOS_A_PROBAR, 65536)):
        if _puerto_libre(puerto):
            return puerto
    raise ErrorCurso(
        f"Los puertos {pedido} a {pedido + PUERTOS_A_PROBAR - 1} están ocupados. Cierra el "
        "JupyterLab que ya tengas abierto (Ctrl+C dos veces en su terminal) o elige otro puerto "
        "con «curso abrir --puerto N»."
    )


def _comprobar_dispositivo() -> None:
    """Si ``CURSO_DISPOSITIVO`` pide un dispositivo que no existe aquí, error ya (no en el
    cuaderno). Solo importa torch si la variable está puesta."""
    valor = os.environ.get("CURSO_DISPOSITIVO", "").strip()
    if not valor:
        return
    from course_utils.dispositivos import DispositivoNoDisponible, elegir_dispositivo

    try:
        elegir_dispositivo()
    except DispositivoNoDisponible as error:
        raise ErrorCurso(str(error)) from None


def _carpeta_escribible(destino: Path) -> None:
    """Crea la carpeta de trabajo y comprueba que se puede escribir en ella."""
    try:
        destino.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=destino, prefix=".curso-prueba-"):
            pass
    except OSError as error:
        motivo = error.strerror or str(error)
        raise ErrorCurso(
            f"No se puede escribir en la carpeta de trabajo {destino} ({motivo}). Tu trabajo "
            "tiene que guardarse en una carpeta tuya: clona el curso en tu carpeta personal o "
            "elige otra con «curso abrir --directorio ~/pytorch»."
        ) from None


def _orden_abrir(args: argparse.Namespace) -> int:
    raiz = raiz_proyecto()
    origen = raiz / "notebooks"
    if not any(origen.glob("*/*.ipynb")):
        raise ErrorCurso(
            f"No hay cuadernos del alumno en {origen}. Clona el repositorio completo (el "
            "instructor los genera con «curso generar»)."
        )
    destino = (
        Path(args.directorio).expanduser().resolve()
        if args.directorio
        else (raiz / CARPETA_TRABAJO)
    )
    if destino == origen or origen in destino.parents:
        raise ErrorCurso(
            "La carpeta de trabajo no puede estar dentro de notebooks/: esa carpeta es la "
            "versión publicada del curso y debe quedar limpia."
        )
    _carpeta_escribible(destino)
    _comprobar_dispositivo()
    puerto = _elegir_puerto(args.puerto)
    try:
        copiados = copiar_cuadernos(origen, destino)
    except OSError as error:
        raise ErrorCurso(
            f"No se pudieron copiar los cuadernos a {destino}: {error.strerror or error}."
        ) from None
    print(f"==> Tu trabajo se guarda en {destino}")
    if copiados:
        print("    Copiados (nuevos):")
        for relativa in copiados:
            print(f"      {relativa}")
    else:
        print("    No hay cuadernos nuevos: tus copias siguen como las dejaste.")
    print("    Nunca se sobrescribe tu trabajo. Para recuperar la versión original de un")
    print("    cuaderno, cambia el nombre de tu copia y vuelve a ejecutar «curso abrir».")
    if puerto != args.puerto:
        print(f"==> El puerto {args.puerto} está ocupado: uso el {puerto}.")
    # La clave va en el entorno (no en la línea de órdenes, que ven otros usuarios).
    entorno = dict(os.environ)
    clave = entorno.get("JUPYTER_TOKEN") or secrets.token_hex(24)
    entorno["JUPYTER_TOKEN"] = clave
    direccion = f"http://localhost:{puerto}/lab?token={clave}"
    print("==> Abriendo JupyterLab (tarda unos segundos). Si el navegador no se abre solo,")
    print(f"    copia esta dirección en él:\n\n    {direccion}\n")
    print("    Para detenerlo, pulsa Ctrl+C dos veces en esta terminal.", flush=True)
    comando = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={destino}",
        f"--ServerApp.port={puerto}",
        "--ServerApp.port_retries=0",
        # Sin el registro de Jupyter en inglés (solo avisos y errores).
        "--ServerApp.log_level=WARN",
        "--LabApp.log_level=WARN",
        # Interfaz en español y sin los paneles de instructor de nbgrader.
        f"--LabApp.app_settings_dir={Path(__file__).parent / 'jupyterlab'}",
        f"--ServerApp.jpserver_extensions={EXTENSION_TRADUCCION}=True",
        *(f"--ServerApp.jpserver_extensions={e}=False" for e in EXTENSIONES_NBGRADER),
    ]
    if args.sin_navegador:
        comando.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        comando.append("--allow-root")  # contenedores y máquinas de CI, donde se es root
    sys.stderr.flush()
    os.chdir(destino)
    os.execve(sys.executable, comando, entorno)
    return 0  # pragma: no cover (execve no vuelve)


def _cuadernos_de(rutas: list[str]) -> list[Path]:
    cuadernos = []
    for texto in rutas:
        ruta = Path(texto)
        if ruta.is_dir():
            cuadernos += [
                c for c in sorted(ruta.rglob("*.ipynb")) if not IGNORADOS.intersection(c.parts)
            ]
        elif ruta.is_file() and ruta.suffix == ".ipynb":
            cuadernos.append(ruta)
        else:
            raise ErrorCurso(
                f"No existe el cuaderno {texto} (se espera un .ipynb o una carpeta).", codigo=2
            )
    return cuadernos


def _orden_ejecutar(args: argparse.Namespace) -> int:
    from course_utils.ejecucion import ejecutar_cuaderno

    if args.cuadernos:
        cuadernos = _cuadernos_de(args.cuadernos)
        donde = " ".join(args.cuadernos)
    else:
        carpeta = raiz_proyecto() / ("notebooks" if args.alumno else "solutions")
        cuadernos = sorted(carpeta.glob("*/*.ipynb"))
        donde = f"{carpeta}/*/"
    if not cuadernos:
        raise ErrorCurso(f"No hay ningún cuaderno que ejecutar en {donde}.")
    rapido = args.rapido or os.environ.get("CI", "").strip().lower() == "true"
    tipo = "del alumno (solo se permite NotImplementedError)" if args.alumno else "sin errores"
    print(
        f"Ejecutando {len(cuadernos)} cuaderno(s) {tipo}"
        f"{', en modo rápido (CURSO_RAPIDO=1)' if rapido else ''}."
    )
    nombres = [_mostrar(c) for c in cuadernos]
    ancho = max(len(n) for n in [*nombres, "cuaderno"])
    print(f"{'cuaderno':<{ancho}}  {'estado':<8}  {'segundos':>8}")
    print(f"{'-' * ancho}  {'-' * 8}  {'-' * 8}")
    fallidos = []
    total = 0.0
    for nombre, cuaderno in zip(nombres, cuadernos, strict=True):
        resultado = ejecutar_cuaderno(
            cuaderno, alumno=args.alumno, rapido=rapido, tiempo_celda=args.tiempo_celda
        )
        total += resultado.segundos
        estado = "correcto" if resultado.correcto else "falla"
        nota = ""
        if args.alumno and resultado.sin_responder:
            n = resultado.sin_responder
            nota = f"  ({n} {'celda' if n == 1 else 'celdas'} con NotImplementedError: sin hacer)"
        print(f"{nombre:<{ancho}}  {estado:<8}  {resultado.segundos:>8.1f}{nota}", flush=True)
        if not resultado.correcto:
            fallidos.append((nombre, resultado.primer_error))
    print(
        f"{len(cuadernos) - len(fallidos)} de {len(cuadernos)} cuadernos correctos "
        f"en {total:.1f} s."
    )
    if fallidos:
        print("\nPrimer error de cada cuaderno que falla:")
        for nombre, error in fallidos:
            print(f"  {nombre}: {error}")
        return 1
    return 0


def construir_analizador() -> Analizador:
    """Construye el analizador de argumentos de ``curso`` con todas sus órdenes."""
    with _argparse_en_espanol():
        analizador = Analizador(
            prog="curso",
            description="Curso introductorio de PyTorch en español: abre los cuadernos, los "
            "ejecuta y los califica.",
            epilog="Ayuda de cada orden: curso ORDEN --ayuda",
        )
        analizador.add_argument(
            "--version",
            action="version",
            version=f"%(prog)s {__version__}",
            help="muestra la versión y sale",
        )
        ordenes = analizador.add_subparsers(
            title="órdenes", dest="orden", metavar="ORDEN", required=True
        )

        abrir = ordenes.add_parser(
            "abrir",
            help="abre los cuadernos del alumno en JupyterLab",
            description="Copia los cuadernos del alumno que aún no tengas a tu carpeta de trabajo "
            f"(por defecto {CARPETA_TRABAJO}/ en la raíz del curso; nunca sobrescribe "
            "tu trabajo) y abre JupyterLab en ella.",
        )
        abrir.add_argument(
            "--puerto",
            type=_puerto,
            default=PUERTO_POR_DEFECTO,
            metavar="N",
            help=f"puerto de JupyterLab (por defecto {PUERTO_POR_DEFECTO})",
        )
        abrir.add_argument(
            "--sin-navegador",
            action="store_true",
            help="no abre el navegador (copia tú la dirección que se muestra)",
        )
        abrir.add_argument(
            "--directorio",
            metavar="DIR",
            help=f"carpeta de trabajo (por defecto <raíz>/{CARPETA_TRABAJO})",
        )
        abrir.set_defaults(funcion=_orden_abrir)

        ejecutar = ordenes.add_parser(
            "ejecutar",
            help="ejecuta cuadernos sin interfaz y muestra una tabla de resultados",
            description="Ejecuta cuadernos con nbclient en una copia temporal (el repositorio no "
            "recibe salidas) y muestra cuaderno, estado y segundos. Sale con código 1 "
            "si alguno falla.",
        )
        ejecutar.add_argument(
            "cuadernos",
            nargs="*",
            metavar="CUADERNO",
            help="cuadernos .ipynb o carpetas (por defecto, solutions/*/*.ipynb; "
            "con --alumno, notebooks/*/*.ipynb)",
        )
        ejecutar.add_argument(
            "--alumno",
            action="store_true",
            help="cuadernos del alumno: solo se permite NotImplementedError "
            "(ejercicios sin responder)",
        )
        ejecutar.add_argument(
            "--rapido",
            action="store_true",
            help="modo rápido: CURSO_RAPIDO=1 acorta los entrenamientos (también con CI=true)",
        )
        ejecutar.add_argument(
            "--tiempo-celda",
            type=_segundos,
            default=600,
            metavar="S",
            help="máximo de segundos por celda (por defecto 600)",
        )
        ejecutar.set_defaults(funcion=_orden_ejecutar)

        if importlib.util.find_spec("autograder.comandos") is not None:
            from autograder.comandos import registrar

            registrar(ordenes)
    return analizador


def main(argv: list[str] | None = None) -> int:
    """Punto de entrada de la orden ``curso``; devuelve el código de salida."""
    args = construir_analizador().parse_args(argv)
    try:
        return args.funcion(args)
    except ErrorCurso as error:
        print(f"curso: error: {error}", file=sys.stderr)
        return error.codigo
    except KeyboardInterrupt:
        print("\ncurso: interrumpido.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
