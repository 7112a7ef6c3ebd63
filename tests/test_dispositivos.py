"""Pruebas de course_utils.dispositivos (sin GPU: la disponibilidad se simula)."""

import doctest
import re

import matplotlib.axes
import pytest
import torch

from course_utils import dispositivos
from course_utils.dispositivos import (
    DispositivoNoDisponible,
    MedicionMatmul,
    describir_dispositivo,
    dispositivos_disponibles,
    dtype_flotante,
    elegir_dispositivo,
    graficar_tiempos,
    medir_matmul,
    sincronizar,
)


def _simular(monkeypatch, cuda=False, mps=False, gpus=1):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus if cuda else 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.fixture(autouse=True)
def _sin_variable_de_entorno(monkeypatch):
    monkeypatch.delenv("CURSO_DISPOSITIVO", raising=False)


@pytest.fixture
def solo_cpu(monkeypatch):
    _simular(monkeypatch)


def test_doctests():
    resultado = doctest.testmod(dispositivos)
    assert resultado.attempted > 0
    assert resultado.failed == 0


@pytest.mark.parametrize(
    ("cuda", "mps", "esperado"),
    [
        (True, True, ["cuda", "mps", "cpu"]),
        (True, False, ["cuda", "cpu"]),
        (False, True, ["mps", "cpu"]),
        (False, False, ["cpu"]),
    ],
)
def test_disponibles_y_orden_de_eleccion(monkeypatch, cuda, mps, esperado):
    _simular(monkeypatch, cuda=cuda, mps=mps)
    assert dispositivos_disponibles() == esperado
    assert elegir_dispositivo() == torch.device(esperado[0])


def test_variable_de_entorno_fuerza_el_dispositivo(monkeypatch):
    _simular(monkeypatch, cuda=True, mps=True)
    monkeypatch.setenv("CURSO_DISPOSITIVO", "cpu")
    assert elegir_dispositivo() == torch.device("cpu")
    monkeypatch.setenv("CURSO_DISPOSITIVO", " MPS ")
    assert elegir_dispositivo() == torch.device("mps")
    # El argumento explícito manda sobre la variable.
    assert elegir_dispositivo("cuda:0") == torch.device("cuda", 0)


def test_variable_de_entorno_vacia_se_ignora(monkeypatch):
    _simular(monkeypatch, cuda=True)
    monkeypatch.setenv("CURSO_DISPOSITIVO", "  ")
    assert elegir_dispositivo() == torch.device("cuda")


def test_variable_de_entorno_con_dispositivo_ausente(monkeypatch, solo_cpu):
    monkeypatch.setenv("CURSO_DISPOSITIVO", "cuda")
    with pytest.raises(DispositivoNoDisponible) as error:
        elegir_dispositivo()
    mensaje = str(error.value)
    assert "CURSO_DISPOSITIVO=cuda" in mensaje
    assert "bórrala" in mensaje


def test_cuda_no_disponible(solo_cpu):
    with pytest.raises(DispositivoNoDisponible) as error:
        elegir_dispositivo("cuda")
    assert isinstance(error.value, RuntimeError)
    mensaje = str(error.value)
    assert mensaje.startswith("CUDA no está disponible en esta máquina")
    assert "dispositivos disponibles: cpu." in mensaje
    assert "Entorno de ejecución → Cambiar tipo de entorno de ejecución → GPU" in mensaje


def test_mps_no_disponible(solo_cpu):
    with pytest.raises(DispositivoNoDisponible, match="MPS") as error:
        elegir_dispositivo("mps")
    mensaje = str(error.value)
    assert "dispositivos disponibles: cpu" in mensaje
    assert "Mac" in mensaje
    # Requisitos actuales (Apple, «Accelerated PyTorch training on Mac»): chip de Apple y macOS 14
    # o posterior; el MPS Graph de Apple no tiene float64.
    assert "chip de Apple" in mensaje and "macOS 14 o posterior" in mensaje
    assert "12.3" not in mensaje
    assert "float64" in mensaje


@pytest.mark.parametrize("nombre", ["gpu", "tpu", "cuda:x", "", "xpu", "cuda:-1"])
def test_nombres_no_validos(solo_cpu, nombre):
    with pytest.raises(DispositivoNoDisponible) as error:
        elegir_dispositivo(nombre)
    mensaje = str(error.value)
    assert "no es un dispositivo válido" in mensaje
    for tipo in ("«cuda»", "«mps»", "«cpu»"):
        assert tipo in mensaje
    assert "dispositivos disponibles: cpu" in mensaje


def test_indice_de_gpu_inexistente(monkeypatch):
    _simular(monkeypatch, cuda=True, gpus=1)
    assert elegir_dispositivo("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(DispositivoNoDisponible) as error:
        elegir_dispositivo("cuda:7")
    mensaje = str(error.value)
    assert "cuda:7" in mensaje
    assert "1 GPU" in mensaje
    assert "cuda:0" in mensaje


@pytest.mark.parametrize("nombre", ["mps:1", "cpu:1"])
def test_indices_imposibles(monkeypatch, nombre):
    _simular(monkeypatch, mps=True)
    with pytest.raises(DispositivoNoDisponible, match="no existe"):
        elegir_dispositivo(nombre)


def test_acepta_torch_device_y_mayusculas(solo_cpu):
    assert elegir_dispositivo(torch.device("cpu")) == torch.device("cpu")
    assert elegir_dispositivo(" CPU ") == torch.device("cpu")


def test_tipo_no_valido():
    with pytest.raises(TypeError, match="torch.device"):
        elegir_dispositivo(0)


def test_describir_cpu(solo_cpu):
    descripcion = describir_dispositivo("cpu")
    assert descripcion.startswith("CPU (")
    assert f"{torch.get_num_threads()} hilos" in descripcion
    assert describir_dispositivo() == descripcion


def test_describir_gpus_simuladas(monkeypatch):
    _simular(monkeypatch, cuda=True, mps=True, gpus=2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"Tesla T4 #{i}")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert describir_dispositivo("cuda:1") == "GPU NVIDIA Tesla T4 #1 (cuda:1)"
    assert describir_dispositivo() == "GPU NVIDIA Tesla T4 #0 (cuda:0)"
    assert describir_dispositivo("mps") == "GPU de Apple (MPS)"


def test_describir_no_disponible(solo_cpu):
    with pytest.raises(DispositivoNoDisponible):
        describir_dispositivo("cuda")


def test_dtype_flotante():
    assert dtype_flotante("cpu") == torch.float64
    assert dtype_flotante("cuda:0") == torch.float64
    assert dtype_flotante("mps") == torch.float32
    assert dtype_flotante(torch.device("mps")) == torch.float32
    with pytest.raises(DispositivoNoDisponible):
        dtype_flotante("gpu")


def test_dtype_flotante_en_mac_simulado(monkeypatch):
    _simular(monkeypatch, mps=True)
    elegido = elegir_dispositivo()
    assert elegido.type == "mps"
    assert dtype_flotante(elegido) == torch.float32


def test_sincronizar(monkeypatch):
    llamadas = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: llamadas.append(("cuda", d)))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: llamadas.append(("mps", None)))
    assert sincronizar("cpu") is None
    assert llamadas == []
    sincronizar("cuda:1")
    sincronizar(torch.device("mps"))
    assert llamadas == [("cuda", torch.device("cuda", 1)), ("mps", None)]
    with pytest.raises(DispositivoNoDisponible):
        sincronizar("gpu")


def test_reloj_sincroniza_la_gpu(monkeypatch):
    llamadas = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: llamadas.append(d))
    reloj = dispositivos._reloj_sincronizado(torch.device("cuda", 0))
    t0, t1 = reloj(), reloj()
    assert t1 >= t0
    assert llamadas == [torch.device("cuda", 0)] * 2


def test_medir_matmul_en_cpu(solo_cpu):
    n = 48
    mediciones = medir_matmul(n=n)
    assert len(mediciones) == 1
    (m,) = mediciones
    assert isinstance(m, MedicionMatmul)
    assert m.dispositivo == "cpu"
    assert m.descripcion == describir_dispositivo("cpu")
    assert m.segundos > 0
    assert m.gflops == pytest.approx(2 * n**3 / m.segundos / 1e9, rel=1e-12)
    assert re.search(r"\d (s|ms|µs), ", str(m))
    assert "GFLOP/s" in str(m)


def test_medir_matmul_float64_y_lista_explicita(solo_cpu):
    (m,) = medir_matmul(n=16, dispositivos=["cpu"], dtype=torch.float64)
    assert m.dispositivo == "cpu"
    assert m.segundos > 0


def test_medir_matmul_no_mide_en_cpu_lo_que_se_pidio_en_gpu(solo_cpu):
    with pytest.raises(DispositivoNoDisponible, match="CUDA no está disponible"):
        medir_matmul(n=8, dispositivos=["cpu", "cuda"])


@pytest.mark.parametrize("n", [0, -3, 2.5, True, "100"])
def test_medir_matmul_n_no_valido(n):
    with pytest.raises(ValueError, match="entero positivo"):
        medir_matmul(n=n, dispositivos=["cpu"])


def test_medir_matmul_dtype_no_valido():
    with pytest.raises(ValueError, match="flotante"):
        medir_matmul(n=8, dispositivos=["cpu"], dtype=torch.int64)


def _mediciones():
    return [
        MedicionMatmul("cpu", "CPU (x86_64, 2 hilos de PyTorch)", 0.012, 166.7),
        MedicionMatmul("cuda:0", "GPU NVIDIA Tesla T4 (cuda:0)", 0.0005, 4000.0),
    ]


def test_medicion_como_texto():
    (m, _) = _mediciones()
    assert str(m) == "cpu: 12 ms, 166.7 GFLOP/s — CPU (x86_64, 2 hilos de PyTorch)"


def test_graficar_tiempos():
    ax = graficar_tiempos(_mediciones())
    assert isinstance(ax, matplotlib.axes.Axes)
    assert len(ax.patches) == 2
    assert [p.get_height() for p in ax.patches] == pytest.approx([12.0, 0.5])
    textos = [t.get_text() for t in ax.texts]
    assert textos == ["12 ms\n166.7 GFLOP/s", "0.5 ms\n4000 GFLOP/s"]
    etiquetas = [t.get_text() for t in ax.get_xticklabels()]
    assert etiquetas[0].startswith("cpu\n")
    assert etiquetas[1].startswith("cuda:0\n")
    assert "ms" in ax.get_ylabel()


def test_graficar_tiempos_en_ejes_dados():
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    assert graficar_tiempos(_mediciones()[:1], ax=ax) is ax
    assert len(ax.patches) == 1


def test_graficar_tiempos_sin_mediciones():
    with pytest.raises(ValueError, match="medir_matmul"):
        graficar_tiempos([])


def test_formato_de_tiempos_legible():
    from course_utils.dispositivos import _formatear_tiempo

    assert _formatear_tiempo(2.7) == "2.7 s"
    assert _formatear_tiempo(0.00152) == "1.52 ms"
    assert _formatear_tiempo(8.5e-5) == "85 µs"
