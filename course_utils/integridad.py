"""Vigilancia de la integridad de las comprobaciones mientras se califica un cuaderno.

El calificador instala esta vigilancia en el núcleo antes de ejecutar ninguna celda
(``CURSO_VIGILAR=1``, ver ``autograder.aislamiento``). :func:`instalar` guarda el estado de
confianza: las funciones y los datos de ``course_utils`` (su código incluido), los módulos que
usan las comprobaciones (``torch``, ``numpy``, ``builtins``…), la clase ``torch.Tensor`` y la
maquinaria de IPython e ipykernel (transformadores de entrada y de AST, manejadores de
excepciones, eventos, métodos del intérprete y del núcleo). Después:

- Antes y después de cada celda de prueba el calificador pide una verificación por
  ``user_expressions`` (clave :data:`CLAVE`, con un número de un solo uso). :func:`verificar`
  compara, restaura el estado de confianza y devuelve lo que encontró cambiado: el calificador
  da 0 puntos a esa prueba y lo anota como «posible manipulación». Si la respuesta no llega o no
  trae el número, también (alguien tocó el canal).
- Tras cada llamada vigilada a una función del alumno (:mod:`course_utils.reglas`) se hace una
  verificación rápida; si algo cambió, se restaura y la comprobación falla en el acto.
- El código de las celdas de prueba (con sus pruebas ocultas) no queda al alcance del alumno: un
  transformador de AST lo borra del historial de IPython (``In``, ``_ih``, ``_i*``), de
  ``linecache`` y de la información de la ejecución antes de ejecutarlo, y tras cada prueba se
  olvida la última traza de error.
- Un gancho de auditoría impide añadir otros ganchos de auditoría (que verían ese código al
  compilarse).

Nada de esto es una caja fuerte: el código del alumno corre en el mismo proceso. Cierra las
vías conocidas y hace que cualquier otra deje rastro.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import json
import linecache
import sys
import threading
import types
from typing import Any

# Copias propias de las funciones básicas: un alumno que cambie ``builtins`` no cambia cómo
# se verifica (y la verificación restaura ``builtins``).
any = builtins.any  # noqa: A001
dict = builtins.dict  # noqa: A001
getattr = builtins.getattr  # noqa: A001
hasattr = builtins.hasattr  # noqa: A001
id = builtins.id  # noqa: A001
isinstance = builtins.isinstance  # noqa: A001
len = builtins.len  # noqa: A001
list = builtins.list  # noqa: A001
set = builtins.set  # noqa: A001
setattr = builtins.setattr  # noqa: A001
str = builtins.str  # noqa: A001
type = builtins.type  # noqa: A001
vars = builtins.vars  # noqa: A001

__all__ = ["CLAVE", "MARCA_OCULTAS", "comprobar_tras_llamada", "instalar", "verificar"]

#: Clave de ``user_expressions`` con la que el calificador pide una verificación.
CLAVE = "__curso_integridad__"
#: Marca de las celdas con pruebas ocultas (la que usa nbgrader).
MARCA_OCULTAS = "BEGIN HIDDEN TESTS"
_SUSTITUTO = "# (celda de prueba: su código no se muestra durante la calificación)"

_SUBMODULOS = ("comprobaciones", "reglas", "variantes", "gradientes", "entorno", "integridad")
_MODULOS = (
    "builtins",
    "ast",
    "codeop",
    "types",
    "functools",
    "contextlib",
    "warnings",
    "io",
    "math",
    "copy",
    "threading",
    "linecache",
    "numpy",
    "numpy.linalg",
    "torch",
    "torch.nn",
    "torch.nn.functional",
    "torch.linalg",
    "torch.autograd",
    "torch.overrides",
    "torch.optim",
)
_CLASES = ("torch.Tensor", "torch.nn.Module", "torch.nn.Linear", "torch.nn.MSELoss")
_ATRIBUTOS_SYS = ("excepthook", "displayhook", "meta_path", "path_hooks", "setprofile", "settrace")
_METODOS_INTERPRETE = (
    "run_cell",
    "run_cell_async",
    "run_ast_nodes",
    "run_code",
    "transform_cell",
    "transform_ast",
    "showtraceback",
    "_showtraceback",
    "showsyntaxerror",
    "user_expressions",
    "ex",
    "ev",
    "push",
    "get_exception_only",
)
_OBJETOS_INTERPRETE = (
    "events",
    "compile",
    "displayhook",
    "display_pub",
    "display_formatter",
    "history_manager",
    "input_transformer_manager",
    "InteractiveTB",
    "SyntaxTB",
    "CustomTB",
    "user_ns",
    "user_global_ns",
    "custom_exceptions",
)
_LISTAS_INTERPRETE = ("ast_transformers", "input_transformers_cleanup", "input_transformers_post")
_METODOS_NUCLEO = ("do_execute", "execute_request", "dispatch_shell", "send_response")
_NOMBRES_CANONICOS = {"cu": "course_utils", "torch": "torch"}
# Globales que cambian con el uso normal (no son manipulación).
_CAMBIANTES = {
    "builtins": {
        "_",
        "__",
        "___",
        "get_ipython",
        "exit",
        "quit",
        "display",
        "__IPYTHON__",
        "input",
    },
    "course_utils.variantes": {"_alumno"},
    "course_utils.integridad": {"_guardian"},
    "warnings": {"filters", "showwarning", "_showwarnmsg_impl"},
    "torch": {"manual_seed"},  # torch._dynamo la envuelve al importarse
}
#: Datos de course_utils que nadie debe cambiar (las reglas).
_DATOS = ("course_utils.reglas:REGLAS", "course_utils.reglas:OPERACIONES")


def _mismo(a: Any, b: Any) -> bool:
    """Identidad, también para métodos ligados (que se crean en cada acceso)."""
    if a is b:
        return True
    if isinstance(a, types.MethodType) and isinstance(b, types.MethodType):
        return a.__func__ is b.__func__ and a.__self__ is b.__self__
    return False


class _Guardian:
    """Estado de confianza del núcleo y su restauración."""

    def __init__(self, shell):
        self.shell = shell
        self.pendientes: list[str] = []  # hallazgos de las verificaciones rápidas
        self.hilo = threading.main_thread()
        import course_utils

        for nombre in course_utils.__all__:  # carga las funciones perezosas
            getattr(course_utils, nombre)
        self.modulos: dict[str, tuple[types.ModuleType, dict]] = {}
        for nombre in (*_MODULOS, "course_utils", *(f"course_utils.{m}" for m in _SUBMODULOS)):
            try:
                modulo = importlib.import_module(nombre)
            except ImportError:
                continue
            self.modulos[nombre] = (modulo, dict(vars(modulo)))
        self.funciones = self._funciones_del_curso()
        self.contenedores = self._contenedores_del_curso()
        self.clases = {}
        for ruta in _CLASES:
            modulo, _, nombre = ruta.rpartition(".")
            clase = getattr(importlib.import_module(modulo), nombre)
            self.clases[ruta] = (clase, dict(vars(clase)))
        self.sys = {n: getattr(sys, n) for n in _ATRIBUTOS_SYS}
        self.sys_listas = {n: list(getattr(sys, n)) for n in ("meta_path", "path_hooks")}
        self.interprete = self._estado_objeto(shell, _METODOS_INTERPRETE + _OBJETOS_INTERPRETE)
        self.listas = {n: list(getattr(shell, n, []) or []) for n in _LISTAS_INTERPRETE}
        self.eventos = {k: list(v) for k, v in shell.events.callbacks.items()}
        gestor = shell.input_transformer_manager
        self.gestor_entrada = {
            n: list(getattr(gestor, n)) for n in ("cleanup_transforms", "line_transforms")
        }
        self.clases_ipython = [
            (c, dict(vars(c)))
            for objeto in (shell, shell.compile, shell.events, shell.history_manager)
            for c in type(objeto).__mro__
            if c is not object
        ]
        nucleo = getattr(shell, "kernel", None)
        self.nucleo = nucleo
        if nucleo is not None:
            self.estado_nucleo = self._estado_objeto(nucleo, _METODOS_NUCLEO)
            self.manejadores = dict(getattr(nucleo, "shell_handlers", {}))
            self.clases_ipython += [(c, dict(vars(c))) for c in type(nucleo).__mro__[:-1]]
        self.modos = (0, 0)

    # --- Estado de confianza ----------------------------------------------------------------

    def _funciones_del_curso(self) -> list[tuple[Any, Any, Any, Any]]:
        """(función, código, valores por defecto, por nombre) de todo course_utils."""
        vistas, resultado = set(), []
        pendientes = []
        for nombre, (_, copia) in self.modulos.items():
            if nombre.startswith("course_utils"):
                pendientes += list(copia.values())
        while pendientes:
            objeto = pendientes.pop()
            if id(objeto) in vistas:
                continue
            vistas.add(id(objeto))
            if isinstance(objeto, types.FunctionType) and objeto.__module__.startswith(
                "course_utils"
            ):
                resultado.append(
                    (objeto, objeto.__code__, objeto.__defaults__, objeto.__kwdefaults__)
                )
                pendientes += [getattr(objeto, "__wrapped__", None)]
                pendientes += [c.cell_contents for c in objeto.__closure__ or () if _llena(c)]
            elif isinstance(objeto, type) and objeto.__module__.startswith("course_utils"):
                resultado.append((objeto, dict(vars(objeto))))
                pendientes += list(vars(objeto).values())
            elif isinstance(objeto, (staticmethod, classmethod)):
                pendientes.append(objeto.__func__)
        return resultado

    @staticmethod
    def _contenedores_del_curso() -> list[tuple[dict, dict]]:
        """Copias de los datos de course_utils que no deben cambiar (las reglas)."""
        resultado = []
        for ruta in _DATOS:
            modulo, _, nombre = ruta.partition(":")
            datos = getattr(importlib.import_module(modulo), nombre)
            resultado.append((datos, dict(datos)))
        return resultado

    @staticmethod
    def _estado_objeto(objeto, nombres) -> dict[str, Any]:
        return {n: getattr(objeto, n) for n in nombres if hasattr(objeto, n)}

    # --- Verificación -------------------------------------------------------------------------

    def verificar(self, completa: bool = True) -> list[str]:
        """Compara con el estado de confianza, lo restaura y devuelve lo que cambió."""
        hallazgos: list[str] = []
        self._verificar_modulos(hallazgos)
        self._verificar_curso(hallazgos)
        self._verificar_torch(hallazgos)
        if completa:
            self._verificar_sys(hallazgos)
            self._verificar_ipython(hallazgos)
            self._restaurar_nombres(hallazgos)
        return hallazgos

    def _verificar_modulos(self, hallazgos: list[str]) -> None:
        for nombre, (modulo, copia) in self.modulos.items():
            if sys.modules.get(nombre) is not modulo:
                sys.modules[nombre] = modulo
                hallazgos.append(f"se sustituyó el módulo {nombre}")
            actual = vars(modulo)
            cambiantes = _CAMBIANTES.get(nombre, ())
            for clave, valor in copia.items():
                if clave not in actual or not _mismo(actual[clave], valor):
                    if clave in cambiantes:
                        continue
                    actual[clave] = valor
                    hallazgos.append(f"se cambió {nombre}.{clave}")
        for ruta, (clase, copia) in self.clases.items():
            self._verificar_clase(clase, copia, ruta, hallazgos)

    @staticmethod
    def _verificar_clase(clase, copia, ruta, hallazgos) -> None:
        """Restaura los atributos cambiados o borrados y quita los añadidos que tapan a los de
        una clase base (p. ej. ``torch.Tensor.__eq__``)."""
        actual = vars(clase)
        for clave, valor in copia.items():
            if clave not in actual or not _mismo(actual[clave], valor):
                try:
                    setattr(clase, clave, valor)
                except (TypeError, AttributeError):
                    continue
                hallazgos.append(f"se cambió {ruta}.{clave}")
        for clave in set(actual) - set(copia):
            if not any(clave in vars(base) for base in clase.__mro__[1:]):
                continue
            try:
                delattr(clase, clave)
            except (TypeError, AttributeError):
                continue
            hallazgos.append(f"se añadió {ruta}.{clave}")

    def _verificar_curso(self, hallazgos: list[str]) -> None:
        for dato in self.funciones:
            if len(dato) == 2:
                clase, copia = dato
                self._verificar_clase(clase, copia, clase.__qualname__, hallazgos)
                continue
            funcion, codigo, defecto, por_nombre = dato
            if (
                funcion.__code__ is not codigo
                or funcion.__defaults__ is not defecto
                or funcion.__kwdefaults__ is not por_nombre
            ):
                funcion.__code__ = codigo
                funcion.__defaults__ = defecto
                funcion.__kwdefaults__ = por_nombre
                hallazgos.append(f"se cambió el código de {funcion.__module__}.{funcion.__name__}")
        for datos, copia in self.contenedores:
            if datos.keys() != copia.keys() or any(datos[k] is not v for k, v in copia.items()):
                datos.clear()
                datos.update(copia)
                hallazgos.append("se cambiaron las reglas de los ejercicios")

    def _verificar_torch(self, hallazgos: list[str]) -> None:
        import torch

        while torch._C._len_torch_function_stack() > 0:
            torch._C._pop_torch_function_stack()
            hallazgos.append("quedó activo un modo de PyTorch (TorchFunctionMode)")
        while torch._C._len_torch_dispatch_stack() > 0:
            torch._C._pop_torch_dispatch_stack()
            hallazgos.append("quedó activo un modo de despacho de PyTorch")
        if not torch._C._is_torch_function_enabled():
            torch._C._set_torch_function_state(torch._C._TorchFunctionState.ENABLED)
            hallazgos.append("se desactivó __torch_function__")
        torch.set_grad_enabled(True)

    def _verificar_sys(self, hallazgos: list[str]) -> None:
        for nombre, valor in self.sys.items():
            if not _mismo(getattr(sys, nombre), valor):
                setattr(sys, nombre, valor)
                hallazgos.append(f"se cambió sys.{nombre}")
        for nombre, copia in self.sys_listas.items():
            if getattr(sys, nombre) != copia:
                getattr(sys, nombre)[:] = copia
                hallazgos.append(f"se cambió sys.{nombre}")
        if sys.gettrace() is not None or sys.getprofile() is not None:
            sys.settrace(None)
            sys.setprofile(None)
            hallazgos.append("se instaló un rastreador (sys.settrace o sys.setprofile)")
        if getattr(threading, "_trace_hook", None) or getattr(threading, "_profile_hook", None):
            threading.settrace(None)
            threading.setprofile(None)
            hallazgos.append("se instaló un rastreador para los hilos")

    def _verificar_ipython(self, hallazgos: list[str]) -> None:
        shell = self.shell
        self._restaurar_atributos(shell, self.interprete, "el intérprete", hallazgos)
        for nombre, copia in self.listas.items():
            lista = getattr(shell, nombre, None)
            if lista is not None and [id(x) for x in lista] != [id(x) for x in copia]:
                lista[:] = copia
                hallazgos.append(f"se cambió la lista {nombre} de IPython")
        gestor = shell.input_transformer_manager
        for nombre, copia in self.gestor_entrada.items():
            if [id(x) for x in getattr(gestor, nombre)] != [id(x) for x in copia]:
                getattr(gestor, nombre)[:] = copia
                hallazgos.append("se registró un transformador de entrada de IPython")
        callbacks = shell.events.callbacks
        for evento, copia in self.eventos.items():
            actuales = callbacks.get(evento, [])
            # Las bibliotecas (p. ej. matplotlib_inline) registran los suyos: se aceptan.
            copia += [f for f in actuales if f not in copia and _de_biblioteca(f)]
            if [id(x) for x in actuales] != [id(x) for x in copia]:
                if any(f not in copia for f in actuales):
                    hallazgos.append(f"se cambiaron los eventos {evento} de IPython")
                callbacks[evento] = list(copia)
        for clase, copia in self.clases_ipython:
            self._verificar_clase(clase, copia, clase.__qualname__, hallazgos)
        if self.nucleo is not None:
            self._restaurar_atributos(self.nucleo, self.estado_nucleo, "el núcleo", hallazgos)
            manejadores = getattr(self.nucleo, "shell_handlers", {})
            if any(not _mismo(manejadores.get(k), v) for k, v in self.manejadores.items()):
                manejadores.update(self.manejadores)
                hallazgos.append("se cambiaron los manejadores del núcleo")

    @staticmethod
    def _restaurar_atributos(objeto, copia, quien, hallazgos) -> None:
        for nombre, valor in copia.items():
            if not _mismo(getattr(objeto, nombre, None), valor):
                try:
                    if nombre in vars(objeto) and nombre not in vars(type(objeto)):
                        setattr(objeto, nombre, valor)
                    else:
                        vars(objeto).pop(nombre, None)
                        if not _mismo(getattr(objeto, nombre, None), valor):
                            setattr(objeto, nombre, valor)
                except (AttributeError, TypeError):
                    pass
                hallazgos.append(f"se cambió {nombre} en {quien}")

    def _restaurar_nombres(self, hallazgos: list[str]) -> None:
        """Los nombres del cuaderno que usan las pruebas (``cu``, ``torch``) vuelven a su módulo."""
        espacio = self.shell.user_ns
        for nombre, modulo in _NOMBRES_CANONICOS.items():
            if nombre in espacio and espacio[nombre] is not sys.modules.get(modulo):
                espacio[nombre] = importlib.import_module(modulo)
                hallazgos.append(f"se reasignó el nombre {nombre}")

    # --- Código de las pruebas ----------------------------------------------------------------

    def borrar_pruebas(self) -> None:
        """Quita el código de las celdas de prueba de todo lo que el alumno podría leer."""
        for nombre, entrada in list(linecache.cache.items()):
            lineas = entrada[2] if isinstance(entrada, tuple) and len(entrada) > 2 else []
            if any(MARCA_OCULTAS in linea for linea in lineas):
                linecache.cache[nombre] = (len(_SUSTITUTO), None, [_SUSTITUTO + "\n"], nombre)
        historial = self.shell.history_manager
        if historial is not None:
            for lista in (historial.input_hist_parsed, historial.input_hist_raw):
                for i, texto in enumerate(lista):
                    if MARCA_OCULTAS in texto:
                        lista[i] = _SUSTITUTO
            with historial.db_input_cache_lock:
                historial.db_input_cache[:] = [
                    e for e in historial.db_input_cache if MARCA_OCULTAS not in str(e)
                ]
            for nombre in ("_i", "_ii", "_iii", "_i00"):
                if MARCA_OCULTAS in str(getattr(historial, nombre, "")):
                    setattr(historial, nombre, _SUSTITUTO)
        espacio = self.shell.user_ns
        for nombre, valor in list(espacio.items()):
            if nombre.startswith("_i") and isinstance(valor, str) and MARCA_OCULTAS in valor:
                espacio[nombre] = _SUSTITUTO
        marco = sys._getframe(1)
        for _ in range(20):  # la información de la ejecución en curso (ExecutionInfo)
            if marco is None:
                break
            info = marco.f_locals.get("info")
            if info is not None and MARCA_OCULTAS in str(getattr(info, "raw_cell", "")):
                info.raw_cell = info.transformed_cell = _SUSTITUTO
            marco = marco.f_back

    def olvidar_errores(self) -> None:
        """Tras una prueba: sin trazas que lleven a sus marcos (y a sus constantes)."""
        for nombre in ("last_type", "last_value", "last_traceback", "last_exc"):
            if hasattr(sys, nombre):
                setattr(sys, nombre, None)
        for nombre in ("_last_traceback", "last_execution_result"):
            if getattr(self.shell, nombre, None) is not None:
                setattr(self.shell, nombre, None)


def _de_biblioteca(funcion) -> bool:
    """Cierto si ``funcion`` viene de una biblioteca instalada, no de una celda del cuaderno."""
    from course_utils.reglas import _TERCEROS

    modulo = getattr(funcion, "__module__", None) or getattr(
        getattr(funcion, "__func__", None), "__module__", ""
    )
    raiz = (modulo or "").split(".")[0]
    return raiz in _TERCEROS or raiz in {"matplotlib_inline", "ipywidgets", "comm"}


def _llena(celda) -> bool:
    try:
        celda.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


class _BorrarPruebas(ast.NodeTransformer):
    """Transformador de AST que borra el código de la celda antes de ejecutarla (no la cambia)."""

    def visit(self, node):
        if _guardian is not None:
            _guardian.borrar_pruebas()
        return node


_guardian: _Guardian | None = None


def _auditoria(evento: str, argumentos) -> None:
    if evento == "sys.addaudithook":
        if _guardian is not None:
            _guardian.pendientes.append("se intentó añadir un gancho de auditoría")
        raise RuntimeError("no se permiten ganchos de auditoría durante la calificación")


def instalar(shell) -> None:
    """Guarda el estado de confianza del núcleo y activa la vigilancia (una sola vez)."""
    global _guardian
    if _guardian is not None:
        return
    shell.ast_transformers.append(_BorrarPruebas())
    original = shell.user_expressions

    def user_expressions(expresiones):
        expresiones = dict(expresiones or {})
        peticion = expresiones.pop(CLAVE, None)
        respuesta = original(expresiones)
        if peticion is not None:
            respuesta[CLAVE] = _responder(str(peticion))
        return respuesta

    shell.user_expressions = user_expressions
    _guardian = _Guardian(shell)
    sys.addaudithook(_auditoria)


def _responder(peticion: str) -> dict:
    fase, _, numero = peticion.partition(":")
    hallazgos = verificar()
    if fase == "despues":
        _guardian.olvidar_errores()
    texto = json.dumps({"numero": numero, "hallazgos": hallazgos}, ensure_ascii=False)
    return {"status": "ok", "data": {"text/plain": texto}, "metadata": {}}


def verificar() -> list[str]:
    """Verificación completa: restaura el estado de confianza y devuelve lo que había cambiado
    (incluidas las verificaciones rápidas anteriores). Lista vacía sin vigilancia instalada."""
    if _guardian is None:
        return []
    hallazgos = [*_guardian.pendientes, *_guardian.verificar()]
    _guardian.pendientes.clear()
    return list(dict.fromkeys(hallazgos))


def comprobar_tras_llamada() -> list[str]:
    """Verificación rápida tras ejecutar código del alumno (solo con vigilancia instalada)."""
    if _guardian is None:
        return []
    hallazgos = _guardian.verificar(completa=False)
    _guardian.pendientes += hallazgos
    return hallazgos
