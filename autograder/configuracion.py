"""Carga de la configuración de nbgrader del curso y utilidades comunes de la calificación."""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import logging
import os
import re
import stat
import warnings
from pathlib import Path

from traitlets.config import Config, PyFileConfigLoader

ARCHIVO_CONFIG = "nbgrader_config.py"
IGNORADOS = (".ipynb_checkpoints", "*.pyc", "__pycache__", ".*")
PLANTILLAS = Path(__file__).resolve().parent / "plantillas"


def nucleos() -> int:
    """Núcleos de CPU que este proceso puede usar (respeta la afinidad del contenedor)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


def raiz_del_curso() -> Path:
    """Carpeta raíz del curso: la de ``course_utils.raiz.raiz_proyecto`` (``CURSO_RAIZ``, la
    carpeta actual o sus padres, o la del paquete instalado en modo editable)."""
    from course_utils.raiz import raiz_proyecto

    return raiz_proyecto()


def cargar_config(raiz: Path) -> Config:
    """Lee ``autograder/nbgrader_config.py`` y la ajusta a la carpeta ``raiz`` del curso.

    >>> c = cargar_config(Path("."))  # doctest: +SKIP
    >>> c.CourseDirectory.source_directory  # doctest: +SKIP
    'solutions'
    """
    raiz = Path(raiz).resolve()
    carpeta = raiz / "autograder"
    if not (carpeta / ARCHIVO_CONFIG).is_file():
        carpeta = Path(__file__).resolve().parent
    config = PyFileConfigLoader(ARCHIVO_CONFIG, path=str(carpeta)).load_config()
    config.CourseDirectory.root = str(raiz)
    config.CourseDirectory.db_url = f"sqlite:///{raiz / 'calificacion' / 'gradebook.db'}"
    return config


def modulos_del_curso(raiz: Path) -> list[str]:
    """Módulos (tareas de nbgrader): las carpetas de ``solutions/`` que tienen cuadernos."""
    fuente = Path(raiz) / "solutions"
    if not fuente.is_dir():
        return []
    return sorted(
        d.name
        for d in fuente.iterdir()
        if d.is_dir() and not ignorado(d.name) and any(d.glob("*.ipynb"))
    )


def ignorado(nombre: str) -> bool:
    """Indica si un archivo o carpeta no forma parte de una tarea (cachés, ocultos…).

    >>> ignorado(".ipynb_checkpoints"), ignorado("datos.csv")
    (True, False)
    """
    return any(fnmatch.fnmatch(nombre, patron) for patron in IGNORADOS)


def texto_visible(nombre: str) -> str:
    """Nombre de archivo imprimible y codificable en UTF-8: los bytes que no son UTF-8 (que
    Python guarda como sustitutos) y los caracteres de control se ven como ``\\xNN``.

    >>> texto_visible("jos\\udce9.ipynb"), texto_visible("a\\nb")
    ('jos\\\\xe9.ipynb', 'a\\\\x0ab')
    """
    if any("\udc80" <= c <= "\udcff" for c in nombre):
        nombre = nombre.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    nombre = nombre.encode("utf-8", "backslashreplace").decode("utf-8")
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", nombre)


def leer_sin_enlaces(ruta: Path, max_bytes: int | None = None) -> bytes:
    """Lee un archivo normal sin seguir enlaces simbólicos (ni bloquearse en una FIFO).

    Lanza ``OSError`` si ``ruta`` es un enlace, no es un archivo normal o pasa de
    ``max_bytes`` (con ``errno.EFBIG``).
    """
    banderas = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    descriptor = os.open(ruta, banderas)
    with os.fdopen(descriptor, "rb") as archivo:
        info = os.fstat(archivo.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "no es un archivo normal")
        if max_bytes is not None and info.st_size > max_bytes:
            raise OSError(errno.EFBIG, "archivo demasiado grande")
        datos = archivo.read() if max_bytes is None else archivo.read(max_bytes + 1)
    if max_bytes is not None and len(datos) > max_bytes:
        raise OSError(errno.EFBIG, "archivo demasiado grande")
    return datos


def es_archivo_normal(ruta: Path) -> bool:
    """Si ``ruta`` es un archivo normal (sin seguir enlaces simbólicos)."""
    try:
        return stat.S_ISREG(os.lstat(ruta).st_mode)
    except OSError:
        return False


def archivos(carpeta: Path) -> list[Path]:
    """Archivos normales de una carpeta (recursivo, sin ignorados ni enlaces simbólicos),
    relativos a ella y ordenados."""
    carpeta = Path(carpeta)
    if not carpeta.is_dir():
        return []
    resultado = []
    for actual, dirs, nombres in os.walk(carpeta):
        dirs[:] = sorted(d for d in dirs if not ignorado(d))
        for nombre in sorted(nombres):
            ruta = Path(actual) / nombre
            if not ignorado(nombre) and not ruta.is_symlink() and ruta.is_file():
                resultado.append(ruta.relative_to(carpeta))
    return resultado


def copiar_carpeta(
    origen: Path, destino: Path, con_cuadernos: bool = True, max_mb: int | None = None
) -> None:
    """Copia los archivos normales de ``origen`` (sin ignorados ni enlaces) a ``destino``;
    con ``max_mb``, se saltan los que pasen de ese tamaño."""
    for relativa in archivos(origen):
        if not con_cuadernos and relativa.suffix == ".ipynb":
            continue
        try:
            datos = leer_sin_enlaces(origen / relativa, None if max_mb is None else max_mb * 2**20)
        except OSError:
            continue  # enlace, archivo especial o demasiado grande
        (destino / relativa).parent.mkdir(parents=True, exist_ok=True)
        (destino / relativa).write_bytes(datos)


class Registro(logging.Handler):
    """Manejador de ``logging`` que guarda los mensajes (de nbgrader) en una lista."""

    def __init__(self, nivel: int = logging.INFO):
        super().__init__(nivel)
        self.mensajes: list[tuple[int, str]] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))

    def emit(self, record):
        try:
            self.mensajes.append((record.levelno, self.format(record)))
        except Exception:
            self.handleError(record)

    def errores(self) -> list[str]:
        return [m for nivel, m in self.mensajes if nivel >= logging.ERROR]

    def texto(self) -> str:
        return "\n".join(m for _, m in self.mensajes)


def registro_privado(nombre: str) -> tuple[logging.Logger, Registro]:
    """Crea un logger aislado (no escribe en la terminal) y su manejador que guarda todo."""
    logger = logging.getLogger(f"autograder.nbgrader.{nombre}")
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.INFO)
    manejador = Registro()
    logger.addHandler(manejador)
    return logger, manejador


@contextlib.contextmanager
def sin_avisos_sqlalchemy():
    """Silencia los ``SAWarning`` que la API de nbgrader provoca con SQLAlchemy 2."""
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        yield


def version_alembic() -> str:
    """Revisión de alembic (esquema) del libro de notas de este nbgrader.

    nbgrader la obtiene ejecutando ``alembic heads`` en un proceso nuevo cada vez que crea un
    libro de notas (varios segundos); aquí se lee de sus scripts de migración: es la revisión
    de la que no parte ninguna otra. Si no se puede decidir, se pregunta a alembic.
    """
    import nbgrader
    import nbgrader.api

    revisiones, anteriores = set(), set()
    carpeta = Path(nbgrader.__file__).parent / "alembic" / "versions"
    for archivo in carpeta.glob("*.py"):
        texto = archivo.read_text(encoding="utf-8")
        revision = re.search(r"^revision\s*=\s*['\"](\w+)['\"]", texto, re.M)
        anterior = re.search(r"^down_revision\s*=\s*(.*)$", texto, re.M)
        if revision is None or anterior is None:
            return _alembic_original()
        revisiones.add(revision.group(1))
        anteriores.update(re.findall(r"['\"](\w+)['\"]", anterior.group(1)))
    cabezas = revisiones - anteriores
    if len(cabezas) != 1:
        return _alembic_original()
    return cabezas.pop()


def _acelerar_nbgrader() -> None:
    import nbgrader.api

    global _alembic_original
    if nbgrader.api.get_alembic_version is not version_alembic:
        _alembic_original = nbgrader.api.get_alembic_version
        nbgrader.api.get_alembic_version = version_alembic


_alembic_original = None
_acelerar_nbgrader()
