"""La vigilancia de las pruebas (tests/conftest.py) funciona: sin red y con canarios.

- Conectarse fuera de 127.0.0.0/8 lanza la excepción de la guardia antes de enviar nada (la
  función original de socket ni se llama) y hace fallar la prueba aunque la capture.
- La red de bucle local y los sockets Unix siguen funcionando.
- Si una prueba borra un canario, la sesión termina con error.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py")
# Dirección de documentación (TEST-NET-1, RFC 5737): nunca se envía nada.
DOCUMENTACION = "192.0.2.1"


def _espia(red_vigilada, monkeypatch, nombre):
    llamadas = []

    def espia(*args, **kwargs):
        llamadas.append(args)
        raise AssertionError(f"la guardia dejó pasar {nombre}{args!r}")

    monkeypatch.setitem(red_vigilada.originales, nombre, espia)
    return llamadas


def test_rechaza_antes_de_enviar(red_vigilada, monkeypatch):
    inicio = len(red_vigilada.intentos)
    llamadas = _espia(red_vigilada, monkeypatch, "connect")
    llamadas += _espia(red_vigilada, monkeypatch, "connect_ex")
    llamadas += _espia(red_vigilada, monkeypatch, "getaddrinfo")
    llamadas += _espia(red_vigilada, monkeypatch, "sendto")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        with pytest.raises(red_vigilada.Excepcion, match="192.0.2.1"):
            s.connect((DOCUMENTACION, 9))
        with pytest.raises(red_vigilada.Excepcion):
            s.connect_ex((DOCUMENTACION, 9))
        with pytest.raises(OSError):
            s.getpeername()  # nunca se conectó
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        with pytest.raises(red_vigilada.Excepcion):
            s.connect(("2001:db8::1", 9))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        with pytest.raises(red_vigilada.Excepcion):
            s.sendto(b"x", (DOCUMENTACION, 9))
    # Un nombre que no es local no se resuelve siquiera (no sale ninguna consulta DNS).
    with pytest.raises(red_vigilada.Excepcion):
        socket.create_connection(("ejemplo.invalid", 80), timeout=1)
    assert llamadas == []
    assert len(red_vigilada.intentos) - inicio == 5
    del red_vigilada.intentos[inicio:]  # provocados a propósito: esta prueba no debe fallar


def test_permite_la_red_local_y_los_sockets_unix(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as servidor:
        puerto = servidor.getsockname()[1]
        with socket.create_connection(("127.0.0.1", puerto), timeout=5):
            pass
        with socket.create_connection(("localhost", puerto), timeout=5):
            pass
    ruta = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as servidor:
        servidor.bind(ruta)
        servidor.listen()
        with socket.socket(socket.AF_UNIX) as cliente:
            cliente.connect(ruta)


def _sesion(pytester, codigo: str):
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makepyfile(codigo)
    return pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")


def test_la_prueba_que_intenta_conectarse_falla(pytester):
    resultado = _sesion(
        pytester,
        f"""
import socket

def test_conecta():
    try:  # aunque capture el error, la prueba falla
        socket.create_connection(("{DOCUMENTACION}", 80), timeout=1)
    except OSError:
        pass

def test_local():
    with socket.create_server(("127.0.0.1", 0)):
        pass
""",
    )
    resultado.assert_outcomes(passed=1, failed=1)
    resultado.stdout.fnmatch_lines(["*la prueba intentó usar la red*192.0.2.1*"])


def test_la_sesion_falla_si_desaparece_un_canario(pytester):
    resultado = _sesion(
        pytester,
        """
import os

def test_borra_un_canario(canarios):
    os.unlink(canarios[-1])
""",
    )
    assert resultado.ret != 0
    resultado.stdout.fnmatch_lines(["*canarios que no eran suyos*"])
    resultado.assert_outcomes(passed=1)


def test_canarios_presentes(canarios, tmp_path_factory):
    assert canarios and all(os.path.lexists(c) for c in canarios)
    carpetas = {c.parent for c in canarios}
    assert Path(tempfile.gettempdir()) in carpetas
    assert any(c.parent == tmp_path_factory.getbasetemp().parent for c in carpetas)


def test_borra_los_canarios_de_sesiones_muertas_y_nada_mas(pytester):
    import subprocess
    import sys

    proceso = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(proceso.stdout)  # ya terminó
    carpeta = pytester.path / f"curso-canarios-{pid}-abcdefgh"
    (carpeta / "subcarpeta").mkdir(parents=True)
    (carpeta / "objetivo.txt").write_text("canario\n")
    (carpeta / "subcarpeta" / "dentro.txt").write_text("canario\n")
    (carpeta / "ajeno.txt").write_text("no es un canario")
    temporal = Path(tempfile.gettempdir())
    enlace = temporal / f"curso-canario-{pid}-abcdefgh-enlace-archivo"
    enlace.symlink_to(carpeta / "objetivo.txt")
    ajeno = temporal / f"curso-canario-{pid}-abcdefgh-ajeno"
    ajeno.symlink_to(carpeta / "objetivo.txt")
    try:
        resultado = _sesion(pytester, "def test_nada():\n    pass\n")
        resultado.assert_outcomes(passed=1)
        assert resultado.ret == 0
        assert not os.path.lexists(enlace)
        assert not (carpeta / "objetivo.txt").exists() and not (carpeta / "subcarpeta").exists()
        assert (carpeta / "ajeno.txt").read_text() == "no es un canario"
        assert ajeno.is_symlink()
    finally:
        for ruta in (enlace, ajeno):
            if ruta.is_symlink():
                ruta.unlink()
