"""Carpeta raíz del curso y el error de ``curso`` con mensaje en español.

Lo usan tanto la orden ``curso`` (:mod:`course_utils.cli`) como la calificación
(:mod:`autograder`); este módulo no importa ninguno de los dos, así que la biblioteca del
alumno nunca depende de la parte del instructor.
"""

from __future__ import annotations

import os
from pathlib import Path


class ErrorCurso(Exception):
    """Error de ``curso`` con un mensaje en español para el usuario.

    >>> str(ErrorCurso("no hay cuadernos"))
    'no hay cuadernos'
    """

    def __init__(self, mensaje: str, codigo: int = 1):
        super().__init__(mensaje)
        self.codigo = codigo


def _es_raiz(carpeta: Path) -> bool:
    return (carpeta / "solutions").is_dir() and (
        carpeta / "autograder" / "nbgrader_config.py"
    ).is_file()


def raiz_proyecto() -> Path:
    """Carpeta raíz del curso (la que contiene ``solutions/`` y ``autograder/``).

    Usa ``CURSO_RAIZ`` si está definida; si no, busca desde la carpeta actual hacia arriba y, por
    último, junto al paquete instalado (instalación editable). Si no la encuentra, lanza
    ``ErrorCurso``.

    >>> (raiz_proyecto() / "solutions").is_dir()  # doctest: +SKIP
    True
    """
    valor = os.environ.get("CURSO_RAIZ")
    if valor:
        carpeta = Path(valor).expanduser().resolve()
        if not _es_raiz(carpeta):
            raise ErrorCurso(
                f"CURSO_RAIZ={valor} no es la carpeta del curso: le faltan solutions/ o "
                "autograder/nbgrader_config.py."
            )
        return carpeta
    actual = Path.cwd().resolve()
    for carpeta in (actual, *actual.parents):
        if _es_raiz(carpeta):
            return carpeta
    junto_al_paquete = Path(__file__).resolve().parent.parent
    if _es_raiz(junto_al_paquete):
        return junto_al_paquete
    raise ErrorCurso(
        "No encuentro la carpeta del curso (la que contiene solutions/ y "
        "autograder/nbgrader_config.py). Ejecuta «curso» dentro del repositorio clonado o "
        "indica la carpeta con la variable CURSO_RAIZ."
    )
