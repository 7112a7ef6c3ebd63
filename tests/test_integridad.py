"""Integridad de las notas: reglas de los ejercicios, variantes personales y vigilancia del núcleo.

Cada prueba es la entrega de un alumno tramposo (o despistado) y comprueba que la trampa no da
puntos: funciones prohibidas por cualquier camino, lectura de la pila o de las pruebas ocultas,
manipulación de las comprobaciones, de PyTorch o de IPython.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import course_utils as cu
from course_utils import reglas, variantes
from course_utils.reglas import REGLAS, ErrorRegla, ejecutar_vigilado

Z = torch.tensor([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])
A = torch.tensor([[2.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 2.0]], dtype=torch.float64)
INVERSA = torch.linalg.inv  # una referencia guardada antes de la prueba


def _softmax_a_mano(z, dim=-1):
    e = torch.exp(z - z.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)


def _desactivando(z, dim=-1):
    with torch._C.DisableTorchFunction():
        return torch.softmax(z, dim)


def _capturando(z, dim=-1):
    try:
        return F.softmax(z, dim=dim)
    except Exception:
        return _softmax_a_mano(z, dim)


SOFTMAX_TRAMPOSAS = {
    "torch.softmax": lambda z, dim=-1: torch.softmax(z, dim),
    "método": lambda z, dim=-1: z.softmax(dim),
    "F.softmax": lambda z, dim=-1: F.softmax(z, dim=dim),
    "nn.Softmax": lambda z, dim=-1: torch.nn.Softmax(dim)(z),
    "special": lambda z, dim=-1: torch.special.softmax(z, dim),
    "log_softmax": lambda z, dim=-1: F.log_softmax(z, dim=dim).exp(),
    "logsumexp": lambda z, dim=-1: torch.exp(z - torch.logsumexp(z, dim, keepdim=True)),
    "aten": lambda z, dim=-1: torch.ops.aten._softmax(z, dim, False),
    "map": lambda z, dim=-1: list(map(torch.softmax, [z], [dim]))[0],
    "getattr": lambda z, dim=-1: getattr(torch, "soft" + "max")(z, dim),
    "desactivando": _desactivando,
    "capturando el error": _capturando,
}


@pytest.mark.parametrize("nombre", sorted(SOFTMAX_TRAMPOSAS))
def test_softmax_prohibida_por_cualquier_camino(nombre):
    with pytest.raises(ErrorRegla, match="Regla del ejercicio incumplida"):
        cu.comprobar_funcion(
            SOFTMAX_TRAMPOSAS[nombre], F.softmax, [(Z, 1)], ejercicio="m06_softmax", mostrar=False
        )


def test_softmax_honesta_aprueba(capsys):
    cu.comprobar_funcion(_softmax_a_mano, F.softmax, [(Z, 1)], ejercicio="m06_softmax")
    assert "✔" in capsys.readouterr().out


INVERSAS_TRAMPOSAS = {
    "guardada": lambda A: INVERSA(A),
    "método": lambda A: A.inverse(),
    "potencia −1": lambda A: torch.linalg.matrix_power(A, -1),
    "pinverse": lambda A: torch.pinverse(A),
    "solve": lambda A: torch.linalg.solve(A, torch.eye(3, dtype=A.dtype)),
    "numpy": lambda A: torch.from_numpy(np.linalg.inv(A.numpy())),
    "svd": lambda A: (lambda u, s, vh: vh.T @ torch.diag(1 / s) @ u.T)(*torch.linalg.svd(A)),
}


@pytest.mark.parametrize("nombre", sorted(INVERSAS_TRAMPOSAS))
def test_inversa_directa_prohibida(nombre):
    with pytest.raises(ErrorRegla, match="torch.linalg.inv"):
        ejecutar_vigilado(INVERSAS_TRAMPOSAS[nombre], (A,), ejercicio="m04_invertir_por_descenso")


def test_potencias_positivas_y_normas_permitidas():
    def descenso(A):
        eta = 1 / torch.linalg.matrix_norm(A, ord=2) ** 2
        W = torch.linalg.matrix_power(A, 0) * 0
        for _ in range(2000):
            W = W - eta * A.T @ (A @ W - torch.eye(3, dtype=A.dtype))
        return W

    W = ejecutar_vigilado(descenso, (A,), ejercicio="m04_invertir_por_descenso")
    assert torch.allclose(W, torch.linalg.inv(A), atol=1e-8)


def test_ayudas_del_curso_y_autograd_prohibidas_a_mano():
    def con_ayuda(a, b, c, d):
        entradas = [torch.tensor(float(v), dtype=torch.float64) for v in (a, b, c, d)]
        return cu.gradiente_autograd(lambda a, b, c, d: a * b + c * d, *entradas)

    def con_backward(a, b, c, d):
        x = torch.tensor(float(a), requires_grad=True)
        (x * b).backward()
        return x.grad, 0.0, 0.0, 0.0

    for funcion in (con_ayuda, con_backward):
        with torch.no_grad(), pytest.raises(ErrorRegla):
            ejecutar_vigilado(funcion, (1.0, 2.0, 3.0, 4.0), ejercicio="m02_a_mano")


def test_formas_sin_torch_ni_numpy():
    tramposas = [
        lambda a, b: tuple(torch.broadcast_shapes(a, b)),
        lambda a, b: tuple(np.broadcast_shapes(a, b)),
        lambda a, b: tuple((torch.empty(a) + torch.empty(b)).shape),
        lambda a, b: tuple((np.empty(a) + np.empty(b)).shape),
    ]
    for funcion in tramposas:
        with pytest.raises(ErrorRegla):
            ejecutar_vigilado(funcion, ((3, 1), (4,)), ejercicio="m01_formas")
    assert ejecutar_vigilado(lambda a, b: (3, 4), ((3, 1), (4,)), ejercicio="m01_formas") == (3, 4)


def test_tecnicas_obligatorias():
    x = np.linspace(0, 1, 20).reshape(-1, 1)
    y = 1 + 2 * x

    def con_numpy(x, y, eta=0.1, epocas=1000):  # sin autograd: no cumple la regla
        return 1.0, 2.0

    def con_nn_lineal_sin_sgd(x, y, eta=0.1, epocas=10):
        modelo = torch.nn.Linear(1, 1, dtype=torch.float64)
        perdida = torch.nn.MSELoss()(modelo(torch.from_numpy(x)), torch.from_numpy(y))
        perdida.backward()
        return modelo.bias.item(), modelo.weight.item()

    with pytest.raises(ErrorRegla, match="no usa `backward\\(\\)`"):
        ejecutar_vigilado(con_numpy, (x, y), ejercicio="m03_regresion_autograd")
    with pytest.raises(ErrorRegla, match="torch.optim.SGD"):
        ejecutar_vigilado(con_nn_lineal_sin_sgd, (x, y), ejercicio="m03_regresion_optim")


def test_no_puede_llamar_a_la_referencia_ni_leer_la_pila():
    def referencia(x):
        return 2 * x

    def copia_la_referencia(x):
        return referencia(x)

    def lee_la_pila(x):
        return sys._getframe(2).f_locals["esperado"]

    def lee_por_traza(x):
        try:
            raise ValueError
        except ValueError as error:
            marco, nombres = error.__traceback__.tb_frame, []
            while marco is not None:
                nombres.append(marco.f_code.co_name)
                marco = marco.f_back
        return nombres

    with pytest.raises(ErrorRegla, match="referencia"):
        cu.comprobar_funcion(copia_la_referencia, referencia, [(torch.ones(2),)], mostrar=False)
    with pytest.raises(ErrorRegla, match="inspeccionar la pila"):
        cu.ejecutar_alumno(lee_la_pila, torch.ones(2))
    # Por la traza solo se llega al hilo de la vigilancia, no a la celda de prueba.
    assert "test_no_puede_llamar_a_la_referencia_ni_leer_la_pila" not in cu.ejecutar_alumno(
        lee_por_traza, 1
    )


def test_sin_hilos_ni_memoria_del_proceso():
    import concurrent.futures
    import gc
    import threading

    for funcion in (
        lambda: threading.Thread(target=print).start(),
        lambda: concurrent.futures.ThreadPoolExecutor().submit(torch.linalg.inv, A).result(),
        lambda: gc.get_objects(),
        lambda: sys._current_frames(),
        lambda: sys.setprofile(None),
    ):
        with pytest.raises(ErrorRegla):
            ejecutar_vigilado(funcion)


def test_las_bibliotecas_si_pueden_usar_hilos():
    # En un proceso nuevo, tqdm arranca su hilo de vigilancia la primera vez que se usa.
    codigo = textwrap.dedent("""
        import io
        from tqdm.auto import tqdm
        from course_utils.reglas import ejecutar_vigilado

        def con_barra():
            return sum(1 for _ in tqdm(range(3), file=io.StringIO()))

        print(ejecutar_vigilado(con_barra, ejercicio="m06_softmax"), tqdm.monitor is not None)
    """)
    salida = subprocess.run(
        [sys.executable, "-c", codigo], capture_output=True, text=True, timeout=120
    )
    assert salida.stdout.split() == ["3", "True"], salida.stderr


def test_la_regla_cuenta_aunque_el_alumno_capture_el_error():
    def insistente(A):
        for _ in range(3):
            try:
                return torch.linalg.inv(A)
            except BaseException:
                pass
        return A

    with pytest.raises(ErrorRegla):
        ejecutar_vigilado(insistente, (A,), ejercicio="m04_invertir_por_descenso")


def test_el_gradiente_sigue_desactivado_en_el_hilo():
    with torch.no_grad():
        assert ejecutar_vigilado(torch.is_grad_enabled) is False
    assert ejecutar_vigilado(torch.is_grad_enabled) is True


def test_reglas_y_enunciados_usan_operaciones_conocidas():
    for regla in REGLAS.values():
        for clave in (*regla.prohibidas, *regla.requeridas):
            assert clave in reglas.OPERACIONES
    assert cu.reglas_del_ejercicio("m03_descenso_gradiente") == (
        "No puedes usar `torch.optim`. Debes usar `backward()`."
    )


# --- Variantes personales --------------------------------------------------------------------


def test_variantes_por_defecto_y_personales(monkeypatch):
    monkeypatch.setattr(variantes, "_alumno", None)
    assert cu.valores_grafo() == (2.0, 3.0, -1.0, 7.0)
    B, c = cu.sistema_personal()
    assert torch.allclose(torch.linalg.solve(B, c), torch.tensor([2.0, -1.0, 1.0], dtype=B.dtype))
    vistos = set()
    for alumno in ("ana", "luis", "eva"):
        cu.fijar_alumno(alumno)
        a, b, c, d = cu.valores_grafo()
        m, n = 3 * a + 4 * b - 2 * c + 10 * d, 7 * a + b + c + 4 * d
        assert m > 0 and n > 0 and m - n >= 30  # sigue saturada
        assert torch.linalg.cond(cu.matriz_personal()) <= 8
        vistos.add((cu.valores_grafo(), tuple(cu.sistema_personal()[1].tolist())))
        assert vistos  # deterministas: la misma llamada da lo mismo
        assert cu.valores_grafo() == (a, b, c, d)
    assert len(vistos) == 3


def test_al_calificar_manda_la_clave_no_el_identificador_escrito():
    codigo = textwrap.dedent("""
        import course_utils as cu
        cu.fijar_alumno("ana")
        print(cu.valores_grafo())
    """)
    salidas = []
    for clave in ("", variantes.clave_de_alumno("secreto", "ana"), "0" * 64):
        entorno = {**os.environ, "CURSO_CLAVE": clave}
        salida = subprocess.run(
            [sys.executable, "-c", codigo], capture_output=True, text=True, env=entorno, check=True
        )
        salidas.append(salida.stdout)
    assert len(set(salidas)) == 3  # sin clave: la del identificador; con clave: otra


# --- Vigilancia del núcleo (IPython en un proceso aparte) ------------------------------------

_GUION = r"""
import json, sys
from IPython.core.interactiveshell import InteractiveShell
from course_utils import integridad
shell = InteractiveShell.instance()
integridad.instalar(shell)
resultado = {}
for nombre, codigo in json.loads(sys.argv[1]):
    ejecucion = shell.run_cell(codigo, store_history=True)
    error = ejecucion.error_in_exec or ejecucion.error_before_exec
    resultado[nombre] = {
        "error": f"{type(error).__name__}: {error}" if error else None,
        "hallazgos": integridad.verificar(),
    }
    integridad._guardian.olvidar_errores()
print("RESULTADO" + json.dumps(resultado, ensure_ascii=False))
"""

_PRUEBA_OCULTA = (
    "cu.comprobar_funcion(doble, lambda x: 2 * x, [(torch.ones(2),)], mostrar=False)\n"
    "### BEGIN HIDDEN TESTS\n"
    "VALOR_OCULTO = 4242\n"
    "cu.comprobar_funcion(doble, lambda x: 2 * x, [(torch.ones(3),)], mostrar=False)\n"
    "### END HIDDEN TESTS\n"
)


# Una función del alumno que busca el código de las pruebas en todo lo que IPython guarda.
_ESPIA = (
    "import linecache\n"
    "def doble(x):\n"
    "    ip = exit._ip\n"
    "    vistos = [str(In), str(_ih), str(ip.history_manager.input_hist_raw)]\n"
    "    vistos += [''.join(v[2]) for v in list(linecache.cache.values())]\n"
    "    resultado = ip.displayhook.exec_result\n"
    "    vistos.append(str(resultado and resultado.info.raw_cell))\n"
)


def _ejecutar_en_ipython(celdas: list[tuple[str, str]]) -> dict:
    salida = subprocess.run(
        [sys.executable, "-c", _GUION, json.dumps(celdas)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    linea = [x for x in salida.stdout.splitlines() if x.startswith("RESULTADO")]
    assert linea, salida.stdout + salida.stderr
    return json.loads(linea[0][len("RESULTADO") :])


@pytest.fixture(scope="module")
def manipulaciones():
    inicio = "import torch\nimport course_utils as cu\ndef doble(x):\n    return 2 * x"
    celdas = [
        ("inicio", inicio),
        ("limpia", _PRUEBA_OCULTA),
        ("redefine", "cu.comprobar_funcion = lambda *a, **k: None"),
        ("modulo", "import course_utils.comprobaciones as c\nc.comprobar_tensor = print"),
        ("codigo", "cu.comprobar_tensor.__wrapped__.__code__ = (lambda *a, **k: 0).__code__"),
        ("reglas", "import course_utils.reglas as r\nr.REGLAS.clear()"),
        ("torch", "torch.allclose = lambda *a, **k: True"),
        ("tensor", "torch.Tensor.__eq__ = lambda *a: True"),
        ("builtins", "import builtins\nbuiltins.isinstance = lambda *a: True"),
        ("entrada", "get_ipython().input_transformers_post.append(lambda l: ['pass\\n'])"),
        ("ast", "import ast\nget_ipython().ast_transformers.append(ast.NodeTransformer())"),
        ("excepciones", "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)"),
        ("eventos", "get_ipython().events.register('pre_run_cell', lambda info: None)"),
        ("interprete", "get_ipython().showtraceback = lambda *a, **k: None"),
        ("modo", "from torch.overrides import TorchFunctionMode\nTorchFunctionMode().__enter__()"),
        ("traza", "import sys\nsys.settrace(lambda *a: None)"),
        ("nombre", "cu = None"),
        ("auditoria", "import sys\nsys.addaudithook(lambda *a: None)"),
        (
            "durante",
            "def doble(x):\n"
            "    import course_utils.comprobaciones as c\n"
            "    c.comprobar_funcion.__wrapped__.__code__ = (lambda *a, **k: None).__code__\n"
            "    return x\n" + _PRUEBA_OCULTA,
        ),
        (
            "espia",
            _ESPIA
            + "    print('FUGA' if any('VALOR_' + 'OCULTO' in v for v in vistos) else 'SIN FUGA')\n"
            "    return 2 * x\n",
        ),
        ("espiada", _PRUEBA_OCULTA),
        ("despues", "print('FUGA' if 'VALOR_' + 'OCULTO' in str(In) + str(_i) else 'SIN FUGA')"),
    ]
    return _ejecutar_en_ipython(celdas)


def test_sin_manipulacion_no_hay_hallazgos(manipulaciones):
    for nombre in ("inicio", "limpia", "espia", "espiada", "despues"):
        assert manipulaciones[nombre]["hallazgos"] == [], nombre
        assert manipulaciones[nombre]["error"] is None, nombre


@pytest.mark.parametrize(
    "nombre",
    [
        "redefine",
        "modulo",
        "codigo",
        "reglas",
        "torch",
        "tensor",
        "builtins",
        "entrada",
        "ast",
        "excepciones",
        "eventos",
        "interprete",
        "modo",
        "traza",
        "nombre",
        "auditoria",
    ],
)
def test_cada_manipulacion_se_detecta_y_se_restaura(manipulaciones, nombre):
    assert manipulaciones[nombre]["hallazgos"], nombre


def test_manipular_durante_la_prueba_la_hace_fallar(manipulaciones):
    assert "Posible manipulación" in manipulaciones["durante"]["error"]
    assert manipulaciones["durante"]["hallazgos"]


def test_el_codigo_de_las_pruebas_no_esta_al_alcance(tmp_path):
    celdas = [
        ("inicio", "import torch\nimport course_utils as cu"),
        (
            "espia",
            _ESPIA + "    assert not any('VALOR_' + 'OCULTO' in v for v in vistos), 'FUGA'\n"
            "    return 2 * x\n",
        ),
        ("prueba", _PRUEBA_OCULTA),
        ("despues", "assert 'VALOR_' + 'OCULTO' not in str(In) + str(_i) + str(_ih), 'FUGA'"),
    ]
    resultado = _ejecutar_en_ipython(celdas)
    assert resultado["prueba"]["error"] is None and resultado["despues"]["error"] is None


# --- El descenso por gradiente tiene que calcular el gradiente ----------------------------------

A4 = (
    3 * torch.eye(5, dtype=torch.float64)
    + torch.randn(5, 5, generator=torch.Generator().manual_seed(44), dtype=torch.float64) / 3
)
B5 = torch.randn(12, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
C5 = torch.randn(12, generator=torch.Generator().manual_seed(6), dtype=torch.float64)


def _descenso_formula(A, tol=1e-6, max_iter=100_000):
    Id = torch.eye(A.shape[0], dtype=A.dtype)
    eta = 1 / torch.linalg.matrix_norm(A, ord=2) ** 2
    W = torch.zeros_like(A)
    residuos = [torch.linalg.matrix_norm(A @ W - Id).item()]
    for _ in range(max_iter):
        if residuos[-1] <= tol:
            break
        W = W - eta * (A.T @ (A @ W - Id))
        residuos.append(torch.linalg.matrix_norm(A @ W - Id).item())
    return W, residuos


def _con_optimizador(crear, pasos=None):
    """Variante honrada con torch.optim y autograd (pasos: iteraciones fijas, sin tolerancia)."""

    def invertir(A, tol=1e-6, max_iter=100_000):
        Id = torch.eye(A.shape[0], dtype=A.dtype)
        W = torch.zeros_like(A).requires_grad_(True)
        optimizador = crear([W], torch.linalg.matrix_norm(A, ord=2).item())

        def closure():
            optimizador.zero_grad()
            perdida = 0.5 * torch.linalg.matrix_norm(A @ W - Id) ** 2
            perdida.backward()
            return perdida

        residuos = [A.shape[0] ** 0.5]
        for _ in range(pasos or max_iter):
            if residuos[-1] <= tol:
                break
            optimizador.step(closure)
            with torch.no_grad():
                residuos.append(torch.linalg.matrix_norm(A @ W - Id).item())
        return W.detach(), residuos

    return invertir


def _autograd_a_mano(A, tol=1e-6, max_iter=100_000):
    Id = torch.eye(A.shape[0], dtype=A.dtype)
    eta = 1 / torch.linalg.matrix_norm(A, ord=2).item() ** 2
    W = torch.zeros_like(A, requires_grad=True)
    for _ in range(max_iter):
        residuo = torch.linalg.matrix_norm(A @ W - Id)
        if residuo.item() <= tol:
            break
        (g,) = torch.autograd.grad(0.5 * residuo**2, W)
        with torch.no_grad():
            W -= eta * g
    return W.detach(), []


def _traspuesta_guardada(A, tol=1e-6, max_iter=100_000):
    At = A.clone().t().contiguous()  # una copia contigua de Aᵀ, calculada una vez
    Id = torch.eye(A.shape[0], dtype=A.dtype)
    W = torch.zeros_like(A)
    for _ in range(200):
        W = W - 0.05 * torch.mm(At, A @ W - Id)
    return W, []


def _einsum(A, tol=1e-6, max_iter=100_000):
    W = torch.zeros_like(A)
    for _ in range(200):
        W = W - 0.05 * torch.einsum("ji,jk->ik", A, A @ W - torch.eye(len(A), dtype=A.dtype))
    return W, []


INVERSAS_HONRADAS = {
    "fórmula": _descenso_formula,
    "autograd.grad": _autograd_a_mano,
    "traspuesta guardada": _traspuesta_guardada,
    "einsum": _einsum,
    "SGD": _con_optimizador(lambda p, s: torch.optim.SGD(p, lr=1 / s**2)),
    "momento": _con_optimizador(lambda p, s: torch.optim.SGD(p, lr=1 / s**2, momentum=0.5)),
    "Nesterov": _con_optimizador(
        lambda p, s: torch.optim.SGD(p, lr=1 / s**2, momentum=0.5, nesterov=True)
    ),
    "Adam": _con_optimizador(lambda p, s: torch.optim.Adam(p, lr=0.05), pasos=50),
    "L-BFGS de la sección 7": _con_optimizador(
        lambda p, s: torch.optim.LBFGS(
            p, max_iter=1, max_eval=25, line_search_fn="strong_wolfe", tolerance_change=0
        )
    ),
    "L-BFGS por defecto": _con_optimizador(
        lambda p, s: torch.optim.LBFGS(p, line_search_fn="strong_wolfe"), pasos=5
    ),
}


@pytest.mark.parametrize("nombre", sorted(INVERSAS_HONRADAS))
def test_descensos_honrados_cumplen_la_regla(nombre):
    W, _ = ejecutar_vigilado(
        INVERSAS_HONRADAS[nombre],
        (A4.clone(),),
        {"tol": 1e-6},
        ejercicio="m04_invertir_por_descenso",
    )
    if nombre != "Adam":  # Adam en 50 pasos no llega, pero no hace trampa
        assert torch.allclose(A4 @ W, torch.eye(5, dtype=torch.float64), atol=1e-3)


def _gauss_jordan(A, tol=1e-6, max_iter=100_000):
    """Eliminación gaussiana con pivote, a mano: ni una función prohibida."""
    n = A.shape[0]
    M = torch.cat([A.clone(), torch.eye(n, dtype=A.dtype)], dim=1)
    for k in range(n):
        p = int(torch.argmax(M[k:, k].abs())) + k
        M[[k, p]] = M[[p, k]]
        M[k] = M[k] / M[k, k]
        for i in range(n):
            if i != k:
                M[i] = M[i] - M[i, k] * M[k]
    return M[:, n:], [n**0.5, 0.0]


def _adjunta(A, tol=1e-6, max_iter=100_000):
    """Inversa por la matriz adjunta: traspone los cofactores, no A."""
    n = A.shape[0]
    cofactores = torch.empty_like(A)
    for i in range(n):
        for j in range(n):
            menor = torch.cat(
                [torch.cat([A[:i], A[i + 1 :]])[:, :j], A[:, j + 1 :][torch.arange(n) != i]], dim=1
            )
            cofactores[i, j] = (-1) ** (i + j) * torch.linalg.det(menor)
    return cofactores.T / torch.linalg.det(A), [n**0.5, 0.0]


def _cramer(B, c, tol=1e-6):
    """Regla de Cramer: determinantes, sin gradiente."""
    v = torch.empty(B.shape[1], dtype=B.dtype)
    for i in range(B.shape[1]):
        Bi = B.clone()
        Bi[:, i] = c
        v[i] = torch.linalg.det(Bi) / torch.linalg.det(B)
    return v


def test_soluciones_directas_a_mano_no_cumplen_la_regla():
    for funcion in (_gauss_jordan, _adjunta):
        with pytest.raises(ErrorRegla, match="no usa el gradiente de la pérdida"):
            ejecutar_vigilado(funcion, (A4.clone(),), ejercicio="m04_invertir_por_descenso")
    with pytest.raises(ErrorRegla, match="no usa el gradiente de la pérdida"):
        ejecutar_vigilado(_cramer, (A4.clone(), C5[:5]), ejercicio="m05_resolver_sistema")
    # Una traspuesta que no es la de la matriz recibida tampoco cuenta.
    with pytest.raises(ErrorRegla, match="`.T`"):
        ejecutar_vigilado(
            lambda A: (_gauss_jordan(A)[0].T.T, torch.eye(3).T),
            (A4,),
            ejercicio="m04_invertir_por_descenso",
        )


def test_sistemas_honrados_cumplen_la_regla():
    def vector_por_matriz(B, c, tol=1e-8, max_iter=100_000):
        eta = 1 / torch.linalg.matrix_norm(B, ord=2).item() ** 2
        v = torch.zeros(B.shape[1], dtype=B.dtype)
        normas = [torch.linalg.vector_norm((B @ v - c) @ B).item()]
        while normas[-1] > tol and len(normas) <= max_iter:
            v = v - eta * ((B @ v - c) @ B)  # (Bv − c)ᵀB = (Bᵀ(Bv − c))ᵀ, sin .T
            normas.append(torch.linalg.vector_norm((B @ v - c) @ B).item())
        return v, normas

    def gram(B, c, tol=1e-8, max_iter=100_000):
        G, b = B.mT @ B, B.mT @ c  # precalculados una sola vez
        eta = 1 / torch.linalg.matrix_norm(B, ord=2).item() ** 2
        v = torch.zeros(B.shape[1], dtype=B.dtype)
        normas = [torch.linalg.vector_norm(b).item()]
        while normas[-1] > tol and len(normas) <= max_iter:
            v = v - eta * (G @ v - b)
            normas.append(torch.linalg.vector_norm(G @ v - b).item())
        return v, normas

    def fila_por_matriz(B, c, tol=1e-8, max_iter=100_000):
        v = torch.zeros(B.shape[1], dtype=B.dtype)
        for _ in range(3):
            v = v - 0.01 * ((B @ v - c).unsqueeze(0) @ B).squeeze(0)  # rᵀB, como fila
        return v, []

    def columna_por_matriz(B, c, tol=1e-8, max_iter=100_000):
        v = torch.zeros(B.shape[1], dtype=B.dtype)
        for _ in range(3):
            v = v - 0.01 * (B * (B @ v - c)[:, None]).sum(0)  # Σᵢ rᵢ·Bᵢ = Bᵀr
        return v, []

    def funcional(B, c, tol=1e-8, max_iter=100_000):
        gradiente = torch.func.grad(lambda v: 0.5 * ((B @ v - c) ** 2).sum())
        v = torch.zeros(B.shape[1], dtype=B.dtype)
        for _ in range(3):
            v = v - 0.01 * gradiente(v)
        return v, []

    for funcion in (vector_por_matriz, gram, funcional, fila_por_matriz, columna_por_matriz):
        v, _ = ejecutar_vigilado(funcion, (B5, C5), ejercicio="m05_resolver_por_descenso")
        if funcion in (vector_por_matriz, gram):
            exacta = torch.linalg.lstsq(B5, C5.unsqueeze(1)).solution.squeeze(1)
            assert torch.allclose(v, exacta, atol=1e-6)


# --- Distancias sin bucles ------------------------------------------------------------------------

PUNTOS_A = torch.randn(40, 3, generator=torch.Generator().manual_seed(1))
PUNTOS_B = torch.randn(30, 3, generator=torch.Generator().manual_seed(2))


def _lista_de_listas(a, b):
    D = []
    for x in a.tolist():
        fila = []
        for y in b.tolist():
            fila.append(sum((p - q) ** 2 for p, q in zip(x, y, strict=True)))
        D.append(fila)
    return torch.tensor(D, dtype=a.dtype)


def _mientras(a, b):
    D, i = torch.zeros(a.shape[0], b.shape[0], dtype=a.dtype), 0
    while i < a.shape[0]:
        D[i] = ((a[i] - b) ** 2).sum(dim=1)
        i += 1
    return D


def _fila(x, b):
    return ((x - b) ** 2).sum(dim=1)


DISTANCIAS_CON_BUCLES = {
    "for sobre las filas": lambda a, b: torch.stack([((x - b) ** 2).sum(1) for x in a]),
    "for sobre las columnas de b": lambda a, b: torch.stack(
        [((a - y) ** 2).sum(1) for y in b], dim=1
    ),
    "listas de Python": _lista_de_listas,
    "while": _mientras,
    "map con una función": lambda a, b: torch.stack(list(map(lambda x: _fila(x, b), a))),
}
DISTANCIAS_SIN_BUCLES = {
    "broadcasting": lambda a, b: ((a[:, None, :] - b[None, :, :]) ** 2).sum(dim=-1),
    "unsqueeze": lambda a, b: ((a.unsqueeze(1) - b.unsqueeze(0)) ** 2).sum(-1),
    "‖a‖² + ‖b‖² − 2abᵀ": lambda a, b: (a**2).sum(1, keepdim=True) + (b**2).sum(1) - 2 * a @ b.T,
    # Una comprensión sobre las d coordenadas (3 aquí, 10 como mucho en las pruebas) no recorre
    # los puntos.
    "suma por coordenadas": lambda a, b: sum(
        (a[:, None, k] - b[None, :, k]) ** 2 for k in range(a.shape[1])
    ),
    "vmap": lambda a, b: torch.vmap(lambda x: ((x - b) ** 2).sum(1))(a),
}


@pytest.mark.parametrize("nombre", sorted(DISTANCIAS_CON_BUCLES))
def test_distancias_con_bucles_no_puntuan(nombre):
    with pytest.raises(ErrorRegla, match="recorre los puntos con un bucle"):
        ejecutar_vigilado(
            DISTANCIAS_CON_BUCLES[nombre], (PUNTOS_A, PUNTOS_B), ejercicio="m01_distancias"
        )


@pytest.mark.parametrize("nombre", sorted(DISTANCIAS_SIN_BUCLES))
def test_distancias_sin_bucles_puntuan(nombre):
    D = ejecutar_vigilado(
        DISTANCIAS_SIN_BUCLES[nombre], (PUNTOS_A, PUNTOS_B), ejercicio="m01_distancias"
    )
    assert torch.allclose(D, torch.cdist(PUNTOS_A, PUNTOS_B) ** 2, atol=1e-4)


# --- Copias con las variables renombradas ---------------------------------------------------------

_RESPUESTA_COPIADA = '''
def resolver_por_descenso(B, c, tol=1e-8, max_iter=100_000):
    """Resuelve Bv = c por descenso por gradiente."""
    s = torch.linalg.svdvals(B)
    eta = 1 / s[0].item() ** 2
    v = torch.zeros(B.shape[1], dtype=B.dtype)
    normas = [torch.linalg.vector_norm(B.T @ (B @ v - c)).item()]
    for _ in range(max_iter):
        if normas[-1] <= tol:
            break
        gradiente = B.T @ (B @ v - c)
        v = v - eta * gradiente
        normas.append(torch.linalg.vector_norm(B.T @ (B @ v - c)).item())
    return v, normas
'''
# La misma respuesta con otros nombres (también los parámetros), otro docstring y comentarios.
_RESPUESTA_RENOMBRADA = '''
def resolver_por_descenso(M, y, tolerancia=1e-8, iteraciones=100_000):
    """Mi versión."""
    sv = torch.linalg.svdvals(M)  # valores singulares
    paso = 1 / sv[0].item() ** 2
    x = torch.zeros(M.shape[1], dtype=M.dtype)
    historial = [torch.linalg.vector_norm(M.T @ (M @ x - y)).item()]
    for i in range(iteraciones):
        if historial[-1] <= tolerancia:
            break
        g = M.T @ (M @ x - y)
        x = x - paso * g
        historial.append(torch.linalg.vector_norm(M.T @ (M @ x - y)).item())
    return x, historial
'''


def _entrega(*respuestas):
    import nbformat

    celdas = [nbformat.v4.new_code_cell(r) for r in respuestas]
    for celda in celdas:
        celda.metadata["nbgrader"] = {"solution": True}
    return nbformat.v4.new_notebook(cells=celdas)


def test_copia_con_las_variables_renombradas():
    from autograder.copias import huella_respuestas, incidencias_de_copia

    original, renombrada = _entrega(_RESPUESTA_COPIADA), _entrega(_RESPUESTA_RENOMBRADA)
    assert huella_respuestas(original) != huella_respuestas(renombrada)
    assert huella_respuestas(original, sin_nombres=True) == huella_respuestas(
        renombrada, sin_nombres=True
    )
    avisos = incidencias_de_copia(
        [("ana", "m5", original), ("luis", "m5", renombrada), ("eva", "m5", original)]
    )
    assert avisos[("luis", "m5")] == [
        "respuestas idénticas salvo los nombres de las variables a las de ana, eva"
    ]
    assert avisos[("ana", "m5")] == [
        "respuestas idénticas a las de eva",
        "respuestas idénticas salvo los nombres de las variables a las de luis",
    ]


def test_respuestas_honradas_distintas_o_cortas_no_son_copia():
    from autograder.copias import incidencias_de_copia

    # Otra estructura (otro orden de las operaciones, otra tasa): no es copia.
    distinta = _RESPUESTA_RENOMBRADA.replace("x - paso * g", "x - 0.5 * paso * g")
    # Dos respuestas cortas y canónicas que cualquiera escribiría igual: no se señalan.
    corta_1 = "def distancias_cuadradas(a, b):\n    return ((a[:, None] - b[None]) ** 2).sum(-1)"
    corta_2 = "def distancias_cuadradas(x, y):\n    return ((x[:, None] - y[None]) ** 2).sum(-1)"
    esqueleto = "def f(x):\n    raise NotImplementedError()"
    avisos = incidencias_de_copia(
        [
            ("ana", "m5", _entrega(_RESPUESTA_COPIADA)),
            ("luis", "m5", _entrega(distinta)),
            ("eva", "m1", _entrega(corta_1, esqueleto)),
            ("leo", "m1", _entrega(corta_2, esqueleto)),
        ]
    )
    assert avisos == {}
    # Los globales y los atributos sí cuentan: otra función de torch no es la misma respuesta.
    otra = _RESPUESTA_RENOMBRADA.replace("torch.zeros", "torch.ones")
    assert (
        incidencias_de_copia(
            [("ana", "m5", _entrega(_RESPUESTA_COPIADA)), ("luis", "m5", _entrega(otra))]
        )
        == {}
    )
