"""Comprobaciones de los ejercicios: las mismas funciones en las pruebas visibles y en las ocultas.

Diseño común de todas las ``comprobar_*``:

- Comparan con tolerancia relativa y absoluta, en CPU y en float64, sin quejarse del
  dispositivo ni del dtype de la respuesta salvo que se pida (``comprobar_dtype``). La
  tolerancia relativa nunca es menor que cuatro veces la precisión del dtype de la respuesta
  (así una respuesta en float16 se juzga a su precisión). Los tensores con ``requires_grad``
  se aceptan (se usa ``detach()``).
- Si algo falla lanzan :class:`ErrorComprobacion` (un ``AssertionError``) con un mensaje breve
  en español que dice qué mirar: tipo, forma, dtype, NaN/infinitos, ``requires_grad`` o
  cuántos valores difieren (con tu valor en el peor elemento y los errores redondeados a dos
  cifras), más una pista para los errores típicos. Nunca muestran el valor esperado.
- En IPython/Jupyter/Colab el error se muestra sin las líneas internas de este módulo
  (``_render_traceback_``): el alumno solo ve su celda y el mensaje, que es también lo que
  nbgrader copia en la retroalimentación.
- Si el código del alumno lanza ``NotImplementedError`` (el esqueleto que deja nbgrader), la
  comprobación lanza ``NotImplementedError`` con «Todavía no has completado …».
- Nunca escriben en stderr (nbgrader daría 0 puntos a la celda): los avisos y lo que se
  escriba en ``sys.stderr`` mientras se ejecutan el código del alumno y las referencias se
  descartan.
- Devuelven ``None``. Si todo va bien y ``mostrar=True`` (por defecto) imprimen en stdout una
  línea ``✔ ¡Correcto! …``; en las pruebas ocultas conviene ``mostrar=False``.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import math
import types
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "ErrorComprobacion",
    "comprobar_escalar",
    "comprobar_funcion",
    "comprobar_gradientes",
    "comprobar_tensor",
    "ejecutar_alumno",
]

PISTA_MAX = (
    "torch.max(m, 0) reduce a lo largo de la dimensión 0; para max(m, 0) usa "
    "torch.clamp(m, min=0) o torch.relu(m)."
)
PISTA_NO_FINITO = (
    "Suele deberse a un desbordamiento (p. ej. exp de valores grandes en un softmax inestable: "
    "resta el máximo o usa log-sum-exp) o a log(0)."
)
PISTA_GRAFO = (
    "¿interviene {x} en el cálculo con requires_grad=True? Usa torch.maximum(b, c) en lugar de "
    "max(b, c) de Python y evita .item(), .detach() o crear tensores nuevos a partir de {x}."
)
PISTA_SATURACION = (
    "todos tus gradientes son 0, pero los correctos son muy pequeños, no nulos: la función está "
    "saturada. Las diferencias finitas en float32 (o log(sigmoid(z)) en precisión simple) "
    "redondean a 0; usa float64 y una fórmula estable (torch.nn.functional.logsigmoid), o autograd."
)
PISTA_ACUMULADOS = (
    "tus gradientes son {k} veces los correctos. Dos causas habituales: un factor constante "
    "de más en la fórmula (revisa la derivada), o gradientes acumulados en .grad por varios "
    "backward() sin ponerlos a cero (x.grad.zero_() u optimizer.zero_grad())."
)
AVISO_INTERNO = "Error interno de la comprobación (avisa al profesorado)"

_ARTICULOS = ("el ", "la ", "los ", "las ", "un ", "una ", "tu ", "tus ")


class ErrorComprobacion(AssertionError):
    """Respuesta incorrecta: mensaje en español, sin traceback de las comprobaciones.

    >>> try:
    ...     comprobar_escalar(3, 4, mostrar=False)
    ... except ErrorComprobacion as error:
    ...     print(isinstance(error, AssertionError), "4" in str(error))
    True False
    """

    def _render_traceback_(self) -> list[str]:
        return _traceback_limpio(self)


# --- Presentación de los errores ------------------------------------------------------------


def _traceback_limpio(error: BaseException) -> list[str]:
    """Traceback de IPython sin los marcos de este módulo ni los ocultos (``__tracebackhide__``)."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        marcos = []
        tb = error.__traceback__
        while tb is not None:
            marco = tb.tb_frame
            if marco.f_globals.get("__name__") != __name__ and not marco.f_locals.get(
                "__tracebackhide__"
            ):
                marcos.append(tb)
            tb = tb.tb_next
        nuevo = None
        for tb in reversed(marcos):
            nuevo = types.TracebackType(nuevo, tb.tb_frame, tb.tb_lasti, tb.tb_lineno)
        return shell.InteractiveTB.structured_traceback(type(error), error, nuevo, 0)
    except Exception:
        return [f"{type(error).__name__}: {error}"]


def _sin_completar(nombre: str) -> NotImplementedError:
    error = NotImplementedError(
        f"Todavía no has completado {nombre}: sustituye la línea raise NotImplementedError(...) "
        "por tu solución y vuelve a ejecutar la celda."
    )
    error._render_traceback_ = functools.partial(_traceback_limpio, error)
    return error


@contextlib.contextmanager
def _silencio():
    """Descarta avisos y stderr (nbgrader puntúa con 0 una celda que escribe en stderr)."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _comprobacion(funcion: Callable) -> Callable:
    """Ejecuta la comprobación en silencio y relanza sus errores sin los marcos internos."""

    @functools.wraps(funcion)
    def envoltura(*args, **kwargs):
        __tracebackhide__ = True
        try:
            with _silencio():
                return funcion(*args, **kwargs)
        except (ErrorComprobacion, NotImplementedError) as error:
            raise error.with_traceback(None) from None

    return envoltura


def _exito(mostrar: bool, texto: str) -> None:
    if mostrar:
        print(f"✔ ¡Correcto! {_mayuscula(texto)}.")


# --- Textos ---------------------------------------------------------------------------------


def _nombre_funcion(funcion: Callable) -> str:
    nombre = getattr(funcion, "__name__", "<lambda>")
    return f"la función {nombre}" if nombre.isidentifier() else "tu función"


def _mayuscula(texto: str) -> str:
    """Pone mayúscula inicial si el texto empieza por un artículo (no toca identificadores)."""
    if texto.lower().startswith(_ARTICULOS):
        return texto[0].upper() + texto[1:]
    return texto


def _numero(x: float) -> str:
    return f"{x:.6g}"


def _forma(x: Any) -> str:
    return str(tuple(x.shape))


def _elementos(n: int) -> str:
    return "1 elemento" if n == 1 else f"{n} elementos"


def _de(nombre: str) -> str:
    """«de» + nombre, con la contracción «del» delante de «el»."""
    return "del " + nombre[3:] if nombre.startswith("el ") else "de " + nombre


def _enumerar(elementos: Sequence[str]) -> str:
    elementos = list(elementos)
    if len(elementos) <= 1:
        return "".join(elementos)
    return ", ".join(elementos[:-1]) + " y " + elementos[-1]


def _es_max(x: Any) -> bool:
    """Resultado de torch.max/torch.min con dimensión: pareja (valores, índices)."""
    if type(x).__module__ == "torch.return_types":
        return True
    return (
        isinstance(x, tuple)
        and len(x) == 2
        and all(isinstance(t, torch.Tensor) for t in x)
        and x[1].dtype == torch.int64
        and x[0].shape == x[1].shape
    )


def _describir(x: Any) -> str:
    """Qué es ``x``, en pocas palabras y sin mostrar sus valores."""
    if x is None:
        return "None"
    if isinstance(x, torch.Tensor):
        return f"un tensor de forma {_forma(x)}"
    if _es_max(x):
        return f"{type(x).__module__}.{type(x).__name__} (una pareja valores, índices)"
    if isinstance(x, bool):
        return "un booleano"
    if isinstance(x, (int, float)):
        return f"un número de Python ({type(x).__name__})"
    if isinstance(x, np.ndarray):
        return f"un array de NumPy de forma {_forma(x)}"
    if isinstance(x, np.generic):
        return f"un escalar de NumPy ({type(x).__name__})"
    if isinstance(x, str):
        return "un texto (str)"
    if isinstance(x, list):
        return f"una lista de {_elementos(len(x))}"
    if isinstance(x, tuple):
        return f"una tupla de {_elementos(len(x))}"
    if callable(x):
        return "una función"
    return f"un objeto de tipo {type(x).__name__}"


def _texto_error(error: Exception, limite: int = 300) -> str:
    """Tipo y mensaje de una excepción del alumno, recortado si es muy largo."""
    texto = f"{type(error).__name__}: {error}"
    return texto if len(texto) <= limite else texto[: limite - 1] + "…"


def _describir_entradas(args: tuple, kwargs: dict) -> str:
    def breve(x: Any) -> str:
        if isinstance(x, torch.Tensor):
            return f"tensor {_forma(x)}"
        if isinstance(x, np.ndarray):
            return f"array {_forma(x)}"
        if isinstance(x, bool):
            return "booleano"
        if isinstance(x, (int, float, np.number)):
            return "número"
        if isinstance(x, (list, tuple)):
            return f"secuencia de {len(x)}"
        if callable(x):
            return "función"
        return type(x).__name__

    partes = [breve(x) for x in args] + [f"{k}={breve(v)}" for k, v in kwargs.items()]
    return ", ".join(partes) if partes else "sin argumentos"


def _problema_tipo(respuesta: Any, nombre: str, que: str) -> str:
    """Mensaje para una respuesta que no es un tensor (o un número) cuando se esperaba uno."""
    mensaje = f"Se esperaba {que}, pero {nombre} es {_describir(respuesta)}."
    if respuesta is None:
        return mensaje + " ¿Falta el return en tu función?"
    if _es_max(respuesta):
        return mensaje + "\nPista: " + PISTA_MAX
    if que.startswith("un tensor"):
        if isinstance(respuesta, np.ndarray):
            return mensaje + " Conviértelo con torch.from_numpy(...) o torch.tensor(...)."
        if isinstance(respuesta, (int, float, np.generic)):
            return mensaje + (
                " ¿Has usado .item(), float(...) o int(...)? Devuelve el tensor sin convertirlo en"
                " número: así conserva su forma y su gradiente."
            )
        if isinstance(respuesta, (list, tuple)):
            return mensaje + " Conviértelo con torch.tensor(...) o torch.stack(...)."
    return mensaje


# --- Comparación de valores -----------------------------------------------------------------


def _cpu64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu").to(torch.float64)


def _rtol_efectiva(rtol: float, dtype: torch.dtype) -> float:
    if dtype.is_floating_point:
        return max(rtol, 4 * torch.finfo(dtype).eps)
    return rtol


def _indice(posicion: int, forma: tuple) -> str:
    indices = []
    for tam in reversed(forma):
        indices.append(posicion % tam)
        posicion //= tam
    return "[" + ", ".join(str(i) for i in reversed(indices)) + "]"


def _cercanos(r: torch.Tensor, e: torch.Tensor, rtol: float, atol: float) -> bool:
    """``‖r − e‖∞ ≤ atol + rtol·‖e‖∞`` (para las pistas)."""
    if r.numel() == 0:
        return True
    if not (torch.isfinite(r).all() and torch.isfinite(e).all()):
        return False
    return bool((r - e).abs().max() <= atol + rtol * e.abs().max())


def _problema_tensor(
    respuesta: torch.Tensor,
    esperado: torch.Tensor,
    nombre: str,
    rtol: float,
    atol: float,
    comprobar_dtype: bool = False,
    requires_grad: bool | None = None,
    escala: float | None = None,
) -> str | None:
    """Compara dos tensores y devuelve el mensaje del primer problema (o ``None``).

    Orden: forma, dtype, NaN/infinitos, requires_grad y valores. La tolerancia de cada
    elemento es ``atol + rtol·|esperado|``, o ``atol + rtol·escala`` si se da ``escala``.
    """
    Nombre = _mayuscula(nombre)
    fr, fe = tuple(respuesta.shape), tuple(esperado.shape)
    if fr != fe:
        mensaje = f"{Nombre} tiene forma {fr}, pero se esperaba {fe}."
        if len(fr) == len(fe) - 1 and any(fe[:k] + fe[k + 1 :] == fr for k in range(len(fe))):
            mensaje += (
                "\nPista: tiene una dimensión menos: ¿has reducido una dimensión sin querer "
                "(sum, mean o max con dim)? " + PISTA_MAX
            )
        elif math.prod(fr) == math.prod(fe):
            mensaje += (
                "\nPista: tiene los elementos esperados, pero en otra forma: revisa view/reshape, "
                "unsqueeze/squeeze o el orden de las dimensiones."
            )
        elif math.prod(fr) > math.prod(fe) and _difunde(fe, fr) and set(fr) <= set(fe) | {1}:
            mensaje += (
                "\nPista: ¿una difusión (broadcasting) no deseada? Operar una forma (n,) con "
                "una (n, 1) da (n, n)."
            )
        return mensaje
    if comprobar_dtype and respuesta.dtype != esperado.dtype:
        return f"{Nombre} tiene dtype {respuesta.dtype}, pero se esperaba {esperado.dtype}."

    r, e = _cpu64(respuesta), _cpu64(esperado)
    finito_r, finito_e = torch.isfinite(r), torch.isfinite(e)
    malos = ~finito_r & finito_e
    if malos.any():
        n_nan = int((malos & torch.isnan(r)).sum())
        n_inf = int(malos.sum()) - n_nan
        partes = ([f"{n_nan} NaN"] if n_nan else []) + ([f"{n_inf} infinitos"] if n_inf else [])
        return f"{Nombre} contiene {' y '.join(partes)}. {PISTA_NO_FINITO}"
    if requires_grad is not None and bool(respuesta.requires_grad) != requires_grad:
        if requires_grad:
            return (
                f"{Nombre} debería tener requires_grad=True: créalo con requires_grad=True "
                "o llama a .requires_grad_()."
            )
        return (
            f"{Nombre} no debería requerir gradiente: usa .detach() o calcúlalo dentro de "
            "torch.no_grad()."
        )

    exacto = not (respuesta.dtype.is_floating_point or esperado.dtype.is_floating_point)
    rtol = 0.0 if exacto else _rtol_efectiva(rtol, respuesta.dtype)
    atol = 0.0 if exacto else atol
    diferencia = (r - e).abs()
    tolerancia = atol + rtol * (e.abs() if escala is None else torch.full_like(e, escala))
    iguales = (r == e) | (torch.isnan(r) & torch.isnan(e))
    bien = torch.where(finito_e, diferencia <= tolerancia, iguales)
    if bool(bien.all()):
        return None

    finos = finito_e & finito_r
    puntuacion = torch.where(
        bien,
        torch.full_like(r, -1.0),
        torch.where(
            finos,
            diferencia / tolerancia.clamp_min(torch.finfo(torch.float64).tiny),
            torch.full_like(r, math.inf),
        ),
    )
    peor = int(puntuacion.reshape(-1).argmax())
    valor = _numero(float(r.reshape(-1)[peor]))
    tolerancias = "exacta" if exacto else f"rtol={rtol:.1g}, atol={atol:.1g}"
    # Solo el orden de magnitud del error respecto a la tolerancia: con el error exacto y tu
    # valor se podría reconstruir un valor esperado oculto.
    cuanto = "" if exacto else _cuanto(float(puntuacion.reshape(-1)[peor]))
    if r.numel() == 1:
        detalle = f"{cuanto}; tolerancia {tolerancias}" if cuanto else f"tolerancia {tolerancias}"
        mensaje = f"{Nombre} no coincide con lo esperado: tu valor es {valor} ({detalle})."
    else:
        n_mal = int((~bien).sum())
        mensaje = (
            f"{Nombre} no coincide con lo esperado: {n_mal} de {r.numel()} elementos difieren "
            f"(tolerancia {tolerancias}). El que más se aleja está en el índice "
            f"{_indice(peor, fr)}, donde tu valor es {valor}" + (f" ({cuanto})." if cuanto else ".")
        )
    if bool(e.ne(0).any()) and _cercanos(-r, e, rtol, atol):
        mensaje += "\nPista: parece que tiene el signo cambiado."
    return mensaje


def _cuanto(veces: float) -> str:
    """Cuánto se sale un error de su tolerancia, solo en órdenes de magnitud.

    >>> _cuanto(3.0)
    'menos de 10 veces la tolerancia'
    >>> _cuanto(1e6)
    'más de 1000 veces la tolerancia'
    """
    if veces <= 10:
        return "menos de 10 veces la tolerancia"
    if veces <= 1000:
        return "entre 10 y 1000 veces la tolerancia"
    return "más de 1000 veces la tolerancia"


def _difunde(pequena: tuple, grande: tuple) -> bool:
    try:
        return tuple(torch.broadcast_shapes(pequena, grande)) == grande
    except RuntimeError:
        return False


def _escalar(respuesta: Any, nombre: str) -> tuple[torch.Tensor | None, str | None]:
    """Convierte una respuesta escalar en un tensor de dimensión 0, o explica por qué no."""
    if isinstance(respuesta, torch.Tensor):
        if respuesta.numel() == 1:
            return respuesta.detach().reshape(()), None
        return None, (
            f"Se esperaba un número (un solo valor), pero {nombre} es un tensor de forma "
            f"{_forma(respuesta)}."
        )
    if isinstance(respuesta, np.ndarray) and respuesta.size == 1 and respuesta.dtype.kind in "biuf":
        return torch.from_numpy(respuesta.reshape(())), None
    if isinstance(respuesta, (bool, int, float, np.bool_, np.integer, np.floating)):
        return torch.as_tensor(respuesta), None
    return None, _problema_tipo(respuesta, nombre, "un número")


def _problema_salida(obtenido: Any, esperado: Any, nombre: str, rtol: float, atol: float):
    """Compara una salida cualquiera (tensor, array, número, secuencia, dict, None)."""
    if isinstance(esperado, (torch.Tensor, np.ndarray)):
        if isinstance(obtenido, torch.Tensor) or (
            isinstance(esperado, np.ndarray) and isinstance(obtenido, np.ndarray)
        ):
            return _problema_tensor(
                torch.as_tensor(obtenido), torch.as_tensor(esperado), nombre, rtol, atol
            )
        que = "un tensor" if isinstance(esperado, torch.Tensor) else "un array de NumPy"
        return _problema_tipo(obtenido, nombre, que)
    if isinstance(esperado, (bool, int, float, np.bool_, np.number)):
        valor, problema = _escalar(obtenido, nombre)
        if problema:
            return problema
        return _problema_tensor(valor, torch.as_tensor(esperado), nombre, rtol, atol)
    if isinstance(esperado, (tuple, list)):
        if not isinstance(obtenido, (tuple, list)) or len(obtenido) != len(esperado):
            return _problema_tipo(obtenido, nombre, f"una secuencia de {_elementos(len(esperado))}")
        vector_e, vector_o = _vector(esperado), _vector(obtenido)
        if vector_e is not None and vector_o is not None and len(esperado) > 1:
            # Una lista de números (p. ej. las pérdidas por iteración) se compara de una vez.
            return _problema_tensor(vector_o, vector_e, nombre, rtol, atol)
        for i, (o, e) in enumerate(zip(obtenido, esperado, strict=True)):
            problema = _problema_salida(o, e, f"el elemento {i} {_de(nombre)}", rtol, atol)
            if problema:
                return problema
        return None
    if isinstance(esperado, Mapping):
        if not isinstance(obtenido, Mapping) or set(obtenido) != set(esperado):
            claves = ", ".join(repr(k) for k in esperado)
            return (
                f"Se esperaba un diccionario con las claves {claves}, pero {nombre} es "
                f"{_describir(obtenido)}."
            )
        for clave, e in esperado.items():
            problema = _problema_salida(obtenido[clave], e, f"{nombre}[{clave!r}]", rtol, atol)
            if problema:
                return problema
        return None
    if esperado is None:
        return None if obtenido is None else f"{_mayuscula(nombre)} debería ser None."
    if obtenido != esperado:
        return f"{_mayuscula(nombre)} no coincide con lo esperado."
    return None


# --- Copias de los argumentos ---------------------------------------------------------------


def _vector(secuencia: Sequence) -> torch.Tensor | None:
    """Secuencia de números reales (o tensores de un elemento) como tensor float64, o None."""
    valores = []
    for x in secuencia:
        if isinstance(x, torch.Tensor) and x.numel() == 1 and not x.is_complex():
            valores.append(float(x.detach()))
        elif isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool):
            valores.append(float(x))
        else:
            return None
    return torch.tensor(valores, dtype=torch.float64)


def _copiar(x: Any) -> Any:
    """Copia profunda: la función del alumno no puede cambiar lo que recibe la referencia."""
    if isinstance(x, torch.Tensor):
        copia = x.detach().clone()
        return copia.requires_grad_(x.requires_grad) if x.is_leaf else copia
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(_copiar(v) for v in x))
    if isinstance(x, (list, tuple)):
        return type(x)(_copiar(v) for v in x)
    if isinstance(x, dict):
        return {k: _copiar(v) for k, v in x.items()}
    if callable(x) and not isinstance(x, torch.nn.Module):
        return x
    try:
        return copy.deepcopy(x)
    except Exception:
        return x


def _llamar(
    funcion: Callable, args: tuple, kwargs: dict, ejercicio, *prohibidas, donde: str = ""
) -> Any:
    """Llama a la función del alumno con copias de sus argumentos, vigilada por las reglas.

    Sus errores se convierten en :class:`ErrorComprobacion` («… lanza un error{donde}: …») y
    el esqueleto sin hacer, en «Todavía no has completado…».
    """
    from course_utils.reglas import ejecutar_vigilado

    nombre = _nombre_funcion(funcion)
    try:
        return ejecutar_vigilado(
            funcion, _copiar(args), _copiar(kwargs), ejercicio=ejercicio, prohibir=prohibidas
        )
    except NotImplementedError:
        raise _sin_completar(nombre) from None
    except ErrorComprobacion:
        raise
    except Exception as error:
        mensaje = f"{_mayuscula(nombre)} lanza un error{donde}: {_texto_error(error)}"
        if "return_types" in str(error):
            mensaje += "\nPista: " + PISTA_MAX
        raise ErrorComprobacion(mensaje) from None


def _argumentos(caso: Any) -> tuple[tuple, dict]:
    if isinstance(caso, tuple):
        return caso, {}
    if isinstance(caso, dict):
        return (), caso
    return (caso,), {}


# --- API pública ----------------------------------------------------------------------------


@_comprobacion
def comprobar_tensor(
    respuesta: Any,
    esperado: Any,
    nombre: str = "el resultado",
    rtol: float = 1e-5,
    atol: float = 1e-8,
    comprobar_dtype: bool = False,
    requires_grad: bool | None = None,
    mostrar: bool = True,
) -> None:
    """Comprueba que ``respuesta`` es un tensor con la forma y los valores de ``esperado``.

    ``esperado`` puede ser un tensor, un array o una lista. Con ``comprobar_dtype=True`` exige
    el mismo dtype; con ``requires_grad=True``/``False`` exige ese valor en la respuesta.

    >>> import torch
    >>> comprobar_tensor(torch.arange(6.0).view(2, 3), [[0, 1, 2], [3, 4, 5]])
    ✔ ¡Correcto! El resultado coincide con lo esperado.
    >>> try:
    ...     comprobar_tensor(torch.zeros(3), torch.zeros(3, 1), nombre="x")
    ... except ErrorComprobacion as error:
    ...     print(error)  # doctest: +ELLIPSIS
    x tiene forma (3,), pero se esperaba (3, 1).
    Pista: tiene una dimensión menos: ...
    """
    if not isinstance(esperado, torch.Tensor):
        esperado = torch.as_tensor(np.asarray(esperado))
    if not isinstance(respuesta, torch.Tensor):
        raise ErrorComprobacion(_problema_tipo(respuesta, nombre, "un tensor de PyTorch"))
    problema = _problema_tensor(
        respuesta, esperado, nombre, rtol, atol, comprobar_dtype, requires_grad
    )
    if problema:
        raise ErrorComprobacion(problema)
    _exito(mostrar, f"{nombre} coincide con lo esperado")


@_comprobacion
def comprobar_escalar(
    respuesta: Any,
    esperado: float,
    nombre: str = "el resultado",
    rtol: float = 1e-6,
    atol: float = 1e-12,
    mostrar: bool = True,
) -> None:
    """Comprueba un número: acepta ``int``/``float``, escalares de NumPy y tensores de un elemento.

    >>> import torch
    >>> comprobar_escalar(torch.tensor(36.0, requires_grad=True), 36, nombre="l")
    ✔ ¡Correcto! l coincide con lo esperado.
    """
    valor, problema = _escalar(respuesta, nombre)
    if problema is None:
        problema = _problema_tensor(valor, torch.as_tensor(esperado), nombre, rtol, atol)
    if problema:
        raise ErrorComprobacion(problema)
    _exito(mostrar, f"{nombre} coincide con lo esperado")


@_comprobacion
def comprobar_funcion(
    funcion: Callable,
    referencia: Callable,
    casos: Iterable[Any],
    nombre: str | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    mostrar: bool = True,
    ejercicio: str | None = None,
) -> None:
    """Ejecuta la función del alumno y la de referencia en cada caso y compara las salidas.

    Cada caso es una tupla de argumentos (un ``dict`` se pasa como argumentos con nombre;
    cualquier otro valor, como argumento único). Cada llamada recibe su propia copia de los
    argumentos. La función del alumno se ejecuta antes que la referencia, con las reglas de
    ``ejercicio`` (:mod:`course_utils.reglas`) y sin poder llamar a la referencia. Las salidas
    pueden ser tensores, números o tuplas/listas de ellos. Los mensajes dicen qué caso falla y
    la forma de sus entradas, nunca sus valores.

    >>> import torch
    >>> def mi_relu(x):
    ...     return torch.clamp(x, min=0)
    >>> comprobar_funcion(mi_relu, torch.relu, [(torch.randn(3),), (torch.randn(2, 4),)])
    ✔ ¡Correcto! La función mi_relu supera los 2 casos.
    """
    if nombre is None:
        nombre = _nombre_funcion(funcion)
    casos = list(casos)
    if not casos:
        raise ValueError(f"{AVISO_INTERNO}: comprobar_funcion necesita al menos un caso.")
    total = len(casos)
    for k, caso in enumerate(casos, start=1):
        args, kwargs = _argumentos(caso)
        donde = f"el caso {k} de {total} (entradas: {_describir_entradas(args, kwargs)})"
        obtenido = _llamar(funcion, args, kwargs, ejercicio, referencia, donde=f" en {donde}")
        try:
            esperado = referencia(*_copiar(args), **_copiar(kwargs))
        except Exception as error:
            raise RuntimeError(
                f"{AVISO_INTERNO}: la referencia falla en el caso {k}: "
                f"{type(error).__name__}: {error}"
            ) from error
        problema = _problema_salida(obtenido, esperado, "la salida", rtol, atol)
        if problema:
            raise ErrorComprobacion(f"{_mayuscula(nombre)} falla en {donde}. {problema}")
    casos_texto = "el caso" if total == 1 else f"los {total} casos"
    _exito(mostrar, f"{nombre} supera {casos_texto}")


@_comprobacion
def ejecutar_alumno(funcion: Callable, *args: Any, ejercicio: str | None = None, **kwargs: Any):
    """Ejecuta ``funcion(*args, **kwargs)`` del alumno con copias de los argumentos y las reglas
    de ``ejercicio`` (:mod:`course_utils.reglas`), y devuelve su resultado.

    Las celdas de prueba llaman así a las funciones del alumno cuando no basta con
    :func:`comprobar_funcion`. Si la función lanza un error, lanza :class:`ErrorComprobacion`
    con el tipo y el mensaje; si aún no está hecha, ``NotImplementedError`` con «Todavía no
    has completado…».

    >>> ejecutar_alumno(lambda n: n * 2, 21)
    42
    """
    return _llamar(funcion, args, kwargs, ejercicio)


def _entrada64(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return _cpu64(x)
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def _gradientes_del_alumno(gradientes: Any, nombres: list[str], entradas: tuple) -> list:
    """Lista de gradientes alineada con las entradas, o ErrorComprobacion si no cuadra."""
    n = len(entradas)
    if isinstance(gradientes, Mapping):
        faltan = [x for x in nombres if x not in gradientes]
        if faltan:
            raise ErrorComprobacion(
                f"Faltan los gradientes respecto a {_enumerar(faltan)} en tu diccionario."
            )
        return [gradientes[x] for x in nombres]
    if n == 1:
        unico = isinstance(gradientes, (list, tuple)) and len(gradientes) == 1
        return list(gradientes) if unico else [gradientes]
    if isinstance(gradientes, torch.Tensor):
        if gradientes.dim() == 1 and len(gradientes) == n and all(x.numel() == 1 for x in entradas):
            return list(gradientes)
    elif isinstance(gradientes, Sequence) and not isinstance(gradientes, str):
        if len(gradientes) == n:
            return list(gradientes)
        raise ErrorComprobacion(
            f"Se esperaban {n} gradientes (uno por entrada: {_enumerar(nombres)}), pero has "
            f"dado {len(gradientes)}."
        )
    raise ErrorComprobacion(
        f"Se esperaban {n} gradientes (uno por entrada: {_enumerar(nombres)}), pero has dado "
        f"{_describir(gradientes)}."
    )


def _gradiente_como_tensor(g: Any, entrada: torch.Tensor, nombre: str, variable: str):
    """Gradiente del alumno como tensor con la forma de la entrada, o el mensaje del problema."""
    if g is None:
        return None, f"{_mayuscula(nombre)} es None.\nPista: " + PISTA_GRAFO.format(x=variable)
    if isinstance(g, (list, np.ndarray)):
        try:
            g = torch.as_tensor(np.asarray(g, dtype=np.float64))
        except (TypeError, ValueError):
            return None, _problema_tipo(g, nombre, "un tensor o un número")
    elif isinstance(g, (bool, int, float, np.number)):
        g = torch.as_tensor(g)
    elif not isinstance(g, torch.Tensor):
        return None, _problema_tipo(g, nombre, "un tensor o un número")
    if g.numel() == 1 and entrada.numel() == 1:
        g = g.detach().reshape(entrada.shape)
    return g.detach(), None


def _verificar_referencias(auto, numerico, valor_f, nombres, escala_global):
    """Las dos referencias deben coincidir; si no, el fallo es del enunciado, no del alumno."""
    for a, d, nombre in zip(auto, numerico, nombres, strict=True):
        escala = max(float(a.abs().max()) if a.numel() else 0.0, 1e-3 * escala_global)
        tolerancia = 1e-5 * escala + 1e-8 * abs(valor_f)
        finitos = bool(torch.isfinite(a).all() and torch.isfinite(d).all())
        if not finitos or (a.numel() and float((a - d).abs().max()) > tolerancia):
            raise RuntimeError(
                f"{AVISO_INTERNO}: el gradiente por autograd y el de diferencias finitas no "
                f"coinciden respecto a {nombre}. ¿Es f derivable en ese punto y numéricamente "
                "estable en float64?"
            )


def _plano(tensores: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([_cpu64(t).reshape(-1) for t in tensores])


def _pista_gradientes(alumno, referencia, rtol, atol, valor_f, f_intermedia, entradas):
    """Pista global para los errores típicos al calcular gradientes (o cadena vacía)."""
    s, r = _plano(alumno), _plano(referencia)
    escala = float(r.abs().max()) if r.numel() else 0.0
    if not torch.isfinite(s).all() or escala == 0.0:
        return ""
    if bool((s == 0).all()) and escala < 1e-6 * max(1.0, abs(valor_f)):
        return PISTA_SATURACION
    if _cercanos(-s, r, rtol, atol):
        return "tus gradientes tienen el signo cambiado: ¿derivas −loss en lugar de loss?"
    k = round(float(s @ r) / float(r @ r))
    if 2 <= k <= 1000 and _cercanos(s, k * r, rtol, atol):
        return PISTA_ACUMULADOS.format(k=k)
    if f_intermedia is not None:
        from course_utils.gradientes import gradiente_autograd

        intermedia = _plano(gradiente_autograd(f_intermedia, *entradas))
        nombre = getattr(f_intermedia, "__name__", "<lambda>")
        nombre = nombre if nombre.isidentifier() else "la variable intermedia"
        if float(intermedia @ intermedia) > 0:
            factor = float(s @ intermedia) / float(intermedia @ intermedia)
            if factor != 0 and _cercanos(s, factor * intermedia, rtol, atol):
                if _cercanos(s, intermedia, rtol, atol):
                    return (
                        f"parece el gradiente de {nombre}, no el de la pérdida: aplica la regla "
                        f"de la cadena hasta loss (multiplica por ∂loss/∂{nombre})."
                    )
                return (
                    f"tus gradientes son proporcionales a los de {nombre}, pero con otro factor: "
                    f"revisa ∂loss/∂{nombre} en la regla de la cadena."
                )
    return ""


@_comprobacion
def comprobar_gradientes(
    gradientes: Any,
    f: Callable,
    *entradas: Any,
    nombres: Sequence[str] | None = None,
    rtol: float = 1e-4,
    atol: float = 0.0,
    f_intermedia: Callable | None = None,
    mostrar: bool = True,
    ejercicio: str | None = None,
) -> None:
    """Compara los gradientes del alumno con los de referencia de ``f`` en ``entradas``.

    ``gradientes`` es una secuencia (o un ``dict`` nombre → valor) con un gradiente por
    entrada (tensor, número o ``None``), o una función que los calcula a partir de copias de
    las entradas. Las referencias se calculan en el momento, en float64, con autograd y con
    diferencias finitas centradas (y deben coincidir entre sí): ``f`` debe ser una fórmula
    numéricamente estable (p. ej. ``torch.nn.functional.logsigmoid``). La tolerancia de cada
    gradiente es ``atol + rtol·m``, con ``m`` el mayor valor absoluto de su referencia (nunca
    menos de una milésima del mayor de todos), así que vale igual para gradientes de 1e-20.
    ``f_intermedia`` (p. ej. ``z`` en función de las entradas) permite reconocer el error de
    dar su gradiente en lugar del de la pérdida. Las diferencias finitas evalúan ``f`` dos veces
    por elemento de las entradas: úsala con entradas pequeñas. Si ``gradientes`` es una función,
    se ejecuta con las reglas de ``ejercicio`` (:mod:`course_utils.reglas`).

    >>> import torch
    >>> a, b = torch.tensor(1.0), torch.tensor(2.0)
    >>> comprobar_gradientes([2.0, 4.0], lambda a, b: (a + b) ** 2 - 2 * a * b, a, b,
    ...                      nombres=["a", "b"])
    ✔ ¡Correcto! Los gradientes respecto a a y b coinciden con la referencia.
    """
    from course_utils.gradientes import _nombres_por_defecto, gradiente_autograd, gradiente_numerico

    if not entradas:
        raise ValueError(f"{AVISO_INTERNO}: comprobar_gradientes necesita al menos una entrada.")
    if nombres is None:
        if isinstance(gradientes, Mapping) and len(gradientes) == len(entradas):
            nombres = [str(k) for k in gradientes]
        else:
            nombres = _nombres_por_defecto(f, len(entradas), generico="la entrada {}")
    nombres = list(nombres)
    if len(nombres) != len(entradas):
        raise ValueError(
            f"{AVISO_INTERNO}: hay {len(nombres)} nombres para {len(entradas)} entradas."
        )
    x64 = tuple(_entrada64(x) for x in entradas)

    if callable(gradientes) and not isinstance(gradientes, torch.Tensor):
        formas = ", ".join(_forma(x) for x in x64)
        gradientes = _llamar(
            gradientes, entradas, {}, ejercicio, donde=f" con entradas de forma {formas}"
        )
    alumno = _gradientes_del_alumno(gradientes, nombres, x64)

    referencia = tuple(gradiente_autograd(f, *x64))
    numerico = tuple(gradiente_numerico(f, *x64))
    valor_f = float(f(*(x.clone() for x in x64)))
    escala_global = max((float(a.abs().max()) for a in referencia if a.numel()), default=0.0)
    _verificar_referencias(referencia, numerico, valor_f, nombres, escala_global)

    fallos: list[tuple[str, str]] = []
    convertidos = []
    for g, x, ref, nombre in zip(alumno, x64, referencia, nombres, strict=True):
        texto = f"el gradiente respecto a {nombre}"
        tensor, problema = _gradiente_como_tensor(g, x, texto, nombre)
        if problema is None:
            convertidos.append(tensor)
            escala = max(float(ref.abs().max()) if ref.numel() else 0.0, 1e-3 * escala_global)
            problema = _problema_tensor(tensor, ref, texto, rtol, atol, escala=escala)
            if problema and bool((tensor == 0).all()) and bool((ref != 0).any()):
                problema += "\nPista: " + PISTA_GRAFO.format(x=nombre)
        if problema:
            fallos.append((nombre, problema))
    if fallos:
        mensaje, _, pista = fallos[0][1].partition("\nPista: ")
        if len(fallos) > 1:
            mensaje += f" (También fallan: {_enumerar([n for n, _ in fallos[1:]])}.)"
        if len(convertidos) == len(alumno) and all(
            t.shape == r.shape for t, r in zip(convertidos, referencia, strict=True)
        ):
            # Una pista global (saturación, signo, acumulación, f_intermedia) es más precisa.
            pista = (
                _pista_gradientes(convertidos, referencia, rtol, atol, valor_f, f_intermedia, x64)
                or pista
            )
        if pista:
            mensaje += "\nPista: " + pista
        raise ErrorComprobacion(mensaje)
    if len(nombres) == 1:
        _exito(mostrar, f"el gradiente respecto a {nombres[0]} coincide con la referencia")
    else:
        _exito(
            mostrar, f"los gradientes respecto a {_enumerar(nombres)} coinciden con la referencia"
        )
