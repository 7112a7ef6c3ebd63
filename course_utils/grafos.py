"""Dibujo del grafo de cómputo: torchviz/Graphviz si están, matplotlib si no."""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from collections.abc import Mapping

import torch

_INSTALAR_DOT = (
    "  · Debian/Ubuntu: sudo apt-get install graphviz\n"
    "  · macOS: brew install graphviz\n"
    "  · conda: conda install -c conda-forge graphviz\n"
    "  · Windows: descárgalo de https://graphviz.org/download/ y añade su carpeta bin al PATH\n"
    "  · Google Colab: ya viene instalado."
)
NOTA_GRAPHVIZ = (
    "Nota: no se encontró el programa «dot» de Graphviz (o no funciona), así que el grafo se "
    "dibuja con matplotlib. Para usar Graphviz, instálalo y reinicia el núcleo:\n" + _INSTALAR_DOT
)
NOTA_PAQUETE_GRAPHVIZ = (
    "Nota: falta el paquete de Python «graphviz» (el programa «dot» sí está), así que el grafo "
    "se dibuja con matplotlib. Instálalo con «pip install graphviz» (en Colab, "
    "«!pip install graphviz») y reinicia el núcleo."
)
NOTA_TORCHVIZ = (
    "Nota: falta el paquete torchviz, así que el grafo se dibuja con matplotlib. "
    "Instálalo con: pip install torchviz"
)

# Colores de los nodos (los mismos que usa torchviz).
_COLOR_HOJA = "lightblue"
_COLOR_OPERACION = "lightgray"
_COLOR_SALIDA = "#caff70"

# Nombre de la operación sin «Backward0» -> símbolo corto.
_SIMBOLOS = {
    "Add": "+",
    "Sub": "−",
    "Rsub": "−",
    "Mul": "×",
    "Div": "÷",
    "Neg": "−(·)",
    "Maximum": "max",
    "Minimum": "min",
    "Max": "max",
    "Min": "min",
    "Relu": "relu",
    "Clamp": "clamp",
    "ClampMin": "clamp",
    "Sigmoid": "σ",
    "LogSigmoid": "log σ",
    "Exp": "exp",
    "Log": "log",
    "Sqrt": "√",
    "Reciprocal": "1/(·)",
    "Abs": "abs",
    "Sum": "Σ",
    "Mean": "media",
    "Mm": "@",
    "Mv": "@",
    "Dot": "·",
    "Pow": "pow",
}
_EXPONENTES = {2: "(·)²", 3: "(·)³"}


def _paquete_graphviz() -> bool:
    try:
        import graphviz  # noqa: F401
    except ImportError:
        return False
    return True


def _programa_dot() -> tuple[str | None, bool]:
    """(ruta del programa «dot» o None, si responde a «dot -V»)."""
    ruta = shutil.which("dot")
    if ruta is None:
        return None, False
    try:
        resultado = subprocess.run([ruta, "-V"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ruta, False
    return ruta, resultado.returncode == 0


def graphviz_disponible() -> bool:
    """Indica si se puede usar Graphviz: el paquete ``graphviz`` y el programa ``dot`` funcionan.

    >>> graphviz_disponible() in (True, False)
    True
    """
    return _paquete_graphviz() and _programa_dot()[1]


def nota_graphviz() -> str:
    """Qué falta para usar Graphviz (el paquete de Python, el programa «dot» o los dos) y cómo
    instalarlo."""
    paquete = _paquete_graphviz()
    ruta, funciona = _programa_dot()
    if paquete and funciona:
        return ""
    if funciona:
        return NOTA_PAQUETE_GRAPHVIZ
    if ruta is None:
        falta = "falta el programa «dot» de Graphviz"
    else:
        falta = f"el programa «dot» de Graphviz ({ruta}) no funciona"
    if paquete:
        falta += " (el paquete de Python «graphviz» sí está)"
        instalar = "Para usar Graphviz, instala el programa y reinicia el núcleo:\n"
    else:
        falta += " y tampoco está el paquete de Python «graphviz»"
        instalar = (
            "Para usar Graphviz, instala el paquete («pip install graphviz») y el programa, y "
            "reinicia el núcleo:\n"
        )
    return f"Nota: {falta}, así que el grafo se dibuja con matplotlib. {instalar}{_INSTALAR_DOT}"


def _simbolo(fn) -> str:
    """Símbolo corto de un nodo de autograd: AddBackward0 -> «+», PowBackward0 -> «(·)²»…"""
    base = re.sub(r"Backward\d*$", "", type(fn).__name__)
    if base == "Pow":
        exponente = getattr(fn, "_saved_exponent", None)
        if isinstance(exponente, (int, float)):
            return _EXPONENTES.get(exponente, f"(·)^{exponente:g}")
    return _SIMBOLOS.get(base, base.lower())


def _forma(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(d) for d in t.shape) + ")"


def _comprobar_tensor(tensor, funcion: str) -> None:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{funcion} necesita un tensor de PyTorch, no {type(tensor).__name__}.")


def _dibujar_capas(etiquetas, colores, aristas, horizontal: bool):
    """Dibuja un grafo dirigido por capas con matplotlib y devuelve la figura.

    La capa de cada nodo es su distancia más larga hasta una salida (nodo sin sucesores):
    las salidas quedan abajo y las entradas arriba (con ``horizontal``, a la derecha y a la
    izquierda).
    """
    import matplotlib.pyplot as plt

    nodos = list(etiquetas)
    sucesores = {k: [] for k in nodos}
    entrantes = dict.fromkeys(nodos, 0)
    for origen, destino, _ in aristas:
        sucesores[origen].append(destino)
        entrantes[destino] += 1

    # Orden topológico (Kahn) y profundidad desde las salidas, sin recursión.
    orden, pendientes = [], [k for k in nodos if entrantes[k] == 0]
    while pendientes:
        k = pendientes.pop()
        orden.append(k)
        for s in sucesores[k]:
            entrantes[s] -= 1
            if entrantes[s] == 0:
                pendientes.append(s)
    profundidad = {}
    for k in reversed(orden):
        profundidad[k] = 1 + max((profundidad[s] for s in sucesores[k]), default=-1)

    # Cada capa se ordena por la posición media de sus sucesores (menos cruces).
    capas = [[] for _ in range(max(profundidad.values()) + 1)]
    for k in nodos:
        capas[profundidad[k]].append(k)
    posicion = {}
    for capa in capas:
        capa.sort(key=lambda k: sum(posicion[s] for s in sucesores[k]) / max(len(sucesores[k]), 1))
        for i, k in enumerate(capa):
            posicion[k] = i - (len(capa) - 1) / 2

    # Coordenadas en pulgadas: paso entre capas y entre nodos de una capa.
    paso_capa, paso_nodo = (2.6, 1.1) if horizontal else (0.9, 2.0)
    ultima = len(capas) - 1
    coordenadas = {
        k: ((ultima - profundidad[k]) * paso_capa, -posicion[k] * paso_nodo)
        if horizontal
        else (posicion[k] * paso_nodo, profundidad[k] * paso_capa)
        for k in nodos
    }
    xs = [x for x, _ in coordenadas.values()]
    ys = [y for _, y in coordenadas.values()]
    margen_x, margen_y = 1.2, 0.6
    ancho = max(xs) - min(xs) + 2 * margen_x
    alto = max(ys) - min(ys) + 2 * margen_y
    # Los grafos enormes se encogen para no crear imágenes de decenas de miles de píxeles.
    figura = plt.figure(figsize=(min(ancho, 30), min(alto, 30)))
    plt.close(figura)  # se muestra al devolverla, no dos veces en Jupyter
    ax = figura.add_axes((0, 0, 1, 1))
    ax.set_xlim(min(xs) - margen_x, max(xs) + margen_x)
    ax.set_ylim(min(ys) - margen_y, max(ys) + margen_y)
    ax.axis("off")

    textos = {
        k: ax.text(
            *coordenadas[k],
            etiquetas[k],
            ha="center",
            va="center",
            fontsize=9,
            zorder=3,
            bbox={"boxstyle": "round,pad=0.4", "facecolor": colores[k], "edgecolor": "0.4"},
        )
        for k in nodos
    }
    salida, llegada = ((1, 0.5), (0, 0.5)) if horizontal else ((0.5, 0), (0.5, 1))
    for origen, destino, etiqueta in aristas:
        ax.annotate(
            "",
            xy=llegada,
            xycoords=textos[destino],
            xytext=salida,
            textcoords=textos[origen],
            arrowprops={"arrowstyle": "-|>", "color": "0.35", "shrinkA": 5, "shrinkB": 5},
            zorder=1,
        )
        if etiqueta:
            # Algo más cerca del destino que del origen: las aristas que salen de un mismo
            # nodo ya se han separado y las que llegan a otro aún no se han juntado.
            (x0, y0), (x1, y1) = coordenadas[origen], coordenadas[destino]
            ax.text(
                x0 + 0.6 * (x1 - x0),
                y0 + 0.6 * (y1 - y0),
                etiqueta,
                ha="center",
                va="center",
                fontsize=9,
                color="darkred",
                zorder=2,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
            )
    return figura


def _grafo_autograd(tensor: torch.Tensor, parametros: Mapping[str, torch.Tensor]):
    """Recorre grad_fn.next_functions y devuelve (etiquetas, colores, aristas)."""
    nombres = {id(t): nombre for nombre, t in parametros.items()}
    salida = ("salida",)
    etiquetas = {salida: f"{nombres.get(id(tensor), '')}\n{_forma(tensor)}".strip()}
    colores = {salida: _COLOR_SALIDA}
    aristas = []
    if tensor.grad_fn is None:
        colores[salida] = _COLOR_HOJA
        return etiquetas, colores, aristas
    aristas.append((tensor.grad_fn, salida, None))
    pila, vistos = [tensor.grad_fn], set()
    while pila:
        fn = pila.pop()
        if fn in vistos:
            continue
        vistos.add(fn)
        variable = getattr(fn, "variable", None)
        if variable is not None:  # AccumulateGrad: se dibuja como la hoja que acumula
            etiquetas[fn] = f"{nombres.get(id(variable), '')}\n{_forma(variable)}".strip()
            colores[fn] = _COLOR_HOJA
        else:
            etiquetas[fn] = type(fn).__name__
            colores[fn] = _COLOR_OPERACION
        for siguiente, _ in fn.next_functions:
            if siguiente is not None:
                aristas.append((siguiente, fn, None))
                pila.append(siguiente)
    return etiquetas, colores, aristas


def dibujar_grafo(tensor, parametros=None):
    """Dibuja el grafo de cómputo que produjo ``tensor``.

    ``parametros`` (nombre -> tensor) pone nombre a las hojas. Con Graphviz devuelve un
    ``graphviz.Digraph`` de torchviz, que Jupyter muestra; sin Graphviz imprime cómo
    instalarlo y devuelve una figura de matplotlib hecha recorriendo ``grad_fn``.

    >>> import contextlib, io, torch
    >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> y = (3 * w).sum()
    >>> with contextlib.redirect_stdout(io.StringIO()):  # oculta la nota si falta Graphviz
    ...     grafo = dibujar_grafo(y, {"w": w})
    >>> type(grafo).__name__ in ("Digraph", "Figure")
    True
    """
    _comprobar_tensor(tensor, "dibujar_grafo")
    parametros = _comprobar_parametros(parametros)
    if tensor.grad_fn is None and not tensor.requires_grad:
        raise ValueError(
            "Este tensor no tiene grafo de cómputo: no depende de ningún tensor con "
            "requires_grad=True. Crea las entradas con requires_grad=True antes de operar "
            "y fuera de torch.no_grad()."
        )
    if graphviz_disponible():
        try:
            import torchviz
        except ImportError:
            print(NOTA_TORCHVIZ)
        else:
            with warnings.catch_warnings():
                # torchviz usa LooseVersion de distutils, que avisa de que está obsoleto.
                warnings.filterwarnings("ignore", "distutils Version", DeprecationWarning)
                return torchviz.make_dot(tensor, params=dict(parametros))
    else:
        print(nota_graphviz())
    return _dibujar_capas(*_grafo_autograd(tensor, parametros), horizontal=False)


def _comprobar_parametros(parametros) -> dict[str, torch.Tensor]:
    if parametros is None:
        return {}
    if not isinstance(parametros, Mapping):
        raise TypeError(
            "parametros debe ser un diccionario nombre -> tensor, por ejemplo "
            f"{{'w': w, 'b': b}}; se recibió {type(parametros).__name__}."
        )
    for nombre, t in parametros.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(
                f"parametros[{nombre!r}] debe ser un tensor de PyTorch, no {type(t).__name__}."
            )
    return {str(nombre): t for nombre, t in parametros.items()}


def _aristas_variables(variables: dict[str, torch.Tensor]) -> list[tuple[str, str, str]]:
    """Aristas (origen, destino, operación) entre las variables con nombre.

    Recorre grad_fn hacia atrás desde cada variable hasta llegar a otra variable con nombre
    (por la identidad de su grad_fn, o de la hoja que guarda AccumulateGrad.variable). Si hay
    operaciones intermedias sin nombre, la etiqueta las encadena en orden de aplicación.
    """
    por_fn = {t.grad_fn: n for n, t in variables.items() if t.grad_fn is not None}
    por_hoja = {id(t): n for n, t in variables.items() if t.grad_fn is None}

    def nombre_de(fn):
        if fn in por_fn:
            return por_fn[fn]
        variable = getattr(fn, "variable", None)
        return None if variable is None else por_hoja.get(id(variable))

    etiquetas: dict[tuple[str, str], list[str]] = {}
    for destino, t in variables.items():
        if t.grad_fn is None:
            continue
        pila, vistos = [(t.grad_fn, (_simbolo(t.grad_fn),))], set()
        while pila:
            fn, operaciones = pila.pop()
            if fn in vistos:
                continue
            vistos.add(fn)
            for siguiente, _ in fn.next_functions:
                if siguiente is None:
                    continue
                origen = nombre_de(siguiente)
                if origen is not None:
                    etiqueta = ", ".join(reversed(operaciones))
                    lista = etiquetas.setdefault((origen, destino), [])
                    if etiqueta not in lista:
                        lista.append(etiqueta)
                elif not hasattr(siguiente, "variable"):  # operación intermedia sin nombre
                    pila.append((siguiente, (*operaciones, _simbolo(siguiente))))
    return [(o, d, " | ".join(e)) for (o, d), e in etiquetas.items()]


def _formatear(t: torch.Tensor) -> str:
    return f"{t.item():.4g}".replace("-", "−") if t.numel() == 1 else f"forma {_forma(t)}"


def dibujar_grafo_variables(variables):
    """Dibuja el grafo de unas variables con nombre, con su valor y su gradiente.

    ``variables`` es un diccionario nombre -> tensor (normalmente escalares). Las aristas se
    encuentran recorriendo ``grad_fn`` entre las variables y llevan la operación («+», «×»,
    «max», «(·)²»…). Si un tensor tiene ``.grad`` (las hojas tras ``backward()``, los intermedios
    con ``retain_grad()``), el nodo lo muestra. Devuelve un ``graphviz.Digraph`` si Graphviz
    está instalado y, si no, una figura de matplotlib.

    >>> import contextlib, io, torch
    >>> a = torch.tensor(1.0, requires_grad=True)
    >>> b = torch.tensor(2.0, requires_grad=True)
    >>> m = a + b
    >>> with contextlib.redirect_stdout(io.StringIO()):  # oculta la nota si falta Graphviz
    ...     grafo = dibujar_grafo_variables({"a": a, "b": b, "m": m})
    >>> type(grafo).__name__ in ("Digraph", "Figure")
    True
    """
    if not isinstance(variables, Mapping) or not variables:
        raise TypeError(
            "variables debe ser un diccionario no vacío nombre -> tensor, por ejemplo "
            "{'a': a, 'b': b, 'm': m}."
        )
    for nombre, t in variables.items():
        _comprobar_tensor(t, f"dibujar_grafo_variables (variable {nombre!r})")
    variables = {str(n): t for n, t in variables.items()}
    aristas = _aristas_variables(variables)

    # La salida es la única variable a la que llegan aristas y de la que no sale ninguna.
    origenes = {o for o, _, _ in aristas}
    finales = {d for _, d, _ in aristas} - origenes
    salida = next(iter(finales)) if len(finales) == 1 else ""

    etiquetas, colores = {}, {}
    for nombre, t in variables.items():
        lineas = [f"{nombre} = {_formatear(t)}"]
        gradiente = t.grad if t.is_leaf or t.retains_grad else None  # sin avisos de PyTorch
        if gradiente is not None:
            lineas.append(f"∂{salida}/∂{nombre} = {_formatear(gradiente)}")
        etiquetas[nombre] = "\n".join(lineas)
        if nombre == salida:
            colores[nombre] = _COLOR_SALIDA
        elif t.grad_fn is None:
            colores[nombre] = _COLOR_HOJA
        else:
            colores[nombre] = _COLOR_OPERACION

    if graphviz_disponible():
        import graphviz

        grafo = graphviz.Digraph(
            graph_attr={"rankdir": "LR"},
            node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica"},
            edge_attr={"fontname": "Helvetica", "fontcolor": "darkred"},
        )
        identificadores = {nombre: f"v{i}" for i, nombre in enumerate(variables)}
        for nombre in variables:
            grafo.node(identificadores[nombre], etiquetas[nombre], fillcolor=colores[nombre])
        for origen, destino, etiqueta in aristas:
            grafo.edge(identificadores[origen], identificadores[destino], label=etiqueta)
        return grafo
    print(nota_graphviz())
    return _dibujar_capas(etiquetas, colores, aristas, horizontal=True)
