"""Pruebas de course_utils.comprobaciones: mensajes, pistas, stderr vacío y traceback limpio."""

from __future__ import annotations

import doctest
import inspect
import re
import sys
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils import comprobaciones
from course_utils.comprobaciones import (
    ErrorComprobacion,
    comprobar_escalar,
    comprobar_funcion,
    comprobar_gradientes,
    comprobar_tensor,
)

SECRETO = 1234.5678  # valor esperado reconocible: nunca debe aparecer en un mensaje


def formatos(valor: float) -> list[str]:
    """Formas en que un valor esperado podría colarse en un mensaje (3 o más cifras)."""
    return sorted(
        {repr(valor), str(valor), f"{valor:g}", f"{valor:.6g}", f"{valor:.4g}", f"{valor:.3g}"}
    )


def fallo(funcion, *args, **kwargs) -> str:
    """Ejecuta una comprobación que debe fallar y devuelve su mensaje."""
    with pytest.raises(ErrorComprobacion) as info:
        funcion(*args, **kwargs)
    mensaje = str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    return mensaje


def sin_valor(mensaje: str, *valores: float | str) -> None:
    for valor in valores:
        for texto in formatos(valor) if isinstance(valor, float) else [valor]:
            assert texto not in mensaje, (texto, mensaje)


def test_doctests():
    resultado = doctest.testmod(comprobaciones, optionflags=doctest.ELLIPSIS)
    assert resultado.attempted >= 5
    assert resultado.failed == 0


def test_error_comprobacion_es_assertion_error():
    assert issubclass(ErrorComprobacion, AssertionError)


# --- comprobar_tensor -----------------------------------------------------------------------


def test_tensor_correcto_imprime_una_linea(capsys):
    comprobar_tensor(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]), nombre="el tensor x")
    assert capsys.readouterr().out == "✔ ¡Correcto! El tensor x coincide con lo esperado.\n"
    comprobar_tensor(torch.tensor([1.0, 2.0]), [1, 2], mostrar=False)
    comprobar_tensor(torch.tensor([1.0, 2.0]), np.array([1.0, 2.0]), mostrar=False)
    salida = capsys.readouterr()
    assert salida.out == "" and salida.err == ""


def test_tensor_tolerancia_relativa():
    esperado = torch.tensor([SECRETO, 1e-3])
    comprobar_tensor(esperado * (1 + 1e-6), esperado, mostrar=False)
    mensaje = fallo(comprobar_tensor, esperado * (1 + 1e-4), esperado, mostrar=False)
    assert "2 de 2 elementos difieren" in mensaje
    comprobar_tensor(esperado * (1 + 1e-4), esperado, rtol=1e-3, mostrar=False)


@pytest.mark.parametrize(
    ("respuesta", "fragmentos"),
    [
        ([1.0, 2.0], ["una lista de 2 elementos", "torch.tensor("]),
        (np.array([1.0, 2.0]), ["un array de NumPy de forma (2,)", "torch.from_numpy"]),
        (3.5, ["un número de Python (float)", ".item()", "gradiente"]),
        (None, ["None", "return"]),
    ],
)
def test_tensor_tipo_incorrecto(respuesta, fragmentos):
    mensaje = fallo(comprobar_tensor, respuesta, torch.tensor([SECRETO, 2.0]), nombre="x")
    assert mensaje.startswith("Se esperaba un tensor de PyTorch, pero x es")
    for fragmento in fragmentos:
        assert fragmento in mensaje
    sin_valor(mensaje, SECRETO)


def test_tensor_pista_torch_max():
    m = torch.tensor([[3.0, -1.0], [-2.0, 5.0]])
    esperado = torch.clamp(m, min=0)
    for respuesta in (torch.max(m, 0), tuple(torch.max(m, 0))):
        mensaje = fallo(comprobar_tensor, respuesta, esperado, nombre="p")
        assert "torch.clamp(m, min=0)" in mensaje and "torch.relu(m)" in mensaje
    # Una reducción deja una dimensión menos: la forma delata el error.
    mensaje = fallo(comprobar_tensor, torch.max(m, 0).values, esperado, nombre="p")
    assert "p tiene forma (2,), pero se esperaba (2, 2)." in mensaje
    assert "torch.max(m, 0) reduce a lo largo de la dimensión 0" in mensaje


def test_tensor_forma_incorrecta_y_pistas():
    mensaje = fallo(comprobar_tensor, torch.zeros(2, 3), torch.zeros(3, 2))
    assert mensaje.startswith("El resultado tiene forma (2, 3), pero se esperaba (3, 2).")
    assert "view/reshape" in mensaje
    mensaje = fallo(comprobar_tensor, torch.zeros(4, 4), torch.zeros(4, 1))
    assert "broadcasting" in mensaje
    mensaje = fallo(comprobar_tensor, torch.zeros(5), torch.zeros(3))
    assert "Pista" not in mensaje
    # (3, 3) frente a (1, 1): otro tamaño, no una difusión accidental.
    mensaje = fallo(comprobar_tensor, torch.zeros(3, 3), torch.zeros(1, 1))
    assert "broadcasting" not in mensaje


def test_tensor_dtype_solo_si_se_pide():
    esperado = torch.tensor([1.0, 2.0], dtype=torch.float64)
    comprobar_tensor(torch.tensor([1.0, 2.0]), esperado, mostrar=False)
    mensaje = fallo(comprobar_tensor, torch.tensor([1.0, 2.0]), esperado, comprobar_dtype=True)
    assert mensaje == "El resultado tiene dtype torch.float32, pero se esperaba torch.float64."
    comprobar_tensor(esperado.clone(), esperado, comprobar_dtype=True, mostrar=False)


def test_tensor_nan_e_infinitos():
    esperado = torch.tensor([SECRETO, 1.0, 2.0])
    mensaje = fallo(comprobar_tensor, torch.tensor([float("nan"), 1.0, 2.0]), esperado)
    assert "contiene 1 NaN" in mensaje and "log-sum-exp" in mensaje and "log(0)" in mensaje
    mensaje = fallo(comprobar_tensor, torch.tensor([float("inf"), -float("inf"), 2.0]), esperado)
    assert "contiene 2 infinitos" in mensaje and "desbordamiento" in mensaje
    sin_valor(mensaje, SECRETO)
    # Un infinito esperado (log(0) = −inf) se acepta si la respuesta coincide.
    esperado = torch.log(torch.tensor([0.0, 1.0]))
    comprobar_tensor(torch.log(torch.tensor([0.0, 1.0])), esperado, mostrar=False)
    mensaje = fallo(comprobar_tensor, torch.tensor([0.0, 0.0]), esperado)
    assert "1 de 2 elementos difieren" in mensaje


def test_tensor_requires_grad():
    x = torch.ones(2, requires_grad=True)
    comprobar_tensor(x, torch.ones(2), requires_grad=True, mostrar=False)
    comprobar_tensor(x * 1, torch.ones(2), mostrar=False)  # sin pedirlo no importa
    mensaje = fallo(comprobar_tensor, x.detach(), torch.ones(2), requires_grad=True, nombre="w")
    assert mensaje.startswith("w debería tener requires_grad=True")
    mensaje = fallo(comprobar_tensor, x * 1, torch.ones(2), requires_grad=False)
    assert "no debería requerir gradiente" in mensaje and ".detach()" in mensaje


def test_tensor_valores_distintos_sin_revelar_el_esperado():
    esperado = torch.tensor([[1.0, 2.0], [SECRETO, 4.0]])
    respuesta = torch.tensor([[1.0, 2.0], [1000.0, 4.0]])
    mensaje = fallo(comprobar_tensor, respuesta, esperado, nombre="la matriz")
    assert mensaje.startswith("La matriz no coincide con lo esperado: 1 de 4 elementos difieren")
    assert "índice [1, 0], donde tu valor es 1000 (" in mensaje
    assert "más de 1000 veces la tolerancia" in mensaje
    assert "≈" not in mensaje and "absoluto" not in mensaje  # ni errores que delaten el esperado
    sin_valor(mensaje, SECRETO)


def test_tensor_un_elemento_y_signo_cambiado():
    mensaje = fallo(comprobar_tensor, torch.tensor(-SECRETO), torch.tensor(SECRETO))
    assert "tu valor es -1234.57" in mensaje and "signo cambiado" in mensaje
    assert "de 1 elementos" not in mensaje


def test_tensor_enteros_exactos():
    etiquetas = torch.tensor([3, 1, 4, 1, 5])
    comprobar_tensor(etiquetas.clone(), etiquetas, mostrar=False)
    mensaje = fallo(comprobar_tensor, etiquetas + torch.tensor([0, 0, 1, 0, 0]), etiquetas)
    assert "tolerancia exacta" in mensaje and "índice [2]" in mensaje


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_tensor_cualquier_dtype_se_compara_en_float64(dtype):
    esperado = torch.tensor([1 / 3, 2 / 3, -5.0], dtype=torch.float64)
    comprobar_tensor(esperado.to(dtype), esperado, mostrar=False)
    comprobar_tensor(esperado.to(dtype).requires_grad_(), esperado, mostrar=False)
    mensaje = fallo(comprobar_tensor, (esperado * 1.1).to(dtype), esperado)
    assert "3 de 3 elementos difieren" in mensaje


# --- comprobar_escalar ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "respuesta",
    [
        36,
        36.0,
        np.float32(36.0),
        np.array(36.0),
        torch.tensor(36.0, requires_grad=True) * 1,
        torch.tensor([36.0]),
        torch.tensor(36, dtype=torch.int32),
    ],
)
def test_escalar_correcto(respuesta, capsys):
    comprobar_escalar(respuesta, 36, nombre="l")
    assert capsys.readouterr().out == "✔ ¡Correcto! l coincide con lo esperado.\n"


def test_escalar_incorrecto_sin_revelar():
    mensaje = fallo(comprobar_escalar, 1000.0, SECRETO, nombre="la pérdida")
    assert mensaje.startswith("La pérdida no coincide con lo esperado: tu valor es 1000 ")
    sin_valor(mensaje, SECRETO)
    assert "signo cambiado" in fallo(comprobar_escalar, -SECRETO, SECRETO)


@pytest.mark.parametrize(
    ("respuesta", "fragmento"),
    [
        (torch.ones(3), "es un tensor de forma (3,)"),
        (None, "¿Falta el return"),
        ("36", "un texto (str)"),
        ([36.0], "una lista de 1 elemento."),
        (float("nan"), "contiene 1 NaN"),
        (torch.max(torch.tensor(36.0), 0), "torch.clamp(m, min=0)"),
    ],
)
def test_escalar_respuestas_invalidas(respuesta, fragmento):
    assert fragmento in fallo(comprobar_escalar, respuesta, 36.0)


# --- comprobar_funcion ----------------------------------------------------------------------


def casos_softmax():
    generador = torch.Generator().manual_seed(0)
    return [
        (torch.randn(3, generator=generador),),
        (torch.randn(4, 10, generator=generador) * 50,),
        (torch.tensor([SECRETO, 1000.0, -3.0]),),
    ]


def softmax_estable(x):
    return torch.softmax(x, dim=-1)


def test_funcion_correcta(capsys):
    comprobar_funcion(softmax_estable, lambda x: F.softmax(x, dim=-1), casos_softmax())
    assert (
        capsys.readouterr().out == "✔ ¡Correcto! La función softmax_estable supera los 3 casos.\n"
    )
    comprobar_funcion(lambda x: x.exp(), torch.exp, [torch.zeros(2)])
    assert capsys.readouterr().out == "✔ ¡Correcto! Tu función supera el caso.\n"


def test_funcion_inestable_da_pista_sin_revelar_entradas():
    def softmax_ingenuo(x):
        return torch.exp(x) / torch.exp(x).sum(dim=-1, keepdim=True)

    mensaje = fallo(comprobar_funcion, softmax_ingenuo, softmax_estable, casos_softmax())
    assert mensaje.startswith(
        "La función softmax_ingenuo falla en el caso 2 de 3 (entradas: tensor (4, 10))."
    )
    assert "NaN" in mensaje and "resta el máximo" in mensaje


def test_funcion_caso_oculto_sin_revelar_valores():
    def triple_mal(x):
        return 3 * x if x.abs().max() < 100 else 2 * x

    casos = [(torch.tensor([1.0, 2.0]),), (torch.tensor([[SECRETO, 0.0]]),)]
    mensaje = fallo(comprobar_funcion, triple_mal, lambda x: 3 * x, casos, nombre="triple")
    assert mensaje.startswith("triple falla en el caso 2 de 2 (entradas: tensor (1, 2)).")
    assert "la salida no coincide" in mensaje.lower()
    sin_valor(mensaje, SECRETO, 3 * SECRETO)


def test_funcion_no_completada_lanza_not_implemented():
    def ejercicio(x):
        raise NotImplementedError("Completa este ejercicio")

    with pytest.raises(NotImplementedError) as info:
        comprobar_funcion(ejercicio, torch.relu, [(torch.ones(2),)])
    assert not isinstance(info.value, AssertionError)
    assert str(info.value).startswith("Todavía no has completado la función ejercicio")
    assert info.value.__suppress_context__


def test_funcion_que_lanza_otro_error():
    def producto(a, b):
        return a @ b

    casos = [(torch.ones(2, 3), torch.ones(3)), (torch.ones(2, 3), torch.ones(2))]
    mensaje = fallo(comprobar_funcion, producto, lambda a, b: a @ b if b.numel() == 3 else a, casos)
    assert mensaje.startswith(
        "La función producto lanza un error en el caso 2 de 2 (entradas: tensor (2, 3), "
        "tensor (2,)): RuntimeError: "
    )


def test_funcion_error_largo_se_recorta():
    def larga(x):
        raise ValueError("x" * 1000)

    mensaje = fallo(comprobar_funcion, larga, torch.relu, [(torch.ones(2),)])
    assert mensaje.endswith("…") and len(mensaje) < 450


def test_funcion_pista_torch_max_en_la_excepcion():
    def z_mal(m, n):
        return torch.max(m, 0) - torch.max(n, 0)

    mensaje = fallo(
        comprobar_funcion,
        z_mal,
        lambda m, n: m.relu() - n.relu(),
        [(torch.tensor(90.0), torch.tensor(44.0))],
    )
    assert "TypeError" in mensaje and "torch.relu(m)" in mensaje


def test_funcion_no_puede_modificar_lo_que_ve_la_referencia():
    def relu_que_estropea(x):
        y = torch.relu(x)
        x.zero_()
        return y

    x = torch.tensor([1.0, -2.0, 3.0])
    comprobar_funcion(relu_que_estropea, torch.relu, [(x,)], mostrar=False)
    assert torch.equal(x, torch.tensor([1.0, -2.0, 3.0]))


def test_funcion_argumentos_copiados_conservan_requires_grad():
    def gradiente(x):
        (2 * x).sum().backward()
        return x.grad

    x = torch.ones(3, requires_grad=True)
    comprobar_funcion(gradiente, lambda x: torch.full_like(x, 2.0), [(x,)], mostrar=False)
    assert x.grad is None


def test_funcion_salidas_compuestas_y_argumentos_con_nombre():
    def referencia(x, escala=1.0):
        return x * escala, float(x.sum()) * escala

    def alumno(x, escala=1.0):
        return [x * escala, x.sum() * escala]

    casos = [(torch.ones(2),), {"x": torch.ones(3), "escala": 2.0}]
    comprobar_funcion(alumno, referencia, casos, mostrar=False)

    def alumno_mal(x, escala=1.0):
        return x * escala, x.sum()

    mensaje = fallo(comprobar_funcion, alumno_mal, referencia, casos)
    assert "caso 2 de 2 (entradas: x=tensor (3,), escala=número)" in mensaje
    assert "El elemento 1 de la salida no coincide" in mensaje

    mensaje = fallo(comprobar_funcion, lambda x, escala=1.0: x, referencia, casos)
    assert "Se esperaba una secuencia de 2 elementos, pero la salida es un tensor" in mensaje
    mensaje = fallo(comprobar_funcion, lambda x: x.tolist(), lambda x: x, [torch.ones(2)])
    assert "Se esperaba un tensor, pero la salida es una lista de 2 elementos." in mensaje


def test_funcion_salidas_dict_none_y_otras():
    def referencia(x):
        return {"media": x.mean(), "forma": tuple(x.shape), "nada": None, "tipo": "float"}

    def alumno(x):
        return {"media": x.sum() / x.numel(), "forma": x.shape, "nada": None, "tipo": "float"}

    casos = [(torch.arange(6.0).view(2, 3),)]
    comprobar_funcion(alumno, referencia, casos, mostrar=False)
    mensaje = fallo(comprobar_funcion, lambda x: [x.mean()], referencia, casos)
    assert "Se esperaba un diccionario con las claves 'media', 'forma', 'nada', 'tipo'" in mensaje
    mensaje = fallo(comprobar_funcion, lambda x: {**alumno(x), "nada": 0}, referencia, casos)
    assert "La salida['nada'] debería ser None." in mensaje
    mensaje = fallo(comprobar_funcion, lambda x: {**alumno(x), "tipo": "int"}, referencia, casos)
    assert "La salida['tipo'] no coincide con lo esperado." in mensaje
    sin_valor(mensaje, "float")


def test_funcion_listas_de_numeros_y_salidas_anidadas():
    def referencia(x0, pasos):
        return x0 * 0.5**pasos, [float(x0) * 0.5**k for k in range(pasos)]

    def alumno(x0, pasos):
        x, historia = x0.clone(), []
        for k in range(pasos):
            historia.append(x.clone() if k != 37 else x + SECRETO)
            x = x * 0.5
        return x, historia

    casos = [(torch.tensor(3.0, dtype=torch.float64), 30), (torch.tensor(3.0), 50)]
    mensaje = fallo(comprobar_funcion, alumno, referencia, casos)
    assert mensaje.startswith("La función alumno falla en el caso 2 de 2 (entradas: tensor (), ")
    assert "El elemento 1 de la salida no coincide con lo esperado: 1 de 50 elementos" in mensaje
    assert "índice [37]" in mensaje
    referencia_anidada = lambda x: ((x, 2 * x), x.sum())  # noqa: E731
    mensaje = fallo(
        comprobar_funcion, lambda x: ((x, x), x.sum()), referencia_anidada, [torch.ones(2)]
    )
    assert "El elemento 1 del elemento 0 de la salida no coincide" in mensaje


def test_funcion_referencia_rota_es_error_interno():
    with pytest.raises(RuntimeError, match="avisa al profesorado") as info:
        comprobar_funcion(torch.relu, lambda x: x.no_existe(), [(torch.ones(2),)])
    assert not isinstance(info.value, AssertionError)


def test_funcion_con_avisos_no_escribe_en_stderr(capfd):
    def ruidosa(x):
        warnings.warn("aviso del alumno", stacklevel=1)
        print("mensaje a stderr", file=sys.stderr)
        return torch.tensor(x)  # PyTorch avisa: conviene x.clone().detach()

    with warnings.catch_warnings(record=True) as avisos:
        warnings.simplefilter("always")
        comprobar_funcion(ruidosa, lambda x: x, [(torch.ones(2),)], mostrar=False)
        mensaje = fallo(comprobar_funcion, ruidosa, lambda x: x + 1, [(torch.ones(2),)])
    assert avisos == []
    assert "no coincide" in mensaje
    salida = capfd.readouterr()
    assert salida.err == "" and salida.out == ""


# --- comprobar_gradientes -------------------------------------------------------------------

VALORES = (2.0, 3.0, -1.0, 7.0)
NOMBRES = ["a", "b", "c", "d"]


def perdida(a, b, c, d):
    """Formulación estable (float64) del ejercicio clásico: loss = log σ(z)."""
    return F.logsigmoid(z(a, b, c, d))


def z(a, b, c, d):
    m = 3 * a + 4 * b - 2 * c + 10 * d
    n = 7 * a + b + c + 4 * d
    return torch.relu(m) - torch.relu(n)


def gradientes_alumno(dtype=torch.float32, formula="explicita"):
    """Lo que haría el alumno con autograd (la fórmula del enunciado, sin logsigmoid)."""
    a, b, c, d = (torch.tensor(v, dtype=dtype, requires_grad=True) for v in VALORES)
    m = 3 * a + 4 * b - 2 * c + 10 * d
    n = 7 * a + b + c + 4 * d
    zeta = torch.clamp(m, min=0) - torch.clamp(n, min=0)
    if formula == "explicita":
        loss = torch.log(1 / (1 + torch.exp(-zeta)))
    else:
        loss = torch.log(torch.sigmoid(zeta))
    loss.backward()
    return [a.grad, b.grad, c.grad, d.grad]


def diferencias_finitas_float32(h=1e-3):
    """Diferencias finitas ingenuas en float32: dan 0 porque la pérdida está saturada."""

    def loss(*x):
        return torch.log(torch.sigmoid(z(*x)))

    resultado = []
    for i in range(4):
        arriba = [torch.tensor(v, dtype=torch.float32) for v in VALORES]
        abajo = [torch.tensor(v, dtype=torch.float32) for v in VALORES]
        arriba[i] += h
        abajo[i] -= h
        resultado.append(float((loss(*arriba) - loss(*abajo)) / (2 * h)))
    return resultado


def test_gradientes_saturados_correctos(capsys):
    esperados = (-4.21e-20, 3.16e-20, -3.16e-20, 6.32e-20)
    for g, e in zip(gradientes_alumno(), esperados, strict=True):
        assert g.item() == pytest.approx(e, rel=1e-3)
    comprobar_gradientes(gradientes_alumno(), perdida, *VALORES, nombres=NOMBRES)
    assert capsys.readouterr().out == (
        "✔ ¡Correcto! Los gradientes respecto a a, b, c y d coinciden con la referencia.\n"
    )
    # Sin nombres se usan los de los parámetros de f; también float64, dict y un solo tensor.
    comprobar_gradientes(gradientes_alumno(torch.float64), perdida, *VALORES, mostrar=False)
    comprobar_gradientes(
        dict(zip(NOMBRES, gradientes_alumno(), strict=True)), perdida, *VALORES, mostrar=False
    )
    comprobar_gradientes(torch.stack(gradientes_alumno()), perdida, *VALORES, mostrar=False)


def test_gradientes_saturados_ceros_dan_pista_de_saturacion():
    for ceros in (diferencias_finitas_float32(), gradientes_alumno(formula="sigmoid")):
        assert all(float(g) == 0.0 for g in ceros)
        mensaje = fallo(comprobar_gradientes, ceros, perdida, *VALORES, nombres=NOMBRES)
        assert mensaje.startswith(
            "El gradiente respecto a a no coincide con lo esperado: tu valor es 0"
        )
        assert "(También fallan: b, c y d.)" in mensaje
        assert "saturada" in mensaje and "float64" in mensaje and "logsigmoid" in mensaje
        assert "requires_grad" not in mensaje  # la pista global sustituye a la de cada gradiente
        sin_valor(mensaje, -4.2122e-20, 4.2122e-20, 3.1592e-20, 6.3184e-20)


def test_gradientes_pista_gradiente_de_z():
    dz = [-4.0, 3.0, -3.0, 6.0]
    mensaje = fallo(comprobar_gradientes, dz, perdida, *VALORES, nombres=NOMBRES, f_intermedia=z)
    assert "Pista: parece el gradiente de z, no el de la pérdida" in mensaje
    assert "regla de la cadena" in mensaje
    mensaje = fallo(
        comprobar_gradientes,
        [2 * g for g in dz],
        perdida,
        *VALORES,
        nombres=NOMBRES,
        f_intermedia=z,
    )
    assert "proporcionales a los de z" in mensaje
    # Sin f_intermedia no hay pista.
    assert "Pista" not in fallo(comprobar_gradientes, dz, perdida, *VALORES, nombres=NOMBRES)


def ejemplo(a, b, c):
    """El ejemplo resuelto del temario: l = ((a + b)·max(b, c))²."""
    return ((a + b) * torch.maximum(b, c)) ** 2


def test_gradientes_ejemplo_resuelto_y_gradiente_nulo():
    comprobar_gradientes([24.0, 60.0, 0.0], ejemplo, 1.0, 2.0, 0.0, mostrar=False)
    # Con max() de Python, c queda fuera del grafo y c.grad es None.
    mensaje = fallo(comprobar_gradientes, [24.0, 60.0, None], ejemplo, 1.0, 2.0, 0.0)
    assert mensaje.startswith("El gradiente respecto a c es None.")
    assert "torch.maximum(b, c)" in mensaje and "requires_grad=True" in mensaje
    mensaje = fallo(comprobar_gradientes, [0.0, 60.0, 0.0], ejemplo, 1.0, 2.0, 0.0)
    assert mensaje.startswith("El gradiente respecto a a no coincide")
    assert "¿interviene a en el cálculo" in mensaje
    # La lista de los demás fallos va antes de la pista, que ocupa la última línea.
    primera, pista = fallo(comprobar_gradientes, [None, 0.0, 0.0], ejemplo, 1.0, 2.0, 0.0).split(
        "\n"
    )
    assert primera == "El gradiente respecto a a es None. (También fallan: b.)"
    assert pista.startswith("Pista: ¿interviene a en el cálculo")


def test_gradientes_acumulados_y_signo():
    mensaje = fallo(comprobar_gradientes, [48.0, 120.0, 0.0], ejemplo, 1.0, 2.0, 0.0)
    assert "2 veces los correctos" in mensaje and "zero_grad()" in mensaje
    mensaje = fallo(comprobar_gradientes, [-24.0, -60.0, 0.0], ejemplo, 1.0, 2.0, 0.0)
    assert "signo cambiado" in mensaje
    mensaje = fallo(comprobar_gradientes, [25.0, 60.0, 0.0], ejemplo, 1.0, 2.0, 0.0)
    assert "Pista" not in mensaje and "(También" not in mensaje


def test_gradientes_tolerancia_relativa_a_la_magnitud():
    def f(x, y):
        return (x + y) ** 2 - 2 * x * y - y**2  # ∂f/∂y = 0

    # El ruido de unas diferencias finitas en un gradiente nulo se tolera...
    comprobar_gradientes([6.0, 1e-9], f, 3.0, 5.0, mostrar=False)
    # ...pero no un error apreciable frente al mayor gradiente.
    assert "respecto a y" in fallo(comprobar_gradientes, [6.0, 1e-4], f, 3.0, 5.0)
    comprobar_gradientes([6.0 * (1 + 5e-5), 0.0], f, 3.0, 5.0, mostrar=False)
    fallo(comprobar_gradientes, [6.0 * (1 + 5e-4), 0.0], f, 3.0, 5.0)


def test_gradientes_tensores_formas_y_nan():
    w = torch.randn(3, 2, generator=torch.Generator().manual_seed(1))
    x = torch.ones(3)

    def f(w, x):
        return (x @ w).pow(2).sum()

    gw, gx = torch.autograd.grad(f(w.requires_grad_(), x.requires_grad_()), (w, x))
    w, x = w.detach(), x.detach()
    comprobar_gradientes([gw, gx], f, w, x, mostrar=False)
    comprobar_gradientes([gw.requires_grad_(), gx.half()], f, w, x, rtol=1e-2, mostrar=False)
    mensaje = fallo(comprobar_gradientes, [gw.T, gx], f, w, x)
    assert "El gradiente respecto a w tiene forma (2, 3), pero se esperaba (3, 2)." in mensaje
    malo = gw.clone()
    malo[1, 1] = float("nan")
    assert "contiene 1 NaN" in fallo(comprobar_gradientes, [malo, gx], f, w, x)
    malo = gw.clone()
    malo[2, 0] += 1
    mensaje = fallo(comprobar_gradientes, [malo, gx], f, w, x)
    assert "1 de 6 elementos difieren" in mensaje and "índice [2, 0]" in mensaje


def test_gradientes_numero_y_tipo_de_gradientes():
    x = torch.tensor([1.0, -2.0])
    for gradiente in ([2.0, -4.0], [[2.0, -4.0]], np.array([2.0, -4.0]), (2 * x,), 2 * x):
        comprobar_gradientes(gradiente, lambda x: x.pow(2).sum(), x, mostrar=False)
    mensaje = fallo(comprobar_gradientes, [1.0, 2.0], ejemplo, 1.0, 2.0, 0.0)
    assert mensaje == "Se esperaban 3 gradientes (uno por entrada: a, b y c), pero has dado 2."
    mensaje = fallo(comprobar_gradientes, {"a": 24.0}, ejemplo, 1.0, 2.0, 0.0)
    assert mensaje == "Faltan los gradientes respecto a b y c en tu diccionario."
    mensaje = fallo(comprobar_gradientes, ["24", 60.0, 0.0], ejemplo, 1.0, 2.0, 0.0)
    assert "un texto (str)" in mensaje


def test_gradientes_funcion_del_alumno():
    def mis_gradientes(a, b, c):
        raise NotImplementedError("Completa este ejercicio")

    with pytest.raises(NotImplementedError, match="^Todavía no has completado la función mis_gra"):
        comprobar_gradientes(mis_gradientes, ejemplo, 1.0, 2.0, 0.0)
    mensaje = fallo(comprobar_gradientes, lambda a, b, c: 1 / 0, ejemplo, 1.0, 2.0, 0.0)
    assert mensaje.startswith("Tu función lanza un error con entradas de forma (), (), ():")
    assert "ZeroDivisionError" in mensaje

    def por_autograd(a, b, c):
        a, b, c = (torch.tensor(v, requires_grad=True) for v in (a, b, c))
        ejemplo(a, b, c).backward()
        return a.grad, b.grad, c.grad

    comprobar_gradientes(por_autograd, ejemplo, 1.0, 2.0, 0.0, mostrar=False)


def test_gradientes_referencias_discrepantes_es_error_interno():
    with pytest.raises(RuntimeError, match="avisa al profesorado") as info:
        comprobar_gradientes([0.0], torch.relu, torch.tensor(0.0))  # punto anguloso
    assert not isinstance(info.value, AssertionError)


def test_gradientes_sin_stderr_ni_avisos(capfd):
    def f(x):
        warnings.warn("aviso en la referencia", stacklevel=1)
        return x.pow(2).sum()

    def mis_gradientes(x):
        warnings.warn("aviso del alumno", stacklevel=1)
        return [4 * torch.tensor(x)]  # PyTorch avisa: conviene x.clone().detach()

    x = torch.tensor([1.0, -2.0])
    with warnings.catch_warnings(record=True) as avisos:
        warnings.simplefilter("always")
        comprobar_gradientes([2 * x], f, x, mostrar=False)
        assert "2 veces" in fallo(comprobar_gradientes, mis_gradientes, f, x)
    assert avisos == []
    assert capfd.readouterr().err == ""


# --- En un núcleo real de Jupyter -----------------------------------------------------------


def test_traceback_en_jupyter_sin_detalles_internos(tmp_path):
    """El error que ve el alumno (y copia nbgrader) no muestra el código de las comprobaciones."""
    import nbclient
    import nbformat

    celdas = [
        "import warnings, torch\nimport course_utils as cu\n"
        f"esperado = torch.tensor([{SECRETO}, 2.0])",
        "cu.comprobar_tensor(torch.tensor([1.0, 2.0]), esperado, nombre='x')",
        "%xmode Verbose\ncu.comprobar_escalar(1.0, esperado[0])",
        "%xmode Context\ndef ejercicio(x):\n"
        "    raise NotImplementedError('Completa este ejercicio')\n"
        "cu.comprobar_funcion(ejercicio, torch.relu, [(esperado,)])",
        "def ruidosa(x):\n    warnings.warn('cuidado')\n    return torch.tensor(x)\n"
        "cu.comprobar_funcion(ruidosa, lambda x: x, [(esperado,)])",
    ]
    cuaderno = nbformat.v4.new_notebook()
    cuaderno.cells = [nbformat.v4.new_code_cell(c) for c in celdas]
    nbclient.NotebookClient(
        cuaderno,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()

    def errores(celda):
        return [o for o in celda.outputs if o.output_type == "error"]

    assert errores(cuaderno.cells[0]) == []
    fuente = inspect.getsource(comprobaciones).splitlines()
    internas = {linea.strip() for linea in fuente if len(linea.strip()) > 15}
    for celda, tipo in zip(
        cuaderno.cells[1:4],
        ["ErrorComprobacion", "ErrorComprobacion", "NotImplementedError"],
        strict=True,
    ):
        (error,) = errores(celda)
        assert error.ename == tipo
        texto = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.traceback))
        assert "Cell In[" in texto and f"{tipo}: {error.evalue}" in texto
        assert "comprobaciones.py" not in texto and "envoltura" not in texto
        assert not [linea for linea in internas if linea in texto]
        sin_valor(texto, SECRETO)
    assert errores(cuaderno.cells[3])[0].evalue.startswith("Todavía no has completado")
    ultima = cuaderno.cells[4].outputs
    assert [(o.output_type, o.get("name")) for o in ultima] == [("stream", "stdout")]
    assert ultima[0].text == "✔ ¡Correcto! La función ruidosa supera el caso.\n"
    assert not any(o.get("name") == "stderr" for c in cuaderno.cells for o in c.outputs)


def test_introspeccion_de_una_biblioteca_no_es_del_alumno(tmp_path, monkeypatch):
    """Una biblioteca instalada que no conocemos puede usar ``sys._getframe`` (typing_extensions
    lo hace al crear un TypeVar, p. ej. al importarse de forma perezosa dentro de la función del
    alumno): no es una trampa. El mismo código en un módulo del alumno, sí."""
    import importlib

    import typing_extensions

    from course_utils import ejecutar_alumno
    from course_utils.reglas import ErrorRegla

    def honesta():
        return typing_extensions.TypeVar("T").__name__

    assert ejecutar_alumno(honesta, ejercicio="m02_a_mano") == "T"
    (tmp_path / "mis_ayudas_pila.py").write_text(
        "import sys\n\ndef marco():\n    return sys._getframe(1).f_globals\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    propio = importlib.import_module("mis_ayudas_pila")
    monkeypatch.delitem(sys.modules, "mis_ayudas_pila")
    with pytest.raises(ErrorRegla, match="inspeccionar la pila"):
        ejecutar_alumno(lambda: propio.marco(), ejercicio="m02_a_mano")


def test_modulos_perezosos_se_importan_fuera_de_la_vigilancia(tmp_path, monkeypatch):
    """Lo que una biblioteca importa la primera vez (``torch._dynamo`` al crear un optimizador)
    se importa antes de vigilar, si el código del alumno lo nombra; mirar su código no ejecuta
    nada suyo."""
    from course_utils import ejecutar_alumno, reglas

    (tmp_path / "perezoso_de_prueba.py").write_text(
        "import sys, threading\n"
        "VIGILADO = sys.getprofile() is not None\n"
        "HILO = threading.current_thread().name\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(reglas, "_PEREZOSOS", {"perezoso_de_prueba": frozenset({"disparador"})})

    def sin_nombrarlo():
        return 1

    ejecutar_alumno(sin_nombrarlo, ejercicio="m02_a_mano")
    assert "perezoso_de_prueba" not in sys.modules

    class Trampa:
        def __getattribute__(self, nombre):
            raise AssertionError("se ejecutó código del alumno al mirar sus nombres")

    trampa = Trampa()

    def ayuda():
        return disparador  # noqa: F821 (solo se nombra)

    def alumno():
        trampa  # noqa: B018
        return 2 if ayuda else 0

    assert ejecutar_alumno(alumno, ejercicio="m02_a_mano") == 2
    modulo = sys.modules.pop("perezoso_de_prueba")
    assert not modulo.VIGILADO and modulo.HILO == "MainThread"
