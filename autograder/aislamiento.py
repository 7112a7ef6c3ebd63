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
  y en un ``/tmp`` privado en memoria (512 MB) con su ``HOME``. Al terminar se borra esa carpeta
  privada y nada más: la carpeta del cuaderno nunca se toca;
- tiene límites de memoria virtual (``RLIMIT_AS``), CPU (``RLIMIT_CPU``, todo el cuaderno),
  tamaño de fichero y procesos (``RLIMIT_NPROC``, que Linux no aplica si el calificador es
  root); todo lo que lance muere con él (espacio de PID propio y ``--die-with-parent``);
- recibe un entorno limpio (sin los secretos del calificador), ``MPLBACKEND=Agg``, ``HOME``
  privado, ``OMP_NUM_THREADS`` configurable y ``NBGRADER_EXECUTION`` si está definido.

En todos los modos los avisos de Python (PyTorch, NumPy, ``logging``) van a stdout y la salida de
bajo nivel del descriptor 2 no llega a las celdas: nbgrader da 0 puntos a una celda de prueba
con cualquier salida en stderr. Las excepciones siguen siendo errores. :class:`EjecutarAislado`
recorta además la salida de cada celda a 10 millones de caracteres sin cambiar la nota.

Si bubblewrap falta o no puede crear los espacios de nombres, se falla de forma segura
(:class:`ErrorAislamiento`). Sin aislamiento (``aislar=False``, solo con una opción explícita
como ``curso calificar --sin-aislamiento``) se mantienen los límites (salvo procesos), el
entorno limpio y el tratamiento de avisos, pero el alumno ve la red y los ficheros.

API pública:

- :class:`Limites`: memoria (MB), segundos de CPU, hilos y procesos por núcleo.
- :func:`comprobar_aislamiento`: prueba bubblewrap de verdad; llámala antes de calificar.
- :class:`GestorNucleoAislado`: gestor de núcleos para nbclient (rasgos configurables
  ``aislar``, ``memoria_mb``, ``cpu_segundos``, ``hilos``, ``procesos``, ``rutas_lectura``);
  si el núcleo muere, su método ``motivo()`` dice por qué.
- :class:`EjecutarAislado`: sustituto del preprocesador ``Execute`` de nbgrader (el tiempo por
  celda sigue en ``Execute.timeout``). Si el núcleo muere, lanza
  ``DeadKernelError("El núcleo murió: <motivo>")``.
- :func:`configurar_nbgrader`: escribe esa configuración en un ``Config`` de nbgrader.
- :func:`motivo_fallo`: motivo en español de un fallo (excepción o texto del registro de
  nbgrader), o None si no se reconoce.

Motivos (textos estables; ``motivo()`` y :func:`motivo_fallo` devuelven uno de ellos):

- ``"se agotó el tiempo de CPU permitido (N s)"`` (``SIGXCPU``);
- ``"se superó el límite de memoria (N MB)"`` (el registro del núcleo muestra falta de memoria);
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
import importlib.util
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
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

# Arranque del núcleo (``_PYTHON_NUCLEO``): quita la copia de trabajo de sys.path mientras
# carga (como ipykernel_launcher; IPython la repone), fija los límites que recibe en argv[1],
# manda los avisos y el ``logging`` sin manejador a stdout, prepara ipykernel y, al calificar
# (``CURSO_VIGILAR=1``), instala la vigilancia de :mod:`course_utils.integridad` antes de que
# se ejecute ninguna celda.
_ARRANQUE = """\
import sys
if sys.path and sys.path[0] == "":
    del sys.path[0]
import resource
for par in sys.argv.pop(1).split(","):
    nombre, _, valor = par.partition("=")
    blando, _, duro = valor.partition(":")
    resource.setrlimit(getattr(resource, nombre), (int(blando), int(duro or blando)))
import logging, warnings
def _mostrar_aviso(message, category, filename, lineno, file=None, line=None):
    sys.stdout.write(warnings.formatwarning(message, category, filename, lineno, line))
class _RegistroEnSalida(logging.Handler):
    def emit(self, record):
        sys.stdout.write(self.format(record) + "\\n")
warnings.showwarning = _mostrar_aviso
logging.lastResort = _RegistroEnSalida(logging.WARNING)
del par, nombre, valor, blando, duro
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
app.initialize()
import os
if os.environ.get("CURSO_VIGILAR") == "1":
    from course_utils import integridad
    integridad.instalar(app.shell)
del os
app.start()
"""
_PYTHON_NUCLEO = (sys.executable, "-E", "-s", "-B", "-c", _ARRANQUE)


class ErrorAislamiento(RuntimeError):
    """No se puede ejecutar el código de los alumnos aislado (bubblewrap falta o no funciona)."""


@dataclasses.dataclass(frozen=True)
class Limites:
    """Límites de cada núcleo de calificación.

    ``memoria_mb`` es memoria virtual (``RLIMIT_AS``): importar torch, NumPy y matplotlib ya
    reserva cerca de 1 GB. ``cpu_segundos`` cuenta todo el cuaderno (incluido el arranque).

    >>> Limites(memoria_mb=3000).hilos
    1
    """

    memoria_mb: int = 4096
    cpu_segundos: int = 600
    hilos: int = 1
    procesos: int = 256


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
    return frozenset(o for o in ("--size", "--disable-userns") if o in texto)


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
    bwrap: str, opciones: frozenset[str], trabajo: str, escritura: list[str], lectura: list[str]
) -> list[str]:
    """Orden de bwrap: ``trabajo`` es el directorio de arranque, ``escritura`` y ``lectura``
    son montajes adicionales. Los montajes se ordenan de padres a hijos."""
    orden = [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--cap-drop", "ALL"]
    if "--disable-userns" in opciones:
        orden.append("--disable-userns")
    orden += ["--hostname", "calificacion", "--proc", "/proc", "--dev", "/dev"]
    montajes: dict[str, list[str]] = {}
    for ruta in _SISTEMA:
        if os.path.islink(ruta):
            montajes[ruta] = ["--symlink", os.readlink(ruta), ruta]
        elif os.path.isdir(ruta):
            montajes[ruta] = ["--ro-bind", ruta, ruta]
    tamano = ["--size", str(_TMPFS_MB * 2**20)] if "--size" in opciones else []
    montajes["/tmp"] = [*tamano, "--tmpfs", "/tmp"]
    montajes["/dev/shm"] = [*tamano, "--tmpfs", "/dev/shm"]
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
    for ruta in sorted(montajes, key=_profundidad):
        orden += montajes[ruta]
    orden += ["--dir", _HOME, "--chdir", trabajo, "--unsetenv", "JPY_PARENT_PID"]
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
    Si el núcleo muere, :meth:`motivo` explica por qué.
    """

    aislar = Bool(True, help="Ejecutar el núcleo dentro de bubblewrap.").tag(config=True)
    memoria_mb = Integer(_LIMITES.memoria_mb, help="Memoria virtual máxima (MB).").tag(config=True)
    cpu_segundos = Integer(_LIMITES.cpu_segundos, help="Tiempo de CPU máximo (s).").tag(config=True)
    hilos = Integer(_LIMITES.hilos, help="Hilos de OpenMP/BLAS/PyTorch.").tag(config=True)
    procesos = Integer(_LIMITES.procesos, help="Procesos e hilos máximos.").tag(config=True)
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

    @property
    def kernel_spec(self) -> KernelSpec:
        """ipykernel con los límites actuales, sin captura del descriptor 2 e interrupción por
        mensaje (una señal al grupo de procesos mataría a bwrap)."""
        return KernelSpec(
            argv=[
                *_PYTHON_NUCLEO,
                self._limites_texto(),
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

    def _limites_texto(self) -> str:
        mb = 2**20
        limites = [
            f"RLIMIT_AS={self.memoria_mb * mb}",
            f"RLIMIT_CPU={self.cpu_segundos}:{self.cpu_segundos + 2}",
            f"RLIMIT_FSIZE={_ARCHIVO_MB * mb}",
            "RLIMIT_CORE=0",
        ]
        if self.aislar:
            # Fuera del espacio de nombres de usuario contaría todos los procesos del usuario.
            limites.append(f"RLIMIT_NPROC={self.procesos}")
        return ",".join(limites)

    async def _async_pre_start_kernel(self, **kw):
        self._bwrap = comprobar_aislamiento() if self.aislar else None
        origen = kw.get("cwd")
        origen = _comprobar_origen(origen) if origen else None  # antes de crear nada
        if self._privado is None:
            self._privado = Path(tempfile.mkdtemp(prefix="curso-nucleo-"))
            for carpeta in ("ipc", "home", "tmp", "trabajo"):
                (self._privado / carpeta).mkdir()
            if origen:
                _copiar_entrada(origen, self._privado / "trabajo")
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
            return await super()._async_pre_start_kernel(**kw)
        except BaseException:
            registro.close()
            self._cerrar_info()
            shutil.rmtree(self._privado, ignore_errors=True)
            self._privado = None
            raise

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        orden = super().format_kernel_cmd(extra_arguments)
        if not self.aislar:
            return orden
        bwrap = _orden_bwrap(
            self._bwrap,
            _bwrap_probados[self._bwrap],
            self._launch_args["cwd"],
            [str(self._privado / "ipc")],
            [*self.rutas_lectura, self.connection_file],
        )
        return [*bwrap, "--info-fd", str(self._info[1]), "--", *orden]

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        try:
            await super()._async_launch_kernel(kernel_cmd, **kw)
        finally:
            kw["stdout"].close()
            if self._info is not None:
                os.close(self._info[1])
                self._info = (self._info[0], None)

    def _cerrar_info(self) -> None:
        for fd in self._info or ():
            if fd is not None:
                os.close(fd)
        self._info = None

    async def _esperar_espacio_pid(self) -> None:
        """Espera (10 s como mucho) a que muera el espacio de PID del núcleo aislado."""
        if self._info is None:
            return
        try:
            datos = os.read(self._info[0], 4096)
        except BlockingIOError:
            datos = b""
        self._cerrar_info()
        try:
            pid = json.loads(datos)["child-pid"]
        except (ValueError, KeyError, TypeError):
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
        return vivo

    is_alive = _async_is_alive

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if restart:
            return
        await self._esperar_espacio_pid()
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
        if senal == signal.SIGXCPU:
            return f"se agotó el tiempo de CPU permitido ({self.cpu_segundos} s)"
        if _PATRONES_MEMORIA.search(self._registro):
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
