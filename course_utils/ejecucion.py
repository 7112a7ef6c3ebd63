"""Ejecución de cuadernos sin interfaz (nbclient), la usan ``curso ejecutar`` y las pruebas.

Cada cuaderno se ejecuta en una carpeta temporal con una copia de lo que necesita, así que ni el
repositorio ni la carpeta del cuaderno reciben salidas. Si es un cuaderno del curso
(``solutions/NN_x/`` o ``notebooks/NN_x/``), se copia la carpeta de su módulo; si no, el
cuaderno solo y los archivos que nombra su código (textos que son rutas relativas de archivos
junto a él). Nunca se siguen enlaces simbólicos ni se copian FIFO, sockets o dispositivos: se
avisa en español de lo que se omite.

En los cuadernos del alumno el único error permitido es ``NotImplementedError`` (los ejercicios
sin responder); en los demás no se permite ninguno, salvo en celdas con la etiqueta
``raises-exception``, que muestran un error a propósito.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import stat
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

ERROR_PERMITIDO_ALUMNO = "NotImplementedError"
ETIQUETA_ERROR_ESPERADO = "raises-exception"
IGNORADOS = {".ipynb_checkpoints", "__pycache__"}


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
    avisos: list[str] = field(default_factory=list)  # lo que no se copió y por qué

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


# --- Copia de lo que necesita el cuaderno -------------------------------------------------


def es_del_curso(ruta: Path) -> bool:
    """Indica si ``ruta`` es un cuaderno de un módulo del curso (``solutions/NN_x/`` o
    ``notebooks/NN_x/`` de una carpeta con ``autograder/nbgrader_config.py``)."""
    modulo = Path(os.path.abspath(ruta)).parent
    raiz = modulo.parent.parent
    return (
        modulo.parent.name in ("solutions", "notebooks")
        and (raiz / "solutions").is_dir()
        and (raiz / "autograder" / "nbgrader_config.py").is_file()
    )


def _tipo_especial(modo: int) -> str:
    if stat.S_ISFIFO(modo):
        return "una FIFO"
    if stat.S_ISSOCK(modo):
        return "un socket"
    if stat.S_ISCHR(modo) or stat.S_ISBLK(modo):
        return "un dispositivo"
    return "un archivo especial"


def _copiar_archivo(origen: Path, destino: Path) -> None:
    """Copia un archivo normal sin seguir enlaces (falla si ``origen`` es un enlace)."""
    descriptor = os.open(origen, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(descriptor, "rb") as entrada:
        if not stat.S_ISREG(os.fstat(entrada.fileno()).st_mode):
            raise OSError(f"{origen} no es un archivo normal")
        destino.parent.mkdir(parents=True, exist_ok=True)
        with open(destino, "xb") as salida:
            while bloque := entrada.read(1 << 20):
                salida.write(bloque)


def copiar_carpeta_segura(origen: Path, destino: Path, excluir: Path | None = None) -> list[str]:
    """Copia los archivos normales de ``origen`` en ``destino`` sin seguir enlaces.

    Se omiten (y se avisa) los enlaces simbólicos, las FIFO, los sockets y los dispositivos;
    la carpeta ``excluir`` (p. ej. la temporal donde se copia) nunca se recorre, así que la
    copia no puede entrar en sí misma. Devuelve los avisos.
    """
    avisos: list[str] = []
    prohibidas = set()
    for carpeta in (destino, excluir):
        try:
            info = os.stat(carpeta) if carpeta is not None else None
        except OSError:
            info = None
        if info is not None:
            prohibidas.add((info.st_dev, info.st_ino))
    pendientes = [Path()]
    while pendientes:
        relativa = pendientes.pop()
        try:
            entradas = sorted(os.scandir(origen / relativa), key=lambda e: e.name)
        except OSError as error:
            avisos.append(f"no se pudo leer la carpeta {origen / relativa} ({error.strerror})")
            continue
        for entrada in entradas:
            nombre = relativa / entrada.name
            if entrada.name in IGNORADOS:
                continue
            try:
                info = entrada.stat(follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    avisos.append(f"se omite {origen / nombre}: es un enlace simbólico")
                elif stat.S_ISDIR(info.st_mode):
                    if (info.st_dev, info.st_ino) not in prohibidas:
                        (destino / nombre).mkdir(parents=True, exist_ok=True)
                        pendientes.append(nombre)
                elif stat.S_ISREG(info.st_mode):
                    _copiar_archivo(origen / nombre, destino / nombre)
                else:
                    avisos.append(f"se omite {origen / nombre}: es {_tipo_especial(info.st_mode)}")
            except OSError as error:
                avisos.append(f"no se pudo copiar {origen / nombre} ({error.strerror or error})")
    return avisos


_MAGIA = re.compile(r"^\s*[%!]")


def rutas_nombradas(cuaderno) -> set[str]:
    """Textos de las celdas de código que podrían ser rutas relativas (literales de cadena y
    argumentos de magias y órdenes ``!``)."""
    candidatos: set[str] = set()
    for celda in cuaderno.cells:
        if celda.get("cell_type") != "code":
            continue
        fuente = celda.get("source", "")
        python = []
        for linea in fuente.splitlines():
            if _MAGIA.match(linea):
                try:
                    candidatos.update(shlex.split(linea.lstrip()[1:]))
                except ValueError:
                    candidatos.update(linea.lstrip()[1:].split())
                python.append("")
            else:
                python.append(linea)
        try:
            arbol = ast.parse("\n".join(python))
        except (SyntaxError, ValueError):
            candidatos.update(m[1] for m in re.findall(r"(['\"])([^'\"\n]+)\1", fuente))
            continue
        candidatos.update(
            nodo.value
            for nodo in ast.walk(arbol)
            if isinstance(nodo, ast.Constant) and isinstance(nodo.value, str)
        )
    return {c for c in candidatos if 0 < len(c) <= 4096 and "\0" not in c and "\n" not in c}


def _archivo_junto_a(carpeta: Path, texto: str) -> tuple[Path | None, str | None]:
    """(ruta relativa, None) si ``texto`` nombra un archivo normal de ``carpeta`` al que se
    llega sin enlaces simbólicos ni ``..``; (None, aviso) si nombra un enlace o un archivo
    especial; (None, None) si no nombra nada."""
    relativa = PurePosixPath(texto)
    if relativa.is_absolute() or not relativa.parts or ".." in relativa.parts:
        return None, None
    actual = carpeta
    for i, parte in enumerate(relativa.parts):
        actual = actual / parte
        try:
            modo = os.lstat(actual).st_mode
        except (OSError, ValueError):
            return None, None
        if stat.S_ISLNK(modo):
            return None, f"se omite {actual}: es un enlace simbólico"
        ultima = i == len(relativa.parts) - 1
        if ultima and stat.S_ISREG(modo):
            return Path(*relativa.parts), None
        if ultima and not stat.S_ISDIR(modo):
            return None, f"se omite {actual}: es {_tipo_especial(modo)}"
        if ultima or not stat.S_ISDIR(modo):
            return None, None
    return None, None


def preparar_carpeta(ruta: Path, cuaderno, destino: Path, excluir: Path | None = None) -> list[str]:
    """Copia en ``destino`` lo que necesita el cuaderno ``ruta`` (ver el módulo); devuelve los
    avisos en español."""
    ruta = Path(os.path.abspath(ruta))
    carpeta = ruta.parent
    destino.mkdir(parents=True, exist_ok=True)
    if es_del_curso(ruta):
        return copiar_carpeta_segura(carpeta, destino, excluir)
    avisos = []
    try:
        _copiar_archivo(ruta, destino / ruta.name)
    except OSError:
        pass  # el cuaderno ya está leído; la copia solo sirve si el código lo abre
    for texto in sorted(rutas_nombradas(cuaderno)):
        relativa, aviso = _archivo_junto_a(carpeta, texto)
        if aviso and aviso not in avisos:
            avisos.append(aviso)
        if relativa is None or relativa == Path(ruta.name) or (destino / relativa).exists():
            continue
        try:
            _copiar_archivo(carpeta / relativa, destino / relativa)
        except OSError as error:
            avisos.append(f"no se pudo copiar {carpeta / relativa} ({error.strerror or error})")
    return avisos


# --- Ejecución ------------------------------------------------------------------------------


def ejecutar_cuaderno(
    ruta: str | os.PathLike,
    *,
    alumno: bool = False,
    rapido: bool = False,
    tiempo_celda: float = 600,
    entorno: dict[str, str] | None = None,
) -> ResultadoEjecucion:
    """Ejecuta un cuaderno en una carpeta temporal y devuelve sus errores.

    La carpeta temporal recibe lo que el cuaderno necesita (ver el módulo); lo que se omite
    queda en ``avisos`` del resultado y se escribe en stderr.

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
        nombre = Path(os.path.abspath(ruta)).parent.name or "cuaderno"
        carpeta = Path(temporal) / nombre
        avisos = preparar_carpeta(ruta, cuaderno, carpeta, excluir=Path(temporal))
        for aviso in avisos:
            print(f"Aviso: {aviso}", file=sys.stderr)
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
    return ResultadoEjecucion(ruta, time.perf_counter() - inicio, errores, cuaderno, avisos)
