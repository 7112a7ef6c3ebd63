"""Recogida de entregas para ``curso calificar``.

Formatos aceptados en la carpeta de entregas:

- el de nbgrader: ``DIR/<alumno>/<módulo>/<cuaderno>.ipynb`` (con ``timestamp.txt`` opcional);
- cuadernos sueltos con el nombre del alumno (``DIR/ana_perez.ipynb``), como los descargan las
  plataformas de cursos, o carpetas por alumno con sus cuadernos (``DIR/Ana Pérez/…``);
- un ``.zip`` por alumno (``DIR/ana_perez.zip``) con uno o varios cuadernos dentro.

El módulo de cada cuaderno se reconoce por sus ``grade_id`` de nbgrader, si no por el nombre
del archivo y si no por ``--modulo``. Los nombres de alumno se normalizan (ASCII, minúsculas,
``[a-z0-9_-]``) y se hacen únicos; los bytes que no son UTF-8 se ven como ``\\xNN``.

Nunca se siguen enlaces simbólicos (se ignoran y se avisa) ni se leen FIFO o dispositivos. Si
hay varias versiones de un cuaderno, gana la más reciente: la fecha de modificación del archivo
o, dentro de un ``.zip``, la de la entrada del ZIP. Un fallo en una entrada nunca impide recoger
las demás.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from autograder.configuracion import ignorado, leer_sin_enlaces, texto_visible

MAX_CUADERNO_MB = 50
# Moodle: «Nombre Apellido_12345_assignsubmission_file_…».
_SUFIJOS_PLATAFORMA = re.compile(r"(_\d+)?_?assignsubmission_(file|onlinetext)_?$", re.I)
_MOODLE = re.compile(r"^(?P<nombre>.+?)_\d+_assignsubmission_(file|onlinetext)_", re.I)


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
    archivos: dict[str, str] = field(default_factory=dict)  # cuaderno -> archivo usado y fecha
    clave: str = ""  # clave de las variantes personales del alumno (la calcula el cliente)


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
    descripcion: str = ""  # de dónde sale (archivo, o ZIP y entrada)
    fecha: float | None = None  # fecha de modificación (segundos desde 1970)


def normalizar(texto: str, maximo: int | None = 60) -> str:
    """Texto en ASCII, minúsculas y solo ``[a-z0-9_-]`` (los separadores pasan a ``_``),
    recortado a ``maximo`` caracteres.

    >>> normalizar("José Pérez (grupo B)")
    'jose_perez_grupo_b'
    """
    ascii_ = unicodedata.normalize("NFKD", texto_visible(texto)).encode("ascii", "ignore").decode()
    limpio = re.sub(r"[^a-z0-9_-]+", "_", ascii_.lower())
    limpio = re.sub(r"_+", "_", limpio).strip("_-")
    return limpio[:maximo].strip("_-") if maximo is not None else limpio


def leer_definiciones(raiz: Path, modulos: list[str]) -> dict[str, Definicion]:
    """Lee de ``solutions/`` los cuadernos de cada módulo y sus ``grade_id``."""
    definiciones = {}
    for modulo in modulos:
        cuadernos = {}
        for ruta in sorted((Path(raiz) / "solutions" / modulo).glob("*.ipynb")):
            cuadernos[ruta.stem] = _grade_ids(json.loads(ruta.read_text(encoding="utf-8")))
        definiciones[modulo] = Definicion(modulo, cuadernos)
    return definiciones


def _celdas(nb) -> list:
    """Celdas de un cuaderno leído como JSON (formato 4, o 3 con ``worksheets``)."""
    if not isinstance(nb, dict):
        return []
    if isinstance(nb.get("cells"), list):
        return nb["cells"]
    hojas = nb.get("worksheets")
    if isinstance(hojas, list):
        return [c for h in hojas if isinstance(h, dict) for c in h.get("cells") or []]
    return []


def _grade_ids(nb: dict) -> set[str]:
    ids = set()
    for celda in _celdas(nb):
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
    """Nombre del alumno a partir del de un archivo suelto (sin módulo ni cuaderno).

    En las descargas de Moodle («Nombre_123_assignsubmission_file_…») es lo que va antes del
    identificador, igual que en las carpetas por alumno. El nombre se recorta después (al
    normalizarlo en :func:`_ids_unicos`), nunca antes de quitar el módulo y el sufijo.
    """
    stem = Path(nombre).stem
    moodle = _MOODLE.match(stem)
    if moodle and moodle["nombre"].strip("_- "):
        return moodle["nombre"]
    texto = normalizar(stem, maximo=None)
    claves = sorted(
        {normalizar(x) for m, d in definiciones.items() for x in (m, *d.cuadernos)},
        key=len,
        reverse=True,
    )
    for clave in claves:
        if clave and clave in texto and texto != clave:
            texto = texto.replace(clave, "_")
    texto = _SUFIJOS_PLATAFORMA.sub("", re.sub(r"_+", "_", texto).strip("_-"))
    return texto.strip("_-") or normalizar(stem, maximo=None)


def _marca_tiempo(carpeta: Path) -> str | None:
    from nbgrader.utils import parse_utc

    try:
        texto = leer_sin_enlaces(carpeta / "timestamp.txt", 4096)
    except OSError:
        return None
    texto = texto.decode("utf-8", errors="replace").strip()
    try:
        parse_utc(texto)
    except (ValueError, OverflowError):
        return None
    return texto or None


def _fecha_zip(miembro: zipfile.ZipInfo, respaldo: float | None) -> float | None:
    """Fecha de una entrada de ZIP (hora local, como la guardan los ZIP)."""
    try:
        return datetime(*miembro.date_time).timestamp()
    except (ValueError, OverflowError, OSError):
        return respaldo


def _fecha(ruta: Path) -> float | None:
    try:
        return os.lstat(ruta).st_mtime
    except OSError:
        return None


def _piezas_zip(ruta: Path, alumno: str, origen: str, temporal: Path) -> list[_Pieza]:
    visible = texto_visible(ruta.name)
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
        return [_Pieza(alumno, origen, None, visible, error="ZIP dañado", descripcion=origen)]
    if not miembros:
        return [
            _Pieza(
                alumno,
                origen,
                None,
                visible,
                error="el ZIP no contiene cuadernos",
                descripcion=origen,
            )
        ]
    respaldo = _fecha(ruta)
    piezas = []
    for miembro in miembros:
        nombre = texto_visible(Path(miembro.filename).name)
        descripcion = f"{origen}:{texto_visible(miembro.filename)}"
        datos_pieza = {"descripcion": descripcion, "fecha": _fecha_zip(miembro, respaldo)}
        if miembro.file_size > MAX_CUADERNO_MB * 2**20:
            error = f"cuaderno de más de {MAX_CUADERNO_MB} MB"
            piezas.append(_Pieza(alumno, origen, None, nombre, error=error, **datos_pieza))
            continue
        try:
            with archivo.open(miembro) as entrada:
                datos = entrada.read(MAX_CUADERNO_MB * 2**20 + 1)
        except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, EOFError):
            piezas.append(_Pieza(alumno, origen, None, nombre, error="ZIP dañado", **datos_pieza))
            continue
        descriptor, destino = tempfile.mkstemp(suffix=".ipynb", dir=temporal)
        with os.fdopen(descriptor, "wb") as salida:
            salida.write(datos)
        piezas.append(_Pieza(alumno, origen, Path(destino), nombre, **datos_pieza))
    return piezas


def _enlace(ruta: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(ruta).st_mode)
    except OSError:
        return False


def _recorrer(carpeta: Path, avisos: list[str], origen: str):
    """Archivos normales bajo ``carpeta`` (sin ignorados), sin seguir enlaces; los enlaces se
    anotan en ``avisos``."""
    for actual, dirs, nombres in os.walk(carpeta, followlinks=False):
        actual = Path(actual)
        for nombre in sorted(dirs):
            if _enlace(actual / nombre):
                avisos.append(_aviso_enlace(origen, actual / nombre, carpeta))
        dirs[:] = sorted(d for d in dirs if not ignorado(d) and not _enlace(actual / d))
        for nombre in sorted(nombres):
            if ignorado(nombre):
                continue
            if _enlace(actual / nombre):
                avisos.append(_aviso_enlace(origen, actual / nombre, carpeta))
            else:
                yield actual / nombre


def _aviso_enlace(origen: str, ruta: Path, base: Path) -> str:
    relativa = texto_visible(str(ruta.relative_to(base)))
    return f"se ignora {origen}/{relativa}: es un enlace simbólico (nunca se siguen)"


def _piezas_de_entrada(
    entrada: Path, definiciones: dict[str, Definicion], temporal: Path, avisos: list[str]
) -> list[_Pieza]:
    nombre = texto_visible(entrada.name)
    if entrada.is_dir():
        alumno = _SUFIJOS_PLATAFORMA.sub("", nombre)
        piezas = []
        for hijo in sorted(entrada.iterdir()):
            if ignorado(hijo.name):
                continue
            if _enlace(hijo):
                avisos.append(_aviso_enlace(nombre, hijo, entrada))
            elif hijo.is_dir() and hijo.name in definiciones:  # formato de nbgrader
                marca = _marca_tiempo(hijo)
                for cuaderno in sorted(hijo.glob("*.ipynb")):
                    if _enlace(cuaderno):
                        avisos.append(_aviso_enlace(nombre, cuaderno, entrada))
                        continue
                    piezas += _piezas_archivo(
                        cuaderno,
                        alumno,
                        nombre,
                        temporal,
                        f"{nombre}/{hijo.name}/{texto_visible(cuaderno.name)}",
                        modulo=hijo.name,
                        extras=hijo,
                        marca_tiempo=marca,
                    )
            elif hijo.is_dir():
                for sub in _recorrer(hijo, avisos, f"{nombre}/{texto_visible(hijo.name)}"):
                    relativa = texto_visible(str(sub.relative_to(entrada)))
                    piezas += _piezas_archivo(sub, alumno, nombre, temporal, f"{nombre}/{relativa}")
            else:
                relativa = f"{nombre}/{texto_visible(hijo.name)}"
                piezas += _piezas_archivo(hijo, alumno, nombre, temporal, relativa)
        return piezas
    alumno = _alumno_de_archivo(nombre, definiciones)
    return _piezas_archivo(entrada, alumno, nombre, temporal, nombre)


def _piezas_archivo(
    ruta: Path, alumno: str, origen: str, temporal: Path, descripcion: str, **extra
) -> list[_Pieza]:
    sufijo = ruta.suffix.lower()
    if sufijo not in (".ipynb", ".zip"):
        return []
    nombre = texto_visible(ruta.name)
    try:
        info = os.lstat(ruta)
    except OSError as error:
        return [
            _Pieza(
                alumno,
                origen,
                None,
                nombre,
                error=f"no se pudo leer el archivo ({error.strerror})",
                descripcion=descripcion,
                **extra,
            )
        ]
    if not stat.S_ISREG(info.st_mode):
        return [
            _Pieza(
                alumno,
                origen,
                None,
                nombre,
                error="no es un archivo normal",
                descripcion=descripcion,
                **extra,
            )
        ]
    if sufijo == ".zip":
        return _piezas_zip(ruta, alumno, origen, temporal)
    datos = {"descripcion": descripcion, "fecha": info.st_mtime, **extra}
    if info.st_size > MAX_CUADERNO_MB * 2**20:
        error = f"cuaderno de más de {MAX_CUADERNO_MB} MB"
        return [_Pieza(alumno, origen, None, nombre, error=error, **datos)]
    return [_Pieza(alumno, origen, ruta, nombre, **datos)]


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


def _fecha_texto(fecha: float | None) -> str:
    if fecha is None:
        return "fecha desconocida"
    try:
        return datetime.fromtimestamp(fecha).strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError):
        return "fecha desconocida"


def recoger(
    carpeta: Path,
    definiciones: dict[str, Definicion],
    temporal: Path,
    modulo: str | None = None,
) -> tuple[list[Tarea], list[str]]:
    """Reúne las entregas de ``carpeta`` en tareas (alumno × módulo).

    Devuelve las tareas y los avisos para el instructor (archivos y enlaces ignorados). Los
    cuadernos que no se pueden recoger (ZIP dañado, módulo desconocido…) quedan como errores
    de su tarea para que aparezcan en el resumen; un fallo inesperado en una entrada no impide
    recoger las demás.
    """
    carpeta = Path(carpeta)
    Path(temporal).mkdir(parents=True, exist_ok=True)
    avisos: list[str] = []
    piezas: list[_Pieza] = []
    for entrada in sorted(carpeta.iterdir()):
        if ignorado(entrada.name) or entrada.name == "__MACOSX":
            continue
        visible = texto_visible(entrada.name)
        if _enlace(entrada):
            avisos.append(f"se ignora {visible}: es un enlace simbólico (nunca se siguen)")
            continue
        try:
            nuevas = _piezas_de_entrada(entrada, definiciones, temporal, avisos)
        except Exception as error:  # una entrada rara no detiene la recogida
            detalle = getattr(error, "strerror", None) or f"{type(error).__name__}: {error}"
            avisos.append(f"no se pudo recoger {visible} ({detalle})")
            alumno = _alumno_de_archivo(visible, definiciones)
            nuevas = [
                _Pieza(
                    alumno,
                    visible,
                    None,
                    visible,
                    error=f"no se pudo recoger la entrega ({detalle})",
                    descripcion=visible,
                )
            ]
        if not nuevas and not entrada.is_dir():
            avisos.append(f"se ignora {visible}: no es un cuaderno (.ipynb) ni un .zip")
        piezas += nuevas
    for pieza in piezas:
        contenido = None
        if pieza.ruta is not None:
            try:
                contenido = leer_sin_enlaces(pieza.ruta, MAX_CUADERNO_MB * 2**20)
            except OSError as error:
                pieza.error = f"no se pudo leer el archivo ({error.strerror})"
                pieza.ruta = None
        try:
            _reconocer(pieza, contenido, definiciones, modulo)
        except Exception as error:
            pieza.error = pieza.error or f"no se pudo reconocer el cuaderno ({error})"

    ids = _ids_unicos([p.alumno_bruto for p in piezas])
    tareas: dict[tuple[str, str], Tarea] = {}
    fechas: dict[tuple[str, str, str], _Pieza] = {}
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
        if pieza.error is not None or pieza.ruta is None:
            if cuaderno not in tarea.cuadernos:
                tarea.errores[cuaderno] = pieza.error or "no se pudo leer el archivo"
            continue
        texto = f"{pieza.descripcion or pieza.nombre} ({_fecha_texto(pieza.fecha)})"
        anterior = fechas.get((alumno, clave_modulo, cuaderno))
        if anterior is not None:
            # Varias versiones del mismo cuaderno: gana la modificada más recientemente
            # (dentro de un ZIP cuenta la fecha de la entrada, no la de extracción).
            viejo = f"{anterior.descripcion or anterior.nombre} ({_fecha_texto(anterior.fecha)})"
            if (anterior.fecha or 0) >= (pieza.fecha or 0):
                tarea.notas.append(
                    f"varias versiones de {cuaderno}: se usa {viejo}, la más reciente; "
                    f"se ignora {texto}"
                )
                continue
            tarea.notas.append(
                f"varias versiones de {cuaderno}: se usa {texto}, la más reciente; "
                f"se ignora {viejo}"
            )
        fechas[(alumno, clave_modulo, cuaderno)] = pieza
        tarea.cuadernos[cuaderno] = str(pieza.ruta)
        tarea.archivos[cuaderno] = texto
        tarea.errores.pop(cuaderno, None)
    return sorted(tareas.values(), key=lambda t: (t.alumno, t.modulo)), avisos
