"""Pruebas de course_utils.gradientes."""

import doctest
import math

import pytest
import torch
import torch.nn.functional as F

from course_utils import gradientes
from course_utils.gradientes import comparar_gradientes, gradiente_autograd, gradiente_numerico


def _error_relativo(a, b):
    return ((a - b).norm() / max(a.norm(), b.norm(), torch.tensor(1e-300))).item()


def _entradas(*formas, semilla=0):
    generador = torch.Generator().manual_seed(semilla)
    return [torch.randn(forma, generator=generador, dtype=torch.float64) for forma in formas]


# (nombre, función, formas de las entradas)
CASOS = [
    ("polinomio", lambda x: (x**3 - 2 * x**2 + x).sum(), [(4,)]),
    ("exp_log", lambda x, y: (torch.exp(0.3 * x) * torch.log(1 + y**2)).sum(), [(3,), (3,)]),
    ("producto_matrices", lambda a, b: ((a @ b) ** 2).sum(), [(3, 4), (4, 2)]),
    (
        "formas_distintas",
        lambda s, v, m: torch.tanh(s * (m @ v)).sum() + (m**2).mean(),
        [(), (3,), (2, 3)],
    ),
    ("seno_y_coseno", lambda x: torch.sin(x).prod() + torch.cos(x).sum(), [(2, 2)]),
    ("logsigmoid", lambda z: F.logsigmoid(z).sum(), [(5,)]),
]


def test_doctests():
    resultado = doctest.testmod(gradientes)
    assert resultado.attempted > 0
    assert resultado.failed == 0


@pytest.mark.parametrize(("nombre", "f", "formas"), CASOS, ids=[c[0] for c in CASOS])
def test_numerico_coincide_con_autograd(nombre, f, formas):
    entradas = _entradas(*formas)
    numerico = gradiente_numerico(f, *entradas)
    autograd = gradiente_autograd(f, *entradas)
    assert len(numerico) == len(autograd) == len(entradas)
    for x, gn, ga in zip(entradas, numerico, autograd, strict=True):
        for g in (gn, ga):
            assert g.shape == x.shape
            assert g.dtype == torch.float64
            assert g.device.type == "cpu"
            assert not g.requires_grad
        assert _error_relativo(ga, gn) < 1e-7


def test_polinomio_contra_derivada_exacta():
    x = torch.tensor([-1.5, 0.0, 0.5, 2.0])
    exacta = 3 * x.double() ** 2 - 4 * x.double() + 1
    (gn,) = gradiente_numerico(lambda x: (x**3 - 2 * x**2 + x).sum(), x)
    (ga,) = gradiente_autograd(lambda x: (x**3 - 2 * x**2 + x).sum(), x)
    assert torch.allclose(ga, exacta, rtol=1e-15, atol=0)
    assert torch.allclose(gn, exacta, rtol=1e-8, atol=1e-9)


def test_ejemplo_del_temario():
    def f(a, b, c):
        m = a + b
        n = torch.maximum(b, c)
        return (m * n) ** 2

    entradas = [torch.tensor(1.0), torch.tensor(2.0), torch.tensor(0.0)]
    esperado = [24.0, 60.0, 0.0]
    for gradiente in (gradiente_autograd(f, *entradas), gradiente_numerico(f, *entradas)):
        assert [g.item() for g in gradiente] == pytest.approx(esperado, rel=1e-8, abs=1e-8)


def test_ejercicio_saturado_en_float64():
    def perdida(a, b, c, d):
        m = 3 * a + 4 * b - 2 * c + 10 * d
        n = 7 * a + b + c + 4 * d
        z = torch.clamp(m, min=0) - torch.clamp(n, min=0)
        return F.logsigmoid(z)  # log(σ(z)) estable

    entradas = [torch.tensor(v) for v in (2.0, 3.0, -1.0, 7.0)]
    escala = math.exp(-46) / (1 + math.exp(-46))  # σ(−z) con z = 46
    esperado = [escala * k for k in (-4, 3, -3, 6)]
    ga = [g.item() for g in gradiente_autograd(perdida, *entradas)]
    gn = [g.item() for g in gradiente_numerico(perdida, *entradas)]
    assert ga == pytest.approx(esperado, rel=1e-12)
    assert gn == pytest.approx(esperado, rel=1e-7)
    assert ga[0] == pytest.approx(-4.21e-20, rel=1e-3)


def test_entradas_no_se_modifican():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = torch.tensor([0.5, -0.5], dtype=torch.float32)
    copias = (x.detach().clone(), y.clone())
    f = lambda x, y: (x @ y).pow(2).sum()  # noqa: E731
    gradiente_numerico(f, x, y)
    gradiente_autograd(f, x, y)
    comparar_gradientes(f, x, y)
    assert torch.equal(x.detach(), copias[0])
    assert torch.equal(y, copias[1])
    assert x.dtype == y.dtype == torch.float32
    assert x.requires_grad and not y.requires_grad
    assert x.grad is None


def test_f_recibe_copias_float64_en_cpu():
    vistos = []

    def f(x):
        vistos.append((x.dtype, x.device.type, x.is_contiguous()))
        return x.sum()

    x = torch.arange(6.0).reshape(2, 3).t()  # no contigua
    gradiente_numerico(f, x)
    gradiente_autograd(f, x)
    assert set(vistos) == {(torch.float64, "cpu", True)}


def test_entrada_intermedia_con_grafo():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    x = w * 3  # no es una hoja
    (gn,) = gradiente_numerico(lambda x: (x**2).sum(), x)
    (ga,) = gradiente_autograd(lambda x: (x**2).sum(), x)
    assert torch.allclose(ga, torch.tensor([6.0, 12.0], dtype=torch.float64))
    assert torch.allclose(gn, ga, rtol=1e-8)
    assert w.grad is None


def test_entradas_no_usadas_dan_ceros():
    x, y = torch.tensor([1.0, 2.0]), torch.ones(2, 2)
    ga = gradiente_autograd(lambda x, y: (x**2).sum(), x, y)
    gn = gradiente_numerico(lambda x, y: (x**2).sum(), x, y)
    for g in (ga, gn):
        assert torch.equal(g[1], torch.zeros(2, 2, dtype=torch.float64))
        assert torch.allclose(g[0], torch.tensor([2.0, 4.0], dtype=torch.float64))


def test_funcion_constante_da_ceros():
    x = torch.tensor([1.0, 2.0])
    (ga,) = gradiente_autograd(lambda x: torch.tensor(5.0), x)
    (gn,) = gradiente_numerico(lambda x: torch.tensor(5.0), x)
    assert torch.equal(ga, torch.zeros(2, dtype=torch.float64))
    assert torch.equal(gn, torch.zeros(2, dtype=torch.float64))


def test_salida_de_un_elemento_con_forma():
    x = torch.tensor([1.0, 2.0])
    (ga,) = gradiente_autograd(lambda x: (x**2).sum().reshape(1, 1), x)
    (gn,) = gradiente_numerico(lambda x: (x**2).sum().reshape(1, 1), x)
    assert torch.allclose(ga, gn, rtol=1e-8)


def test_paso_h_personalizado():
    x = torch.tensor([0.7], dtype=torch.float64)
    (g_grueso,) = gradiente_numerico(lambda x: torch.exp(x).sum(), x, h=1e-2)
    (g_fino,) = gradiente_numerico(lambda x: torch.exp(x).sum(), x, h=1e-5)
    exacta = math.exp(0.7)
    # El error de truncamiento de las diferencias centradas es h²·f'''/6.
    assert g_grueso.item() - exacta == pytest.approx(1e-4 * exacta / 6, rel=1e-3)
    assert abs(g_fino.item() - exacta) < 1e-9


FUNCIONES = [gradiente_numerico, gradiente_autograd]


@pytest.mark.parametrize("funcion", FUNCIONES)
@pytest.mark.parametrize("argumento", [[1.0, 2.0], 3.0, None])
def test_argumento_que_no_es_tensor(funcion, argumento):
    with pytest.raises(TypeError) as error:
        funcion(lambda x, y: x.sum(), torch.ones(2), argumento)
    mensaje = str(error.value)
    assert "argumento 2" in mensaje
    assert "tensor de PyTorch" in mensaje
    assert type(argumento).__name__ in mensaje


@pytest.mark.parametrize("funcion", FUNCIONES)
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool])
def test_dtype_entero_o_booleano(funcion, dtype):
    with pytest.raises(TypeError) as error:
        funcion(lambda x: x.sum(), torch.ones(3, dtype=dtype))
    mensaje = str(error.value)
    assert str(dtype) in mensaje
    assert "float" in mensaje


@pytest.mark.parametrize("funcion", FUNCIONES)
def test_salida_no_escalar(funcion):
    with pytest.raises(ValueError) as error:
        funcion(lambda x: x * 2, torch.ones(3))
    mensaje = str(error.value)
    assert "escalar" in mensaje
    assert "(3,)" in mensaje
    assert ".sum()" in mensaje


@pytest.mark.parametrize("funcion", FUNCIONES)
@pytest.mark.parametrize("salida", [1.5, None, [1.0]])
def test_salida_que_no_es_tensor(funcion, salida):
    with pytest.raises(TypeError) as error:
        funcion(lambda x: salida, torch.ones(3))
    assert type(salida).__name__ in str(error.value)
    assert "tensor escalar" in str(error.value)


@pytest.mark.parametrize("funcion", FUNCIONES)
@pytest.mark.parametrize("valor", [float("nan"), float("inf")])
def test_tensor_con_nan_o_infinito(funcion, valor):
    with pytest.raises(ValueError, match="NaN o infinitos"):
        funcion(lambda x: x.sum(), torch.tensor([1.0, valor]))


@pytest.mark.parametrize("funcion", FUNCIONES)
def test_sin_tensores(funcion):
    with pytest.raises(ValueError, match="al menos un tensor"):
        funcion(lambda: torch.tensor(0.0))


@pytest.mark.parametrize("h", [0, -1e-6, 0.0, float("nan"), float("inf")])
def test_paso_h_no_valido(h):
    with pytest.raises(ValueError, match="positivo y finito"):
        gradiente_numerico(lambda x: x.sum(), torch.ones(2), h=h)


@pytest.mark.parametrize("h", ["1e-6", True, None])
def test_paso_h_de_tipo_incorrecto(h):
    with pytest.raises(TypeError, match="número real"):
        gradiente_numerico(lambda x: x.sum(), torch.ones(2), h=h)


def test_comparar_gradientes_texto():
    def f(peso, sesgo):
        return ((peso @ torch.ones(3, dtype=torch.float64)) + sesgo).pow(2).sum()

    peso, sesgo = _entradas((2, 3), (2,))
    tabla = comparar_gradientes(f, peso, sesgo)
    texto = str(tabla)
    lineas = texto.splitlines()
    assert lineas[0].split("  ")[0] == "variable"
    for encabezado in ("autograd", "diferencias finitas", "error relativo"):
        assert encabezado in lineas[0]
    assert lineas[2].startswith("peso ")
    assert lineas[3].startswith("sesgo ")
    assert "forma (2, 3)" in lineas[2]
    assert repr(tabla) == texto
    assert len(tabla.errores) == 2
    assert tabla.error_maximo == max(tabla.errores) < 1e-7
    ga = gradiente_autograd(f, peso, sesgo)
    assert all(torch.equal(a, b) for a, b in zip(tabla.autograd, ga, strict=True))


def test_comparar_gradientes_html_y_nombres():
    tabla = comparar_gradientes(
        lambda *xs: sum(x.sum() for x in xs),
        torch.ones(2),
        torch.ones(1),
        nombres=["<x>", "y"],
    )
    contenido = tabla._repr_html_()
    assert contenido.startswith("<table>")
    assert "<th>error relativo</th>" in contenido
    assert "<th>diferencias finitas</th>" in contenido
    assert "&lt;x&gt;" in contenido
    assert "<x>" not in contenido
    assert contenido.count("<tr>") == 3


def test_comparar_gradientes_nombres_por_defecto():
    tabla = comparar_gradientes(lambda *xs: xs[0].sum(), torch.ones(2), torch.ones(2))
    assert tabla.nombres == ["entrada 1", "entrada 2"]


def test_comparar_gradientes_numero_de_nombres():
    with pytest.raises(ValueError, match="un nombre por tensor"):
        comparar_gradientes(lambda x, y: x.sum(), torch.ones(2), torch.ones(2), nombres=["x"])


class _CuadradoMalDerivado(torch.autograd.Function):
    """x² con una derivada equivocada (x en lugar de 2x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**2

    @staticmethod
    def backward(ctx, gradiente):
        (x,) = ctx.saved_tensors
        return gradiente * x


def test_comparar_gradientes_detecta_un_gradiente_erroneo():
    tabla = comparar_gradientes(
        lambda x: _CuadradoMalDerivado.apply(x).sum(), torch.tensor([1.0, -2.0, 3.0])
    )
    assert tabla.errores[0] == pytest.approx(0.5, rel=1e-6)
