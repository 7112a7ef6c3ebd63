"""Ejecución aislada del código de los alumnos durante la calificación con nbgrader.

Solo el núcleo (kernel) de Jupyter que ejecuta el cuaderno del alumno queda aislado; nbgrader y
el libro de notas siguen fuera. Con bubblewrap (``bwrap``) el núcleo:

- no tiene red (espacio de nombres de red propio) y habla con nbclient por sockets Unix
  (transporte ``ipc`` de jupyter_client) en un directorio privado;
- ve en solo lectura lo imprescindible: ``/usr`` y los enlaces del sistema, unos pocos ficheros
  de ``/etc``, la instalación de Python, el entorno virtual y la carpeta del paquete
  ``course_utils`` (no la raíz del repositorio: ni ``solutions/`` ni el libro de notas);
- trabaja en una carpeta privada que crea el gestor (``curso-nucleo-*``), con una copia de los
  archivos normales de la carpeta del cuaderno (``resources['metadata']['path']``) salvo los
  cuadernos: ni el cuaderno con las pruebas ocultas ni nada de fuera es legible; solo escribe ahí
  y en un ``/tmp`` privado en memoria (512 MB) con su ``HOME``. Con bwrap 0.7 o posterior la
  carpeta de trabajo es un tmpfs de ``disco_mb`` MB al que el arranque copia esos archivos:
  escribir más da un error en la celda y el disco del anfitrión no se llena. Al terminar se borra
  la carpeta privada y nada más: la carpeta del cuaderno nunca se toca;
- tiene límites por proceso de memoria virtual (``RLIMIT_AS``), CPU (``RLIMIT_CPU``, todo el
  cuaderno), tamaño de fichero y procesos (``RLIMIT_NPROC``), y límites por entrega (ver abajo);
  todo lo que lance muere con él (espacio de PID propio y ``--die-with-parent``);
- recibe un entorno limpio (sin los secretos del calificador), ``MPLBACKEND=Agg``, ``HOME``
  privado, ``OMP_NUM_THREADS`` configurable y ``NBGRADER_EXECUTION`` si está definido.

En todos los modos los avisos de Python (PyTorch, NumPy, ``logging``) van a stdout y la salida de
bajo nivel del descriptor 2 no llega a las celdas: nbgrader da 0 puntos a una celda de prueba
con cualquier salida en stderr. Las excepciones siguen siendo errores. :class:`EjecutarAislado`
recorta además la salida de cada celda a 10 millones de caracteres sin cambiar la nota.

Límites por entrega (el núcleo con todos sus procesos), con el primer mecanismo disponible;
:func:`comprobar_limites` dice cuál:

- ``"cgroup v2"``: un cgroup por núcleo dentro de ``CURSO_CGROUP`` (un cgroup v2 delegado que
  reparta ``memory``, ``pids`` y ``cpu``) o, siendo root, de ``<raíz cgroup2>/curso-calificacion``
  si la raíz ya los reparte: ``memory.max`` (``memoria_mb``, sin swap), ``pids.max``
  (``procesos``) y ``cpu.max`` (``hilos`` CPU);
- ``"usuario sin privilegios"``: fuera de su espacio de nombres el núcleo aislado no es root, así
  que Linux aplica ``RLIMIT_NPROC`` a toda la entrega. Si el calificador es root, bwrap monta en
  un espacio de usuarios propio (en el que root sigue siendo root, para leer lo que se monta) y el
  arranque del núcleo pasa, antes de ejecutar nada del alumno, a un uid sin capacidades distinto
  para cada núcleo (a partir de ``0x70000000``); no puede crear espacios de usuarios anidados. Si
  no es root, Linux 5.14 o posterior ya cuenta los procesos por espacio de usuarios, es decir,
  por entrega;
- ``"ninguno"``: solo los límites por proceso (p. ej. sin aislamiento y sin cgroup, o root sin
  espacios de usuarios). ``curso calificar`` se niega a calificar así salvo con
  ``--sin-limites``.

Un hilo del gestor vigila cada entrega cada 0,2 s: la CPU total de todos sus procesos, vivos o
ya terminados (al pasar ``cpu_segundos`` termina la entrega); sin cgroup, además, la memoria
total (PSS; al pasar ``memoria_mb`` mata el proceso que más usa, y si es el núcleo, la entrega) y
la prioridad de los procesos hijos (``nice`` 19), para que no frenen a los núcleos de otras
entregas; sin tmpfs de trabajo, el espacio que ocupan sus carpetas. Los tmpfs (``/tmp``,
``/dev/shm`` y la carpeta de trabajo) tienen su propio tamaño y no cuentan como memoria.

Si bubblewrap falta o no puede crear los espacios de nombres, se falla de forma segura
(:class:`ErrorAislamiento`). Sin aislamiento (``aislar=False``, solo con una opción explícita
como ``curso calificar --sin-aislamiento``) se mantienen los límites (salvo procesos), el
entorno limpio y el tratamiento de avisos, pero el alumno ve la red y los ficheros.

API pública:

- :class:`Limites`: memoria (MB), segundos de CPU, hilos, procesos y disco (MB) por entrega.
- :func:`comprobar_aislamiento`: prueba bubblewrap de verdad; llámala antes de calificar.
- :func:`comprobar_limites`: qué mecanismo limita cada entrega entera (``"cgroup v2"``,
  ``"usuario sin privilegios"`` o ``"ninguno"``); con ``exigir=True`` falla si no hay ninguno.
- :class:`GestorNucleoAislado`: gestor de núcleos para nbclient (rasgos configurables
  ``aislar``, ``memoria_mb``, ``cpu_segundos``, ``hilos``, ``procesos``, ``disco_mb``,
  ``rutas_lectura``); ``limites_entrega`` dice el mecanismo y, si el núcleo muere, su método
  ``motivo()`` dice por qué.
- :class:`EjecutarAislado`: sustituto del preprocesador ``Execute`` de nbgrader (el tiempo por
  celda sigue en ``Execute.timeout``). Si el núcleo muere, lanza
  ``DeadKernelError("El núcleo murió: <motivo>")``.
- :func:`configurar_nbgrader`: escribe esa configuración en un ``Config`` de nbgrader.
- :func:`motivo_fallo`: motivo en español de un fallo (excepción o texto del registro de
  nbgrader), o None si no se reconoce.

Motivos (textos estables; ``motivo()`` y :func:`motivo_fallo` devuelven uno de ellos):

- ``"se agotó el tiempo de CPU permitido (N s)"`` (``SIGXCPU`` o la CPU total de la entrega);
- ``"se superó el límite de memoria (N MB)"`` (el registro del núcleo muestra falta de memoria,
  o el núcleo murió por el límite de memoria de la entrega);
- ``"se superó el espacio en disco permitido (N MB)"``;
- ``"el núcleo fue terminado a la fuerza (SIGKILL): superó el límite de CPU (N s) o el sistema
  se quedó sin memoria"``;
- ``"el núcleo terminó por la señal SIGSEGV"`` (u otra señal);
- ``"el cuaderno cerró el núcleo (código de salida N)"`` (p. ej. ``os._exit``);
- ``"no se pudo crear el entorno aislado (bwrap: …)"``;
- solo desde texto: ``"una celda superó el tiempo máximo"``, ``"se superó el límite de
  memoria"``, ``"se agotó el tiempo de CPU permitido"``, ``"el núcleo no arrancó"`` y
  ``"el núcleo se detuvo inesperadamente"``.

Ejemplo::

    from traitlets.config import Config
    from autograder.aislamiento import (
        Limites, comprobar_aislamiento, configurar_nbgrader, motivo_fallo)

    comprobar_aislamiento()  # ErrorAislamiento si no se puede aislar
    config = Config()
    configurar_nbgrader(config, Limites(memoria_mb=3000, cpu_segundos=300))
    # ... nbgrader autograde con esta configuración; ante un cuaderno fallido:
    motivo_fallo(texto_del_registro)  # "se agotó el tiempo de CPU permitido (300 s)"
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import grp
import importlib.util
import itertools
import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, List, Unicode

__all__ = [
    "EjecutarAislado",
    "ErrorAislamiento",
    "GestorNucleoAislado",
    "Limites",
    "comprobar_aislamiento",
    "comprobar_limites",
    "configurar_nbgrader",
    "motivo_fallo",
]

#: Paquetes que el núcleo debe poder importar aunque vivan fuera del entorno (instalación
#: editable): se monta solo su carpeta.
PAQUETES_CURSO = ("course_utils",)

_ETC = (
    "passwd",
    "group",
    "nsswitch.conf",
    "hosts",
    "host.conf",
    "localtime",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "fonts",
    "mime.types",
    "os-release",
)
_SISTEMA = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_HOME = "/tmp/alumno"
_TMPFS_MB = 512
_ARCHIVO_MB = 1024
_MARCA = "El núcleo murió: "
_COPIA_ARCHIVOS = 200
_COPIA_MB = 50
_COPIA_PROFUNDIDAD = 4
_SALIDA_MAXIMA = 10_000_000
_RECORTE = "\n[Salida recortada: la celda escribió más de 10 millones de caracteres.]\n"

CGROUP_V2 = "cgroup v2"
USUARIO_SIN_PRIVILEGIOS = "usuario sin privilegios"
NINGUNO = "ninguno"
_UID_BASE = 0x7000_0000  # uids de los núcleos (calificador root): fuera de los rangos habituales
_UID_NUCLEO = 1000  # ese uid visto desde dentro del espacio de usuarios del núcleo
_VIGILANCIA_S = 0.2
_NICE_HIJOS = 19
_DISCO_ENTRADAS = 100_000  # sin tmpfs: más archivos que estos cuentan como disco lleno

# Arranque del núcleo (``_PYTHON_NUCLEO``): quita la copia de trabajo de sys.path mientras
# carga (como ipykernel_launcher; IPython la repone) y lee su configuración (JSON en argv[1]):
# pasa al uid sin privilegios («uid», con root en su espacio de usuarios), fija los límites,
# crea HOME, copia los archivos de «entrada» a la carpeta de trabajo (tmpfs), manda los avisos
# y el ``logging`` a stdout (un manejador en la raíz que escribe en el sys.stdout de cada
# momento: ``logging.basicConfig()`` implícito no hace nada y uno explícito sin destino sigue
# escribiendo ahí), prepara ipykernel y, al calificar (``CURSO_VIGILAR=1``), instala la
# vigilancia de :mod:`course_utils.integridad` antes de que se ejecute ninguna celda.
_ARRANQUE = """\
import sys
if sys.path and sys.path[0] == "":
    del sys.path[0]
import json, os, resource
_arranque = json.loads(sys.argv.pop(1))
if "uid" in _arranque:
    os.setgroups([])
    os.setresgid(_arranque["uid"], _arranque["uid"], _arranque["uid"])
    os.setresuid(_arranque["uid"], _arranque["uid"], _arranque["uid"])
for _nombre, (_blando, _duro) in _arranque["limites"].items():
    resource.setrlimit(getattr(resource, _nombre), (_blando, _duro))
os.makedirs(os.environ["HOME"], exist_ok=True)
if "entrada" in _arranque:
    import shutil
    for _archivo in os.scandir(_arranque["entrada"]):
        if _archivo.is_dir():
            shutil.copytree(_archivo.path, _archivo.name)
        else:
            shutil.copyfile(_archivo.path, _archivo.name)
import logging, warnings
def _mostrar_aviso(message, category, filename, lineno, file=None, line=None):
    sys.stdout.write(warnings.formatwarning(message, category, filename, lineno, line))
class _RegistroEnSalida(logging.Handler):
    def emit(self, record):
        sys.stdout.write(self.format(record) + "\\n")
warnings.showwarning = _mostrar_aviso
logging.lastResort = _RegistroEnSalida(logging.WARNING)
_registro_raiz = _RegistroEnSalida()
_registro_raiz.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
logging.root.addHandler(_registro_raiz)
_basic_config = logging.basicConfig
def _configurar_registro(**opciones):
    if logging.root.handlers == [_registro_raiz] and not (
        opciones.keys() & {"stream", "filename", "handlers"}
    ):
        logging.root.removeHandler(_registro_raiz)
        _registro_raiz.setFormatter(None)
        opciones["handlers"] = [_registro_raiz]
    _basic_config(**opciones)
logging.basicConfig = _configurar_registro
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
app.initialize()
if os.environ.get("CURSO_VIGILAR") == "1":
    from course_utils import integridad
    integridad.instalar(app.shell)
app.start()
"""
_PYTHON_NUCLEO = (sys.executable, "-E", "-s", "-B", "-c", _ARRANQUE)
# Lanzador con cgroup: se mueve a sí mismo al cgroup (argv[1]) y ejecuta el resto de argv.
_ENTRAR_CGROUP = (
    sys.executable,
    "-I",
    "-S",
    "-c",
    "import os, sys\nwith open(sys.argv[1], 'w') as f:\n    f.write('0')\n"
    "os.execv(sys.argv[2], sys.argv[2:])",
)


class ErrorAislamiento(RuntimeError):
    """No se puede ejecutar el código de los alumnos aislado (bubblewrap falta o no funciona)."""


@dataclasses.dataclass(frozen=True)
class Limites:
    """Límites de cada núcleo de calificación.

    ``memoria_mb`` limita la memoria virtual de cada proceso (``RLIMIT_AS``: importar torch,
    NumPy y matplotlib ya reserva cerca de 1 GB) y la memoria de toda la entrega.
    ``cpu_segundos`` cuenta todo el cuaderno (incluido el arranque), también sumando todos sus
    procesos; ``procesos``, procesos e hilos de la entrega; ``disco_mb``, lo que puede escribir
    en su carpeta de trabajo.

    >>> Limites(memoria_mb=3000).hilos
    1
    """

    memoria_mb: int = 4096
    cpu_segundos: int = 600
    hilos: int = 1
    procesos: int = 256
    disco_mb: int = 512


_LIMITES = Limites()


def _mensaje_error(detalle: str) -> str:
    return (
        f"No se puede ejecutar el código de los alumnos en un entorno aislado: {detalle}. "
        "Instala bubblewrap (`apt-get install bubblewrap`) y califica en una máquina que "
        "permita espacios de nombres de usuario (user namespaces; en Ubuntu 24.04: "
        "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`); o bien, sabiendo que el "
        "código de los alumnos se ejecutará sin aislar (con acceso a la red y a tus ficheros), "
        "usa `curso calificar --sin-aislamiento`."
    )


_bwrap_probados: dict[str, frozenset[str]] = {}


def _opciones_bwrap(ruta: str) -> frozenset[str]:
    """Opciones opcionales que entiende esta versión de bwrap (``--size`` desde 0.7)."""
    ayuda = subprocess.run([ruta, "--help"], capture_output=True, text=True, timeout=30)
    texto = ayuda.stdout + ayuda.stderr
    opciones = ("--size", "--disable-userns", "--perms", "--userns")
    return frozenset(o for o in opciones if o in texto)


def comprobar_aislamiento() -> str:
    """Comprueba que bubblewrap puede aislar un proceso aquí y devuelve la ruta de ``bwrap``.

    Ejecuta de verdad un Python trivial con el mismo aislamiento que los núcleos (sin red, sin
    ver el resto del disco). Falla de forma segura con :class:`ErrorAislamiento`.

    >>> comprobar_aislamiento()  # doctest: +SKIP
    '/usr/bin/bwrap'
    """
    ruta = shutil.which("bwrap")
    if ruta is None:
        raise ErrorAislamiento(_mensaje_error("no se encontró el programa «bwrap»"))
    ruta = os.path.realpath(ruta)
    if ruta in _bwrap_probados:
        return ruta
    try:
        opciones = _opciones_bwrap(ruta)
        with tempfile.TemporaryDirectory(prefix="curso-prueba-") as trabajo:
            orden = _orden_bwrap(ruta, opciones, trabajo, [], [])
            prueba = subprocess.run(
                [*orden, "--", sys.executable, "-I", "-S", "-c", "import os; os.listdir('.')"],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=trabajo,
            )
    except (OSError, subprocess.SubprocessError) as error:
        raise ErrorAislamiento(_mensaje_error(f"no se pudo ejecutar «{ruta}» ({error})")) from None
    if prueba.returncode != 0:
        salida = " ".join((prueba.stderr or prueba.stdout).split())[-300:]
        raise ErrorAislamiento(
            _mensaje_error(
                f"bwrap no pudo crear el entorno aislado (código {prueba.returncode}: {salida})"
            )
        )
    _bwrap_probados[ruta] = opciones
    return ruta


# --- Límites por entrega ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Mecanismo:
    """Cómo se limita cada entrega entera (ver el módulo)."""

    nombre: str
    cgroup: Path | None = None  # base donde se crea un cgroup por núcleo
    uid: bool = False  # calificador root: el núcleo pasa a un uid propio sin privilegios
    detalle: str = ""  # por qué no hay ninguno


_mecanismos: dict[bool, _Mecanismo] = {}
_CONTROLADORES = ("memory", "pids", "cpu")


def _mensaje_sin_limites(detalle: str) -> str:
    return (
        "No se puede limitar cada entrega entera (memoria, procesos y CPU del núcleo y de todos "
        f"sus procesos): {detalle}. Califica como un usuario normal (Linux 5.14 o posterior), "
        "como root en una máquina que permita espacios de nombres de usuario, o dentro de un "
        "cgroup v2 delegado que reparta memory, pids y cpu (indícalo con "
        "`CURSO_CGROUP=/sys/fs/cgroup/<cgroup>`); o bien, sabiendo que una entrega podría agotar "
        "la memoria, los procesos o la CPU de la máquina, usa `curso calificar --sin-limites`."
    )


def comprobar_limites(aislar: bool = True, exigir: bool = False) -> str:
    """Mecanismo que limita cada entrega entera: ``"cgroup v2"``, ``"usuario sin privilegios"``
    o ``"ninguno"`` (ver el módulo). Lo prueba de verdad una vez por proceso.

    Con ``exigir=True`` lanza :class:`ErrorAislamiento` (con qué hacer) si no hay ninguno.
    Con ``aislar=True`` puede lanzar también el error de :func:`comprobar_aislamiento`.

    >>> comprobar_limites()  # doctest: +SKIP
    'usuario sin privilegios'
    """
    mecanismo = _mecanismo(aislar)
    if exigir and mecanismo.nombre == NINGUNO:
        raise ErrorAislamiento(_mensaje_sin_limites(mecanismo.detalle))
    return mecanismo.nombre


def _mecanismo(aislar: bool) -> _Mecanismo:
    if aislar not in _mecanismos:
        _mecanismos[aislar] = _detectar_mecanismo(aislar)
    return _mecanismos[aislar]


def _detectar_mecanismo(aislar: bool) -> _Mecanismo:
    base = _base_cgroup()
    if base is not None:
        return _Mecanismo(CGROUP_V2, cgroup=base)
    if not aislar:
        return _Mecanismo(NINGUNO, detalle="sin aislamiento solo se puede con un cgroup v2")
    bwrap = comprobar_aislamiento()
    if os.geteuid() != 0:
        if _version_linux() >= (5, 14):
            return _Mecanismo(USUARIO_SIN_PRIVILEGIOS)
        return _Mecanismo(
            NINGUNO, detalle="Linux anterior a 5.14 cuenta los procesos por usuario, no por entrega"
        )
    error = _probar_uid(bwrap)
    if error is None:
        return _Mecanismo(USUARIO_SIN_PRIVILEGIOS, uid=True)
    return _Mecanismo(
        NINGUNO,
        detalle="el calificador es root y bwrap no pudo ejecutar el núcleo con un usuario sin "
        f"privilegios ({error})",
    )


def _version_linux() -> tuple[int, int]:
    numeros = re.findall(r"\d+", os.uname().release)[:2]
    return (int(numeros[0]), int(numeros[1])) if len(numeros) == 2 else (0, 0)


def _probar_uid(bwrap: str) -> str | None:
    """Ejecuta en bwrap, con un uid sin privilegios, lo mismo que necesita el núcleo: leer el
    entorno de Python y escribir en la carpeta de trabajo. Devuelve el error o None."""
    opciones = _bwrap_probados[bwrap]
    if not {"--perms", "--userns"} <= opciones:
        return "bwrap 0.5 o posterior hace falta para --perms y --userns"
    uid = _UID_NUCLEO
    codigo = (
        "import importlib.util, os\n"
        f"os.setgroups([]); os.setresgid({uid}, {uid}, {uid}); os.setresuid({uid}, {uid}, {uid})\n"
        "open(importlib.util.find_spec('ipykernel').origin).close()\n"
        "open('prueba', 'w').close(); os.makedirs(os.environ['HOME'])\n"
        f"print('bien' if os.getresuid() == ({uid},) * 3 else 'mal')\n"
    )
    try:
        with tempfile.TemporaryDirectory(prefix="curso-prueba-") as trabajo:
            espacio = _EspacioUsuario(_uid_libre())
            try:
                orden = _orden_bwrap(bwrap, opciones, trabajo, [], [], espacio.fd, 1)
                prueba = subprocess.run(
                    [*orden, "--", sys.executable, "-E", "-s", "-B", "-c", codigo],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    cwd=trabajo,
                    pass_fds=(espacio.fd,),
                    env={"HOME": _HOME, "PATH": "/usr/bin:/bin"},
                )
            finally:
                espacio.cerrar()
    except (OSError, subprocess.SubprocessError, ErrorAislamiento) as error:
        return str(error)
    if prueba.stdout.strip() != "bien":
        return " ".join((prueba.stderr or prueba.stdout).split())[-300:] or "sin salida"
    return None


_AYUDANTE_USUARIOS = """\
import ctypes, sys
if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) != 0:
    sys.exit(1)
sys.stdout.write("1"); sys.stdout.flush()
sys.stdin.readline()
with open("/proc/sys/user/max_user_namespaces", "w") as limite:
    limite.write("0")
sys.stdout.write("2"); sys.stdout.flush()
sys.stdin.read()
"""


class _EspacioUsuario:
    """Espacio de nombres de usuario (lo crea root) para ``bwrap --userns``: root sigue siendo
    root, para que bwrap monte lo que root puede leer, y el uid ``_UID_NUCLEO`` de dentro es
    ``uid`` fuera. Dentro no se pueden crear espacios de usuarios anidados. ``fd`` lo mantiene
    vivo hasta :meth:`cerrar`."""

    def __init__(self, uid: int):
        ayudante = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _AYUDANTE_USUARIOS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        try:
            if ayudante.stdout.read(1) != b"1":
                raise OSError("no se pudo crear un espacio de nombres de usuario")
            for mapa in ("uid_map", "gid_map"):
                with open(f"/proc/{ayudante.pid}/{mapa}", "w") as fichero:
                    fichero.write(f"0 0 1\n{_UID_NUCLEO} {uid} 1\n")
            ayudante.stdin.write(b"\n")
            ayudante.stdin.flush()
            if ayudante.stdout.read(1) != b"2":
                raise OSError("no se pudieron prohibir los espacios de usuarios anidados")
            self.fd = os.open(f"/proc/{ayudante.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            ayudante.stdin.close()
            ayudante.kill()
            ayudante.wait()
            ayudante.stdout.close()

    def cerrar(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


_contador_uid = itertools.count()


def _uids_en_uso() -> set[int]:
    """uids reales de los procesos vivos."""
    uids = set()
    for entrada in os.scandir("/proc"):
        if entrada.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{entrada.name}/status") as estado:
                    linea = next(x for x in estado if x.startswith("Uid:"))
                uids.add(int(linea.split()[1]))
    return uids


def _uid_libre() -> int:
    """uid sin nombre ni procesos para un núcleo: distinto para cada núcleo vivo, porque sale
    del PID del gestor (único en la máquina) y de un contador."""
    en_uso = _uids_en_uso()
    for _ in range(64):
        uid = _UID_BASE + (((os.getpid() & 0x3FFFFF) << 6) | (next(_contador_uid) & 63))
        if uid in en_uso:
            continue
        try:
            pwd.getpwuid(uid)
            continue
        except KeyError:
            pass
        try:
            grp.getgrgid(uid)
            continue
        except KeyError:
            return uid
    raise ErrorAislamiento("No hay ningún uid libre para el núcleo.")


def _ceder(carpeta: Path, uid: int) -> None:
    """Da al uid del núcleo una carpeta que creó el gestor y lo que contiene."""
    os.lchown(carpeta, uid, uid)
    for raiz, carpetas, nombres in os.walk(carpeta):
        for nombre in carpetas + nombres:
            os.lchown(os.path.join(raiz, nombre), uid, uid)


def _montaje_cgroup2() -> Path | None:
    """Punto de montaje de cgroup v2 con la jerarquía del proceso, o None."""
    try:
        with open("/proc/self/mountinfo") as montajes:
            for linea in montajes:
                campos = linea.split(" - ")
                if len(campos) == 2 and campos[1].split()[0] == "cgroup2":
                    return Path(campos[0].split()[4])
    except OSError:
        pass
    return None


def _escribir_cgroup(ruta: Path, valor: str) -> None:
    """Escribe en un archivo de cgroup que ya existe (nunca crea uno)."""
    fd = os.open(ruta, os.O_WRONLY)
    try:
        os.write(fd, valor.encode())
    finally:
        os.close(fd)


def _controladores(ruta: Path, fichero: str = "cgroup.controllers") -> set[str]:
    try:
        return set((ruta / fichero).read_text().split())
    except OSError:
        return set()


def _base_cgroup() -> Path | None:
    """Cgroup v2 en el que crear uno por núcleo: ``CURSO_CGROUP`` o, siendo root,
    ``<raíz>/curso-calificacion`` si la raíz ya reparte memory, pids y cpu. Lo prueba creando
    y borrando un cgroup; None si no se puede."""
    raiz = _montaje_cgroup2()
    if raiz is None:
        return None
    explicita = os.environ.get("CURSO_CGROUP")
    if explicita:
        base = Path(os.path.realpath(explicita))
        if (raiz != base and raiz not in base.parents) or not base.is_dir():
            return None
    elif os.geteuid() == 0 and set(_CONTROLADORES) <= _controladores(
        raiz, "cgroup.subtree_control"
    ):
        base = raiz / "curso-calificacion"
        with contextlib.suppress(OSError):
            base.mkdir(exist_ok=True)
    else:
        return None
    try:
        faltan = set(_CONTROLADORES) - _controladores(base, "cgroup.subtree_control")
        if faltan:
            _escribir_cgroup(base / "cgroup.subtree_control", " ".join(f"+{c}" for c in faltan))
        prueba = _Cgroup(base, memoria_mb=64, procesos=8, cpus=1)
        prueba.borrar()
    except OSError:
        return None
    return base


class _Cgroup:
    """Cgroup v2 de un núcleo, hijo de ``base``, con sus límites (lo crea y lo borra este)."""

    def __init__(self, base: Path, memoria_mb: int, procesos: int, cpus: int):
        self.ruta = base / f"curso-nucleo-{uuid.uuid4().hex[:12]}"
        self.ruta.mkdir()
        try:
            if not set(_CONTROLADORES) <= _controladores(self.ruta):
                raise OSError(f"{self.ruta} no reparte {', '.join(_CONTROLADORES)}")
            self._escribir("memory.max", str(memoria_mb * 2**20))
            if (self.ruta / "memory.swap.max").exists():
                self._escribir("memory.swap.max", "0")
            self._escribir("pids.max", str(procesos))
            self._escribir("cpu.max", f"{max(1, cpus) * 100_000} 100000")
        except OSError:
            self.borrar()
            raise

    def _escribir(self, nombre: str, valor: str) -> None:
        _escribir_cgroup(self.ruta / nombre, valor)

    def _leer(self, nombre: str) -> dict[str, int]:
        try:
            texto = (self.ruta / nombre).read_text()
        except OSError:
            return {}
        return {c: int(v) for c, v in (x.split() for x in texto.splitlines() if x.strip())}

    def pids(self) -> list[int]:
        try:
            return [int(x) for x in (self.ruta / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def cpu_segundos(self) -> float:
        return self._leer("cpu.stat").get("usage_usec", 0) / 1e6

    def sin_memoria(self) -> bool:
        return self._leer("memory.events").get("oom_kill", 0) > 0

    def matar(self) -> None:
        try:
            self._escribir("cgroup.kill", "1")
        except OSError:
            for pid in self.pids():
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    def borrar(self) -> None:
        """Mata lo que quede dentro y borra el cgroup (espera 10 s como mucho)."""
        fin = time.monotonic() + 10
        while True:
            self.matar()
            try:
                self.ruta.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > fin:
                    return
                time.sleep(0.05)


def _campos_stat(pid: int) -> list[str] | None:
    """Campos de /proc/PID/stat desde el estado (el 3.º), o None si el proceso no existe."""
    try:
        with open(f"/proc/{pid}/stat") as fichero:
            return fichero.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _pss_kb(pid: int) -> int:
    """Memoria proporcional (PSS) de un proceso en kB: lo compartido se reparte."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fichero:
            for linea in fichero:
                if linea.startswith("Pss:"):
                    return int(linea.split()[1])
    except (OSError, ValueError):
        pass
    try:
        with open(f"/proc/{pid}/statm") as fichero:
            return int(fichero.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0


def _pid_interno(pid: int) -> int | None:
    """PID del proceso en su espacio de PID más interno."""
    try:
        with open(f"/proc/{pid}/status") as fichero:
            for linea in fichero:
                if linea.startswith("NSpid:"):
                    return int(linea.split()[-1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _procesos_del_espacio(pid_inicial: int) -> list[int]:
    """Procesos vivos del espacio de PID cuyo proceso inicial es ``pid_inicial``."""
    try:
        espacio = os.readlink(f"/proc/{pid_inicial}/ns/pid")
    except OSError:
        return []
    pids = []
    for entrada in os.scandir("/proc"):
        if entrada.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{entrada.name}/ns/pid") == espacio:
                    pids.append(int(entrada.name))
    return pids


def _ocupado(carpetas: list[Path], maximo: int) -> tuple[int, int]:
    """(bytes, entradas) de las carpetas, sin seguir enlaces; deja de contar al pasar
    ``maximo`` entradas."""
    total, entradas = 0, 0
    pendientes = list(carpetas)
    while pendientes and entradas <= maximo:
        try:
            iterador = os.scandir(pendientes.pop())
        except OSError:
            continue
        with iterador:
            for entrada in iterador:
                entradas += 1
                with contextlib.suppress(OSError):
                    datos = entrada.stat(follow_symlinks=False)
                    total += datos.st_blocks * 512
                    if stat.S_ISDIR(datos.st_mode):
                        pendientes.append(Path(entrada.path))
    return total, entradas


class _Vigia(threading.Thread):
    """Hilo que vigila una entrega mientras vive (ver el módulo). Si la termina por un límite,
    ``motivo`` dice cuál.

    ``pid_nucleo`` es el proceso que lanzó el gestor (bwrap, o el núcleo sin aislamiento);
    ``info`` el descriptor por el que bwrap da el PID del proceso inicial del espacio de PID.
    """

    def __init__(
        self,
        pid_nucleo: int,
        info: int | None,
        cgroup: _Cgroup | None,
        memoria_mb: int,
        cpu_segundos: int,
        disco: tuple[list[Path], int] | None,
        log,
    ):
        super().__init__(name="curso-vigia", daemon=True)
        self.pid_nucleo = pid_nucleo
        self.info = info
        self.cgroup = cgroup
        self.memoria_kb = memoria_mb * 1024
        self.memoria_mb = memoria_mb
        self.cpu_segundos = cpu_segundos
        self.disco = disco
        self.log = log
        self.motivo: str | None = None
        self.pid_espacio: int | None = None
        self._datos_info = b""
        self._parar = threading.Event()
        self._rebajados: set[tuple[int, str]] = set()
        self._tic = os.sysconf("SC_CLK_TCK")

    def parar(self) -> None:
        self._parar.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join()
        self.leer_info()

    def leer_info(self) -> None:
        """Lee (sin esperar) el PID del proceso inicial que escribe bwrap."""
        if self.pid_espacio is not None or self.info is None:
            return
        try:
            datos = os.read(self.info, 4096)
        except BlockingIOError:
            return
        except OSError:
            datos = b""
        self._datos_info += datos
        with contextlib.suppress(ValueError, KeyError, TypeError):
            self.pid_espacio = int(json.loads(self._datos_info)["child-pid"])
        if not datos and self.pid_espacio is None:
            self.info = None  # bwrap terminó sin decirlo

    def run(self) -> None:
        vueltas = 0
        while not self._parar.wait(_VIGILANCIA_S):
            vueltas += 1
            try:
                if not self._vigilar(vueltas):
                    return
            except Exception as error:  # la vigilancia nunca rompe la calificación
                self.log.warning("Vigilancia de la entrega: %s", error)

    def _vigilar(self, vueltas: int) -> bool:
        """Una vuelta de vigilancia; False cuando ya no hay nada que vigilar."""
        self.leer_info()
        espacio_vivo = self.pid_espacio is not None and _proceso_vivo(self.pid_espacio)
        if not (_proceso_vivo(self.pid_nucleo) or espacio_vivo):
            return False
        if self.cgroup is not None:
            pids = self.cgroup.pids()
            cpu = self.cgroup.cpu_segundos()
        elif espacio_vivo:
            pids = _procesos_del_espacio(self.pid_espacio)
            cpu = 0.0
            for pid in pids:
                campos = _campos_stat(pid)
                if campos:  # utime, stime, cutime y cstime (campos 14 a 17)
                    cpu += sum(int(x) for x in campos[11:15]) / self._tic
        else:
            pids, cpu = [], 0.0
        if cpu > self.cpu_segundos:
            return self._terminar(f"se agotó el tiempo de CPU permitido ({self.cpu_segundos} s)")
        if self.cgroup is None and espacio_vivo:
            self._memoria(pids)
            self._rebajar(pids)
        if self.disco is not None and vueltas % 5 == 0:
            carpetas, maximo_mb = self.disco
            ocupado, entradas = _ocupado(carpetas, _DISCO_ENTRADAS)
            if ocupado > maximo_mb * 2**20 or entradas > _DISCO_ENTRADAS:
                return self._terminar(f"se superó el espacio en disco permitido ({maximo_mb} MB)")
        return True

    def _memoria(self, pids: list[int]) -> None:
        """Sin cgroup: si la entrega pasa de su memoria, mata el proceso que más usa."""
        usos = {pid: _pss_kb(pid) for pid in pids}
        if sum(usos.values()) <= self.memoria_kb:
            return
        mayor = max(usos, key=usos.get)
        interno = _pid_interno(mayor)
        if interno is not None and interno <= 2:  # el proceso inicial o el núcleo
            self._terminar(f"se superó el límite de memoria ({self.memoria_mb} MB)")
            return
        self.log.warning(
            "La entrega pasó de %s MB: se mata su proceso %s (%s MB).",
            self.memoria_mb,
            mayor,
            usos[mayor] // 1024,
        )
        with contextlib.suppress(OSError):
            os.kill(mayor, signal.SIGKILL)

    def _rebajar(self, pids: list[int]) -> None:
        """Baja la prioridad de los procesos hijos del núcleo (el núcleo es el PID 2)."""
        for pid in pids:
            campos = _campos_stat(pid)
            clave = (pid, campos[19] if campos else "")
            if clave in self._rebajados:
                continue
            self._rebajados.add(clave)
            interno = _pid_interno(pid)
            if interno is not None and interno > 2:
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, pid, _NICE_HIJOS)

    def _terminar(self, motivo: str) -> bool:
        """Termina la entrega entera y anota el motivo."""
        self.motivo = motivo
        self.log.warning("Se termina la entrega: %s.", motivo)
        if self.cgroup is not None:
            self.cgroup.matar()
        if self.pid_espacio is not None:  # muere todo el espacio de PID
            with contextlib.suppress(OSError):
                os.kill(self.pid_espacio, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(self.pid_nucleo, signal.SIGKILL)
        if self.info is None and self.pid_espacio is None:  # sin aislar: su grupo de procesos
            with contextlib.suppress(OSError):
                os.killpg(self.pid_nucleo, signal.SIGKILL)
        return False


def _rutas_python() -> list[str]:
    """Directorios de solo lectura para Python: instalación base, entorno y paquetes del curso."""
    rutas = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    rutas.update(p for p in sysconfig.get_paths().values() if p)
    for paquete in PAQUETES_CURSO:
        spec = importlib.util.find_spec(paquete)
        if spec is not None:
            rutas.update(spec.submodule_search_locations or [os.path.dirname(spec.origin)])
    reales = {os.path.realpath(p) for p in rutas} | rutas
    return sorted(p for p in reales if os.path.exists(p))


def _profundidad(ruta: str) -> int:
    return len(Path(ruta).parts)


def _orden_bwrap(
    bwrap: str,
    opciones: frozenset[str],
    trabajo: str,
    escritura: list[str],
    lectura: list[str],
    userns: int | None = None,
    disco_mb: int | None = None,
) -> list[str]:
    """Orden de bwrap: ``trabajo`` es el directorio de arranque, ``escritura`` y ``lectura``
    son montajes adicionales. Los montajes se ordenan de padres a hijos.

    Con ``userns`` (descriptor de un :class:`_EspacioUsuario`) bwrap entra en ese espacio y el
    núcleo conserva CAP_SETUID y CAP_SETGID solo para pasar al uid sin privilegios al arrancar.
    Con ``disco_mb`` la carpeta de trabajo es un tmpfs de ese tamaño (necesita ``--size``).
    """
    if userns is None:
        orden = [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent"]
        orden += ["--cap-drop", "ALL"]
        if "--disable-userns" in opciones:
            orden.append("--disable-userns")
    else:
        orden = [bwrap, "--userns", str(userns), "--die-with-parent"]
        orden += [f"--unshare-{n}" for n in ("ipc", "pid", "net", "uts", "cgroup-try")]
        orden += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    orden += ["--hostname", "calificacion", "--proc", "/proc", "--dev", "/dev"]
    montajes: dict[str, list[str]] = {}
    for ruta in _SISTEMA:
        if os.path.islink(ruta):
            montajes[ruta] = ["--symlink", os.readlink(ruta), ruta]
        elif os.path.isdir(ruta):
            montajes[ruta] = ["--ro-bind", ruta, ruta]

    def tmpfs(megas: int, permisos: str) -> list[str]:
        tamano = ["--size", str(megas * 2**20)] if "--size" in opciones else []
        return [*(["--perms", permisos] if "--perms" in opciones else []), *tamano, "--tmpfs"]

    montajes["/tmp"] = [*tmpfs(_TMPFS_MB, "1777"), "/tmp"]
    montajes["/dev/shm"] = [*tmpfs(_TMPFS_MB, "1777"), "/dev/shm"]
    solo_lectura = ["/usr", *(f"/etc/{nombre}" for nombre in _ETC), *_rutas_python(), *lectura]
    for ruta in solo_lectura:
        if os.path.lexists(ruta) and ruta not in montajes:
            montajes[ruta] = ["--ro-bind", ruta, ruta]
    for ruta in montajes:
        if Path(ruta) == Path(trabajo) or Path(trabajo) in Path(ruta).parents:
            raise ErrorAislamiento(
                f"La copia de trabajo {trabajo} contiene {ruta}: el alumno podría escribir ahí. "
                "Ejecuta cada entrega en un directorio propio."
            )
    for ruta in [trabajo, *escritura]:
        montajes[ruta] = ["--bind", ruta, ruta]
    if disco_mb is not None and "--size" in opciones:
        montajes[trabajo] = [*tmpfs(disco_mb, "0777"), trabajo]
    # Las carpetas intermedias, explícitas: bwrap 0.8 las crea con permisos 0700.
    for ruta in list(montajes):
        for padre in Path(ruta).parents:
            if str(padre) not in montajes and padre != Path("/"):
                montajes[str(padre)] = ["--dir", str(padre)]
    for ruta in sorted(montajes, key=_profundidad):
        orden += montajes[ruta]
    orden += ["--chdir", trabajo, "--unsetenv", "JPY_PARENT_PID"]
    return orden


def _nombre_senal(numero: int) -> str:
    try:
        return signal.Signals(numero).name
    except ValueError:
        return f"señal {numero}"


_PATRONES_MEMORIA = re.compile(
    r"MemoryError|bad_alloc|Cannot allocate memory|can't allocate memory|out of memory", re.I
)


def _proceso_vivo(pid: int) -> bool:
    """Cierto si el proceso existe y no es un zombi."""
    try:
        estado = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return estado not in ("Z", "X")


def _comprobar_origen(origen: str) -> str:
    """Ruta real de la carpeta del cuaderno; falla si contiene lo que el núcleo no debe ver
    (el sistema, Python, el paquete del curso o la carpeta temporal del calificador)."""
    real = os.path.realpath(origen)
    if not os.path.isdir(real):
        raise ErrorAislamiento(f"La carpeta del cuaderno {origen} no existe.")
    protegidas = ["/usr", "/etc", tempfile.gettempdir(), *_rutas_python()]
    for ruta in protegidas:
        ruta = os.path.realpath(ruta)
        if ruta == real or Path(real) in Path(ruta).parents:
            raise ErrorAislamiento(
                f"La carpeta del cuaderno {origen} contiene {ruta}: el alumno vería una copia. "
                "Ejecuta cada entrega en un directorio propio."
            )
    return real


def _copiar_entrada(origen: str, destino: Path) -> None:
    """Copia a ``destino`` los archivos normales de ``origen`` que el cuaderno puede leer: sin
    cuadernos (.ipynb), enlaces, ficheros especiales ni carpetas ocultas; como mucho
    ``_COPIA_ARCHIVOS`` archivos y ``_COPIA_MB`` MB, a ``_COPIA_PROFUNDIDAD`` niveles."""
    copiados, bytes_copiados = 0, 0
    for carpeta, subcarpetas, nombres in os.walk(origen, followlinks=False):
        relativa = Path(carpeta).relative_to(origen)
        if len(relativa.parts) >= _COPIA_PROFUNDIDAD:
            subcarpetas.clear()
        subcarpetas[:] = sorted(d for d in subcarpetas if not d.startswith("."))
        for nombre in sorted(nombres):
            ruta = Path(carpeta) / nombre
            try:
                datos = ruta.lstat()
            except OSError:
                continue
            if nombre.startswith(".") or ruta.suffix == ".ipynb" or not stat.S_ISREG(datos.st_mode):
                continue
            if copiados >= _COPIA_ARCHIVOS or bytes_copiados + datos.st_size > _COPIA_MB * 2**20:
                return
            (destino / relativa).mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                shutil.copyfile(ruta, destino / relativa / nombre, follow_symlinks=False)
                copiados += 1
                bytes_copiados += datos.st_size


class GestorNucleoAislado(AsyncKernelManager):
    """Gestor de núcleos de jupyter_client que arranca ipykernel aislado y con límites.

    Siempre usa el ipykernel de este Python (ignora el kernelspec del cuaderno) y el transporte
    ``ipc``. Uso con nbclient: ``NotebookClient(nb, kernel_manager_class=GestorNucleoAislado,
    config=config, resources={"metadata": {"path": copia_de_trabajo}})``, con los rasgos en
    ``config.GestorNucleoAislado``. Sin ``path``, el núcleo trabaja en un directorio vacío.
    Si el núcleo muere, :meth:`motivo` explica por qué. ``limites_entrega`` dice qué mecanismo
    limita la entrega entera (ver :func:`comprobar_limites`).
    """

    aislar = Bool(True, help="Ejecutar el núcleo dentro de bubblewrap.").tag(config=True)
    memoria_mb = Integer(_LIMITES.memoria_mb, help="Memoria virtual máxima (MB).").tag(config=True)
    cpu_segundos = Integer(_LIMITES.cpu_segundos, help="Tiempo de CPU máximo (s).").tag(config=True)
    hilos = Integer(_LIMITES.hilos, help="Hilos de OpenMP/BLAS/PyTorch.").tag(config=True)
    procesos = Integer(_LIMITES.procesos, help="Procesos e hilos máximos.").tag(config=True)
    disco_mb = Integer(_LIMITES.disco_mb, help="Disco máximo de la carpeta de trabajo (MB).").tag(
        config=True
    )
    rutas_lectura = List(Unicode(), help="Rutas extra visibles en solo lectura.").tag(config=True)
    vigilar = Bool(
        False, help="Vigilar la integridad de las comprobaciones (course_utils.integridad)."
    ).tag(config=True)
    clave_alumno = Unicode(
        "", help="Clave de las variantes personales del alumno (CURSO_CLAVE en el núcleo)."
    ).tag(config=True)

    def __init__(self, **kwargs):
        kwargs["kernel_name"] = "python3"
        super().__init__(**kwargs)
        self.transport = "ipc"
        self._privado: Path | None = None
        self._bwrap: str | None = None
        self._codigo_salida: int | None = None
        self._registro = ""
        self._info: tuple[int, int | None] | None = None
        self._mecanismo = _Mecanismo(NINGUNO)
        self._uid: int | None = None
        self._espacio: _EspacioUsuario | None = None
        self._cgroup: _Cgroup | None = None
        self._tmpfs = False
        self._vigia: _Vigia | None = None
        self._sin_memoria = False

    @property
    def limites_entrega(self) -> str:
        """Mecanismo que limita la entrega entera (ver :func:`comprobar_limites`)."""
        return self._mecanismo.nombre

    @property
    def kernel_spec(self) -> KernelSpec:
        """ipykernel con los límites actuales, sin captura del descriptor 2 e interrupción por
        mensaje (una señal al grupo de procesos mataría a bwrap)."""
        return KernelSpec(
            argv=[
                *_PYTHON_NUCLEO,
                self._arranque(),
                "-f",
                "{connection_file}",
                "--IPKernelApp.capture_fd_output=False",
            ],
            display_name="Python 3 (calificación)",
            language="python",
            interrupt_mode="message",
        )

    def _entorno(self, home: str, tmp: str) -> dict[str, str]:
        """Entorno limpio del núcleo: nada del calificador salvo unas pocas variables."""
        carpetas = [os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]
        entorno = {
            "PATH": os.pathsep.join(carpetas),
            "HOME": home,
            "TMPDIR": tmp,
            "USER": "alumno",
            "LOGNAME": "alumno",
            "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg",
            "MALLOC_ARENA_MAX": "2",
            "CURSO_SIN_RED": "1",
        }
        for biblioteca in ("OMP", "MKL", "OPENBLAS", "NUMEXPR"):
            entorno[f"{biblioteca}_NUM_THREADS"] = str(self.hilos)
        for variable in ("NBGRADER_EXECUTION", "CURSO_RAPIDO"):
            if variable in os.environ:
                entorno[variable] = os.environ[variable]
        if self.vigilar:
            entorno["CURSO_VIGILAR"] = "1"
        if self.clave_alumno:
            entorno["CURSO_CLAVE"] = self.clave_alumno
        return entorno

    def _arranque(self) -> str:
        """Configuración del arranque del núcleo (``_ARRANQUE``), en JSON."""
        mb = 2**20
        limites = {
            "RLIMIT_AS": [self.memoria_mb * mb] * 2,
            "RLIMIT_CPU": [self.cpu_segundos, self.cpu_segundos + 2],
            "RLIMIT_FSIZE": [min(_ARCHIVO_MB, self.disco_mb) * mb] * 2,
            "RLIMIT_CORE": [0, 0],
        }
        if self.aislar:
            # Fuera del espacio de nombres de usuario contaría todos los procesos del usuario.
            limites["RLIMIT_NPROC"] = [self.procesos] * 2
        datos: dict = {"limites": limites}
        if self._uid is not None:
            datos["uid"] = _UID_NUCLEO
        if self._tmpfs:
            datos["entrada"] = str(self._privado / "entrada")
        return json.dumps(datos)

    async def _async_pre_start_kernel(self, **kw):
        self._bwrap = comprobar_aislamiento() if self.aislar else None
        self._mecanismo = _mecanismo(self.aislar)
        origen = kw.get("cwd")
        origen = _comprobar_origen(origen) if origen else None  # antes de crear nada
        nueva = self._privado is None
        if nueva:
            self._privado = Path(tempfile.mkdtemp(prefix="curso-nucleo-"))
        registro = None
        try:
            if nueva:
                self._preparar_carpeta(origen)
            self.connection_file = str(self._privado / "conexion.json")
            self.ip = str(self._privado / "ipc" / "k")
            self._codigo_salida = None
            kw["cwd"] = str(self._privado / "trabajo")
            if self.aislar:
                kw["env"] = self._entorno(_HOME, "/tmp")
            else:
                kw["env"] = self._entorno(str(self._privado / "home"), str(self._privado / "tmp"))
            registro = open(self._privado / "nucleo.log", "ab")  # noqa: SIM115
            kw["stdout"] = kw["stderr"] = registro
            self._cerrar_info()
            if self.aislar:
                # bwrap escribe aquí el PID de su proceso inicial para saber cuándo ha muerto todo.
                self._info = os.pipe()
                os.set_blocking(self._info[0], False)
                kw["pass_fds"] = (self._info[1],)
            try:
                if self._uid is not None:
                    self._espacio = _EspacioUsuario(self._uid)
                    kw["pass_fds"] += (self._espacio.fd,)
                if self._mecanismo.cgroup is not None and self._cgroup is None:
                    self._cgroup = _Cgroup(
                        self._mecanismo.cgroup, self.memoria_mb, self.procesos, self.hilos
                    )
            except OSError as error:
                raise ErrorAislamiento(
                    f"No se pudieron preparar los límites de la entrega: {error}"
                ) from error
            resultado = await super()._async_pre_start_kernel(**kw)
            if self._uid is not None:
                os.chown(self.connection_file, self._uid, self._uid)
            return resultado
        except BaseException:
            if registro is not None:
                registro.close()
            self._cerrar_info()
            self._liberar()
            shutil.rmtree(self._privado, ignore_errors=True)
            self._privado = None
            raise

    def _preparar_carpeta(self, origen: str | None) -> None:
        """Carpetas de la copia privada, archivos de entrada y, con uid propio, sus dueños."""
        for carpeta in ("ipc", "home", "tmp", "trabajo", "entrada"):
            (self._privado / carpeta).mkdir()
        opciones = _bwrap_probados.get(self._bwrap, frozenset())
        self._tmpfs = self.aislar and {"--size", "--perms"} <= opciones
        if origen:
            _copiar_entrada(origen, self._privado / ("entrada" if self._tmpfs else "trabajo"))
        self._uid = _uid_libre() if self._mecanismo.uid else None
        if self._uid is not None:
            for carpeta in ("ipc", "trabajo", "entrada"):
                _ceder(self._privado / carpeta, self._uid)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        orden = super().format_kernel_cmd(extra_arguments)
        if self.aislar:
            lectura = [*self.rutas_lectura, self.connection_file]
            if self._tmpfs:
                lectura.append(str(self._privado / "entrada"))
            bwrap = _orden_bwrap(
                self._bwrap,
                _bwrap_probados[self._bwrap],
                self._launch_args["cwd"],
                [str(self._privado / "ipc")],
                lectura,
                self._espacio.fd if self._espacio is not None else None,
                self.disco_mb if self._tmpfs else None,
            )
            orden = [*bwrap, "--info-fd", str(self._info[1]), "--", *orden]
        if self._cgroup is not None:
            # Entra en su cgroup antes de ejecutar bwrap o el núcleo: sus hijos nacen dentro.
            orden = [*_ENTRAR_CGROUP, str(self._cgroup.ruta / "cgroup.procs"), *orden]
        return orden

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        try:
            await super()._async_launch_kernel(kernel_cmd, **kw)
        finally:
            kw["stdout"].close()
            if self._info is not None:
                os.close(self._info[1])
                self._info = (self._info[0], None)
            if self._espacio is not None:
                self._espacio.cerrar()  # bwrap ya tiene el suyo
                self._espacio = None
        proceso = getattr(self.provisioner, "process", None)
        if proceso is not None:
            disco = None
            if not self._tmpfs:
                carpetas = [self._privado / c for c in ("trabajo", "home", "tmp")]
                disco = (carpetas, self.disco_mb)
            self._vigia = _Vigia(
                proceso.pid,
                self._info[0] if self._info is not None else None,
                self._cgroup,
                self.memoria_mb,
                self.cpu_segundos,
                disco,
                self.log,
            )
            self._vigia.start()

    def _cerrar_info(self) -> None:
        for fd in self._info or ():
            if fd is not None:
                os.close(fd)
        self._info = None

    def _parar_vigia(self) -> None:
        if self._vigia is not None:
            self._vigia.parar()

    def _liberar(self) -> None:
        """Cierra el espacio de usuarios y borra el cgroup de la entrega."""
        if self._espacio is not None:
            self._espacio.cerrar()
            self._espacio = None
        if self._cgroup is not None:
            self._cgroup.borrar()
            self._cgroup = None

    async def _esperar_espacio_pid(self) -> None:
        """Espera (10 s como mucho) a que muera el espacio de PID del núcleo aislado."""
        pid = self._vigia.pid_espacio if self._vigia is not None else None
        self._cerrar_info()
        if pid is None:
            return
        fin = time.monotonic() + 10
        while _proceso_vivo(pid) and time.monotonic() < fin:
            await asyncio.sleep(0.05)

    async def _async_is_alive(self) -> bool:
        vivo = await super()._async_is_alive()
        proceso = getattr(self.provisioner, "process", None)
        if not (vivo or self.shutting_down or proceso is None or self._codigo_salida is not None):
            self._codigo_salida = proceso.returncode
            self._registro = self._leer_registro()
            self._sin_memoria = self._cgroup is not None and self._cgroup.sin_memoria()
        return vivo

    is_alive = _async_is_alive

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        self._parar_vigia()
        if restart:
            return
        await self._esperar_espacio_pid()
        self._liberar()
        if self._privado is not None:  # solo la carpeta que creó este gestor
            shutil.rmtree(self._privado, ignore_errors=True)
            self._privado = None

    cleanup_resources = _async_cleanup_resources

    def _leer_registro(self) -> str:
        """Final de la salida de bajo nivel del núcleo (stdout/stderr del proceso)."""
        try:
            with open(self._privado / "nucleo.log", "rb") as fichero:
                fichero.seek(0, os.SEEK_END)
                fichero.seek(max(0, fichero.tell() - 65536))
                return fichero.read().decode(errors="replace")
        except (OSError, TypeError):
            return ""

    def motivo(self) -> str | None:
        """Motivo en español por el que murió el núcleo, o None si no ha muerto solo."""
        codigo = self._codigo_salida
        if codigo is None:
            return None
        senal = -codigo if codigo < 0 else codigo - 128 if self.aislar and codigo > 128 else 0
        if self._vigia is not None and self._vigia.motivo:
            return self._vigia.motivo
        if senal == signal.SIGXCPU:
            return f"se agotó el tiempo de CPU permitido ({self.cpu_segundos} s)"
        if self._sin_memoria or _PATRONES_MEMORIA.search(self._registro):
            return f"se superó el límite de memoria ({self.memoria_mb} MB)"
        error_bwrap = re.search(r"^bwrap: .*$", self._registro, re.M)
        if self.aislar and codigo == 1 and error_bwrap:
            return f"no se pudo crear el entorno aislado ({error_bwrap.group(0)})"
        if senal == signal.SIGKILL:
            return (
                "el núcleo fue terminado a la fuerza (SIGKILL): superó el límite de CPU "
                f"({self.cpu_segundos} s) o el sistema se quedó sin memoria"
            )
        if senal:
            return f"el núcleo terminó por la señal {_nombre_senal(senal)}"
        return f"el cuaderno cerró el núcleo (código de salida {codigo})"


class EjecutarAislado(Execute):
    """Preprocesador ``Execute`` de nbgrader que usa :class:`GestorNucleoAislado`.

    Si el núcleo muere, lanza ``DeadKernelError`` con el motivo en español (ver
    :func:`motivo_fallo`).
    """

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = GestorNucleoAislado
        super().__init__(*args, **kwargs)
        self._volcado: dict[int, int] = {}
        self._recortadas: set[int] = set()

    def output(self, outs, msg, display_id, cell_index):
        """Recorta stdout, stderr e imágenes de una celda a ``_SALIDA_MAXIMA`` caracteres.

        La nota no cambia: los errores y los resultados se conservan siempre y cada flujo
        (stdout, stderr) guarda al menos un trozo (un stderr sigue valiendo 0 puntos).
        """
        tipo, contenido = msg["msg_type"], msg["content"]
        if tipo not in ("stream", "display_data"):
            return super().output(outs, msg, display_id, cell_index)
        usado = self._volcado.get(cell_index, 0)
        texto = contenido.get("text", "")
        tamano = len(texto) + sum(len(str(d)) for d in contenido.get("data", {}).values())
        self._volcado[cell_index] = usado + tamano
        if usado + tamano <= _SALIDA_MAXIMA:
            return super().output(outs, msg, display_id, cell_index)
        if tipo == "stream":
            resto = max(_SALIDA_MAXIMA - usado, 0)
            nuevo = all(o.get("name") != contenido["name"] for o in outs)
            if resto or nuevo:
                recorte = {**contenido, "text": texto[: max(resto, 1000)]}
                super().output(outs, {**msg, "content": recorte}, display_id, cell_index)
        if cell_index not in self._recortadas:
            self._recortadas.add(cell_index)
            outs.append(nbformat.v4.new_output("stream", name="stdout", text=_RECORTE))
        return None

    def create_kernel_manager(self):
        self._gestor = super().create_kernel_manager()
        return self._gestor

    def preprocess(self, nb, resources=None, km=None):
        self._gestor = km
        self._volcado = {}
        self._recortadas = set()
        try:
            return super().preprocess(nb, resources, km)
        except RuntimeError as error:
            gestor = self._gestor
            motivo = gestor.motivo() if isinstance(gestor, GestorNucleoAislado) else None
            if motivo is None or _MARCA in str(error):
                raise
            raise DeadKernelError(f"{_MARCA}{motivo}") from error


def configurar_nbgrader(
    config, limites: Limites | None = None, aislar: bool = True, rutas_lectura=()
):
    """Configura nbgrader para calificar con :class:`EjecutarAislado` y estos límites.

    Sustituye ``Execute`` en ``Autograde.autograde_preprocessors`` y devuelve ``config``.

    >>> from traitlets.config import Config
    >>> c = configurar_nbgrader(Config(), Limites(cpu_segundos=120), aislar=False)
    >>> c.GestorNucleoAislado.cpu_segundos, EjecutarAislado in c.Autograde.autograde_preprocessors
    (120, True)
    """
    from nbgrader.converters import Autograde

    limites = limites or Limites()
    gestor = config.GestorNucleoAislado
    gestor.aislar = aislar
    gestor.memoria_mb = limites.memoria_mb
    gestor.cpu_segundos = limites.cpu_segundos
    gestor.hilos = limites.hilos
    gestor.procesos = limites.procesos
    gestor.disco_mb = limites.disco_mb
    gestor.rutas_lectura = [str(Path(r).resolve()) for r in rutas_lectura]
    actuales = config.Autograde.get("autograde_preprocessors")
    if actuales is None:
        actuales = Autograde.class_traits()["autograde_preprocessors"].default()
    nombres = {Execute, "nbgrader.preprocessors.Execute", "nbgrader.preprocessors.execute.Execute"}
    config.Autograde.autograde_preprocessors = [
        EjecutarAislado if p in nombres else p for p in actuales
    ]
    return config


_MOTIVOS_TEXTO = (
    (re.compile(r"CellTimeoutError|Timeout waiting for"), "una celda superó el tiempo máximo"),
    (_PATRONES_MEMORIA, "se superó el límite de memoria"),
    (re.compile(r"SIGXCPU|CPU time limit"), "se agotó el tiempo de CPU permitido"),
    (re.compile(r"Kernel didn't respond|Kernel died before replying"), "el núcleo no arrancó"),
    (re.compile(r"Kernel died|DeadKernelError"), "el núcleo se detuvo inesperadamente"),
)


def motivo_fallo(fallo: BaseException | str) -> str | None:
    """Motivo en español de un cuaderno que no se pudo calificar, o None si no se reconoce.

    Acepta la excepción o el texto del registro de nbgrader (que incluye la traza).

    >>> motivo_fallo("DeadKernelError: El núcleo murió: se agotó el tiempo de CPU permitido (5 s)")
    'se agotó el tiempo de CPU permitido (5 s)'
    >>> motivo_fallo(MemoryError())
    'se superó el límite de memoria'
    """
    if isinstance(fallo, BaseException):
        texto = f"{type(fallo).__name__}: {fallo}"
    else:
        texto = fallo
    marcado = re.search(re.escape(_MARCA) + r"(.+)", texto)
    if marcado:
        return marcado.group(1).strip()
    for patron, motivo in _MOTIVOS_TEXTO:
        if patron.search(texto):
            return motivo
    return None
