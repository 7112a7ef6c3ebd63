"""Variantes personales: los datos fijos de algunos ejercicios dependen de cada alumno.

El alumno escribe su identificador una vez, en la celda de configuración
(``cu.fijar_alumno("…")``); sin identificador (estudio por tu cuenta, Colab) los ejercicios usan
los valores del temario. Al calificar, el núcleo recibe ``CURSO_CLAVE``, una clave que el
calificador deriva del identificador que nbgrader tiene para esa entrega y de un secreto del
curso que fija el profesor (:func:`clave_de_alumno`): el identificador escrito se ignora y los
valores calificados no se pueden conocer de antemano, así que una respuesta copiada a mano o de
un compañero no sirve.

>>> fijar_alumno("")
>>> valores_grafo()
(2.0, 3.0, -1.0, 7.0)
"""

from __future__ import annotations

import hashlib
import hmac
import os

import numpy as np
import torch

__all__ = [
    "clave_de_alumno",
    "fijar_alumno",
    "identificador_alumno",
    "matriz_personal",
    "sistema_personal",
    "tabla_personal",
    "valores_grafo",
]

_alumno: str | None = None
# Clave del calificador (se lee una vez: cambiar el entorno después no cambia las variantes).
_CLAVE = os.environ.get("CURSO_CLAVE") or None


def fijar_alumno(identificador: str) -> None:
    """Guarda el identificador del alumno (vacío: sin variantes personales).

    >>> fijar_alumno("  ana.garcia ")
    >>> identificador_alumno()
    'ana.garcia'
    >>> fijar_alumno("")
    """
    global _alumno
    if not isinstance(identificador, str):
        raise TypeError(
            f"El identificador debe ser un texto entre comillas, no {type(identificador).__name__}."
        )
    _alumno = identificador.strip() or None


def identificador_alumno() -> str | None:
    """Identificador escrito en la celda de configuración (None si no hay)."""
    return _alumno


def clave_de_alumno(secreto: str, alumno: str) -> str:
    """Clave de las variantes de ``alumno`` con el secreto del curso (la usa el calificador).

    >>> len(clave_de_alumno("secreto", "ana"))
    64
    """
    return hmac.new(secreto.encode(), alumno.encode(), hashlib.sha256).hexdigest()


def _generador(ejercicio: str) -> np.random.Generator | None:
    """Generador de los datos de ``ejercicio`` para este alumno, o None sin variante."""
    if _CLAVE is None and _alumno is None:
        return None
    base = _CLAVE or hashlib.sha256(f"curso-pytorch:{_alumno}".encode()).hexdigest()
    semilla = hashlib.sha256(f"{base}:{ejercicio}".encode()).digest()
    return np.random.default_rng(int.from_bytes(semilla[:16], "little"))


def valores_grafo() -> tuple[float, float, float, float]:
    """(a, b, c, d) del ejercicio del grafo del módulo 2: (2, 3, −1, 7) o la variante personal.

    La variante conserva lo que enseña el ejercicio: m y n positivos y z = m − n ≥ 30 (la
    pérdida queda saturada).
    """
    generador = _generador("m02_grafo")
    if generador is None:
        return (2.0, 3.0, -1.0, 7.0)
    while True:
        a, b, c, d = (float(v) for v in generador.integers(-5, 10, size=4))
        m = 3 * a + 4 * b - 2 * c + 10 * d
        n = 7 * a + b + c + 4 * d
        if m > 0 and n > 0 and m - n >= 30 and (a, b, c, d) != (2.0, 3.0, -1.0, 7.0):
            return (a, b, c, d)


def tabla_personal() -> int:
    """Tamaño de la tabla de multiplicar del módulo 1: 3 o la variante personal (4 a 9)."""
    generador = _generador("m01_tabla")
    return 3 if generador is None else int(generador.integers(4, 10))


def _bien_condicionada(generador: np.random.Generator, n: int, kappa_max: float) -> np.ndarray:
    """Matriz entera n×n (valores de −4 a 4) con número de condición ≤ kappa_max."""
    while True:
        matriz = generador.integers(-4, 5, size=(n, n)).astype(float)
        if np.linalg.cond(matriz) <= kappa_max:
            return matriz


def matriz_personal() -> torch.Tensor:
    """Matriz 3×3 bien condicionada del ejercicio del módulo 4 (float64).

    Sin variante, [[2, 1, 0], [1, 2, 1], [0, 1, 2]]; la personal es entera con κ ≤ 8.
    """
    generador = _generador("m04_matriz")
    if generador is None:
        matriz = np.array([[2.0, 1, 0], [1, 2, 1], [0, 1, 2]])
    else:
        matriz = _bien_condicionada(generador, 3, 8.0)
    return torch.tensor(matriz, dtype=torch.float64)


def sistema_personal() -> tuple[torch.Tensor, torch.Tensor]:
    """Sistema (B, c) del módulo 5 (float64): el del temario o uno personal.

    El del temario es 3x + 4y − 2z = 0, 2x − 3y + 4z = 11, x − 2y + 3z = 7 (solución
    (2, −1, 1)); el personal tiene coeficientes y solución enteros y κ(B) ≤ 30.
    """
    generador = _generador("m05_sistema")
    if generador is None:
        B = np.array([[3.0, 4, -2], [2, -3, 4], [1, -2, 3]])
        v = np.array([2.0, -1, 1])
    else:
        B = _bien_condicionada(generador, 3, 30.0)
        v = generador.integers(-4, 5, size=3).astype(float)
    return torch.tensor(B, dtype=torch.float64), torch.tensor(B @ v, dtype=torch.float64)
