"""Dispositivos (CUDA, MPS, CPU): elección, descripción y medición correcta de tiempos."""

from __future__ import annotations

import os
import platform
import re
import textwrap
import timeit
from dataclasses import dataclass

import torch

VARIABLE_DISPOSITIVO = "CURSO_DISPOSITIVO"

_PATRON = re.compile(r"^(cuda|mps|cpu)(?::(\d+))?$")
_AYUDA_CUDA = (
    "En Colab: Entorno de ejecución → Cambiar tipo de entorno de ejecución → GPU. "
    "En tu equipo hace falta una GPU NVIDIA y una versión de PyTorch con CUDA "
    "(https://pytorch.org/get-started/locally/)."
)
_AYUDA_MPS = (
    "MPS necesita un Mac con chip de Apple (M1 o posterior), macOS 14 o posterior (lo que pide "
    "Apple para las versiones recientes de PyTorch) y el PyTorch de macOS, que ya trae MPS. MPS no "
    "admite float64: usa float32. En otro equipo usa «cuda» o «cpu»."
)


class DispositivoNoDisponible(RuntimeError):
    """El dispositivo pedido no existe o no está disponible en esta máquina."""


def _cuda_disponible() -> bool:
    return torch.cuda.is_available()


def _mps_disponible() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def dispositivos_disponibles() -> list[str]:
    """Devuelve los tipos de dispositivo disponibles, en orden de preferencia.

    Es un subconjunto de ``["cuda", "mps", "cpu"]``; ``"cpu"`` siempre está.

    >>> "cpu" in dispositivos_disponibles()
    True
    """
    disponibles = []
    if _cuda_disponible():
        disponibles.append("cuda")
    if _mps_disponible():
        disponibles.append("mps")
    disponibles.append("cpu")
    return disponibles


def _analizar(nombre, origen: str = "") -> torch.device:
    """Convierte «cuda», «cuda:1», «mps», «cpu» o un torch.device, sin mirar si existe."""
    if isinstance(nombre, torch.device):
        nombre = str(nombre)
    if not isinstance(nombre, str):
        raise TypeError(
            f"El dispositivo debe ser un texto como «cuda», «mps» o «cpu», o un torch.device; "
            f"se recibió {type(nombre).__name__}."
        )
    coincidencia = _PATRON.match(nombre.strip().lower())
    if coincidencia is None:
        raise DispositivoNoDisponible(
            f"«{nombre}»{origen} no es un dispositivo válido. Usa «cuda» (GPU NVIDIA, también "
            f"«cuda:0», «cuda:1»…), «mps» (GPU de Apple) o «cpu»; dispositivos disponibles: "
            f"{', '.join(dispositivos_disponibles())}."
        )
    tipo, indice = coincidencia.groups()
    return torch.device(tipo) if indice is None else torch.device(tipo, int(indice))


def _comprobar(dispositivo: torch.device, origen: str = "") -> None:
    """Lanza DispositivoNoDisponible si el dispositivo no puede usarse aquí."""
    disponibles = ", ".join(dispositivos_disponibles())
    if dispositivo.type == "cuda":
        if not _cuda_disponible():
            raise DispositivoNoDisponible(
                f"CUDA no está disponible en esta máquina{origen}; dispositivos disponibles: "
                f"{disponibles}. {_AYUDA_CUDA}"
            )
        cuantas = torch.cuda.device_count()
        if dispositivo.index is not None and dispositivo.index >= cuantas:
            gpus = ", ".join(f"cuda:{i}" for i in range(cuantas))
            raise DispositivoNoDisponible(
                f"La GPU «{dispositivo}»{origen} no existe: esta máquina tiene {cuantas} "
                f"GPU CUDA ({gpus}). Usa «cuda» o uno de esos índices."
            )
    elif dispositivo.type == "mps":
        if not _mps_disponible():
            raise DispositivoNoDisponible(
                f"MPS (GPU de Apple) no está disponible en esta máquina{origen}; dispositivos "
                f"disponibles: {disponibles}. {_AYUDA_MPS}"
            )
        if dispositivo.index not in (None, 0):
            raise DispositivoNoDisponible(
                f"«{dispositivo}»{origen} no existe: MPS solo tiene el dispositivo «mps» (mps:0)."
            )
    elif dispositivo.index not in (None, 0):
        raise DispositivoNoDisponible(
            f"«{dispositivo}»{origen} no existe: la CPU es siempre «cpu»."
        )


def elegir_dispositivo(preferido=None) -> torch.device:
    """Elige el dispositivo de cálculo.

    Usa ``preferido`` si se indica; si no, la variable de entorno ``CURSO_DISPOSITIVO``; si no,
    el mejor disponible: cuda > mps > cpu. Lanza :class:`DispositivoNoDisponible` si el
    dispositivo pedido no existe o no está disponible.

    >>> elegir_dispositivo("cpu")
    device(type='cpu')
    >>> elegir_dispositivo().type in ("cuda", "mps", "cpu")
    True
    """
    origen = ""
    if preferido is None:
        preferido = os.environ.get(VARIABLE_DISPOSITIVO, "").strip() or None
        if preferido is not None:
            origen = (
                f" (pedido con la variable de entorno {VARIABLE_DISPOSITIVO}={preferido}; "
                f"cámbiala o bórrala para elegir automáticamente)"
            )
    if preferido is None:
        return torch.device(dispositivos_disponibles()[0])
    dispositivo = _analizar(preferido, origen)
    _comprobar(dispositivo, origen)
    return dispositivo


def describir_dispositivo(dispositivo=None) -> str:
    """Describe en español un dispositivo (por defecto, el que elige :func:`elegir_dispositivo`).

    >>> describir_dispositivo("cpu").startswith("CPU")
    True
    """
    dispositivo = elegir_dispositivo(dispositivo)
    if dispositivo.type == "cuda":
        indice = torch.cuda.current_device() if dispositivo.index is None else dispositivo.index
        return f"GPU NVIDIA {torch.cuda.get_device_name(indice)} (cuda:{indice})"
    if dispositivo.type == "mps":
        return "GPU de Apple (MPS)"
    arquitectura = platform.machine() or "arquitectura desconocida"
    hilos = torch.get_num_threads()
    return f"CPU ({arquitectura}, {hilos} {'hilo' if hilos == 1 else 'hilos'} de PyTorch)"


def dtype_flotante(dispositivo) -> torch.dtype:
    """Devuelve el dtype flotante más preciso del dispositivo: float64, salvo float32 en MPS.

    MPS (GPU de Apple) no admite float64.

    >>> dtype_flotante("cpu")
    torch.float64
    >>> dtype_flotante("mps")
    torch.float32
    """
    return torch.float32 if _analizar(dispositivo).type == "mps" else torch.float64


def sincronizar(dispositivo) -> None:
    """Espera a que termine el trabajo pendiente del dispositivo (CUDA y MPS son asíncronos).

    En la CPU no hace nada.

    >>> sincronizar("cpu")
    """
    dispositivo = _analizar(dispositivo)
    if dispositivo.type == "cuda":
        torch.cuda.synchronize(dispositivo)
    elif dispositivo.type == "mps":
        torch.mps.synchronize()


def _reloj_sincronizado(dispositivo: torch.device):
    if dispositivo.type == "cpu":
        return timeit.default_timer

    def reloj() -> float:
        sincronizar(dispositivo)
        return timeit.default_timer()

    return reloj


def _formatear_tiempo(segundos: float) -> str:
    """Texto legible de una duración: «2.7 s», «1.52 ms» o «85 µs»."""
    if segundos >= 1:
        return f"{segundos:.3g} s"
    if segundos >= 1e-3:
        return f"{segundos * 1e3:.3g} ms"
    return f"{segundos * 1e6:.3g} µs"


@dataclass
class MedicionMatmul:
    """Tiempo de un producto de matrices n×n en un dispositivo."""

    dispositivo: str
    descripcion: str
    segundos: float
    gflops: float

    def __str__(self) -> str:
        return (
            f"{self.dispositivo}: {_formatear_tiempo(self.segundos)}, {self.gflops:.4g} GFLOP/s "
            f"— {self.descripcion}"
        )


def medir_matmul(n: int = 1000, dispositivos=None, dtype: torch.dtype = torch.float32):
    """Mide el producto de dos matrices n×n en cada dispositivo y devuelve las mediciones.

    Usa ``torch.utils.benchmark`` con un reloj que sincroniza el dispositivo: la GPU trabaja de
    forma asíncrona y, sin sincronizar, solo se mediría el tiempo de encargar el trabajo. Cada
    medición dice en qué dispositivo se ejecutó realmente, la mediana en segundos y los GFLOP/s
    (2·n³ operaciones). ``dispositivos`` es una lista de nombres; por defecto, todos los
    disponibles. En MPS, float64 se sustituye por float32.

    >>> [m] = medir_matmul(n=64, dispositivos=["cpu"])
    >>> m.dispositivo, m.segundos > 0, m.gflops > 0
    ('cpu', True, True)
    """
    from torch.utils import benchmark

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(
            f"n debe ser un entero positivo (el tamaño de la matriz); se recibió {n!r}."
        )
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(
            f"dtype debe ser un dtype flotante de torch, como torch.float32; se recibió {dtype!r}."
        )
    if dispositivos is None:
        dispositivos = dispositivos_disponibles()
    elif isinstance(dispositivos, (str, torch.device)):
        dispositivos = [dispositivos]

    mediciones = []
    for nombre in dispositivos:
        dispositivo = elegir_dispositivo(nombre)
        tipo = dtype
        descripcion = describir_dispositivo(dispositivo)
        if dispositivo.type == "mps" and dtype == torch.float64:
            tipo = torch.float32
            descripcion += ", en float32 porque MPS no admite float64"
        generador = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=generador, dtype=tipo).to(dispositivo)
        b = torch.randn(n, n, generator=generador, dtype=tipo).to(dispositivo)
        temporizador = benchmark.Timer(
            stmt="a @ b",
            globals={"a": a, "b": b},
            # El reloj sincroniza este dispositivo antes de cada lectura: la GPU es asíncrona.
            timer=_reloj_sincronizado(dispositivo),
            num_threads=torch.get_num_threads(),
        )
        temporizador.timeit(1)  # calentamiento: inicialización perezosa de la GPU y de BLAS
        segundos = temporizador.blocked_autorange(min_run_time=0.2).median
        mediciones.append(
            MedicionMatmul(
                dispositivo=str(a.device),
                descripcion=descripcion,
                segundos=segundos,
                gflops=2 * n**3 / segundos / 1e9,
            )
        )
    return mediciones


def graficar_tiempos(mediciones, ax=None):
    """Dibuja un gráfico de barras con el tiempo (ms) y los GFLOP/s de cada medición.

    >>> import matplotlib.pyplot as plt
    >>> ax = graficar_tiempos(medir_matmul(n=64, dispositivos=["cpu"]))
    >>> len(ax.patches)
    1
    >>> plt.close(ax.figure)
    """
    import matplotlib.pyplot as plt

    mediciones = list(mediciones)
    if not mediciones:
        raise ValueError(
            "No hay mediciones que dibujar: pasa la lista que devuelve medir_matmul()."
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5.5, 2.2 * len(mediciones)), 4))
    milisegundos = [m.segundos * 1e3 for m in mediciones]
    etiquetas = [f"{m.dispositivo}\n" + textwrap.fill(m.descripcion, 22) for m in mediciones]
    posiciones = range(len(mediciones))
    barras = ax.bar(posiciones, milisegundos, color="tab:blue")
    ax.set_xticks(list(posiciones), etiquetas, fontsize=8)
    for barra, m, ms in zip(barras, mediciones, milisegundos, strict=True):
        ax.annotate(
            f"{ms:.3g} ms\n{m.gflops:.4g} GFLOP/s",
            xy=(barra.get_x() + barra.get_width() / 2, barra.get_height()),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=9,
        )
    ax.set_ylabel("tiempo por producto (ms)")
    ax.set_title("Producto de matrices: menos tiempo es mejor")
    ax.set_ylim(0, max(milisegundos) * 1.3)
    ax.figure.tight_layout()
    return ax
