"""Configuración común de las pruebas.

- Las figuras de pyplot se cierran tras cada prueba.
- Sin red: en este proceso, conectarse (o resolver un nombre) fuera de la red de bucle local
  (127.0.0.0/8, ``::1``) lanza :class:`RedProhibida` *antes* de enviar nada, se anota y hace
  fallar la prueba que lo intentó, aunque esta capture la excepción. Los sockets Unix se
  permiten. La prueba que lo provoca a propósito usa el fixture ``red_vigilada``.
- Canarios: al empezar la sesión se crean enlaces simbólicos (a un archivo, a una carpeta y
  rotos) y una FIFO en la carpeta temporal del sistema y en una carpeta junto a la raíz
  temporal de pytest; al terminar se comprueba que siguen intactos (si no, la sesión falla) y
  se borran solo esos canarios.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import stat
import tempfile
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")  # sin ventanas: las pruebas solo generan figuras

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _cerrar_figuras():
    """Cierra las figuras de pyplot que deje abiertas cada prueba."""
    yield
    plt.close("all")


# --- Sin red --------------------------------------------------------------------------------


class RedProhibida(ConnectionRefusedError):
    """Una prueba intentó usar la red fuera de la red de bucle local."""


_INTENTOS: list[str] = []  # conexiones prohibidas, en orden
_ORIGINALES: dict = {}  # funciones originales de socket (se llaman a través de este dict)
_NOMBRES_LOCALES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _host_local(host) -> bool:
    """Si ``host`` (dirección o nombre) es de la red de bucle local, sin resolver nada."""
    if host is None:
        return True
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode("ascii", "replace")
    texto = str(host).strip("[]").split("%", 1)[0].lower().rstrip(".")
    if texto in _NOMBRES_LOCALES or texto.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(texto)
    except ValueError:
        return texto == socket.gethostname().lower()  # /etc/hosts: no sale nada
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _prohibir(descripcion: str):
    _INTENTOS.append(descripcion)
    raise RedProhibida(f"prueba sin red: se prohíbe {descripcion} (solo se permite 127.0.0.0/8)")


def _comprobar(sock, direccion, operacion: str) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # AF_UNIX, etc.
    host = direccion[0] if isinstance(direccion, tuple) and direccion else direccion
    if not _host_local(host):
        _prohibir(f"{operacion} a {direccion!r}")


def _connect(self, direccion):
    _comprobar(self, direccion, "connect")
    return _ORIGINALES["connect"](self, direccion)


def _connect_ex(self, direccion):
    _comprobar(self, direccion, "connect_ex")
    return _ORIGINALES["connect_ex"](self, direccion)


def _sendto(self, datos, *resto):
    if resto:
        _comprobar(self, resto[-1], "sendto")
    return _ORIGINALES["sendto"](self, datos, *resto)


def _getaddrinfo(host, *args, **kwargs):
    if not _host_local(host):
        _prohibir(f"resolver el nombre {host!r}")
    return _ORIGINALES["getaddrinfo"](host, *args, **kwargs)


def _instalar_guardia() -> None:
    if _ORIGINALES:
        return
    for nombre, sustituto in (("connect", _connect), ("connect_ex", _connect_ex)):
        _ORIGINALES[nombre] = getattr(socket.socket, nombre)
        setattr(socket.socket, nombre, sustituto)
    _ORIGINALES["sendto"] = socket.socket.sendto
    socket.socket.sendto = _sendto
    _ORIGINALES["getaddrinfo"] = socket.getaddrinfo
    socket.getaddrinfo = _getaddrinfo


def _quitar_guardia() -> None:
    for nombre in ("connect", "connect_ex", "sendto"):
        if nombre in _ORIGINALES:
            setattr(socket.socket, nombre, _ORIGINALES.pop(nombre))
    if "getaddrinfo" in _ORIGINALES:
        socket.getaddrinfo = _ORIGINALES.pop("getaddrinfo")


@pytest.fixture
def red_vigilada():
    """La guardia de red: ``intentos`` (lista que la prueba puede vaciar tras provocarlos a
    propósito), ``Excepcion`` y ``originales`` (las funciones a las que se llama si se permite)."""
    return SimpleNamespace(intentos=_INTENTOS, Excepcion=RedProhibida, originales=_ORIGINALES)


def _vigilar_fase(item, fase: str):
    inicio = len(_INTENTOS)
    resultado = yield
    nuevos = _INTENTOS[inicio:]
    if nuevos:
        pytest.fail(f"la prueba intentó usar la red ({fase}): " + "; ".join(nuevos), pytrace=False)
    return resultado


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    return (yield from _vigilar_fase(item, "preparación"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    return (yield from _vigilar_fase(item, "prueba"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    return (yield from _vigilar_fase(item, "limpieza"))


# --- Canarios -------------------------------------------------------------------------------


def _crear_canarios(config) -> list[dict]:
    """Crea los canarios; devuelve su descripción (ruta, tipo y lo que debe seguir igual)."""
    base = config._tmp_path_factory.getbasetemp()
    carpeta = Path(tempfile.mkdtemp(prefix=f"curso-canarios-{os.getpid()}-", dir=base.parent))
    objetivo = carpeta / "objetivo.txt"
    objetivo.write_text("canario\n", encoding="utf-8")
    subcarpeta = carpeta / "subcarpeta"
    subcarpeta.mkdir()
    (subcarpeta / "dentro.txt").write_text("canario\n", encoding="utf-8")
    canarios = [
        {"ruta": carpeta, "tipo": "carpeta"},
        {"ruta": objetivo, "tipo": "archivo"},
        {"ruta": subcarpeta, "tipo": "carpeta"},
        {"ruta": subcarpeta / "dentro.txt", "tipo": "archivo"},
    ]
    prefijo = Path(tempfile.gettempdir()) / f"curso-canario-{os.getpid()}-{carpeta.name[-8:]}"
    for sitio in (Path(f"{prefijo}-"), carpeta / "canario-"):
        enlaces = {
            "enlace-archivo": objetivo,
            "enlace-carpeta": subcarpeta,
            "enlace-roto": carpeta / "no-existe",
        }
        for nombre, destino in enlaces.items():
            ruta = Path(f"{sitio}{nombre}")
            ruta.symlink_to(destino)
            canarios.append({"ruta": ruta, "tipo": "enlace", "destino": str(destino)})
        fifo = Path(f"{sitio}fifo")
        os.mkfifo(fifo)
        canarios.append({"ruta": fifo, "tipo": "fifo", "inodo": fifo.lstat().st_ino})
    return canarios


def _intacto(canario: dict) -> bool:
    try:
        info = os.lstat(canario["ruta"])
    except OSError:
        return False
    tipo = canario["tipo"]
    if tipo == "enlace":
        return stat.S_ISLNK(info.st_mode) and os.readlink(canario["ruta"]) == canario["destino"]
    if tipo == "fifo":
        return stat.S_ISFIFO(info.st_mode) and info.st_ino == canario["inodo"]
    if tipo == "carpeta":
        return stat.S_ISDIR(info.st_mode)
    return stat.S_ISREG(info.st_mode) and canario["ruta"].read_text() == "canario\n"


def _borrar_canarios(canarios: list[dict]) -> None:
    """Borra solo los canarios que siguen siendo los que se crearon (carpetas al final)."""
    for canario in reversed(canarios):
        if not _intacto(canario):
            continue
        try:
            if canario["tipo"] == "carpeta":
                canario["ruta"].rmdir()  # solo si está vacía
            else:
                canario["ruta"].unlink()
        except OSError:
            pass


_NOMBRE_CANARIO = re.compile(
    r"^curso-canario-(?P<pid>\d+)-(?P<sufijo>[\w-]{8})-(enlace-archivo|enlace-carpeta|enlace-roto|fifo)$"
)


def _vivo(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _borrar_canarios_huerfanos(config) -> None:
    """Borra los canarios de sesiones que murieron sin limpiar (p. ej. por ``timeout``): solo
    los que siguen el nombre y el tipo exactos de los canarios y cuyo proceso ya no existe."""
    junto = config._tmp_path_factory.getbasetemp().parent
    for entrada in Path(tempfile.gettempdir()).iterdir():
        nombre = _NOMBRE_CANARIO.match(entrada.name)
        if nombre is None or _vivo(int(nombre["pid"])):
            continue
        carpeta = junto / f"curso-canarios-{nombre['pid']}-{nombre['sufijo']}"
        try:
            info = os.lstat(entrada)
            if stat.S_ISFIFO(info.st_mode) or (
                stat.S_ISLNK(info.st_mode)
                and Path(os.readlink(entrada)).parent in (carpeta, carpeta / "subcarpeta")
            ):
                entrada.unlink()
        except OSError:
            pass
    for carpeta in junto.glob("curso-canarios-*"):
        nombre = re.fullmatch(r"curso-canarios-(\d+)-[\w-]{8}", carpeta.name)
        if nombre is None or _vivo(int(nombre[1])) or carpeta.is_symlink():
            continue
        if not carpeta.is_dir():
            continue
        canarios = [
            {
                "ruta": carpeta / "canario-enlace-archivo",
                "tipo": "enlace",
                "destino": str(carpeta / "objetivo.txt"),
            },
            {
                "ruta": carpeta / "canario-enlace-carpeta",
                "tipo": "enlace",
                "destino": str(carpeta / "subcarpeta"),
            },
            {
                "ruta": carpeta / "canario-enlace-roto",
                "tipo": "enlace",
                "destino": str(carpeta / "no-existe"),
            },
            {"ruta": carpeta / "canario-fifo", "tipo": "fifo"},
            {"ruta": carpeta / "objetivo.txt", "tipo": "archivo"},
            {"ruta": carpeta / "subcarpeta" / "dentro.txt", "tipo": "archivo"},
            {"ruta": carpeta / "subcarpeta", "tipo": "carpeta"},
            {"ruta": carpeta, "tipo": "carpeta"},
        ]
        for canario in canarios:
            try:
                modo = os.lstat(canario["ruta"]).st_mode
                if canario["tipo"] == "carpeta" and stat.S_ISDIR(modo):
                    canario["ruta"].rmdir()  # solo si está vacía
                elif canario["tipo"] == "fifo" and stat.S_ISFIFO(modo):
                    canario["ruta"].unlink()
                elif canario["tipo"] != "carpeta" and _intacto(canario):
                    canario["ruta"].unlink()
            except OSError:
                pass


_CANARIOS = pytest.StashKey[list]()


def pytest_configure(config):
    _instalar_guardia()


def pytest_sessionstart(session):
    _borrar_canarios_huerfanos(session.config)
    session.config.stash[_CANARIOS] = _crear_canarios(session.config)


@pytest.fixture(scope="session")
def canarios(pytestconfig) -> list[Path]:
    """Rutas de los canarios de la sesión (para comprobar la propia comprobación)."""
    return [c["ruta"] for c in pytestconfig.stash[_CANARIOS] if c["tipo"] in ("enlace", "fifo")]


def pytest_sessionfinish(session, exitstatus):
    canarios = session.config.stash.get(_CANARIOS, [])
    perdidos = [str(c["ruta"]) for c in canarios if not _intacto(c)]
    fuera = list(_INTENTOS)
    if perdidos or fuera:
        lineas = []
        if perdidos:
            lineas.append(
                "ERROR: alguna prueba borró o cambió canarios que no eran suyos (ninguna prueba "
                "puede tocar lo que no creó):"
            )
            lineas += [f"  {ruta}" for ruta in perdidos]
        if fuera:
            lineas.append("ERROR: se intentó usar la red fuera de 127.0.0.0/8:")
            lineas += [f"  {intento}" for intento in fuera]
        reportero = session.config.pluginmanager.get_plugin("terminalreporter")
        for linea in lineas:
            if reportero is not None:
                reportero.write_line(linea, red=True, bold=True)
            else:
                print(linea)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    _borrar_canarios(canarios)


def pytest_unconfigure(config):
    _quitar_guardia()
