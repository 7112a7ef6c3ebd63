"""Ejecución de cuadernos sin interfaz (nbclient), la usan ``curso ejecutar`` y las pruebas.

Cada cuaderno se ejecuta en una copia temporal de su carpeta, así que el repositorio nunca
recibe salidas. En los cuadernos del alumno el único error permitido es ``NotImplementedError``
(los ejercicios sin responder); en los demás no se permite ninguno, salvo en celdas con la
etiqueta ``raises-exception``, que muestran un error a propósito.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ERROR_PERMITIDO_ALUMNO = "NotImplementedError"
ETIQUETA_ERROR_ESPERADO = "raises-exception"


@dataclass
class ErrorCelda:
    """Un error producido por una celda: posición (desde 1), excepción y si estaba permitido."""

    celda: int
    excepcion: str
    mensaje: str
    permitido: bool

    def __str__(self) -> str:
        mensaje = " ".join(self.mensaje.split())
        if len(mensaje) > 120:
            mensaje = mensaje[:117] + "..."
        texto = f"celda {self.celda}: {self.excepcion}"
        return f"{texto}: {mensaje}" if mensaje else texto


@dataclass
class ResultadoEjecucion:
    """Resultado de ejecutar un cuaderno.

    ``cuaderno`` es el cuaderno ejecutado (``nbformat.NotebookNode``, con salidas), o ``None``
    si ni siquiera pudo leerse.
    """

    ruta: Path
    segundos: float
    errores: list[ErrorCelda] = field(default_factory=list)
    cuaderno: object = None

    @property
    def correcto(self) -> bool:
        return all(error.permitido for error in self.errores)

    @property
    def primer_error(self) -> ErrorCelda | None:
        return next((error for error in self.errores if not error.permitido), None)

    @property
    def sin_responder(self) -> int:
        return sum(
            error.permitido and error.excepcion == ERROR_PERMITIDO_ALUMNO for error in self.errores
        )


def _permitido(celda, excepcion: str, alumno: bool) -> bool:
    if ETIQUETA_ERROR_ESPERADO in celda.get("metadata", {}).get("tags", []):
        return True
    return alumno and excepcion == ERROR_PERMITIDO_ALUMNO


def errores_de(cuaderno, alumno: bool = False) -> list[ErrorCelda]:
    """Recoge los errores de las salidas de un cuaderno ya ejecutado.

    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1/0")])
    >>> nb.cells[0].outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError",
    ...                                               evalue="division by zero", traceback=[])]
    >>> print(errores_de(nb)[0])
    celda 1: ZeroDivisionError: division by zero
    """
    errores = []
    for posicion, celda in enumerate(cuaderno.cells, start=1):
        for salida in celda.get("outputs", []):
            if salida.get("output_type") == "error":
                excepcion = salida.get("ename", "Error")
                errores.append(
                    ErrorCelda(
                        posicion,
                        excepcion,
                        salida.get("evalue", ""),
                        _permitido(celda, excepcion, alumno),
                    )
                )
    return errores


def ejecutar_cuaderno(
    ruta: str | os.PathLike,
    *,
    alumno: bool = False,
    rapido: bool = False,
    tiempo_celda: float = 600,
    entorno: dict[str, str] | None = None,
) -> ResultadoEjecucion:
    """Ejecuta un cuaderno en una copia temporal de su carpeta y devuelve sus errores.

    Con ``alumno=True`` se ejecutan todas las celdas aunque fallen y ``NotImplementedError``
    está permitido; si no, la ejecución para en el primer error. ``rapido=True`` pone
    ``CURSO_RAPIDO=1`` en el núcleo. ``entorno`` añade variables de entorno al núcleo.
    ``tiempo_celda`` es el máximo de segundos por celda.

    >>> ruta = "solutions/01_tensores/01_tensores.ipynb"
    >>> r = ejecutar_cuaderno(ruta, rapido=True)  # doctest: +SKIP
    >>> r.correcto, r.primer_error  # doctest: +SKIP
    (True, None)
    """
    import nbformat
    import zmq
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    ruta = Path(ruta)
    variables = dict(os.environ)
    variables.update(entorno or {})
    if rapido:
        variables["CURSO_RAPIDO"] = "1"
    # El núcleo debe ser el Python de este entorno (el que tiene course_utils instalado).
    variables["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), variables.get("PATH", "")]
    )
    inicio = time.perf_counter()
    cuaderno = nbformat.read(ruta, as_version=4)
    with tempfile.TemporaryDirectory(prefix="curso-ejecutar-") as temporal:
        carpeta = Path(temporal) / ruta.parent.name
        shutil.copytree(
            ruta.parent, carpeta, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
        )
        actual = {"celda": 0}

        def al_empezar(cell, cell_index):
            actual["celda"] = cell_index + 1

        cliente = NotebookClient(
            cuaderno,
            timeout=tiempo_celda,
            kernel_name="python3",
            allow_errors=alumno,
            resources={"metadata": {"path": str(carpeta)}},
            on_cell_start=al_empezar,
        )
        registro = Path(temporal) / "nucleo.log"  # salida de bajo nivel del núcleo
        with registro.open("w") as salida_nucleo:
            opciones = {"env": variables, "stdout": salida_nucleo, "stderr": salida_nucleo}
            if "transport_encryption" in AsyncKernelManager.class_trait_names() and zmq.has(
                "curve"
            ):
                # jupyter_client >= 8.10: cifra el canal con el núcleo (y evita su aviso).
                opciones["transport_encryption"] = "auto"
            fallo = None
            try:
                cliente.execute(**opciones)
            except CellExecutionError:
                pass  # el error queda en las salidas de la celda y se recoge abajo
            except CellTimeoutError:
                fallo = ("TimeoutError", f"la celda tardó más de {tiempo_celda:g} s")
            except DeadKernelError:
                fallo = ("DeadKernelError", "el núcleo de Python terminó de golpe")
            except Exception as error:  # el núcleo no arrancó, cuaderno inválido...
                fallo = (type(error).__name__, str(error))
        if fallo and fallo[0] != "TimeoutError":
            final = registro.read_text(errors="replace").strip().splitlines()[-3:]
            if final:
                fallo = (fallo[0], f"{fallo[1]} ({' / '.join(final)})")
    errores = errores_de(cuaderno, alumno)
    if fallo:
        # Tras un tiempo agotado, nbclient interrumpe el núcleo: ese KeyboardInterrupt sobra.
        errores = [
            e for e in errores if (e.celda, e.excepcion) != (actual["celda"], "KeyboardInterrupt")
        ]
        errores.append(ErrorCelda(actual["celda"], *fallo, permitido=False))
        errores.sort(key=lambda error: error.celda)
    return ResultadoEjecucion(ruta, time.perf_counter() - inicio, errores, cuaderno)
