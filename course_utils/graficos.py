"""Gráficos del curso: curvas de pérdida, función y derivada, regresión y dígitos de MNIST.

También el formato de los números del curso (:func:`miles`, :func:`porcentaje`): punto decimal,
millares separados con un espacio desde cinco cifras y un espacio antes del signo de porcentaje.

Todas las funciones aceptan tensores (en cualquier dispositivo y con ``requires_grad``), arrays
de NumPy o listas, y devuelven los ejes (``Axes``) o la figura de matplotlib. En un cuaderno,
asigna el resultado (``fig = …``) o termina la línea con ``;`` para no ver la figura dos veces.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

COLOR_ACIERTO = "tab:green"
COLOR_FALLO = "tab:red"
_TAMANO = (7.0, 4.2)


def miles(numero: float) -> str:
    """Número redondeado a entero con los millares separados por un espacio desde cinco cifras.

    >>> miles(60000), miles(4000), miles(1234567.8)
    ('60 000', '4000', '1 234 568')
    """
    entero = round(numero)
    return format(entero, ",").replace(",", " ") if abs(entero) >= 10_000 else str(entero)


def porcentaje(fraccion: float, decimales: int = 1) -> str:
    """Una fracción como porcentaje con punto decimal y un espacio antes de «%».

    >>> porcentaje(0.936), porcentaje(1, decimales=0)
    ('93.6 %', '100 %')
    """
    return f"{100 * fraccion:.{decimales}f} %"


def _tensor_a_numpy(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.detach().cpu()
    if tensor.is_floating_point() and tensor.dtype not in (torch.float32, torch.float64):
        tensor = tensor.float()  # float16 y bfloat16 no tienen equivalente directo en NumPy
    return tensor.numpy()


def _a_numpy(valor, nombre: str) -> np.ndarray:
    """Convierte un tensor, un array o una lista (también de tensores) en un array NumPy."""
    if isinstance(valor, torch.Tensor):
        array = _tensor_a_numpy(valor)
    elif isinstance(valor, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in valor):
        array = np.array(
            [_tensor_a_numpy(v) if isinstance(v, torch.Tensor) else np.asarray(v) for v in valor]
        )
    else:
        array = np.asarray(valor)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{nombre} debe contener números; recibí datos de tipo {array.dtype}.")
    return array


def _vector(valor, nombre: str) -> np.ndarray:
    """Array 1-D de floats (admite formas como (k, 1))."""
    array = _a_numpy(valor, nombre).astype(np.float64)
    if array.ndim > 1 and sum(d > 1 for d in array.shape) > 1:
        raise ValueError(f"{nombre} debe ser un vector; recibí forma {array.shape}.")
    array = array.reshape(-1)
    if array.size == 0:
        raise ValueError(f"{nombre} está vacío.")
    return array


def _escalar(valor, nombre: str) -> float:
    array = _a_numpy(valor, nombre)
    if array.size != 1:
        raise ValueError(f"{nombre} debe ser un número; recibí forma {array.shape}.")
    return float(array.reshape(-1)[0])


def _ejes(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=_TAMANO)
    return ax


def graficar_perdidas(
    perdidas,
    titulo: str | None = None,
    escala_log: bool = False,
    etiqueta_x="época",
    etiqueta_y="pérdida",
    ax=None,
):
    """Dibuja una curva de pérdida, o varias si ``perdidas`` es un diccionario nombre → valores.

    ``etiqueta_y`` nombra la magnitud (por ejemplo, «residuo»). Con ``escala_log=True`` el eje
    vertical es logarítmico (útil para comparar la convergencia
    de varios métodos). Devuelve los ejes.

    >>> ax = graficar_perdidas({"SGD": [1.0, 0.5, 0.3], "Adam": [1.0, 0.1, 0.01]}, escala_log=True)
    >>> [linea.get_label() for linea in ax.get_lines()], ax.get_yscale()
    (['SGD', 'Adam'], 'log')
    >>> plt.close(ax.figure)
    """
    if isinstance(perdidas, Mapping):
        if not perdidas:
            raise ValueError("El diccionario de pérdidas está vacío.")
        curvas = {str(k): _vector(v, f"perdidas[{k!r}]") for k, v in perdidas.items()}
    else:
        curvas = {"pérdida": _vector(perdidas, "perdidas")}
    ax = _ejes(ax)
    for nombre, valores in curvas.items():
        ax.plot(np.arange(1, valores.size + 1), valores, label=nombre, linewidth=1.8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if escala_log:
        ax.set_yscale("log")
    ax.set_xlabel(etiqueta_x)
    ax.set_ylabel(etiqueta_y)
    if titulo is None:
        titulo = f"{etiqueta_y[:1].upper()}{etiqueta_y[1:]} por {etiqueta_x}"
    ax.set_title(titulo)
    ax.grid(True, which="both" if escala_log else "major", alpha=0.3)
    if len(curvas) > 1:
        ax.legend()
    return ax


def graficar_funcion_y_derivada(x, y, dy, etiqueta_y="f(x)", etiqueta_dy="f'(x)", ax=None):
    """Dibuja una función y su derivada sobre los mismos puntos ``x``. Devuelve los ejes.

    >>> import torch
    >>> x = torch.linspace(-4, 4, 21, requires_grad=True)
    >>> y = 5 * x**2
    >>> y.sum().backward()
    >>> ax = graficar_funcion_y_derivada(x, y, x.grad, etiqueta_y="5x²", etiqueta_dy="10x")
    >>> ax.get_legend_handles_labels()[1]
    ['5x²', '10x']
    >>> plt.close(ax.figure)
    """
    x, y, dy = _vector(x, "x"), _vector(y, "y"), _vector(dy, "dy")
    if not x.size == y.size == dy.size:
        raise ValueError(
            f"x, y y dy deben tener el mismo número de puntos; tienen {x.size}, {y.size} y "
            f"{dy.size}."
        )
    ax = _ejes(ax)
    ax.axhline(0, color="0.6", linewidth=0.8, zorder=0)
    ax.plot(x, y, "-o", markersize=3.5, label=etiqueta_y)
    ax.plot(x, dy, "--s", markersize=3.5, label=etiqueta_dy)
    ax.set_xlabel("x")
    ax.set_title(f"{etiqueta_y} y su derivada {etiqueta_dy}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


def graficar_regresion(
    x_entrenamiento,
    y_entrenamiento,
    x_validacion=None,
    y_validacion=None,
    a=None,
    b=None,
    ax=None,
):
    """Dibuja los puntos de entrenamiento y de validación y, si se dan, la recta ``y = a + b·x``.

    Se dibujan los datos (x, y), no sus índices. Devuelve los ejes.

    >>> ax = graficar_regresion([0.1, 0.5, 0.9], [1.2, 2.0, 2.8], [0.3], [1.6], a=1.0, b=2.0)
    >>> [len(puntos.get_offsets()) for puntos in ax.collections], len(ax.get_lines())
    ([3, 1], 1)
    >>> plt.close(ax.figure)
    """
    xe, ye = (
        _vector(x_entrenamiento, "x_entrenamiento"),
        _vector(y_entrenamiento, "y_entrenamiento"),
    )
    if xe.size != ye.size:
        raise ValueError(
            f"x_entrenamiento e y_entrenamiento tienen distinto número de puntos ({xe.size} y "
            f"{ye.size})."
        )
    if (x_validacion is None) != (y_validacion is None):
        raise ValueError("Pasa x_validacion e y_validacion juntos, o ninguno de los dos.")
    if (a is None) != (b is None):
        raise ValueError("Para dibujar la recta y = a + b·x hacen falta a y b.")
    ax = _ejes(ax)
    ax.scatter(xe, ye, s=28, color="tab:blue", alpha=0.8, label=f"entrenamiento ({xe.size})")
    todos = [xe]
    if x_validacion is not None:
        xv, yv = _vector(x_validacion, "x_validacion"), _vector(y_validacion, "y_validacion")
        if xv.size != yv.size:
            raise ValueError(
                f"x_validacion e y_validacion tienen distinto número de puntos ({xv.size} y "
                f"{yv.size})."
            )
        ax.scatter(
            xv, yv, s=34, color="tab:orange", marker="s", alpha=0.9, label=f"validación ({xv.size})"
        )
        todos.append(xv)
    if a is not None:
        a, b = _escalar(a, "a"), _escalar(b, "b")
        extremos = np.array([min(v.min() for v in todos), max(v.max() for v in todos)])
        ax.plot(
            extremos,
            a + b * extremos,
            color="black",
            linewidth=2,
            label=f"y = {a:.3f} + {b:.3f}·x",
        )
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("Regresión lineal" if a is None else "Regresión lineal: datos y recta ajustada")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


def _imagenes_2d(imagenes) -> np.ndarray:
    """Lleva las imágenes a forma N×alto×ancho (admite N×784 y N×1×28×28)."""
    array = _a_numpy(imagenes, "imagenes")
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    elif array.ndim == 2:
        lado = math.isqrt(array.shape[1])
        if lado * lado != array.shape[1]:
            raise ValueError(
                f"Cada fila de imagenes debe ser una imagen cuadrada aplanada (784 = 28×28 "
                f"píxeles); recibí filas de {array.shape[1]} valores."
            )
        array = array.reshape(-1, lado, lado)
    if array.ndim != 3:
        raise ValueError(
            f"imagenes debe tener forma N×28×28, N×784 o N×1×28×28; recibí {array.shape}."
        )
    return array


def _entero_positivo(valor, nombre: str) -> int:
    if isinstance(valor, bool) or not isinstance(valor, numbers.Integral) or valor < 1:
        raise ValueError(f"{nombre} debe ser un entero mayor que 0; recibí {valor!r}.")
    return int(valor)


def mostrar_digitos(imagenes, etiquetas, predicciones=None, n=16, columnas=8, semilla=None):
    """Muestra una cuadrícula de dígitos con su etiqueta y, si se dan, las predicciones.

    Con ``predicciones`` (clases, o logits N×10) cada título dice «real: 3 / pred: 5», en verde
    si acierta y en rojo si falla. Con ``semilla`` elige ``n`` imágenes al azar; sin ella, las
    ``n`` primeras. Acepta imágenes N×28×28 o N×784, uint8 (0–255) o float. Devuelve la figura.

    >>> import torch
    >>> imagenes = torch.randint(0, 256, (10, 28, 28), dtype=torch.uint8)
    >>> etiquetas = torch.arange(10)
    >>> fig = mostrar_digitos(imagenes, etiquetas, etiquetas.flip(0), n=4, columnas=4)
    >>> [eje.get_title() for eje in fig.axes]
    ['real: 0 / pred: 9', 'real: 1 / pred: 8', 'real: 2 / pred: 7', 'real: 3 / pred: 6']
    >>> plt.close(fig)
    """
    imagenes = _imagenes_2d(imagenes)
    total = len(imagenes)
    etiquetas = _a_numpy(etiquetas, "etiquetas").reshape(-1)
    if etiquetas.size != total:
        raise ValueError(f"Hay {total} imágenes y {etiquetas.size} etiquetas; deben coincidir.")
    if predicciones is not None:
        predicciones = _a_numpy(predicciones, "predicciones")
        if predicciones.ndim == 2 and predicciones.shape[1] > 1:
            predicciones = predicciones.argmax(axis=1)
        predicciones = predicciones.reshape(-1)
        if predicciones.size != total:
            raise ValueError(
                f"Hay {total} imágenes y {predicciones.size} predicciones; deben coincidir."
            )
    if total == 0:
        raise ValueError("No hay imágenes que mostrar.")
    n = min(_entero_positivo(n, "n"), total)
    columnas = min(_entero_positivo(columnas, "columnas"), n)
    if semilla is None:
        elegidas = np.arange(n)
    else:
        elegidas = np.random.default_rng(semilla).choice(total, size=n, replace=False)

    if imagenes.dtype.kind in "iu":
        rango = {"vmin": 0, "vmax": 255}
    elif imagenes.min() >= 0 and imagenes.max() <= 1:
        rango = {"vmin": 0.0, "vmax": 1.0}
    else:
        rango = {}  # p. ej. imágenes normalizadas: cada una con su propio rango
    filas = math.ceil(n / columnas)
    fig, ejes = plt.subplots(
        filas, columnas, figsize=(1.6 * columnas, 1.75 * filas + 0.5), squeeze=False
    )
    aciertos = 0
    for eje, indice in zip(ejes.flat, elegidas, strict=False):
        eje.imshow(imagenes[indice], cmap="gray", **rango)
        eje.set_xticks([])
        eje.set_yticks([])
        real = int(etiquetas[indice])
        if predicciones is None:
            eje.set_title(str(real), fontsize=11)
            continue
        prediccion = int(predicciones[indice])
        color = COLOR_ACIERTO if prediccion == real else COLOR_FALLO
        aciertos += prediccion == real
        eje.set_title(f"real: {real} / pred: {prediccion}", color=color, fontsize=10)
        for borde in eje.spines.values():
            borde.set_color(color)
            borde.set_linewidth(2)
    for eje in ejes.flat[n:]:
        eje.remove()
    if predicciones is not None:
        if aciertos == n:
            fig.suptitle(f"Todos bien clasificados ({n})")
        elif aciertos == 0:
            fig.suptitle(f"Todos mal clasificados ({n})")
        else:
            porcentaje = f"{100 * aciertos / n:.1f}"
            fig.suptitle(f"Aciertos: {aciertos} de {n} ({porcentaje} %)")
    fig.tight_layout()
    return fig
