"""Ejecutor local: procesos trabajadores de larga vida en esta máquina (el de siempre).

Los trabajadores salen de un servidor de procesos con nbgrader ya importado (``forkserver``;
``spawn`` donde no lo hay). Si uno muere (p. ej. SIGKILL), el grupo entero queda inservible:
lo que faltaba se repite una vez, cada tarea en su propio proceso, así que solo la culpable se
queda sin nota.
"""

from __future__ import annotations

import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from autograder.ejecutores import Ejecutor

# Módulos que los trabajadores importan una sola vez (el servidor de procesos los precarga).
PRECARGA = [
    "autograder.calificacion",
    "autograder.ejecucion",
    "nbgrader.converters",
    "nbgrader.api",
    "nbconvert.exporters.html",
    "nbclient",
]


def contexto_multiproceso():
    """Servidor de procesos con nbgrader precargado (o ``spawn`` donde no lo hay).

    El servidor arranca ya, en segundo plano, mientras se preparan las plantillas.
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        from multiprocessing import forkserver

        contexto = multiprocessing.get_context("forkserver")
        contexto.set_forkserver_preload(PRECARGA)
        forkserver.ensure_running()
        return contexto
    return multiprocessing.get_context("spawn")


def como_termino(codigo: int | None) -> str:
    """Cómo terminó un proceso: «señal SIGKILL», «código 7»…"""
    if codigo is not None and codigo < 0:
        try:
            return f"señal {signal.Signals(-codigo).name}"
        except ValueError:
            return f"señal {-codigo}"
    return f"código {codigo}"


class EjecutorLocal(Ejecutor):
    """Grupo de procesos trabajadores de larga vida (si el servidor de procesos falla, se
    sigue con procesos ``spawn``)."""

    def __init__(self, cuantos: int):
        self.cuantos = cuantos
        self.contexto = contexto_multiproceso()
        self.grupos = [ProcessPoolExecutor(max_workers=cuantos, mp_context=self.contexto)]

    def enviar(self, funcion, *args):
        try:
            return self.grupos[-1].submit(funcion, *args)
        except (OSError, BrokenProcessPool):
            if self.contexto.get_start_method() == "spawn":
                raise
            self.contexto = multiprocessing.get_context("spawn")
            self.grupos.append(ProcessPoolExecutor(self.cuantos, mp_context=self.contexto))
            return self.grupos[-1].submit(funcion, *args)

    def calificar(self, funcion, tareas, ctx, manuales):
        from autograder.calificacion import Resultado, resultado_fallido

        futuros, pendientes = {}, []
        for tarea in tareas:
            try:
                futuro = self.enviar(
                    funcion, tarea, ctx, manuales.get((tarea.alumno, tarea.modulo))
                )
            except Exception:  # el grupo ya está roto
                pendientes.append(tarea)
            else:
                futuros[futuro] = tarea
        for futuro in as_completed(futuros):
            tarea = futuros[futuro]
            try:
                resultado = futuro.result()
            except BrokenProcessPool:
                pendientes.append(tarea)
                continue
            except Exception as error:  # el trabajador no debería lanzar nada
                resultado = resultado_fallido(
                    tarea, ctx, f"error interno del calificador ({error})"
                )
            if not isinstance(resultado, Resultado):
                resultado = resultado_fallido(tarea, ctx, "error interno del calificador")
            yield tarea, resultado
        yield from en_procesos_propios(
            pendientes, ctx, manuales, funcion, self.cuantos, self.contexto
        )

    def detener(self) -> None:
        """Termina ya los procesos de este grupo (tras Ctrl+C), sin esperar a sus tareas."""
        for grupo in self.grupos:
            procesos = list((getattr(grupo, "_processes", None) or {}).values())
            grupo.shutdown(wait=False, cancel_futures=True)
            for proceso in procesos:
                if proceso.is_alive():
                    proceso.terminate()
            for proceso in procesos:
                proceso.join(timeout=10)
                if proceso.is_alive():
                    proceso.kill()
                    proceso.join()

    def cerrar(self) -> None:
        for grupo in self.grupos:
            grupo.shutdown(wait=True, cancel_futures=True)


def en_procesos_propios(tareas, ctx, manuales, funcion, cuantos: int, contexto=None):
    """Califica cada tarea en un proceso nuevo (tras morir un trabajador), hasta ``cuantos`` a
    la vez, y devuelve (tarea, resultado) según terminan. Si el proceso de una tarea muere, su
    resultado dice cómo; las demás no se enteran."""
    from multiprocessing.connection import wait

    from autograder.calificacion import Resultado, resultado_fallido

    contexto = contexto or multiprocessing.get_context("spawn")
    cola = list(tareas)
    activos: dict = {}  # receptor -> (tarea, proceso)
    try:
        while cola or activos:
            while cola and len(activos) < max(1, cuantos):
                tarea = cola.pop(0)
                manual = manuales.get((tarea.alumno, tarea.modulo))
                try:
                    receptor, emisor = contexto.Pipe(duplex=False)
                    argumentos = (funcion, tarea, ctx, manual, emisor)
                    proceso = contexto.Process(target=_hijo, args=argumentos)
                    proceso.start()
                    emisor.close()
                except Exception as error:
                    if contexto.get_start_method() != "spawn":
                        contexto = multiprocessing.get_context("spawn")
                        cola.insert(0, tarea)
                        continue
                    yield (
                        tarea,
                        resultado_fallido(
                            tarea, ctx, f"no se pudo crear el proceso de calificación ({error})"
                        ),
                    )
                    continue
                activos[receptor] = (tarea, proceso)
            for receptor in wait(list(activos)):
                tarea, proceso = activos.pop(receptor)
                try:
                    resultado = receptor.recv()
                except Exception:  # EOFError: murió sin responder
                    resultado = None
                receptor.close()
                proceso.join()
                if not isinstance(resultado, Resultado):
                    resultado = resultado_fallido(
                        tarea,
                        ctx,
                        "el proceso de calificación terminó de forma inesperada "
                        f"({como_termino(proceso.exitcode)})",
                    )
                yield tarea, resultado
    finally:
        for _, proceso in activos.values():  # solo los procesos creados aquí
            if proceso.is_alive():
                proceso.kill()
            proceso.join()


def _hijo(funcion, tarea, ctx, manual, emisor):
    emisor.send(funcion(tarea, ctx, manual))
    emisor.close()
