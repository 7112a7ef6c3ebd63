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


# --- Interactividad: controles de ipywidgets con una figura fija de respaldo ---------------------


def widgets_disponibles() -> bool:
    """Indica si se verán controles interactivos (ipywidgets) en esta ejecución.

    Es falso en el modo rápido (integración continua y calificación, cuya retroalimentación en
    HTML no ejecuta widgets), sin ipywidgets y fuera de un núcleo de Jupyter (un script, las
    pruebas). Las funciones interactivas del curso muestran entonces una figura fija.

    >>> widgets_disponibles()  # fuera de Jupyter
    False
    """
    from .entorno import modo_rapido

    if modo_rapido():
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    ipython = get_ipython()
    return ipython is not None and getattr(ipython, "kernel", None) is not None


def _parabola(x):
    return (x - 3) ** 2 + 10


def descenso_parabola(eta: float, x0: float = 0.0, pasos: int = 12) -> np.ndarray:
    """Puntos x_0, …, x_pasos del descenso por gradiente sobre f(x) = (x − 3)² + 10.

    Cada paso hace x ← x − η·2(x − 3): la distancia al mínimo se multiplica por 1 − 2η.

    >>> descenso_parabola(0.5, x0=0.0, pasos=2).tolist()
    [0.0, 3.0, 3.0]
    """
    puntos = [float(x0)]
    for _ in range(_entero_positivo(pasos, "pasos")):
        x = puntos[-1]
        puntos.append(x - eta * 2 * (x - 3))
    return np.array(puntos)


def comportamiento_descenso(eta: float) -> str:
    """Qué hace el descenso sobre (x − 3)² + 10 con la tasa ``eta``, según el factor 1 − 2η.

    >>> [comportamiento_descenso(e) for e in (0.1, 0.9, 1.0, 1.05)]
    ['converge', 'oscila y converge', 'oscila sin converger', 'diverge']
    """
    factor = 1 - 2 * eta
    if abs(factor) > 1 + 1e-12:
        return "diverge"
    if abs(abs(factor) - 1) <= 1e-12:
        return "oscila sin converger" if factor < 0 else "no se mueve"
    return "oscila y converge" if factor < 0 else "converge"


def _dibujar_descenso(ax, eta: float, x0: float, pasos: int) -> None:
    puntos = descenso_parabola(eta, x0, pasos)
    visibles = puntos[np.abs(puntos - 3) <= 12]
    extremo = max(6.0, float(np.max(np.abs(visibles - 3))) + 1)
    x = np.linspace(3 - extremo, 3 + extremo, 200)
    ax.plot(x, _parabola(x), color="0.6", linewidth=1.5, label="f(x) = (x − 3)² + 10")
    ax.plot(visibles, _parabola(visibles), "o-", color="tab:blue", markersize=4, linewidth=1)
    ax.plot([puntos[0]], [_parabola(puntos[0])], "o", color="tab:green", label="x₀")
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(0, _parabola(x[0]) * 1.05)
    ax.set_title(f"η = {eta:g}: {comportamiento_descenso(eta)}")
    ax.set_xlabel("x")
    ax.grid(True, alpha=0.3)


def graficar_descenso_tasas(tasas=(0.1, 0.9, 1.05), x0: float = 0.0, pasos: int = 12):
    """Figura fija del descenso sobre (x − 3)² + 10 con varias tasas de aprendizaje, una por panel.

    Con las tasas por defecto se ven los tres casos: converge (η = 0.1), oscila alrededor del mínimo
    y converge (η = 0.9) y diverge (η = 1.05). Devuelve la figura.

    >>> fig = graficar_descenso_tasas()
    >>> [ax.get_title() for ax in fig.axes]
    ['η = 0.1: converge', 'η = 0.9: oscila y converge', 'η = 1.05: diverge']
    >>> plt.close(fig)
    """
    tasas = [_escalar(t, "tasa") for t in tasas]
    if not tasas:
        raise ValueError("Indica al menos una tasa de aprendizaje.")
    fig, ejes = plt.subplots(1, len(tasas), figsize=(4.3 * len(tasas), 3.6), squeeze=False)
    for ax, eta in zip(ejes.flat, tasas, strict=True):
        _dibujar_descenso(ax, eta, x0, pasos)
    ejes.flat[0].set_ylabel("f(x)")
    ejes.flat[0].legend(loc="upper center", fontsize=8)
    fig.tight_layout()
    return fig


def _sin_widgets(que: str) -> None:
    print(
        f"(Aquí no se muestran controles interactivos: {que} Ábrelo en Jupyter o en Colab para "
        "mover el deslizador.)"
    )


def descenso_interactivo(eta: float = 0.1, x0: float = 0.0, pasos: int = 12):
    """Deslizador de la tasa de aprendizaje sobre el descenso por (x − 3)² + 10.

    Con widgets (ver :func:`widgets_disponibles`) devuelve el control, que redibuja la trayectoria
    al mover η entre 0.01 y 1.1. Sin widgets no dibuja nada, lo dice y devuelve ``None``: la figura
    fija es :func:`graficar_descenso_tasas`.
    """
    if not widgets_disponibles():
        _sin_widgets("la figura fija de arriba muestra los tres casos.")
        return None
    import ipywidgets as widgets

    def dibujar(eta):
        fig, ax = plt.subplots(figsize=(6, 3.8))
        _dibujar_descenso(ax, eta, x0, pasos)
        plt.show()

    deslizador = widgets.FloatSlider(
        value=eta, min=0.01, max=1.1, step=0.01, description="η", continuous_update=False
    )
    return widgets.interactive(dibujar, eta=deslizador)


# Pérdida cuadrática de dos variables, mal condicionada y girada 30°: L(w) = ½ wᵀ H w.
_GIRO = np.radians(30)
_R = np.array([[np.cos(_GIRO), -np.sin(_GIRO)], [np.sin(_GIRO), np.cos(_GIRO)]])
HESSIANA_2D = _R @ np.diag([1.0, 12.0]) @ _R.T
INICIO_2D = np.array([-4.0, 2.5])


def trayectorias_optimizadores(
    beta: float = 0.9, eta: float = 0.05, eta_adam: float = 0.3, pasos: int = 60, inicio=None
) -> dict[str, np.ndarray]:
    """Trayectorias de descenso por gradiente, momento y Adam sobre L(w) = ½ wᵀ H w.

    H (``HESSIANA_2D``) tiene autovalores 1 y 12, girados 30°. El momento (heavy ball) hace
    v ← β v + ∇L, w ← w − η v; Adam usa β₁ = ``beta`` (su propio momento), β₂ = 0.999 y la tasa
    ``eta_adam``. Devuelve nombre → array (pasos + 1) × 2. Con β = 0, el momento es el descenso
    simple.

    >>> t = trayectorias_optimizadores(beta=0.0, pasos=5)
    >>> bool(np.allclose(t["descenso por gradiente"], t["momento"]))
    True
    """
    beta = _escalar(beta, "beta")
    if not 0 <= beta < 1:
        raise ValueError(f"beta debe estar en [0, 1); se recibió {beta}.")
    pasos = _entero_positivo(pasos, "pasos")
    w0 = INICIO_2D if inicio is None else _vector(inicio, "inicio")
    gradiente = lambda w: HESSIANA_2D @ w  # noqa: E731

    descenso = [w0]
    for _ in range(pasos):
        descenso.append(descenso[-1] - eta * gradiente(descenso[-1]))

    momento, v = [w0], np.zeros(2)
    for _ in range(pasos):
        v = beta * v + gradiente(momento[-1])
        momento.append(momento[-1] - eta * v)

    adam, m, s = [w0], np.zeros(2), np.zeros(2)
    for t in range(1, pasos + 1):
        g = gradiente(adam[-1])
        m = beta * m + (1 - beta) * g
        s = 0.999 * s + 0.001 * g**2
        m_corregido, s_corregido = m / (1 - beta**t), s / (1 - 0.999**t)
        adam.append(adam[-1] - eta_adam * m_corregido / (np.sqrt(s_corregido) + 1e-8))

    return {
        "descenso por gradiente": np.array(descenso),
        "momento": np.array(momento),
        "Adam": np.array(adam),
    }


def _dibujar_trayectorias(ax, beta: float, pasos: int) -> None:
    trayectorias = trayectorias_optimizadores(beta=beta, pasos=pasos)
    u = np.linspace(-5, 5, 200)
    malla = np.stack(np.meshgrid(u, u), axis=-1)
    perdida = 0.5 * np.einsum("...i,ij,...j->...", malla, HESSIANA_2D, malla)
    ax.contour(u, u, perdida, levels=np.geomspace(0.05, 80, 14), cmap="Greys", linewidths=0.8)
    for (nombre, puntos), color in zip(
        trayectorias.items(), ("tab:blue", "tab:orange", "tab:green"), strict=True
    ):
        puntos = puntos[np.all(np.abs(puntos) <= 6, axis=1)]
        ax.plot(puntos[:, 0], puntos[:, 1], ".-", color=color, label=nombre, markersize=3)
    ax.plot([0], [0], "k*", markersize=10)
    ax.set_xlim(-5, 5)
    ax.set_ylim(-5, 5)
    ax.set_aspect("equal")
    ax.set_title(f"β = {beta:g}, {pasos} pasos")
    ax.set_xlabel("w₁")
    ax.set_ylabel("w₂")


def graficar_trayectorias(betas=(0.5, 0.9), pasos: int = 60):
    """Figura fija: curvas de nivel de L(w) = ½ wᵀ H w y las trayectorias de descenso por
    gradiente, momento y Adam, un panel por cada β. Devuelve la figura.

    >>> fig = graficar_trayectorias()
    >>> [ax.get_title() for ax in fig.axes]
    ['β = 0.5, 60 pasos', 'β = 0.9, 60 pasos']
    >>> plt.close(fig)
    """
    betas = [_escalar(b, "beta") for b in betas]
    if not betas:
        raise ValueError("Indica al menos un valor de β.")
    fig, ejes = plt.subplots(1, len(betas), figsize=(5.2 * len(betas), 5), squeeze=False)
    for ax, beta in zip(ejes.flat, betas, strict=True):
        _dibujar_trayectorias(ax, beta, pasos)
    ejes.flat[-1].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def trayectorias_interactivas(beta: float = 0.9, pasos: int = 60):
    """Deslizador de β (de 0 a 0.99) sobre las trayectorias de :func:`graficar_trayectorias`.

    Con widgets devuelve el control; sin ellos no dibuja nada, lo dice y devuelve ``None`` (la
    figura fija es :func:`graficar_trayectorias`).
    """
    if not widgets_disponibles():
        _sin_widgets("la figura fija de arriba muestra dos valores de β.")
        return None
    import ipywidgets as widgets

    def dibujar(beta):
        fig, ax = plt.subplots(figsize=(5.5, 5.2))
        _dibujar_trayectorias(ax, beta, pasos)
        ax.legend(loc="lower right", fontsize=8)
        plt.show()

    deslizador = widgets.FloatSlider(
        value=beta, min=0.0, max=0.99, step=0.01, description="β", continuous_update=False
    )
    return widgets.interactive(dibujar, beta=deslizador)
