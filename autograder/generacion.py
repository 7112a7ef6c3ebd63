"""``curso generar``: versión del alumno (``notebooks/``) a partir de ``solutions/`` con nbgrader.

La generación es la de ``nbgrader generate_assignment`` (quita soluciones y pruebas ocultas,
bloquea y firma las celdas, borra las salidas), pero sobre una copia de ``solutions/`` en una
carpeta temporal y con un libro de notas temporal: no necesita ni toca el libro de notas del
instructor (``curso calificar`` registra las tareas en el suyo al calificar). Después se
compara con ``notebooks/`` y solo se escriben los archivos que cambian, así que generar dos
veces no cambia nada.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config

from autograder.configuracion import (
    archivos,
    cargar_config,
    copiar_carpeta,
    modulos_del_curso,
    registro_privado,
)


class ErrorGeneracion(RuntimeError):
    """No se pudo generar la versión del alumno (mensaje en español)."""


@dataclass(frozen=True)
class Diferencia:
    """Un archivo de ``notebooks/`` que la generación crearía, cambiaría o borraría."""

    ruta: str
    tipo: str  # "nuevo", "cambia" o "sobra"

    def __str__(self) -> str:
        texto = {"nuevo": "falta", "cambia": "desactualizado", "sobra": "sobra"}[self.tipo]
        return f"{self.ruta}: {texto}"


def elegir_modulos(raiz: Path, pedidos: list[str] | None) -> list[str]:
    """Módulos a procesar: todos, o los pedidos (nombre completo o prefijo como ``01``).

    Lanza ``ErrorGeneracion`` si alguno no existe.
    """
    disponibles = modulos_del_curso(raiz)
    if not pedidos:
        if not disponibles:
            raise ErrorGeneracion(f"No hay ningún módulo con cuadernos en {raiz / 'solutions'}.")
        return disponibles
    elegidos = []
    for pedido in pedidos:
        nombre = pedido.strip().strip("/")
        if nombre.startswith("solutions/"):
            nombre = nombre.removeprefix("solutions/")
        coincidencias = [m for m in disponibles if m == nombre] or [
            m for m in disponibles if m.startswith(nombre + "_") or m.startswith(nombre)
        ]
        if len(coincidencias) != 1:
            lista = ", ".join(disponibles) or "ninguno"
            raise ErrorGeneracion(
                f"No existe el módulo {pedido!r} (o es ambiguo). Módulos disponibles: {lista}."
            )
        if coincidencias[0] not in elegidos:
            elegidos.append(coincidencias[0])
    return elegidos


def generar_tareas(
    raiz: Path, modulos: list[str], destino: Path, db_url: str, config: Config | None = None
) -> Path:
    """Ejecuta ``GenerateAssignment`` de nbgrader sobre una copia de ``solutions/``.

    Copia ``solutions/<módulo>`` a ``destino/solutions/`` y genera en ``destino/notebooks/``,
    registrando las tareas en ``db_url``. Devuelve ``destino/notebooks``.
    """
    from nbgrader.converters import GenerateAssignment, NbGraderException
    from nbgrader.coursedir import CourseDirectory

    destino = Path(destino)
    for modulo in modulos:
        copiar_carpeta(Path(raiz) / "solutions" / modulo, destino / "solutions" / modulo)
    base = copy.deepcopy(config) if config is not None else cargar_config(raiz)
    base.CourseDirectory.root = str(destino)
    base.CourseDirectory.source_directory = "solutions"
    base.CourseDirectory.release_directory = "notebooks"
    base.CourseDirectory.db_url = db_url
    base.CourseDirectory.student_id = "."
    base.BaseConverter.force = True
    for modulo in modulos:
        cfg = copy.deepcopy(base)
        cfg.CourseDirectory.assignment_id = modulo
        logger, registro = registro_privado(f"generar.{modulo}")
        coursedir = CourseDirectory(config=cfg, log=logger)
        try:
            GenerateAssignment(coursedir=coursedir, config=cfg, log=logger).start()
        except (NbGraderException, Exception) as error:
            detalle = " | ".join(registro.errores()[-3:]) or str(error)
            if "submissions associated" in detalle:
                raise ErrorGeneracion(
                    f"El libro de notas ({db_url}) ya tiene entregas calificadas de {modulo} "
                    "y las celdas calificadas de solutions/ han cambiado desde entonces. "
                    "Califica con otro libro de notas (--db) o borra esas entregas antes."
                ) from None
            raise ErrorGeneracion(f"nbgrader no pudo generar {modulo}: {detalle}") from None
    return destino / "notebooks"


def diferencias(generado: Path, publicado: Path, modulos: list[str], limpiar: bool) -> list:
    """Compara los módulos generados con ``notebooks/``.

    Con ``limpiar``, los módulos de ``notebooks/`` que ya no existen en ``solutions/`` también
    cuentan (todos sus archivos sobran).
    """
    resultado = []
    nombres = list(modulos)
    if limpiar and publicado.is_dir():
        nombres += sorted(
            d.name
            for d in publicado.iterdir()
            if d.is_dir() and d.name not in modulos and archivos(d)
        )
    for modulo in nombres:
        nuevos = set(archivos(generado / modulo))
        viejos = set(archivos(publicado / modulo))
        for relativa in sorted(nuevos | viejos):
            ruta = f"notebooks/{modulo}/{relativa.as_posix()}"
            if relativa not in viejos:
                resultado.append(Diferencia(ruta, "nuevo"))
            elif relativa not in nuevos:
                resultado.append(Diferencia(ruta, "sobra"))
            elif (generado / modulo / relativa).read_bytes() != (
                publicado / modulo / relativa
            ).read_bytes():
                resultado.append(Diferencia(ruta, "cambia"))
    return resultado


def generar(
    raiz: Path, modulos: list[str] | None = None, comprobar: bool = False
) -> list[Diferencia]:
    """Regenera ``notebooks/`` desde ``solutions/`` y devuelve lo que cambió.

    Con ``comprobar=True`` no escribe nada: devuelve lo que cambiaría (lista vacía si
    ``notebooks/`` está al día).

    >>> generar(Path("."), comprobar=True)  # doctest: +SKIP
    []
    """
    raiz = Path(raiz).resolve()
    elegidos = elegir_modulos(raiz, modulos)
    publicado = raiz / "notebooks"
    with tempfile.TemporaryDirectory(prefix="curso-generar-") as temporal:
        temporal = Path(temporal)
        generado = generar_tareas(
            raiz, elegidos, temporal / "curso", f"sqlite:///{temporal / 'gradebook.db'}"
        )
        cambios = diferencias(generado, publicado, elegidos, limpiar=not modulos)
        if comprobar:
            return cambios
        for cambio in cambios:
            modulo, relativa = cambio.ruta.removeprefix("notebooks/").split("/", 1)
            destino = publicado / modulo / relativa
            if cambio.tipo == "sobra":
                destino.unlink()
                for carpeta in destino.parents:
                    if carpeta == publicado or any(carpeta.iterdir()):
                        break
                    carpeta.rmdir()
            else:
                destino.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(generado / modulo / relativa, destino)
    return cambios
