"""Reglas de los ejercicios: qué operaciones están prohibidas y cuáles son obligatorias.

Cada ejercicio calificado declara sus reglas en :data:`REGLAS` (un solo sitio, con la clave
``grade_id`` de su celda de respuesta) y su enunciado las enumera en un párrafo «**Reglas.**»;
una prueba comprueba que ambos coinciden. Las comprobaciones (``cu.comprobar_*`` con
``ejercicio=…``) ejecutan el código del alumno con :func:`ejecutar_vigilado`, que:

- lo ejecuta en un hilo propio: su pila no llega a la celda de prueba ni a sus variables;
- vigila toda llamada a PyTorch con un ``TorchFunctionMode`` (también si la función se guardó
  antes en una variable: ``inv = torch.linalg.inv``) y, con ``sys.setprofile``, las funciones
  de NumPy, SciPy, scikit-learn y las ayudas del curso, además de la introspección que
  permitiría leer las pruebas (``sys._getframe``, ``gc.get_objects``…), apagar la vigilancia o
  escapar de ella en otro hilo o proceso;
- al terminar comprueba que se usaron las técnicas obligatorias (``backward()``,
  ``nn.Linear``…).

Una regla incumplida lanza :class:`ErrorRegla` (un ``ErrorComprobacion``) con un mensaje en
español que dice qué regla se incumplió, aunque el alumno capture la excepción.

>>> import torch
>>> def mi_softmax(z):
...     return torch.softmax(z, dim=-1)
>>> try:
...     ejecutar_vigilado(mi_softmax, (torch.zeros(3),), ejercicio="m06_softmax")
... except ErrorRegla as error:
...     print(str(error).splitlines()[0])
Regla del ejercicio incumplida: no puedes usar `F.softmax` (has llamado a softmax).
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import inspect
import linecache
import os
import sys
import sysconfig
import threading
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from course_utils.comprobaciones import ErrorComprobacion

__all__ = [
    "OPERACIONES",
    "REGLAS",
    "ErrorRegla",
    "Operacion",
    "Regla",
    "ejecutar_vigilado",
    "reglas_del_ejercicio",
]


class ErrorRegla(ErrorComprobacion):
    """El código del alumno incumple una regla del ejercicio (operación prohibida u obligatoria)."""


@dataclass(frozen=True)
class Operacion:
    """Una operación que una regla puede prohibir o exigir.

    ``texto`` es como aparece en los enunciados (nombres entre comillas invertidas). La
    operación se reconoce por los nombres de las funciones de PyTorch que ve el modo
    (``torch``; ``"*"`` es cualquiera), por rutas ``"módulo:atributo"`` de funciones de Python
    o de C (``rutas``, vistas por el perfilador a cualquier profundidad) y por prefijos de módulo
    de las funciones a las que llama directamente el código del alumno (``modulos``). Los nombres
    de ``torch`` que están también en ``de_entrada`` solo cuentan si operan sobre una matriz que
    recibió la función (o una proporcional): ``A.T`` sí, la traspuesta de otra matriz no.
    """

    texto: str
    torch: frozenset[str] = frozenset()
    rutas: tuple[str, ...] = ()
    modulos: tuple[str, ...] = ()
    de_entrada: frozenset[str] = frozenset()


_SOLUCION_DIRECTA_TORCH = frozenset(
    {
        "linalg_inv", "linalg_inv_ex", "inverse", "pinverse", "linalg_pinv", "linalg_solve",
        "linalg_solve_ex", "linalg_lstsq", "lstsq", "solve", "cholesky_solve", "cholesky_inverse",
        "lu_solve", "linalg_lu_solve", "triangular_solve", "linalg_solve_triangular",
        "linalg_tensorinv", "linalg_tensorsolve", "linalg_svd", "svd", "linalg_qr", "qr",
        "linalg_lu", "linalg_lu_factor", "linalg_lu_factor_ex", "lu", "linalg_cholesky",
        "linalg_cholesky_ex", "cholesky", "linalg_eig", "linalg_eigh", "linalg_ldl_factor",
        "linalg_ldl_factor_ex", "linalg_ldl_solve", "geqrf", "ormqr", "lobpcg", "svd_lowrank",
        "pca_lowrank",
    }
)  # fmt: skip
_SOLUCION_DIRECTA_RUTAS = tuple(
    f"numpy.linalg:{n}"
    for n in ("inv", "pinv", "solve", "lstsq", "tensorinv", "tensorsolve", "svd", "qr", "eig")
) + tuple(
    f"scipy.linalg:{n}"
    for n in (
        "inv", "pinv", "pinvh", "solve", "solve_triangular", "lstsq", "lu_solve", "lu_factor",
        "cho_solve", "cho_factor", "solve_banded", "svd", "qr", "lu", "cholesky", "eig", "eigh",
    )
) + ("numpy:polyfit", "numpy.polynomial.polynomial:polyfit", "torch.functional:lu")  # fmt: skip

_AUTOGRAD_RUTAS = (
    tuple(
        f"torch.autograd.functional:{n}"
        for n in ("jacobian", "hessian", "vjp", "jvp", "vhp", "hvp")
    )
    + tuple(f"torch.func:{n}" for n in ("grad", "grad_and_value", "vjp", "jvp", "jacrev"))
    + ("torch.func:jacfwd", "torch.func:hessian", "torch.autograd:backward")
)
# El gradiente de ½‖AW − I‖² o ½‖Bv − c‖² es Aᵀ(AW − I) o Bᵀ(Bv − c): todo descenso por gradiente
# usa autograd o multiplica por la traspuesta de la matriz que recibe (`A.T`, `A.mT`, `A.t()`,
# `transpose`, `einsum`, `r @ B`…). La eliminación gaussiana, la regla de Cramer o las potencias
# de A no la usan. Los nombres con punto son propiedades (el modo ve `__get__`); «vector@matriz»
# es `matmul` con un vector (o una fila) a la izquierda (r @ B = Bᵀr) y «matriz*columna», el
# producto elemento a elemento por una columna que se suma después ((B * r[:, None]).sum(0)).
_TRASPUESTA = frozenset(
    {".T", ".mT", ".H", ".mH", "t", "t_", "transpose", "transpose_", "swapaxes", "swapdims",
     "permute", "adjoint", "einsum", "tensordot", "vector@matriz", "matriz*columna"}
)  # fmt: skip
_PRODUCTOS = ("mul", "__mul__", "__rmul__", "multiply", "mul_")

#: Vocabulario de operaciones de las reglas.
OPERACIONES: dict[str, Operacion] = {
    "torch": Operacion(
        "`torch`", torch=frozenset({"*"}), rutas=("torch.functional:broadcast_shapes",)
    ),
    "numpy": Operacion("`numpy`", modulos=("numpy",)),
    "sklearn": Operacion("`sklearn`", modulos=("sklearn",)),
    "softmax": Operacion(
        "`F.softmax`",
        torch=frozenset({"softmax", "_softmax", "special_softmax", "softmin", "gumbel_softmax"}),
        rutas=("scipy.special:softmax",),
    ),
    "log_softmax": Operacion(
        "`F.log_softmax`",
        torch=frozenset({"log_softmax", "_log_softmax", "special_log_softmax"}),
        rutas=("scipy.special:log_softmax",),
    ),
    "logsumexp": Operacion(
        "`torch.logsumexp`",
        torch=frozenset({"logsumexp", "special_logsumexp"}),
        rutas=("scipy.special:logsumexp",),
    ),
    "cross_entropy": Operacion(
        "`F.cross_entropy`",
        torch=frozenset(
            {"cross_entropy", "cross_entropy_loss", "nll_loss", "nll_loss_nd", "nll_loss2d"}
        ),
    ),
    "linear": Operacion("`F.linear`", torch=frozenset({"linear", "bilinear"})),
    "cdist": Operacion("`torch.cdist`", torch=frozenset({"cdist", "_cdist_forward", "pdist"})),
    "solucion_directa": Operacion(
        "`torch.linalg.inv`, `torch.linalg.solve`, `torch.linalg.lstsq`, `torch.linalg.pinv`, "
        "`torch.linalg.svd`, `torch.linalg.qr`, `np.linalg.inv`, `np.linalg.solve`",
        torch=_SOLUCION_DIRECTA_TORCH,
        rutas=_SOLUCION_DIRECTA_RUTAS,
        modulos=("sklearn",),
    ),
    "autograd": Operacion(
        "`backward()`, `torch.autograd.grad`",
        torch=frozenset({"backward", "grad"}),
        rutas=_AUTOGRAD_RUTAS,
    ),
    "gradiente": Operacion(
        "el gradiente de la pérdida (con `backward()`, `torch.autograd.grad` o la fórmula con "
        "la traspuesta, `.T`)",
        torch=frozenset({"backward", "grad"}) | _TRASPUESTA,
        rutas=_AUTOGRAD_RUTAS,
        de_entrada=_TRASPUESTA,
    ),
    # Se vigila con las líneas ejecutadas, no con nombres: ver _Vigilancia.traza.
    "bucles": Operacion("bucles (`for`, `while` o comprensiones) que recorran los puntos"),
    "ayudas_gradiente": Operacion(
        "`cu.gradiente_numerico`, `cu.gradiente_autograd`",
        rutas=(
            "course_utils.gradientes:gradiente_numerico",
            "course_utils.gradientes:gradiente_autograd",
            "course_utils.gradientes:comparar_gradientes",
        ),
    ),
    "optim": Operacion("`torch.optim`", modulos=("torch.optim",)),
    "backward": Operacion("`backward()`", torch=frozenset({"backward", "grad"})),
    "nn.Linear": Operacion("`nn.Linear`", rutas=("torch.nn:Linear.forward",)),
    "nn.MSELoss": Operacion("`nn.MSELoss`", rutas=("torch.nn:MSELoss.forward",)),
    "optim.SGD": Operacion("`torch.optim.SGD`", rutas=("torch.optim:SGD.step",)),
}


@dataclass(frozen=True)
class Regla:
    """Operaciones prohibidas y obligatorias de un ejercicio (claves de :data:`OPERACIONES`)."""

    prohibidas: tuple[str, ...] = ()
    requeridas: tuple[str, ...] = ()

    def textos(self) -> tuple[list[str], list[str]]:
        """Textos (como en el enunciado) de las operaciones prohibidas y de las obligatorias."""
        return (
            [OPERACIONES[c].texto for c in self.prohibidas],
            [OPERACIONES[c].texto for c in self.requeridas],
        )


#: Reglas de cada ejercicio, por el ``grade_id`` de su celda de respuesta. Los ejercicios que no
#: aparecen aquí no tienen reglas (su enunciado lo dice).
REGLAS: dict[str, Regla] = {
    "m01_formas": Regla(prohibidas=("torch", "numpy")),
    "m01_distancias": Regla(prohibidas=("cdist", "bucles")),
    "m02_a_mano": Regla(prohibidas=("autograd", "ayudas_gradiente")),
    "m02_autograd": Regla(prohibidas=("ayudas_gradiente",), requeridas=("backward",)),
    "m02_numericas": Regla(prohibidas=("autograd", "ayudas_gradiente")),
    "m02_diferencias": Regla(prohibidas=("autograd", "ayudas_gradiente")),
    "m03_descenso_gradiente": Regla(prohibidas=("optim",), requeridas=("backward",)),
    "m03_regresion_numpy": Regla(prohibidas=("torch", "sklearn", "solucion_directa")),
    "m03_regresion_autograd": Regla(
        prohibidas=("optim", "sklearn", "solucion_directa"), requeridas=("backward",)
    ),
    "m03_regresion_optim": Regla(
        prohibidas=("sklearn", "solucion_directa"),
        requeridas=("nn.Linear", "nn.MSELoss", "optim.SGD", "backward"),
    ),
    "m04_gradiente_inversa": Regla(prohibidas=("autograd", "solucion_directa")),
    "m04_invertir_por_descenso": Regla(prohibidas=("solucion_directa",), requeridas=("gradiente",)),
    "m05_resolver_sistema": Regla(prohibidas=("solucion_directa",), requeridas=("gradiente",)),
    "m05_resolver_por_descenso": Regla(prohibidas=("solucion_directa",), requeridas=("gradiente",)),
    "m06_softmax": Regla(prohibidas=("softmax", "log_softmax", "logsumexp", "cross_entropy")),
    "m06_entropia_cruzada": Regla(
        prohibidas=("softmax", "log_softmax", "logsumexp", "cross_entropy")
    ),
    "m06_mlp_adelante": Regla(prohibidas=("linear",)),
}

# Lo que nunca puede hacer el código del alumno mientras lo comprueban: leer la memoria del
# proceso o las pilas de otros hilos (donde están las pruebas), apagar la vigilancia o escapar
# a otro hilo (en cualquier punto), ni leer su pila o tocar los modos de PyTorch (directamente;
# PyTorch los usa por dentro).
_INTROSPECCION_SIEMPRE = (
    "sys:_current_frames",
    "sys:setprofile",
    "sys:settrace",
    "sys:getprofile",
    "threading:setprofile",
    "threading:settrace",
    "gc:get_objects",
    "gc:get_referrers",
    "gc:get_referents",
)
_INTROSPECCION_DIRECTA = (
    "sys:_getframe",
    "torch._C:_pop_torch_function_stack",
    "torch._C:_push_on_torch_function_stack",
    "torch._C:_set_torch_function_state",
    "torch.overrides:_pop_mode",
    "torch.overrides:_pop_mode_temporarily",
    "torch.overrides:_push_mode",
)
_MODULOS_INTROSPECCION = ("ctypes", "inspect")
# Hilos y procesos que lance el alumno escaparían de la vigilancia (las bibliotecas sí pueden:
# la barra de progreso de tqdm o los DataLoader con varios procesos).
_MODULOS_HILOS = ("threading", "_thread", "concurrent", "multiprocessing", "asyncio", "subprocess")
_MENSAJE_INTROSPECCION = (
    "tu función no puede inspeccionar la pila, la memoria ni la vigilancia de las "
    "comprobaciones ({nombre})"
)


@functools.cache
def _resuelta(ruta: str) -> tuple[Any, Any]:
    """(objeto, su código de Python o None) de una ruta, resuelto una sola vez: una función
    que el alumno sustituya después se sigue reconociendo por su código original."""
    objeto = _resolver(ruta)
    return objeto, (_codigo(objeto) if objeto is not None else None)


def _resolver(ruta: str) -> Any:
    """Objeto de ``"módulo:atributo.sub"``, o None si el módulo no está instalado."""
    modulo, _, atributo = ruta.partition(":")
    try:
        objeto: Any = importlib.import_module(modulo)
    except ImportError:
        return None
    for parte in atributo.split("."):
        objeto = getattr(objeto, parte, None)
        if objeto is None:
            return None
    return objeto


def _codigo(objeto: Any):
    """Código de Python que se ejecuta al llamar a ``objeto`` (o None si es de C)."""
    for _ in range(5):
        if hasattr(objeto, "__code__"):
            return objeto.__code__
        siguiente = (
            getattr(objeto, "__wrapped__", None)
            or getattr(objeto, "_implementation", None)
            or getattr(objeto, "__func__", None)
        )
        if siguiente is None:
            break
        objeto = siguiente
    try:
        return inspect.unwrap(objeto).__code__
    except (AttributeError, ValueError):
        return None


def _modulo_de_marco(marco) -> str:
    return marco.f_globals.get("__name__", "") or ""


_TERCEROS = frozenset(
    {"torch", "numpy", "scipy", "sklearn", "course_utils", "IPython", "ipykernel", "matplotlib",
     "tqdm", "traitlets", "jupyter_client", "zmq", "tornado", "PIL", "graphviz", "torchviz",
     "mlxtend", "pandas", "_pytest", "pytest", "pluggy", "nbclient", "nbformat"}
)  # fmt: skip
_DEL_ALUMNO: dict[str, bool] = {}


@functools.cache
def _carpetas_bibliotecas() -> tuple[str, ...]:
    """Carpetas de Python, de sus bibliotecas y del paquete del curso (con separador final)."""
    rutas = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    rutas.update(p for p in sysconfig.get_paths().values() if p)
    rutas.add(os.path.dirname(os.path.abspath(__file__)))
    return tuple(os.path.join(os.path.realpath(r), "") for r in rutas)


def _del_alumno(marco) -> bool:
    """Cierto si el marco es código del alumno (una celda, un módulo suyo), no de una biblioteca.

    Lo decide el archivo del código: dentro de la instalación de Python o del curso es de una
    biblioteca (también de una que no conozcamos, como ``typing_extensions``, que usa
    ``sys._getframe`` al importarse). El código sin archivo (``exec``) se juzga por su módulo.
    """
    archivo = marco.f_code.co_filename
    propio = _DEL_ALUMNO.get(archivo)
    if propio is None:
        if archivo.startswith("<"):
            return _modulo_del_alumno(_modulo_de_marco(marco))
        propio = not os.path.realpath(archivo).startswith(_carpetas_bibliotecas())
        _DEL_ALUMNO[archivo] = propio
    return propio


@functools.cache
def _modulo_del_alumno(modulo: str) -> bool:
    raiz = modulo.split(".")[0]
    return raiz not in _TERCEROS and raiz not in sys.stdlib_module_names


def _modulo_de_c(funcion: Any) -> str:
    modulo = getattr(funcion, "__module__", None)
    if modulo is None:
        propio = getattr(funcion, "__self__", None)
        modulo = getattr(type(propio), "__module__", "") if propio is not None else ""
    return modulo or ""


@dataclass
class _Vigilancia:
    """Estado de una ejecución vigilada (construido por :func:`ejecutar_vigilado`)."""

    ejercicio: str | None
    regla: Regla
    prohibir: tuple[Callable, ...] = ()
    violaciones: list[str] = field(default_factory=list)
    vistos: set[str] = field(default_factory=set)
    parar: bool = False
    entradas: tuple[torch.Tensor, ...] = ()  # matrices que recibió la función del alumno

    def __post_init__(self):
        self.torch_prohibidos: dict[str, str] = {}
        self.torch_requeridos: dict[str, str] = {}
        self.de_entrada: set[str] = set()
        self.lineas: dict[tuple[Any, int], int] = {}  # (código, línea) -> veces, con "bucles"
        self.codigos: dict[Any, tuple[str, str]] = {}  # código -> (clave, nombre)
        self.funciones_c: dict[int, tuple[str, str, Any]] = {}
        self.modulos_alumno = [(m, "introspeccion") for m in _MODULOS_INTROSPECCION]
        self.modulos_alumno += [(m, "hilos") for m in _MODULOS_HILOS]
        for clave in self.regla.prohibidas:
            operacion = OPERACIONES[clave]
            for nombre in operacion.torch:
                self.torch_prohibidos[nombre] = clave
            self._registrar_rutas(operacion.rutas, clave)
            for modulo in operacion.modulos:
                self.modulos_alumno.append((modulo, clave))
        for clave in self.regla.requeridas:
            operacion = OPERACIONES[clave]
            for nombre in operacion.torch:
                self.torch_requeridos[nombre] = clave
            self.de_entrada |= operacion.de_entrada
            self._registrar_rutas(operacion.rutas, "+" + clave)
        self._registrar_rutas(_INTROSPECCION_SIEMPRE, "introspeccion")
        self.introspeccion: dict[int, tuple[str, Any]] = {}
        for ruta in _INTROSPECCION_DIRECTA:
            objeto, codigo = _resuelta(ruta)
            if objeto is not None:
                objeto = codigo or objeto
                self.introspeccion[id(objeto)] = (ruta.replace(":", "."), objeto)
        for funcion in self.prohibir:
            codigo = _codigo(funcion)
            if codigo is not None:
                self.codigos[codigo] = ("referencia", getattr(funcion, "__name__", "referencia"))

    def _registrar_rutas(self, rutas: Iterable[str], clave: str) -> None:
        for ruta in rutas:
            objeto, codigo = _resuelta(ruta)
            if objeto is None:
                continue
            nombre = ruta.replace(":", ".")
            if codigo is not None:
                self.codigos.setdefault(codigo, (clave, nombre))
            else:
                self.funciones_c.setdefault(id(objeto), (clave, nombre, objeto))

    # --- Decisiones ---------------------------------------------------------------------

    def anotar(self, clave: str, nombre: str) -> None:
        """Registra una operación vista: obligatoria (``+clave``) o prohibida (lanza)."""
        if clave.startswith("+"):
            self.vistos.add(clave[1:])
            return
        if clave == "introspeccion":
            mensaje = _MENSAJE_INTROSPECCION.format(nombre=nombre)
        elif clave == "hilos":
            mensaje = f"tu función no puede crear hilos ni procesos ({nombre})"
        elif clave == "referencia":
            mensaje = f"tu función no puede llamar a la referencia de la comprobación ({nombre})"
        elif clave == "bucles":
            mensaje = nombre
        else:
            mensaje = f"no puedes usar {OPERACIONES[clave].texto} (has llamado a {nombre})"
        self.violaciones.append(mensaje)
        raise ErrorRegla(_mensaje_regla(mensaje, self.regla))

    def torch_llamada(self, func, args, kwargs) -> None:
        nombre = getattr(func, "__name__", "")
        requerido = _nombre_requerido(nombre, func, args)
        obligatoria = self.torch_requeridos.get(requerido)
        if obligatoria is not None and obligatoria not in self.vistos:  # basta verla una vez
            if requerido not in self.de_entrada or self._sobre_entrada(requerido, args):
                self.vistos.add(obligatoria)
        clave = self.torch_prohibidos.get(nombre) or self.torch_prohibidos.get("*")
        if clave is None and nombre in ("linalg_matrix_power", "matrix_power"):
            if "solucion_directa" in self.regla.prohibidas and _exponente(args, kwargs) < 0:
                clave = "solucion_directa"
        if clave is not None and nombre != "__get__":
            self.anotar(clave, _nombre_torch(func))

    def _sobre_entrada(self, nombre: str, args) -> bool:
        """La operación usa una de las matrices que recibió la función (o una proporcional)."""
        if nombre in ("vector@matriz", "matriz*columna"):
            operandos = [x for x in args[:2] if getattr(x, "ndim", None) == 2]
        elif nombre == "einsum":
            operandos = (
                args[1] if len(args) == 2 and isinstance(args[1], list | tuple) else args[1:]
            )
        else:
            operandos = args[:2] if nombre == "tensordot" else args[:1]
        return any(_proporcionales(x, e) for x in operandos for e in self.entradas)

    def traza(self, marco, evento: str, arg):
        """Traza de ``sys.settrace`` (solo con la regla «bucles»): cuenta las veces que se ejecuta
        cada línea del código del alumno. Sin bucles, cada línea se ejecuta unas pocas veces
        sea cual sea el tamaño de los datos; un bucle sobre los puntos repite su cuerpo."""
        if evento != "call" or marco.f_globals is _GLOBALES or not _del_alumno(marco):
            return None
        return self._linea

    def _linea(self, marco, evento: str, arg):
        if evento == "line":
            clave = (marco.f_code, marco.f_lineno)
            veces = self.lineas[clave] = self.lineas.get(clave, 0) + 1
            if veces == _REPETICIONES_BUCLE:
                texto = linecache.getline(marco.f_code.co_filename, marco.f_lineno).strip()
                texto = f" («{texto[:60]}»)" if texto else ""
                self.anotar(
                    "bucles",
                    f"tu función ejecuta {veces} veces o más una misma línea{texto}: recorre los "
                    "puntos con un bucle; calcula todas las distancias a la vez con *broadcasting*",
                )
        return self._linea

    def perfil(self, marco, evento: str, arg) -> None:
        if self.parar:
            self.parar = False
            raise KeyboardInterrupt
        if marco.f_globals is _GLOBALES:  # la propia vigilancia
            return
        if evento == "call":
            dato = self.codigos.get(marco.f_code)
            if dato is not None:
                if dato[1].endswith("matrix_power") and marco.f_locals.get("n", 0) >= 0:
                    return
                self.anotar(*dato)
            llamante = marco.f_back
            if llamante is not None and _del_alumno(llamante):
                self._directa(_modulo_de_marco(marco), marco.f_code.co_name, marco.f_code)
        elif evento == "c_call":
            dato = self.funciones_c.get(id(arg))
            if dato is not None and dato[2] is arg:
                self.anotar(dato[0], dato[1])
            if _del_alumno(marco):
                self._directa(_modulo_de_c(arg), getattr(arg, "__name__", "?"), arg)

    def _directa(self, modulo: str, nombre: str, objeto: Any) -> None:
        """Llamada directa desde el código del alumno a ``objeto`` (``modulo.nombre``)."""
        if not torch._C._is_torch_function_mode_enabled():
            self.anotar("introspeccion", "torch._C.DisableTorchFunction")
        introspeccion = self.introspeccion.get(id(objeto))
        if introspeccion is not None and introspeccion[1] is objeto:
            self.anotar("introspeccion", introspeccion[0])
        for prefijo, clave in self.modulos_alumno:
            if modulo == prefijo or modulo.startswith(prefijo + "."):
                self.anotar(clave, f"{modulo}.{nombre}")


#: Veces que puede ejecutarse una misma línea del alumno con la regla «bucles». Las pruebas usan
#: al menos 40 puntos y como mucho 10 coordenadas: un bucle (o una comprensión) sobre las
#: coordenadas o las dimensiones no llega; uno sobre los puntos, sí.
_REPETICIONES_BUCLE = 16


def _nombre_requerido(nombre: str, func, args) -> str:
    """Nombre con el que se busca una llamada entre las obligatorias (ver ``_TRASPUESTA``)."""
    if nombre == "__get__":
        return "." + getattr(getattr(func, "__self__", None), "__name__", "")
    if nombre in ("matmul", "__matmul__", "__rmatmul__") and len(args) >= 2:
        izquierda, derecha = (args[1], args[0]) if nombre == "__rmatmul__" else args[:2]
        fila = getattr(izquierda, "ndim", None) == 1 or (
            getattr(izquierda, "ndim", None) == 2 and izquierda.shape[0] == 1
        )
        if fila and getattr(derecha, "ndim", None) == 2:
            return "vector@matriz"
    if nombre in _PRODUCTOS and len(args) >= 2:
        for matriz, columna in (args[:2], args[1::-1]):
            if (
                isinstance(matriz, torch.Tensor)
                and isinstance(columna, torch.Tensor)
                and matriz.ndim == columna.ndim == 2
                and matriz.shape[1] > 1
                and columna.shape == (matriz.shape[0], 1)
            ):
                return "matriz*columna"
    return nombre


def _proporcionales(x: Any, entrada: torch.Tensor) -> bool:
    """``x`` es un tensor de la forma de ``entrada`` y proporcional a ella (α·entrada, α ≠ 0)."""
    if not isinstance(x, torch.Tensor) or x.shape != entrada.shape or x.is_complex():
        return False
    a = x.detach().to("cpu", torch.float64).flatten()
    b = entrada.detach().to("cpu", torch.float64).flatten()
    normas = torch.linalg.vector_norm(a) * torch.linalg.vector_norm(b)
    return bool(normas > 0) and bool(torch.abs(a @ b) >= (1 - 1e-9) * normas)


def _exponente(args, kwargs) -> int:
    n = (kwargs or {}).get("n", args[1] if len(args) > 1 else 0)
    try:
        return int(n)
    except (TypeError, ValueError):
        return 0


def _nombre_torch(func) -> str:
    nombre = getattr(func, "__name__", repr(func))
    for prefijo in ("linalg_", "special_"):
        if nombre.startswith(prefijo):
            return f"torch.{prefijo[:-1]}.{nombre[len(prefijo) :]}"
    return nombre


def _mensaje_regla(detalle: str, regla: Regla) -> str:
    prohibidas, requeridas = regla.textos()
    partes = [f"Regla del ejercicio incumplida: {detalle}."]
    if prohibidas:
        partes.append("En este ejercicio no puedes usar " + ", ".join(prohibidas) + ".")
    if requeridas:
        partes.append("Debes usar " + ", ".join(requeridas) + ".")
    return "\n".join(partes)


class _Modo(TorchFunctionMode):
    """Modo de PyTorch que pasa cada llamada por la vigilancia."""

    def __init__(self, vigilancia: _Vigilancia):
        super().__init__()
        self.vigilancia = vigilancia
        nombres = {*vigilancia.torch_prohibidos, *vigilancia.torch_requeridos}
        # Solo se examinan las llamadas que pueden importar (None: todas).
        if vigilancia.de_entrada:  # `A.T` llega como `__get__`; `r @ B`, como `matmul`
            nombres |= {"__get__", "matmul", "__matmul__", "__rmatmul__", *_PRODUCTOS}
        self.nombres = None if "*" in nombres else nombres | {"linalg_matrix_power", "matrix_power"}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if self.nombres is None or getattr(func, "__name__", "") in self.nombres:
            self.vigilancia.torch_llamada(func, args, kwargs)
        return func(*args, **(kwargs or {}))


_GLOBALES = globals()


def _detener_hilo(hilo: threading.Thread) -> None:
    """Lanza KeyboardInterrupt en el hilo del alumno (p. ej. tras agotar el tiempo)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(hilo.ident), ctypes.py_object(KeyboardInterrupt)
    )


def regla_de(ejercicio: str | None) -> Regla:
    """Regla de un ejercicio (vacía si no tiene).

    >>> regla_de("m03_regresion_optim").requeridas
    ('nn.Linear', 'nn.MSELoss', 'optim.SGD', 'backward')
    """
    if ejercicio is None:
        return Regla()
    if not isinstance(ejercicio, str):
        raise TypeError(f"ejercicio debe ser un texto, no {type(ejercicio).__name__}")
    return REGLAS.get(ejercicio, Regla())


def reglas_del_ejercicio(ejercicio: str) -> str:
    """Reglas de un ejercicio en español, como las enumera su enunciado.

    >>> print(reglas_del_ejercicio("m03_descenso_gradiente"))
    No puedes usar `torch.optim`. Debes usar `backward()`.
    >>> print(reglas_del_ejercicio("m06_entrenar"))
    Puedes usar cualquier función de PyTorch.
    """
    prohibidas, requeridas = regla_de(ejercicio).textos()
    partes = []
    if prohibidas:
        partes.append("No puedes usar " + ", ".join(prohibidas) + ".")
    if requeridas:
        partes.append("Debes usar " + ", ".join(requeridas) + ".")
    return " ".join(partes) or "Puedes usar cualquier función de PyTorch."


# Lo que PyTorch importa la primera vez que se crea un optimizador (``torch._dynamo`` arrastra
# sympy y cientos de módulos más): bajo la vigilancia, esa importación tarda segundos. Si el
# código del alumno nombra alguno de estos, se importa antes, fuera de ella (solo cambia el
# tiempo: una biblioteca importada no es código del alumno).
_PEREZOSOS = {
    "torch._dynamo": frozenset(
        {"optim", "SGD", "Adam", "AdamW", "LBFGS", "RMSprop", "Adagrad", "Adadelta", "Adamax",
         "NAdam", "RAdam", "ASGD", "Rprop", "lr_scheduler", "DataLoader", "compile"}
    ),
}  # fmt: skip


def _nombres_del_codigo(funcion: Any, profundidad: int = 3) -> set[str]:
    """Nombres que usa el código de ``funcion`` y el de las funciones (globales o de su
    cierre) a las que llama, sin ejecutar nada del alumno: solo mira funciones de Python."""
    nombres: set[str] = set()
    vistos: set[Any] = set()
    pendientes = [(funcion, 0)]
    while pendientes:
        actual, nivel = pendientes.pop()
        if type(actual) is not types.FunctionType or actual.__code__ in vistos:
            continue
        vistos.add(actual.__code__)
        codigos = [actual.__code__]
        while codigos:
            codigo = codigos.pop()
            nombres.update(codigo.co_names)
            codigos += [c for c in codigo.co_consts if type(c) is types.CodeType]
        if nivel < profundidad:
            if type(actual.__globals__) is dict:
                pendientes += [(actual.__globals__.get(n), nivel + 1) for n in nombres]
            for celda in actual.__closure__ or ():
                try:
                    pendientes.append((celda.cell_contents, nivel + 1))
                except ValueError:  # celda vacía
                    pass
    return nombres


def _precargar(funcion: Callable) -> None:
    faltan = [m for m in _PEREZOSOS if m not in sys.modules]
    if not faltan:
        return
    nombres = _nombres_del_codigo(funcion)
    for modulo in faltan:
        if nombres & _PEREZOSOS[modulo]:
            importlib.import_module(modulo)


def ejecutar_vigilado(
    funcion: Callable,
    args: tuple = (),
    kwargs: dict | None = None,
    ejercicio: str | None = None,
    prohibir: Iterable[Callable] = (),
) -> Any:
    """Ejecuta ``funcion(*args, **kwargs)`` del alumno bajo las reglas de ``ejercicio``.

    Devuelve lo que devuelva la función y relanza sus excepciones. ``prohibir`` añade funciones
    (p. ej. la referencia de una comprobación) que el alumno no puede llamar. Lanza
    :class:`ErrorRegla` si se incumple una regla, aunque el alumno capture el error.

    >>> ejecutar_vigilado(lambda a, b: a + b, (2, 3))
    5
    """
    entradas = tuple(
        x for x in (*args, *(kwargs or {}).values()) if isinstance(x, torch.Tensor) and x.ndim == 2
    )
    _precargar(funcion)
    vigilancia = _Vigilancia(ejercicio, regla_de(ejercicio), tuple(prohibir), entradas=entradas)
    resultado: dict[str, Any] = {}
    con_gradiente = torch.is_grad_enabled()
    contar_lineas = "bucles" in vigilancia.regla.prohibidas

    def correr():
        torch.set_grad_enabled(con_gradiente)
        try:
            with _Modo(vigilancia):
                if contar_lineas:
                    sys.settrace(vigilancia.traza)
                sys.setprofile(vigilancia.perfil)
                try:
                    resultado["valor"] = funcion(*args, **(kwargs or {}))
                finally:
                    sys.setprofile(None)
                    sys.settrace(None)
        except BaseException as error:  # se relanza en el hilo que llama
            resultado["error"] = error

    hilo = threading.Thread(target=correr, name="curso-alumno", daemon=True)
    hilo.start()
    try:
        while hilo.is_alive():
            hilo.join(0.1)
    except KeyboardInterrupt:
        vigilancia.parar = True
        _detener_hilo(hilo)
        hilo.join(5)
        raise
    from course_utils.integridad import comprobar_tras_llamada

    manipulado = comprobar_tras_llamada()  # solo hace algo mientras se califica
    if manipulado:
        raise ErrorRegla(
            "Posible manipulación: mientras se ejecutaba tu función "
            + "; ".join(manipulado[:3])
            + ". Se ha restaurado todo y la comprobación no cuenta."
        )
    if vigilancia.violaciones:
        raise ErrorRegla(_mensaje_regla(vigilancia.violaciones[0], vigilancia.regla)) from None
    if "error" in resultado:
        error = resultado.pop("error")
        raise error.with_traceback(error.__traceback__)
    faltan = [c for c in vigilancia.regla.requeridas if c not in vigilancia.vistos]
    if faltan:
        textos = ", ".join(OPERACIONES[c].texto for c in faltan)
        raise ErrorRegla(_mensaje_regla(f"tu función no usa {textos}", vigilancia.regla))
    return resultado.get("valor")
