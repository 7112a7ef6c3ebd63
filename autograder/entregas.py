"""Recogida de entregas para ``curso calificar``.

Formatos aceptados en la carpeta de entregas:

- el de nbgrader: ``DIR/<alumno>/<módulo>/<cuaderno>.ipynb`` (con ``timestamp.txt`` opcional);
- cuadernos sueltos con el nombre del alumno (``DIR/ana_perez.ipynb``), como los descargan las
  plataformas de cursos, o carpetas por alumno con sus cuadernos (``DIR/Ana Pérez/…``);
- un ``.zip`` por alumno (``DIR/ana_perez.zip``) con uno o varios cuadernos dentro.

El módulo de cada cuaderno se reconoce por sus ``grade_id`` de nbgrader, si no por el nombre
del archivo y si no por ``--modulo``. Los nombres de alumno se normalizan (ASCII, minúsculas,
``[a-z0-9_-]``) y se hacen únicos.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder.configuracion import ignorado

MAX_CUADERNO_MB = 50
# Moodle: «Nombre Apellido_12345_assignsubmission_file_…».
_SUFIJOS_PLATAFORMA = re.compile(r"(_\d+)?_?assignsubmission_(file|onlinetext)_?$", re.I)


@dataclass
class Definicion:
    """Cuadernos de un módulo y los ``grade_id`` de cada uno (de ``solutions/``)."""

    modulo: str
    cuadernos: dict[str, set[str]]


@dataclass
class Tarea:
    """Lo que hay que calificar de un alumno en un módulo."""

    alumno: str
    modulo: str
    origen: str
    cuadernos: dict[str, str] = field(default_factory=dict)  # cuaderno -> archivo entregado
    errores: dict[str, str] = field(default_factory=dict)  # cuaderno -> error al recogerlo
    extras: str | None = None  # carpeta con otros archivos de la entrega (formato nbgrader)
    marca_tiempo: str | None = None
    notas: list[str] = field(default_factory=list)


@dataclass
class _Pieza:
    """Un cuaderno encontrado (o un fallo al recogerlo) antes de agrupar por tarea."""

    alumno_bruto: str
    origen: str
    ruta: Path | None
    nombre: str
    modulo: str | None = None
    cuaderno: str | None = None
    error: str | None = None
    extras: Path | None = None
    marca_tiempo: str | None = None


def normalizar(texto: str) -> str:
    """Texto en ASCII, minúsculas y solo ``[a-z0-9_-]`` (los separadores pasan a ``_``).

    >>> normalizar("José Pérez (grupo B)")
    'jose_perez_grupo_b'
    """
    ascii_ = unicodedata.normalize("NFKD", texto).encode("ascii", "ignore").decode()
    limpio = re.sub(r"[^a-z0-9_-]+", "_", ascii_.lower())
    return re.sub(r"_+", "_", limpio).strip("_-")[:60]


def leer_definiciones(raiz: Path, modulos: list[str]) -> dict[str, Definicion]:
    """Lee de ``solutions/`` los cuadernos de cada módulo y sus ``grade_id``."""
    definiciones = {}
    for modulo in modulos:
        cuadernos = {}
        for ruta in sorted((Path(raiz) / "solutions" / modulo).glob("*.ipynb")):
            cuadernos[ruta.stem] = _grade_ids(json.loads(ruta.read_text(encoding="utf-8")))
        definiciones[modulo] = Definicion(modulo, cuadernos)
    return definiciones


def _grade_ids(nb: dict) -> set[str]:
    ids = set()
    for celda in nb.get("cells", []) if isinstance(nb, dict) else []:
        meta = celda.get("metadata", {}) if isinstance(celda, dict) else {}
        nbgrader = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
        if isinstance(nbgrader, dict) and isinstance(nbgrader.get("grade_id"), str):
            ids.add(nbgrader["grade_id"])
    return ids


def _reconocer_por_nombre(nombre: str, definiciones: dict[str, Definicion]):
    """(módulo, cuaderno o None) cuyo nombre aparece en ``nombre``; gana el más largo."""
    texto = normalizar(nombre)
    candidatos = []
    for modulo, definicion in definiciones.items():
        unico = next(iter(definicion.cuadernos)) if len(definicion.cuadernos) == 1 else None
        claves = [(normalizar(modulo), unico)]
        claves += [(normalizar(c), c) for c in definicion.cuadernos]
        for clave, cuaderno in claves:
            if clave and clave in texto:
                candidatos.append((len(clave), modulo, cuaderno or ""))
    if not candidatos:
        return None
    _, modulo, cuaderno = max(candidatos)
    return modulo, cuaderno or None


def _reconocer(pieza: _Pieza, contenido: bytes | None, definiciones, forzado: str | None):
    """Decide el módulo y el cuaderno de una pieza (o anota por qué no se puede)."""
    ids, legible = set(), True
    if contenido:
        try:
            ids = _grade_ids(json.loads(contenido.decode("utf-8")))
        except (ValueError, UnicodeDecodeError):
            legible = False
    modulo = pieza.modulo or forzado
    if modulo is None and ids:
        puntuacion = {
            (m, c): len(ids & grade_ids)
            for m, d in definiciones.items()
            for c, grade_ids in d.cuadernos.items()
        }
        mejor = max(puntuacion, key=puntuacion.get, default=None)
        if mejor is not None and puntuacion[mejor] > 0:
            modulo, pieza.cuaderno = mejor
    if modulo is None:
        por_nombre = _reconocer_por_nombre(pieza.nombre, definiciones)
        if por_nombre:
            modulo, pieza.cuaderno = por_nombre
    if modulo is None and len(definiciones) == 1:
        modulo = next(iter(definiciones))
    if modulo is None:
        motivo = "no es un cuaderno válido (JSON corrupto) y " if not legible else ""
        pieza.error = pieza.error or f"{motivo}no se reconoce el módulo (usa --modulo)"
        return
    if modulo not in definiciones:
        pieza.error = pieza.error or f"el módulo {modulo} no existe en solutions/"
        return
    pieza.modulo = modulo
    cuadernos = definiciones[modulo].cuadernos
    if pieza.cuaderno not in cuadernos:
        pieza.cuaderno = None
        stem = Path(pieza.nombre).stem
        if stem in cuadernos:
            pieza.cuaderno = stem
        elif len(cuadernos) == 1:
            pieza.cuaderno = next(iter(cuadernos))
        elif ids:
            pieza.cuaderno = max(cuadernos, key=lambda c: len(ids & cuadernos[c]))
        else:
            por_nombre = _reconocer_por_nombre(pieza.nombre, {modulo: definiciones[modulo]})
            pieza.cuaderno = por_nombre[1] if por_nombre else None
    if pieza.cuaderno is None:
        pieza.error = pieza.error or f"no se reconoce qué cuaderno de {modulo} es"


def _alumno_de_archivo(nombre: str, definiciones: dict[str, Definicion]) -> str:
    """Nombre del alumno a partir del de un archivo suelto (sin módulo ni cuaderno)."""
    texto = normalizar(Path(nombre).stem)
    claves = sorted(
        {normalizar(x) for m, d in definiciones.items() for x in (m, *d.cuadernos)},
        key=len,
        reverse=True,
    )
    for clave in claves:
        if clave and clave in texto and texto != clave:
            texto = texto.replace(clave, "_")
    texto = _SUFIJOS_PLATAFORMA.sub("", re.sub(r"_+", "_", texto).strip("_-"))
    return texto.strip("_-") or normalizar(Path(nombre).stem)


def _marca_tiempo(carpeta: Path) -> str | None:
    from nbgrader.utils import parse_utc

    ruta = carpeta / "timestamp.txt"
    if not ruta.is_file():
        return None
    texto = ruta.read_text(encoding="utf-8", errors="replace").strip()
    try:
        parse_utc(texto)
    except (ValueError, OverflowError):
        return None
    return texto or None


def _piezas_zip(ruta: Path, alumno: str, origen: str, temporal: Path) -> list[_Pieza]:
    try:
        archivo = zipfile.ZipFile(ruta)
        miembros = [
            m
            for m in archivo.infolist()
            if not m.is_dir()
            and m.filename.lower().endswith(".ipynb")
            and not any(ignorado(p) or p == "__MACOSX" for p in Path(m.filename).parts)
        ]
    except (zipfile.BadZipFile, OSError, ValueError):
        return [_Pieza(alumno, origen, None, ruta.name, error="ZIP dañado")]
    if not miembros:
        return [_Pieza(alumno, origen, None, ruta.name, error="el ZIP no contiene cuadernos")]
    piezas = []
    for miembro in miembros:
        nombre = Path(miembro.filename).name
        if miembro.file_size > MAX_CUADERNO_MB * 2**20:
            piezas.append(
                _Pieza(
                    alumno, origen, None, nombre, error=f"cuaderno de más de {MAX_CUADERNO_MB} MB"
                )
            )
            continue
        try:
            with archivo.open(miembro) as entrada:
                datos = entrada.read(MAX_CUADERNO_MB * 2**20 + 1)
        except (zipfile.BadZipFile, OSError, ValueError, RuntimeError):
            piezas.append(_Pieza(alumno, origen, None, nombre, error="ZIP dañado"))
            continue
        descriptor, destino = tempfile.mkstemp(suffix=".ipynb", dir=temporal)
        with os.fdopen(descriptor, "wb") as salida:
            salida.write(datos)
        piezas.append(_Pieza(alumno, origen, Path(destino), nombre))
    return piezas


def _piezas_de_entrada(
    entrada: Path, definiciones: dict[str, Definicion], temporal: Path
) -> list[_Pieza]:
    nombre = entrada.name
    if entrada.is_dir():
        alumno = _SUFIJOS_PLATAFORMA.sub("", nombre)
        piezas = []
        for hijo in sorted(entrada.iterdir()):
            if ignorado(hijo.name):
                continue
            if hijo.is_dir() and hijo.name in definiciones:  # formato de nbgrader
                for cuaderno in sorted(hijo.glob("*.ipynb")):
                    piezas.append(
                        _Pieza(
                            alumno,
                            nombre,
                            cuaderno,
                            cuaderno.name,
                            modulo=hijo.name,
                            extras=hijo,
                            marca_tiempo=_marca_tiempo(hijo),
                        )
                    )
            elif hijo.is_dir():
                for sub in sorted(hijo.rglob("*")):
                    if sub.is_file() and not any(ignorado(p) for p in sub.relative_to(hijo).parts):
                        piezas += _piezas_archivo(sub, alumno, nombre, temporal)
            else:
                piezas += _piezas_archivo(hijo, alumno, nombre, temporal)
        return piezas
    alumno = _alumno_de_archivo(nombre, definiciones)
    return _piezas_archivo(entrada, alumno, nombre, temporal)


def _piezas_archivo(ruta: Path, alumno: str, origen: str, temporal: Path) -> list[_Pieza]:
    sufijo = ruta.suffix.lower()
    if sufijo == ".ipynb":
        if ruta.stat().st_size > MAX_CUADERNO_MB * 2**20:
            return [
                _Pieza(
                    alumno,
                    origen,
                    None,
                    ruta.name,
                    error=f"cuaderno de más de {MAX_CUADERNO_MB} MB",
                )
            ]
        return [_Pieza(alumno, origen, ruta, ruta.name)]
    if sufijo == ".zip":
        return _piezas_zip(ruta, alumno, origen, temporal)
    return []


def _ids_unicos(nombres: list[str]) -> dict[str, str]:
    """Asigna a cada nombre bruto un identificador normalizado y único (``_2``, ``_3``…)."""
    ids: dict[str, str] = {}
    usados: set[str] = set()
    for bruto in sorted(set(nombres)):
        base = normalizar(bruto) or "alumno"
        candidato, n = base, 2
        while candidato in usados:
            candidato, n = f"{base}_{n}", n + 1
        usados.add(candidato)
        ids[bruto] = candidato
    return ids


def recoger(
    carpeta: Path,
    definiciones: dict[str, Definicion],
    temporal: Path,
    modulo: str | None = None,
) -> tuple[list[Tarea], list[str]]:
    """Reúne las entregas de ``carpeta`` en tareas (alumno × módulo).

    Devuelve las tareas y los avisos para el instructor (archivos ignorados). Los cuadernos
    que no se pueden recoger (ZIP dañado, módulo desconocido…) quedan como errores de su tarea
    para que aparezcan en el resumen.
    """
    carpeta = Path(carpeta)
    Path(temporal).mkdir(parents=True, exist_ok=True)
    avisos = []
    piezas: list[_Pieza] = []
    for entrada in sorted(carpeta.iterdir()):
        if ignorado(entrada.name) or entrada.name == "__MACOSX":
            continue
        nuevas = _piezas_de_entrada(entrada, definiciones, temporal)
        if not nuevas and entrada.is_file():
            avisos.append(f"se ignora {entrada.name}: no es un cuaderno (.ipynb) ni un .zip")
        piezas += nuevas
    for pieza in piezas:
        contenido = None
        if pieza.ruta is not None:
            try:
                contenido = pieza.ruta.read_bytes()
            except OSError as error:
                pieza.error = f"no se pudo leer el archivo ({error.strerror})"
        _reconocer(pieza, contenido, definiciones, modulo)

    ids = _ids_unicos([p.alumno_bruto for p in piezas])
    tareas: dict[tuple[str, str], Tarea] = {}
    for pieza in piezas:
        alumno = ids[pieza.alumno_bruto]
        clave_modulo = pieza.modulo or "?"
        tarea = tareas.get((alumno, clave_modulo))
        if tarea is None:
            tarea = Tarea(alumno=alumno, modulo=clave_modulo, origen=pieza.origen)
            tareas[(alumno, clave_modulo)] = tarea
        if pieza.extras is not None:
            tarea.extras = str(pieza.extras)
            tarea.marca_tiempo = pieza.marca_tiempo
        cuaderno = pieza.cuaderno or Path(pieza.nombre).stem
        if pieza.error is not None:
            if cuaderno not in tarea.cuadernos:
                tarea.errores[cuaderno] = pieza.error
            continue
        anterior = tarea.cuadernos.get(cuaderno)
        if anterior is not None:
            # Varias versiones del mismo cuaderno: gana la modificada más recientemente.
            if Path(anterior).stat().st_mtime >= pieza.ruta.stat().st_mtime:
                tarea.notas.append(f"varias versiones de {cuaderno}: se ignora {pieza.nombre}")
                continue
            tarea.notas.append(f"varias versiones de {cuaderno}: se usa {pieza.nombre}")
        tarea.cuadernos[cuaderno] = str(pieza.ruta)
        tarea.errores.pop(cuaderno, None)
    return sorted(tareas.values(), key=lambda t: (t.alumno, t.modulo)), avisos
