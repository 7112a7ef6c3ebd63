"""Pruebas de course_utils.grafos, con y sin el programa «dot» de Graphviz."""

import doctest
import re
import shutil
import sys
import warnings

import graphviz
import matplotlib.figure
import matplotlib.text
import pytest
import torch

from course_utils import grafos
from course_utils.grafos import dibujar_grafo, dibujar_grafo_variables, graphviz_disponible

DOT_REAL = shutil.which("dot")
INSTRUCCIONES = (
    "apt-get install graphviz",
    "brew install graphviz",
    "conda install -c conda-forge graphviz",
    "Colab",
)


def _programa(directorio, codigo_de_salida):
    ruta = directorio / "dot"
    ruta.write_text(f"#!/bin/sh\nexit {codigo_de_salida}\n")
    ruta.chmod(0o755)


@pytest.fixture
def sin_dot(monkeypatch, tmp_path):
    """PATH sin ningún programa «dot»."""
    monkeypatch.setenv("PATH", str(tmp_path))


@pytest.fixture
def dot_roto(monkeypatch, tmp_path):
    """Un «dot» que existe pero falla al ejecutarse."""
    _programa(tmp_path, 1)
    monkeypatch.setenv("PATH", str(tmp_path))


@pytest.fixture
def dot_falso(monkeypatch, tmp_path):
    """Un «dot» que responde bien a «dot -V» (basta para construir el Digraph)."""
    _programa(tmp_path, 0)
    monkeypatch.setenv("PATH", str(tmp_path))


@pytest.fixture
def ejemplo_temario():
    """a = 1, b = 2, c = 0; m = a + b; n = max(b, c); p = m·n; l = p², tras backward()."""
    a = torch.tensor(1.0, requires_grad=True)
    b = torch.tensor(2.0, requires_grad=True)
    c = torch.tensor(0.0, requires_grad=True)
    m = a + b
    n = torch.maximum(b, c)
    p = m * n
    l = p**2  # noqa: E741
    for t in (m, n, p):
        t.retain_grad()
    l.backward()
    return {"a": a, "b": b, "c": c, "m": m, "n": n, "p": p, "l": l}


ARISTAS_TEMARIO = {
    ("a", "m", "+"),
    ("b", "m", "+"),
    ("b", "n", "max"),
    ("c", "n", "max"),
    ("m", "p", "×"),
    ("n", "p", "×"),
    ("p", "l", "(·)²"),
}


def _lineal():
    """y = Σ(w·x + b) con x constante: un grafo pequeño e igual en todas las versiones."""
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = torch.tensor([0.5, 0.5, 0.5], requires_grad=True)
    x = torch.tensor([4.0, 5.0, 6.0])
    return (w * x + b).sum(), w, b


def _aristas_figura(figura):
    """(texto del origen, texto del destino) de cada flecha dibujada."""
    (ax,) = figura.axes
    return {
        (a.anncoords.get_text(), a.xycoords.get_text())
        for a in ax.texts
        if isinstance(a, matplotlib.text.Annotation)
    }


def _textos_figura(figura):
    (ax,) = figura.axes
    return {t.get_text(): t for t in ax.texts if not isinstance(t, matplotlib.text.Annotation)}


def _aristas_digraph(grafo):
    """(etiqueta del origen, etiqueta del destino, etiqueta de la arista) del código DOT."""
    fuente = grafo.source
    nodos = dict(re.findall(r'^\t(v\d+) \[label="([^"]*)"', fuente, flags=re.MULTILINE))
    aristas = re.findall(r'(v\d+) -> (v\d+) \[label=(?:"([^"]*)"|(\w+))\]', fuente)
    return {(nodos[o], nodos[d], e1 or e2) for o, d, e1, e2 in aristas}


def _nombre(etiqueta):
    return etiqueta.split(" = ")[0]


def test_doctests():
    resultado = doctest.testmod(grafos)
    assert resultado.attempted > 0
    assert resultado.failed == 0


def test_doctests_sin_dot(sin_dot):
    resultado = doctest.testmod(grafos)
    assert resultado.failed == 0


def test_graphviz_disponible_segun_dot(dot_falso):
    assert graphviz_disponible() is True


def test_graphviz_no_disponible_sin_dot(sin_dot):
    assert graphviz_disponible() is False


def test_graphviz_no_disponible_con_dot_roto(dot_roto):
    assert graphviz_disponible() is False


def test_graphviz_no_disponible_sin_permiso_de_ejecucion(monkeypatch, tmp_path):
    (tmp_path / "dot").write_text("#!/bin/sh\nexit 0\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert graphviz_disponible() is False


def test_dibujar_grafo_con_graphviz(dot_falso):
    y, w, b = _lineal()
    grafo = dibujar_grafo(y, {"w": w, "b": b})
    assert isinstance(grafo, graphviz.Digraph)
    fuente = grafo.source
    assert "w\n (3)" in fuente
    assert "b\n (3)" in fuente
    for operacion in ("MulBackward0", "AddBackward0", "SumBackward0"):
        assert operacion in fuente


def test_dibujar_grafo_sin_nombres(dot_falso):
    y, _, _ = _lineal()
    assert "MulBackward0" in dibujar_grafo(y).source


@pytest.mark.skipif(DOT_REAL is None, reason="hace falta el programa dot de Graphviz")
def test_grafo_se_muestra_en_jupyter(ejemplo_temario):
    y, w, b = _lineal()
    grafo = dibujar_grafo(y, {"w": w, "b": b})
    svg = grafo._repr_mimebundle_()["image/svg+xml"]
    assert "<svg" in svg
    assert "MulBackward0" in svg
    svg = dibujar_grafo_variables(ejemplo_temario)._repr_mimebundle_()["image/svg+xml"]
    assert "<svg" in svg
    assert "∂l/∂b = 60" in svg


@pytest.mark.parametrize("entorno", ["sin_dot", "dot_roto"])
def test_dibujar_grafo_sin_graphviz(request, capsys, entorno):
    request.getfixturevalue(entorno)
    y, w, b = _lineal()
    figura = dibujar_grafo(y, {"w": w, "b": b})
    assert isinstance(figura, matplotlib.figure.Figure)
    salida = capsys.readouterr()
    for instruccion in INSTRUCCIONES:
        assert instruccion in salida.out
    assert salida.err == ""
    assert _aristas_figura(figura) == {
        ("w\n(3)", "MulBackward0"),
        ("MulBackward0", "AddBackward0"),
        ("b\n(3)", "AddBackward0"),
        ("AddBackward0", "SumBackward0"),
        ("SumBackward0", "()"),
    }
    # Capas por profundidad: la salida abajo y las hojas arriba.
    textos = _textos_figura(figura)
    altura = {k: textos[k].get_position()[1] for k in textos}
    assert altura["()"] < altura["SumBackward0"] < altura["AddBackward0"]
    assert altura["AddBackward0"] < altura["MulBackward0"] < altura["w\n(3)"]
    assert altura["b\n(3)"] > altura["AddBackward0"]


def test_dibujar_grafo_sin_torchviz(monkeypatch, capsys, dot_falso):
    monkeypatch.setitem(sys.modules, "torchviz", None)
    y, w, _ = _lineal()
    figura = dibujar_grafo(y, {"w": w})
    assert isinstance(figura, matplotlib.figure.Figure)
    assert "pip install torchviz" in capsys.readouterr().out


def test_dibujar_grafo_de_una_hoja(sin_dot, capsys):
    w = torch.ones(2, 2, requires_grad=True)
    figura = dibujar_grafo(w, {"w": w})
    assert _aristas_figura(figura) == set()
    assert set(_textos_figura(figura)) == {"w\n(2, 2)"}


def test_dibujar_grafo_se_puede_guardar(sin_dot, tmp_path, capsys):
    y, w, b = _lineal()
    ruta = tmp_path / "grafo.png"
    dibujar_grafo(y, {"w": w, "b": b}).savefig(ruta)
    assert ruta.read_bytes()[:4] == b"\x89PNG"


def test_dibujar_grafo_entradas_no_validas():
    y, w, _ = _lineal()
    with pytest.raises(TypeError, match="tensor de PyTorch"):
        dibujar_grafo([1.0, 2.0])
    with pytest.raises(ValueError, match="requires_grad=True"):
        dibujar_grafo(torch.ones(3) * 2)
    with pytest.raises(TypeError, match="diccionario"):
        dibujar_grafo(y, [w])
    with pytest.raises(TypeError, match=r"parametros\['w'\]"):
        dibujar_grafo(y, {"w": 1.0})


def test_grafo_variables_con_graphviz(dot_falso, ejemplo_temario):
    grafo = dibujar_grafo_variables(ejemplo_temario)
    assert isinstance(grafo, graphviz.Digraph)
    aristas = {(_nombre(o), _nombre(d), e) for o, d, e in _aristas_digraph(grafo)}
    assert aristas == ARISTAS_TEMARIO
    fuente = grafo.source
    for linea in (
        "a = 1\n∂l/∂a = 24",
        "b = 2\n∂l/∂b = 60",
        "c = 0\n∂l/∂c = 0",
        "m = 3\n∂l/∂m = 24",
        "n = 2\n∂l/∂n = 36",
        "p = 6\n∂l/∂p = 12",
        'label="l = 36"',
    ):
        assert linea in fuente
    assert "rankdir=LR" in fuente


def test_grafo_variables_sin_graphviz(sin_dot, capsys, ejemplo_temario):
    figura = dibujar_grafo_variables(ejemplo_temario)
    assert isinstance(figura, matplotlib.figure.Figure)
    assert "apt-get install graphviz" in capsys.readouterr().out
    flechas = {
        (_nombre(o.split("\n")[0]), _nombre(d.split("\n")[0])) for o, d in _aristas_figura(figura)
    }
    assert flechas == {(o, d) for o, d, _ in ARISTAS_TEMARIO}
    textos = _textos_figura(figura)
    for etiqueta in ("+", "max", "×", "(·)²", "a = 1\n∂l/∂a = 24", "b = 2\n∂l/∂b = 60", "l = 36"):
        assert etiqueta in textos
    # De izquierda a derecha: entradas, m y n, p, l.
    x = {_nombre(k.split("\n")[0]): t.get_position()[0] for k, t in textos.items() if " = " in k}
    assert max(x["a"], x["b"], x["c"]) < min(x["m"], x["n"])
    assert max(x["m"], x["n"]) < x["p"] < x["l"]


def test_grafo_variables_sin_backward_ni_avisos(dot_falso):
    a = torch.tensor(1.0, requires_grad=True)
    b = torch.tensor(2.0, requires_grad=True)
    m = a * b
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # leer .grad de un intermedio daría un aviso
        grafo = dibujar_grafo_variables({"a": a, "b": b, "m": m})
    assert "∂" not in grafo.source
    assert {(_nombre(o), _nombre(d), e) for o, d, e in _aristas_digraph(grafo)} == {
        ("a", "m", "×"),
        ("b", "m", "×"),
    }


def test_grafo_variables_con_operaciones_sin_nombre(dot_falso):
    a = torch.tensor(2.0, requires_grad=True)
    b = torch.tensor(3.0, requires_grad=True)
    m = 3 * a + b  # 3·a no tiene nombre
    z = torch.sigmoid(-m)
    aristas = _aristas_digraph(dibujar_grafo_variables({"a": a, "b": b, "m": m, "z": z}))
    assert {(_nombre(o), _nombre(d), e) for o, d, e in aristas} == {
        ("a", "m", "×, +"),
        ("b", "m", "+"),
        ("m", "z", "−(·), σ"),
    }


def test_grafo_variables_no_escalares(dot_falso):
    w = torch.ones(2, 3, requires_grad=True)
    s = w.sum()
    s.backward()
    fuente = dibujar_grafo_variables({"w": w, "s": s}).source
    assert "w = forma (2, 3)\n∂s/∂w = forma (2, 3)" in fuente
    assert "s = 6" in fuente


@pytest.mark.parametrize("variables", [{}, [1, 2], None])
def test_grafo_variables_entrada_no_valida(variables):
    with pytest.raises(TypeError, match="diccionario"):
        dibujar_grafo_variables(variables)


def test_grafo_variables_valor_no_tensor():
    with pytest.raises(TypeError, match="'a'"):
        dibujar_grafo_variables({"a": 1.0})


@pytest.mark.parametrize(
    ("operacion", "simbolo"),
    [
        (lambda x: x**2, "(·)²"),
        (lambda x: x**3, "(·)³"),
        (lambda x: x**0.5, "(·)^0.5"),
        (lambda x: x**x, "pow"),
        (lambda x: x - 1, "−"),
        (lambda x: x / 2, "÷"),
        (torch.exp, "exp"),
        (torch.relu, "relu"),
        (torch.tanh, "tanh"),
    ],
)
def test_simbolos_de_las_operaciones(operacion, simbolo):
    x = torch.tensor(2.0, requires_grad=True)
    assert grafos._simbolo(operacion(x).grad_fn) == simbolo
