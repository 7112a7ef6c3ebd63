"""Ejecutores de la calificación: dónde se califica cada entrega.

Un ejecutor recibe las tareas (una entrega de un alumno en un módulo) y devuelve, según
terminan, el :class:`~autograder.calificacion.Resultado` de cada una: notas, copia calificada,
retroalimentación, registro, errores e incidencias. El proceso principal es el único que
escribe el libro de notas y los informes, así que un ejecutor solo tiene que repartir y
recoger. Hay dos:

- :class:`~autograder.ejecutores.local.EjecutorLocal`: procesos de esta máquina (por defecto);
- :class:`~autograder.ejecutores.dask.EjecutorDask`: un clúster de Dask distributed
  (``curso calificar --cluster tcp://HOST:8786``, extra ``curso-pytorch[cluster]``).

Otro (Ray, trabajos de Kubernetes…) sería un archivo nuevo con una subclase de
:class:`Ejecutor` y una línea en :func:`crear_ejecutor`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator


class Ejecutor(ABC):
    """Reparte tareas de calificación y devuelve ``(tarea, resultado)`` según terminan.

    Garantías que debe dar cada ejecutor: toda tarea enviada vuelve exactamente una vez con un
    ``Resultado`` (si su proceso o su máquina muere, se repite como mucho una vez y, si vuelve
    a morir, vuelve un resultado fallido que lo dice); nunca lanza por culpa de una entrega.
    """

    #: Cuántas tareas califica a la vez (para el reparto de hilos y el informe).
    cuantos: int = 1

    @abstractmethod
    def calificar(
        self, funcion: Callable, tareas: Iterable, ctx, manuales: dict
    ) -> Iterator[tuple]:
        """Califica ``funcion(tarea, ctx, manual)`` para cada tarea; devuelve (tarea,
        resultado) en el orden en que terminan."""

    def detener(self) -> None:  # noqa: B027 (opcional)
        """Tras Ctrl+C: cancela ya lo pendiente, sin esperar."""

    def cerrar(self) -> None:  # noqa: B027 (opcional)
        """Libera los recursos (procesos, conexión)."""

    def __enter__(self):
        return self

    def __exit__(self, *excepcion):
        self.cerrar()


def crear_ejecutor(trabajadores: int, cluster: str | None = None) -> Ejecutor:
    """El ejecutor local con ``trabajadores`` procesos o, con ``cluster`` (dirección del
    planificador de Dask), el de Dask."""
    if cluster:
        from autograder.ejecutores.dask import EjecutorDask

        return EjecutorDask(cluster)
    from autograder.ejecutores.local import EjecutorLocal

    return EjecutorLocal(trabajadores)
