"""Configuración común de las pruebas."""

import matplotlib

matplotlib.use("Agg")  # sin ventanas: las pruebas solo generan figuras

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _cerrar_figuras():
    """Cierra las figuras de pyplot que deje abiertas cada prueba."""
    yield
    plt.close("all")
