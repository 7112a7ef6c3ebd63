"""Pruebas de course_utils.graficos (conftest.py elige el backend Agg y cierra las figuras)."""

from __future__ import annotations

import doctest

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from course_utils import graficos
from course_utils.graficos import (
    graficar_funcion_y_derivada,
    graficar_perdidas,
    graficar_regresion,
    mostrar_digitos,
)


def etiquetas_leyenda(ax: Axes) -> list[str]:
    return ax.get_legend_handles_labels()[1]


# --- graficar_perdidas ------------------------------------------------------------------------


def test_perdidas_una_curva_de_tensores_con_grad():
    w = torch.tensor(2.0, requires_grad=True)
    perdidas = [(w * k) ** 2 for k in (1.0, 0.5, 0.25, 0.1)]  # lista de tensores con grad_fn
    ax = graficar_perdidas(perdidas)
    assert isinstance(ax, Axes)
    (linea,) = ax.get_lines()
    np.testing.assert_allclose(linea.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(linea.get_ydata(), [4.0, 1.0, 0.25, 0.04], rtol=1e-6)
    assert ax.get_xlabel() == "época" and ax.get_ylabel() == "pérdida"
    assert ax.get_title() == "Pérdida por época"
    ax2 = graficar_perdidas([1.0, 0.1], etiqueta_x="iteración", etiqueta_y="residuo")
    assert ax2.get_ylabel() == "residuo" and ax2.get_title() == "Residuo por iteración"
    assert ax.get_yscale() == "linear"
    assert ax.get_legend() is None
    ax.figure.canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_xticks())  # épocas enteras


def test_perdidas_varias_curvas_en_escala_log():
    k = np.arange(50)
    curvas = {
        "descenso por gradiente": 0.9**k,
        "momento": torch.tensor(0.7**k, requires_grad=True),
        "Adam": (0.8**k).tolist(),
    }
    _, ax_propio = plt.subplots()
    ax = graficar_perdidas(
        curvas,
        titulo="Residuo por iteración",
        escala_log=True,
        etiqueta_x="iteración",
        ax=ax_propio,
    )
    assert ax is ax_propio
    assert ax.get_yscale() == "log"
    assert [linea.get_label() for linea in ax.get_lines()] == list(curvas)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(curvas)
    assert ax.get_title() == "Residuo por iteración" and ax.get_xlabel() == "iteración"
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), 0.7**k)


@pytest.mark.parametrize("perdidas", [[], {}, {"a": []}, [[1.0, 2.0], [3.0, 4.0]], ["a", "b"]])
def test_perdidas_entradas_invalidas(perdidas):
    with pytest.raises((ValueError, TypeError)):
        graficar_perdidas(perdidas)


# --- graficar_funcion_y_derivada --------------------------------------------------------------


def test_funcion_y_derivada_con_autograd():
    x = torch.linspace(-4, 4, 21, requires_grad=True)
    y = 5 * x**2
    y.sum().backward()
    ax = graficar_funcion_y_derivada(x, y, x.grad)
    assert etiquetas_leyenda(ax) == ["f(x)", "f'(x)"]
    curvas = [linea for linea in ax.get_lines() if linea.get_label() in ("f(x)", "f'(x)")]
    assert [linea.get_xdata().size for linea in curvas] == [21, 21]
    np.testing.assert_allclose(curvas[1].get_ydata(), 10 * np.linspace(-4, 4, 21), atol=1e-5)
    np.testing.assert_allclose(curvas[0].get_xdata(), np.linspace(-4, 4, 21), atol=1e-6)
    assert ax.get_xlabel() == "x"


def test_funcion_y_derivada_numpy_y_longitudes_distintas():
    x = np.linspace(0, 1, 5)
    ax = graficar_funcion_y_derivada(x, x**3, 3 * x**2, etiqueta_y="x³", etiqueta_dy="3x²")
    assert etiquetas_leyenda(ax) == ["x³", "3x²"]
    with pytest.raises(ValueError, match="mismo número de puntos"):
        graficar_funcion_y_derivada(x, x**3, (3 * x**2)[:-1])


# --- graficar_regresion -----------------------------------------------------------------------


def test_regresion_dibuja_los_datos_y_la_recta():
    from course_utils.datos import datos_regresion

    x_ent, y_ent, x_val, y_val = datos_regresion()
    a = torch.tensor([1.0], requires_grad=True)
    b = torch.tensor([2.0], requires_grad=True)
    ax = graficar_regresion(x_ent, y_ent, x_val, y_val, a=a, b=b)
    entrenamiento, validacion = ax.collections
    np.testing.assert_allclose(entrenamiento.get_offsets(), np.hstack([x_ent, y_ent]))
    np.testing.assert_allclose(validacion.get_offsets(), np.hstack([x_val, y_val]))
    assert entrenamiento.get_facecolor()[0].tolist() != validacion.get_facecolor()[0].tolist()
    (recta,) = ax.get_lines()
    np.testing.assert_allclose(recta.get_ydata(), 1 + 2 * recta.get_xdata())
    todos = np.concatenate([x_ent, x_val]).ravel()
    np.testing.assert_allclose(recta.get_xdata(), [todos.min(), todos.max()])
    assert etiquetas_leyenda(ax) == [
        "entrenamiento (80)",
        "validación (20)",
        "y = 1.000 + 2.000·x",
    ]
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "y"


def test_regresion_solo_entrenamiento_con_tensores():
    x = torch.rand(10, 1, requires_grad=True)
    ax = graficar_regresion(x, 1 + 2 * x)
    assert len(ax.collections) == 1 and ax.get_lines() == []
    assert len(ax.collections[0].get_offsets()) == 10


@pytest.mark.parametrize(
    "argumentos",
    [
        {"x_validacion": [0.5]},
        {"a": 1.0},
        {"y_entrenamiento": [1.0, 2.0]},
        {"x_validacion": [0.5], "y_validacion": [1.0, 2.0]},
        {"a": [1.0, 2.0], "b": 1.0},
    ],
)
def test_regresion_argumentos_invalidos(argumentos):
    base = {"x_entrenamiento": [0.1, 0.2, 0.3], "y_entrenamiento": [1.0, 1.2, 1.4]}
    with pytest.raises(ValueError):
        graficar_regresion(**{**base, **argumentos})


# --- mostrar_digitos --------------------------------------------------------------------------


def digitos(n=20, generador=0):
    generador = torch.Generator().manual_seed(generador)
    imagenes = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=generador)
    etiquetas = torch.arange(n) % 10
    return imagenes, etiquetas


def imagenes_en(fig: Figure) -> list:
    return [imagen for eje in fig.axes for imagen in eje.images]


def test_digitos_primeros_n_con_etiquetas():
    imagenes, etiquetas = digitos()
    fig = mostrar_digitos(imagenes, etiquetas)
    assert isinstance(fig, Figure)
    assert len(imagenes_en(fig)) == 16 and len(fig.axes) == 16
    assert [eje.get_title() for eje in fig.axes] == [str(i % 10) for i in range(16)]
    np.testing.assert_array_equal(fig.axes[3].images[0].get_array(), imagenes[3].numpy())
    assert fig.axes[0].images[0].get_clim() == (0, 255)


def test_digitos_aciertos_en_verde_y_fallos_en_rojo():
    imagenes, etiquetas = digitos(12)
    predicciones = etiquetas.clone()
    predicciones[[1, 4, 7]] = (predicciones[[1, 4, 7]] + 1) % 10
    fig = mostrar_digitos(imagenes, etiquetas, predicciones, n=12, columnas=6)
    assert len(imagenes_en(fig)) == 12
    for i, eje in enumerate(fig.axes):
        real, pred = int(etiquetas[i]), int(predicciones[i])
        titulo = eje.title
        assert titulo.get_text() == f"real: {real} / pred: {pred}"
        esperado = graficos.COLOR_FALLO if i in (1, 4, 7) else graficos.COLOR_ACIERTO
        assert to_rgba(titulo.get_color()) == to_rgba(esperado)
    rojo, verde = to_rgba(graficos.COLOR_FALLO), to_rgba(graficos.COLOR_ACIERTO)
    assert rojo[0] > rojo[1] and verde[1] > verde[0]
    assert fig._suptitle.get_text() == "Aciertos: 9 de 12 (75.0 %)"


def test_digitos_planos_float_logits_y_semilla():
    imagenes, etiquetas = digitos(30)
    planas = (imagenes.float() / 255).reshape(30, 784).requires_grad_()
    logits = torch.nn.functional.one_hot(etiquetas, 10).float()  # predicen siempre bien
    fig = mostrar_digitos(planas, etiquetas.numpy(), logits, n=5, columnas=8, semilla=3)
    elegidas = np.random.default_rng(3).choice(30, size=5, replace=False)
    assert len(fig.axes) == 5  # las columnas no pasan de n
    assert [eje.get_title() for eje in fig.axes] == [
        f"real: {e % 10} / pred: {e % 10}" for e in elegidas
    ]
    assert fig.axes[0].images[0].get_clim() == (0.0, 1.0)
    assert fig._suptitle.get_text() == "Todos bien clasificados (5)"
    fallos = mostrar_digitos(planas, etiquetas, (etiquetas + 1) % 10, n=3)
    assert fallos._suptitle.get_text() == "Todos mal clasificados (3)"
    otra = mostrar_digitos(planas, etiquetas, n=5, semilla=3)
    assert [eje.get_title() for eje in otra.axes] == [str(e % 10) for e in elegidas]


def test_digitos_rejilla_incompleta_y_canal():
    imagenes, etiquetas = digitos(10)
    fig = mostrar_digitos(imagenes.unsqueeze(1), etiquetas, n=10, columnas=4)
    assert len(fig.axes) == 10 and len(imagenes_en(fig)) == 10
    filas = {round(eje.get_position().y0, 3) for eje in fig.axes}
    assert len(filas) == 3


@pytest.mark.parametrize(
    ("argumentos", "error"),
    [
        ({"imagenes": torch.zeros(4, 10)}, ValueError),
        ({"imagenes": torch.zeros(4, 2, 28, 28)}, ValueError),
        ({"etiquetas": torch.arange(3)}, ValueError),
        ({"predicciones": torch.arange(5)}, ValueError),
        ({"n": 0}, ValueError),
        ({"columnas": 2.5}, ValueError),
        ({"imagenes": torch.zeros(0, 28, 28), "etiquetas": torch.zeros(0)}, ValueError),
    ],
)
def test_digitos_argumentos_invalidos(argumentos, error):
    base = {"imagenes": torch.zeros(4, 28, 28), "etiquetas": torch.arange(4)}
    with pytest.raises(error):
        mostrar_digitos(**{**base, **argumentos})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="sin GPU CUDA")
def test_tensores_en_gpu():
    x = torch.linspace(0, 1, 5, device="cuda", requires_grad=True)
    ax = graficar_funcion_y_derivada(x, x**2, 2 * x)
    assert etiquetas_leyenda(ax) == ["f(x)", "f'(x)"]


def test_tensores_media_precision():
    perdidas = torch.tensor([1.0, 0.5, 0.25], dtype=torch.bfloat16)
    ax = graficar_perdidas(perdidas)
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [1.0, 0.5, 0.25])


def test_doctests():
    resultado = doctest.testmod(graficos)
    assert resultado.attempted > 0
    assert resultado.failed == 0


# --- formato de los números ----------------------------------------------------------------------


def test_miles_y_porcentaje():
    import course_utils as cu

    assert cu.miles(60_000) == "60 000"
    assert cu.miles(4000) == "4000"
    assert cu.miles(-12_345.4) == "-12 345"
    assert cu.miles(1_234_567) == "1 234 567"
    assert cu.porcentaje(0.936) == "93.6 %"
    assert cu.porcentaje(0.95, decimales=0) == "95 %"


# --- interactividad con respaldo fijo ------------------------------------------------------------


def test_sin_jupyter_ni_en_modo_rapido_no_hay_widgets(monkeypatch):
    from course_utils import graficos

    assert graficos.widgets_disponibles() is False  # pytest no es un núcleo de Jupyter
    monkeypatch.setenv("CURSO_RAPIDO", "1")
    assert graficos.widgets_disponibles() is False


def test_descenso_interactivo_sin_widgets_avisa(capsys):
    from course_utils import graficos

    assert graficos.descenso_interactivo() is None
    assert graficos.trayectorias_interactivas() is None
    salida = capsys.readouterr().out
    assert salida.count("no se muestran controles interactivos") == 2


def test_descenso_interactivo_con_widgets(monkeypatch):
    ipywidgets = pytest.importorskip("ipywidgets")
    from course_utils import graficos

    monkeypatch.setattr(graficos, "widgets_disponibles", lambda: True)
    for control, nombre in [
        (graficos.descenso_interactivo(eta=0.3), "eta"),
        (graficos.trayectorias_interactivas(beta=0.5), "beta"),
    ]:
        assert isinstance(control, ipywidgets.interactive)
        assert [hijo.description for hijo in control.children[:1]] == [
            "η" if nombre == "eta" else "β"
        ]
    plt.close("all")


@pytest.mark.parametrize(
    ("eta", "que"),
    [
        (0.1, "converge"),
        (0.9, "oscila y converge"),
        (1.0, "oscila sin converger"),
        (1.05, "diverge"),
    ],
)
def test_descenso_parabola_sigue_el_factor(eta, que):
    from course_utils import graficos

    puntos = graficos.descenso_parabola(eta, x0=0.0, pasos=20)
    distancias = np.abs(puntos - 3)
    assert graficos.comportamiento_descenso(eta) == que
    assert np.allclose(distancias[1:], distancias[:-1] * abs(1 - 2 * eta))


def test_figura_fija_de_las_tres_tasas():
    from course_utils import graficos

    fig = graficos.graficar_descenso_tasas()
    assert len(fig.axes) == 3
    assert [ax.get_title().split(": ")[1] for ax in fig.axes] == [
        "converge",
        "oscila y converge",
        "diverge",
    ]
    plt.close(fig)


def test_trayectorias_de_los_optimizadores():
    from course_utils import graficos

    t = graficos.trayectorias_optimizadores(beta=0.9, pasos=200)
    assert set(t) == {"descenso por gradiente", "momento", "Adam"}
    for nombre, puntos in t.items():
        assert puntos.shape == (201, 2)
        assert np.linalg.norm(puntos[-1]) < 0.2, nombre  # todos se acercan al mínimo (0, 0)
    sin_inercia = graficos.trayectorias_optimizadores(beta=0.0, pasos=10)
    assert np.allclose(sin_inercia["momento"], sin_inercia["descenso por gradiente"])
    with pytest.raises(ValueError, match="beta"):
        graficos.trayectorias_optimizadores(beta=1.0)
    fig = graficos.graficar_trayectorias(betas=(0.0, 0.9))
    assert len(fig.axes) == 2
    assert all(len(ax.get_lines()) == 4 for ax in fig.axes)  # tres trayectorias y el mínimo
    plt.close(fig)
