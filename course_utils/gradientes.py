"""Gradientes de referencia: diferencias finitas centradas y autograd, ambos en float64."""

from __future__ import annotations

import html
import inspect
import math

import torch


def _preparar(tensores, funcion: str) -> list[torch.Tensor]:
    """Valida las entradas y devuelve copias float64 en la CPU, sin grafo."""
    if not tensores:
        raise ValueError(f"{funcion} necesita al menos un tensor después de la función f.")
    copias = []
    for i, t in enumerate(tensores, start=1):
        if not isinstance(t, torch.Tensor):
            raise TypeError(
                f"El argumento {i} de {funcion} debe ser un tensor de PyTorch, no "
                f"{type(t).__name__}. Conviértelo con torch.tensor(..., dtype=torch.float64)."
            )
        if not t.dtype.is_floating_point:
            raise TypeError(
                f"El tensor {i} de {funcion} tiene dtype {t.dtype}: solo se deriva respecto a "
                f"números reales. Usa un tensor float, por ejemplo torch.tensor(2.0) en lugar de "
                f"torch.tensor(2), o conviértelo con .double()."
            )
        copia = t.detach().to(device="cpu", dtype=torch.float64)
        copia = copia.clone(memory_format=torch.contiguous_format)
        if not torch.isfinite(copia).all():
            raise ValueError(
                f"El tensor {i} de {funcion} contiene NaN o infinitos: el gradiente no está "
                f"definido ahí. Revisa cómo se calcularon sus valores."
            )
        copias.append(copia)
    return copias


def _evaluar(f, entradas, funcion: str) -> torch.Tensor:
    """Llama a f y comprueba que devuelve un tensor escalar."""
    salida = f(*entradas)
    if not isinstance(salida, torch.Tensor):
        raise TypeError(
            f"La función f pasada a {funcion} debe devolver un tensor escalar de PyTorch, pero "
            f"devolvió {type(salida).__name__}. Calcula el resultado con operaciones de torch."
        )
    if salida.numel() != 1:
        raise ValueError(
            f"La función f pasada a {funcion} debe devolver un escalar (un tensor con un solo "
            f"elemento), pero devolvió un tensor de forma {tuple(salida.shape)}. Si es una "
            f"pérdida, redúcela con .sum() o .mean()."
        )
    return salida


def gradiente_numerico(f, *tensores, h: float = 1e-6) -> tuple[torch.Tensor, ...]:
    """Gradiente de ``f`` por diferencias finitas centradas, en float64.

    Cada componente es (f(x + h) − f(x − h)) / 2h. Las entradas se copian (nunca se modifican)
    a la CPU en float64; ``f`` debe devolver un tensor escalar y, si usa tensores constantes,
    estos deben ser float64. Devuelve un tensor por entrada, con su forma.

    >>> import torch
    >>> x = torch.tensor([1.0, 2.0])
    >>> (gx,) = gradiente_numerico(lambda x: (x**2).sum(), x)
    >>> torch.allclose(gx, 2 * x.double())
    True
    """
    if isinstance(h, bool) or not isinstance(h, (int, float)):
        raise TypeError(f"El paso h debe ser un número real, no {type(h).__name__}.")
    if not math.isfinite(h) or h <= 0:
        raise ValueError(
            f"El paso h debe ser un número positivo y finito (por ejemplo 1e-6); se recibió {h}."
        )
    entradas = _preparar(tensores, "gradiente_numerico")
    gradientes = []
    with torch.no_grad():
        _evaluar(f, entradas, "gradiente_numerico")
        for x in entradas:
            plano = x.view(-1)
            gradiente = torch.zeros_like(plano)
            for j in range(plano.numel()):
                original = plano[j].item()
                plano[j] = original + h
                arriba = _evaluar(f, entradas, "gradiente_numerico").item()
                mas = plano[j].item()
                plano[j] = original - h
                abajo = _evaluar(f, entradas, "gradiente_numerico").item()
                menos = plano[j].item()
                plano[j] = original
                # Se divide por el paso realmente representado, no por 2h exacto.
                gradiente[j] = (arriba - abajo) / (mas - menos)
            gradientes.append(gradiente.view(x.shape))
    return tuple(gradientes)


def gradiente_autograd(f, *tensores) -> tuple[torch.Tensor, ...]:
    """Gradiente de ``f`` calculado con autograd sobre copias float64 en la CPU.

    Las entradas que ``f`` no usa reciben un gradiente de ceros (no ``None``).

    >>> import torch
    >>> x, y = torch.tensor(3.0), torch.tensor(5.0)
    >>> gradiente_autograd(lambda x, y: x * x, x, y)
    (tensor(6., dtype=torch.float64), tensor(0., dtype=torch.float64))
    """
    entradas = [x.requires_grad_(True) for x in _preparar(tensores, "gradiente_autograd")]
    with torch.enable_grad():
        salida = _evaluar(f, entradas, "gradiente_autograd")
        if not salida.requires_grad:
            return tuple(torch.zeros_like(x).detach() for x in entradas)
        gradientes = torch.autograd.grad(salida.sum(), entradas, allow_unused=True)
    return tuple(
        torch.zeros_like(x).detach() if g is None else g.detach().to(torch.float64)
        for x, g in zip(entradas, gradientes, strict=True)
    )


def _error_relativo(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖ / max(‖a‖, ‖b‖); 0 si ambos son cero."""
    escala = max(a.norm().item(), b.norm().item())
    return 0.0 if escala == 0 else (a - b).norm().item() / escala


def _formatear(t: torch.Tensor) -> str:
    valores = t.reshape(-1).tolist()
    if len(valores) == 1:
        return f"{valores[0]:.6g}"
    texto = ", ".join(f"{v:.4g}" for v in valores[:3])
    if t.dim() != 1:
        return f"forma {tuple(t.shape)}: [{texto}{', …' if len(valores) > 3 else ''}]"
    return f"[{texto}, … ({len(valores)} valores)]" if len(valores) > 3 else f"[{texto}]"


class TablaGradientes:
    """Comparación autograd frente a diferencias finitas, una fila por entrada."""

    ENCABEZADOS = ("variable", "autograd", "diferencias finitas", "error relativo")

    def __init__(self, nombres, autograd, numerico):
        self.nombres = list(nombres)
        self.autograd = tuple(autograd)
        self.numerico = tuple(numerico)
        self.errores = tuple(
            _error_relativo(a, n) for a, n in zip(self.autograd, self.numerico, strict=True)
        )

    @property
    def error_maximo(self) -> float:
        """El mayor error relativo de la tabla."""
        return max(self.errores)

    def _filas(self) -> list[tuple[str, str, str, str]]:
        return [
            (nombre, _formatear(a), _formatear(n), f"{e:.2e}")
            for nombre, a, n, e in zip(
                self.nombres, self.autograd, self.numerico, self.errores, strict=True
            )
        ]

    def __str__(self) -> str:
        filas = [self.ENCABEZADOS, *self._filas()]
        anchos = [max(len(fila[k]) for fila in filas) for k in range(4)]
        lineas = [
            "  ".join(c.ljust(a) for c, a in zip(fila, anchos, strict=True)) for fila in filas
        ]
        lineas.insert(1, "  ".join("─" * a for a in anchos))
        return "\n".join(linea.rstrip() for linea in lineas)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        cabecera = "".join(f"<th>{html.escape(c)}</th>" for c in self.ENCABEZADOS)
        cuerpo = "".join(
            "<tr>"
            + f"<td>{html.escape(fila[0])}</td>"
            + "".join(f'<td style="text-align:right">{html.escape(c)}</td>' for c in fila[1:])
            + "</tr>"
            for fila in self._filas()
        )
        return f"<table><thead><tr>{cabecera}</tr></thead><tbody>{cuerpo}</tbody></table>"


def _nombres_por_defecto(f, cuantos: int, generico: str = "entrada {}") -> list[str]:
    """Nombres de los parámetros de f si se pueden leer; si no, «entrada 1», «entrada 2»…"""
    try:
        parametros = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        parametros = []
    posicionales = [
        p.name for p in parametros if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(posicionales) >= cuantos:
        return posicionales[:cuantos]
    return [generico.format(i) for i in range(1, cuantos + 1)]


def comparar_gradientes(f, *tensores, nombres=None, h: float = 1e-6) -> TablaGradientes:
    """Tabla que compara el gradiente de autograd con el de diferencias finitas (float64).

    El error relativo de cada entrada es ‖autograd − numérico‖ / max(‖autograd‖, ‖numérico‖).
    Sin ``nombres`` se usan los nombres de los parámetros de ``f``.

    >>> import torch
    >>> def f(a, b):
    ...     return a * b**2
    >>> tabla = comparar_gradientes(f, torch.tensor(3.0), torch.tensor(2.0))
    >>> print(tabla)  # doctest: +ELLIPSIS
    variable  autograd  diferencias finitas  error relativo
    ────────  ────────  ───────────────────  ──────────────
    a         4         4                    ...
    b         12        12                   ...
    >>> tabla.error_maximo < 1e-8
    True
    """
    if nombres is None:
        nombres = _nombres_por_defecto(f, len(tensores))
    else:
        nombres = [str(n) for n in nombres]
        if len(nombres) != len(tensores):
            raise ValueError(
                f"Hay {len(nombres)} nombres para {len(tensores)} tensores: pasa un nombre por "
                f"tensor."
            )
    autograd = gradiente_autograd(f, *tensores)
    numerico = gradiente_numerico(f, *tensores, h=h)
    return TablaGradientes(nombres, autograd, numerico)
