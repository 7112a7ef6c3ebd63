"""Revisión estática de los cuadernos (solutions/ y notebooks/): estructura, metadatos y texto.

Comprueba lo que pide CONTRIBUIR.md sin ejecutar nada: los seis módulos, sin salidas, metadatos
limpios, metadatos de nbgrader válidos, insignia de Colab, celda de configuración, secciones y
ausencia de texto mal codificado. La ejecución está en test_ejecucion.py.
"""

from __future__ import annotations

import functools
import re
import textwrap
from collections import Counter
from pathlib import Path

import nbformat
import pytest

RAIZ = Path(__file__).resolve().parent.parent
MODULOS = [
    "01_tensores",
    "02_autograd",
    "03_descenso_gradiente",
    "04_inversion_matrices",
    "05_sistemas_lineales",
    "06_mlp_mnist",
]
CARPETAS = ["solutions", "notebooks"]
CUADERNOS = sorted(p for carpeta in CARPETAS for p in (RAIZ / carpeta).glob("*/*.ipynb"))
SOLUCIONES = [p for p in CUADERNOS if p.parts[-3] == "solutions"]
ALUMNO = [p for p in CUADERNOS if p.parts[-3] == "notebooks"]

URL_COLAB = "https://colab.research.google.com/github/curso-pytorch/curso-pytorch/blob/main/"
INSIGNIA = "https://colab.research.google.com/assets/colab-badge.svg"
MOJIBAKE = ["Ã", "√", "Â", "â€", "\ufffd"]
ID_VALIDO = re.compile(r"[A-Za-z0-9_-]+")

METADATOS_CUADERNO = {"kernelspec", "language_info"}
METADATOS_CELDA = {
    "solutions": {"nbgrader", "tags"},
    "notebooks": {"nbgrader", "tags", "editable", "deletable"},
}
CLAVES_NBGRADER = {"grade", "grade_id", "locked", "points", "schema_version", "solution", "task"}
CLAVES_NBGRADER_GENERADAS = {"checksum", "cell_type"}  # las añade `curso generar`


def _id(ruta: Path) -> str:
    return ruta.relative_to(RAIZ).as_posix()


@functools.cache
def _leer(ruta: Path):
    """Cuaderno leído una sola vez por sesión (las pruebas no lo modifican)."""
    return nbformat.read(ruta, as_version=4)


def _modulo(ruta: Path) -> str:
    return ruta.parent.name


def _es_solucion(celda) -> bool:
    return bool(celda.metadata.get("nbgrader", {}).get("solution"))


def _es_prueba(celda) -> bool:
    return bool(celda.metadata.get("nbgrader", {}).get("grade"))


def _celdas_con_etiqueta(nb, etiqueta: str) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if etiqueta in c.metadata.get("tags", [])]


# --- Los seis módulos ----------------------------------------------------------------------------


@pytest.mark.parametrize("carpeta", CARPETAS)
@pytest.mark.parametrize("modulo", MODULOS)
def test_cada_modulo_tiene_un_cuaderno(carpeta, modulo):
    directorio = RAIZ / carpeta / modulo
    cuadernos = sorted(p.name for p in directorio.glob("*.ipynb"))
    assert cuadernos == [f"{modulo}.ipynb"], (
        f"{carpeta}/{modulo}/ debe contener exactamente {modulo}.ipynb; contiene {cuadernos}"
    )


@pytest.mark.parametrize("carpeta", CARPETAS)
def test_no_hay_modulos_extra(carpeta):
    directorio = RAIZ / carpeta
    assert directorio.is_dir(), f"falta la carpeta {carpeta}/"
    extra = sorted(
        p.name
        for p in directorio.iterdir()
        if p.is_dir() and p.name not in MODULOS and not p.name.startswith(".")
    )
    assert not extra, f"{carpeta}/ tiene carpetas que no son módulos del curso: {extra}"


# --- Todos los cuadernos -------------------------------------------------------------------------

por_cuaderno = pytest.mark.parametrize("ruta", CUADERNOS, ids=_id)


@por_cuaderno
def test_formato_valido(ruta):
    nb = _leer(ruta)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", (
        f"{_id(ruta)}: el núcleo (kernelspec) debe ser python3"
    )


@por_cuaderno
def test_sin_salidas(ruta):
    nb = _leer(ruta)
    con_salida = [
        i + 1
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.outputs or c.execution_count is not None)
    ]
    assert not con_salida, (
        f"{_id(ruta)}: las celdas {con_salida} tienen salidas o execution_count. Guarda el "
        "cuaderno sin salidas (Kernel > Restart Kernel and Clear Outputs)."
    )


@por_cuaderno
def test_metadatos_limpios(ruta):
    nb = _leer(ruta)
    carpeta = ruta.parts[-3]
    problemas = []
    sobran = set(nb.metadata) - METADATOS_CUADERNO
    if sobran:
        problemas.append(f"metadatos del cuaderno no permitidos: {sorted(sobran)}")
    claves_nbgrader = CLAVES_NBGRADER | (
        CLAVES_NBGRADER_GENERADAS if carpeta == "notebooks" else set()
    )
    for i, celda in enumerate(nb.cells, start=1):
        sobran = set(celda.metadata) - METADATOS_CELDA[carpeta]
        if sobran:
            problemas.append(f"celda {i}: metadatos no permitidos {sorted(sobran)}")
        sobran = set(celda.metadata.get("nbgrader", {})) - claves_nbgrader
        if sobran:
            problemas.append(f"celda {i}: claves de nbgrader no permitidas {sorted(sobran)}")
        if celda.get("attachments"):
            problemas.append(f"celda {i}: adjuntos incrustados (usa un fichero junto al cuaderno)")
    assert not problemas, f"{_id(ruta)} (p. ej. datos de Colab):\n" + "\n".join(problemas)


@por_cuaderno
def test_sin_texto_mal_codificado(ruta):
    texto = ruta.read_text(encoding="utf-8")
    encontrados = []
    for numero, linea in enumerate(texto.splitlines(), start=1):
        for mal in MOJIBAKE:
            if mal in linea:
                posicion = linea.index(mal)
                encontrados.append(
                    f"línea {numero} ({mal!r}): …{linea[max(0, posicion - 30) : posicion + 30]}…"
                )
    assert not encontrados, (
        f"{_id(ruta)} tiene texto mal codificado (mojibake); escribe las tildes en UTF-8 "
        "(y √ como \\sqrt en LaTeX):\n" + "\n".join(encontrados)
    )


@por_cuaderno
def test_insignia_de_colab(ruta):
    nb = _leer(ruta)
    modulo = _modulo(ruta)
    esperado = f"notebooks/{modulo}/{modulo}.ipynb"
    enlaces = [
        (i + 1, m.group(1))
        for i, c in enumerate(nb.cells)
        if c.cell_type == "markdown"
        for m in re.finditer(re.escape(URL_COLAB) + r"([^)\s\"']+)", c.source)
    ]
    assert enlaces, f"{_id(ruta)}: falta la insignia «Abrir en Colab» (ver CONTRIBUIR.md)"
    malos = [(i, ruta_url) for i, ruta_url in enlaces if ruta_url != esperado]
    assert not malos, f"{_id(ruta)}: enlaces de Colab que no apuntan a {esperado}: {malos}"
    primera = enlaces[0][0]
    fuente = nb.cells[primera - 1].source
    assert primera <= 3 and f"[![Abrir en Colab]({INSIGNIA})]" in fuente, (
        f"{_id(ruta)}: la insignia debe ir tras el título, con el formato de CONTRIBUIR.md"
    )


def _celda_modelo_de_la_guia() -> str:
    """La celda de configuración modelo de CONTRIBUIR.md (la que tiene el bloque de Colab)."""
    guia = (RAIZ / "CONTRIBUIR.md").read_text(encoding="utf-8")
    for bloque in re.findall(r"```python\n(.*?)```", guia, flags=re.S):
        codigo = textwrap.dedent(bloque)
        if 'if "google.colab" in sys.modules:' in codigo:
            return codigo
    raise AssertionError("CONTRIBUIR.md no tiene la celda de configuración modelo")


def _bloque_colab_de_la_guia() -> str:
    """El bloque ``if "google.colab" in sys.modules: …`` de la celda modelo de CONTRIBUIR.md."""
    codigo = _celda_modelo_de_la_guia()
    lineas = codigo[codigo.find('if "google.colab" in sys.modules:') :].splitlines()
    fin = next(  # primera línea sin sangría tras el if: ahí termina el bloque
        (i for i, linea in enumerate(lineas[1:], 1) if linea and not linea[0].isspace()),
        len(lineas),
    )
    return "\n".join(lineas[:fin]).rstrip()


def _partes_de_la_configuracion(codigo: str) -> tuple[list[str], set[str]]:
    """Líneas de la celda sin las importaciones de primer nivel ni las líneas en blanco, e
    importaciones de primer nivel (las que cambian de un módulo a otro)."""
    importaciones = re.compile(r"(import|from)\s")
    lineas = [linea.rstrip() for linea in codigo.splitlines() if linea.strip()]
    return (
        [linea for linea in lineas if not importaciones.match(linea)],
        {linea for linea in lineas if importaciones.match(linea)},
    )


@por_cuaderno
def test_celda_de_configuracion(ruta):
    nb = _leer(ruta)
    indices = _celdas_con_etiqueta(nb, "configuracion")
    assert len(indices) == 1, (
        f"{_id(ruta)}: debe haber una celda con la etiqueta «configuracion»; hay {len(indices)}"
    )
    celda = nb.cells[indices[0]]
    primera_codigo = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    assert celda.cell_type == "code" and indices[0] == primera_codigo, (
        f"{_id(ruta)}: la celda de configuración debe ser la primera celda de código"
    )
    for necesario in (_bloque_colab_de_la_guia(), "import course_utils as cu"):
        assert necesario in celda.source, (
            f"{_id(ruta)}: la celda de configuración debe contener, igual que en CONTRIBUIR.md:"
            f"\n{necesario}"
        )
    # Igual que la celda modelo salvo las importaciones propias del módulo (p. ej. el
    # identificador del alumno y cu.fijar_alumno tras cu.fijar_semilla).
    codigo_modelo, importaciones_modelo = _partes_de_la_configuracion(_celda_modelo_de_la_guia())
    codigo, importaciones = _partes_de_la_configuracion(celda.source)
    assert codigo == codigo_modelo, (
        f"{_id(ruta)}: la celda de configuración debe ser la de CONTRIBUIR.md (salvo las "
        "importaciones del módulo):\n" + "\n".join(codigo_modelo)
    )
    faltan = sorted(importaciones_modelo - importaciones)
    assert not faltan, f"{_id(ruta)}: a la celda de configuración le faltan {faltan}"


@por_cuaderno
def test_celda_de_parametros(ruta):
    nb = _leer(ruta)
    indices = _celdas_con_etiqueta(nb, "parameters")
    assert len(indices) <= 1, f"{_id(ruta)}: hay {len(indices)} celdas con la etiqueta parameters"
    if indices:
        celda = nb.cells[indices[0]]
        configuracion = _celdas_con_etiqueta(nb, "configuracion")
        assert celda.cell_type == "code" and "cu.modo_rapido()" in celda.source, (
            f"{_id(ruta)}: la celda de parámetros debe leer cu.modo_rapido()"
        )
        assert configuracion and indices[0] > configuracion[0], (
            f"{_id(ruta)}: la celda de parámetros va después de la de configuración"
        )


@por_cuaderno
def test_estructura_de_secciones(ruta):
    nb = _leer(ruta)
    numero = int(_modulo(ruta)[:2])
    primera = nb.cells[0]
    assert primera.cell_type == "markdown" and primera.source.startswith(f"# Módulo {numero}: "), (
        f"{_id(ruta)}: la primera celda debe ser el título «# Módulo {numero}: …»"
    )
    titulos = [
        linea.strip()
        for c in nb.cells
        if c.cell_type == "markdown"
        for linea in c.source.splitlines()
        if linea.startswith("## ")
    ]
    secciones = ["## Ejercicios", "## Resumen", "## Para saber más"]
    posiciones = [titulos.index(s) if s in titulos else -1 for s in secciones]
    assert -1 not in posiciones and posiciones == sorted(posiciones), (
        f"{_id(ruta)}: faltan o están desordenadas las secciones {secciones}; hay {titulos}"
    )
    saber_mas = next(
        c.source for c in nb.cells if c.cell_type == "markdown" and "## Para saber más" in c.source
    )
    assert "https://pytorch.org/" in saber_mas or "https://docs.pytorch.org/" in saber_mas, (
        f"{_id(ruta)}: «Para saber más» debe enlazar la documentación oficial de PyTorch"
    )


# --- Cuadernos del instructor (solutions/) -----------------------------------------------------


def _tipo_nbgrader(meta: dict) -> str | None:
    clave = (meta.get("solution"), meta.get("grade"), meta.get("locked"), meta.get("task"))
    return {
        (True, False, False, False): "respuesta",
        (False, True, True, False): "prueba",
        (False, False, True, False): "enunciado",
    }.get(clave)


def _problemas_nbgrader(ruta: Path) -> list[str]:
    nb = _leer(ruta)
    prefijo = f"m{_modulo(ruta)[:2]}_"
    problemas = []
    ultima_respuesta = None  # (grade_id, número de pruebas que la siguen)
    respuestas = []
    for i, celda in enumerate(nb.cells, start=1):
        fuente = celda.source
        meta = celda.metadata.get("nbgrader")
        marcas = [
            m
            for m in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
            if m in fuente
        ]
        if meta is None:
            if marcas:
                problemas.append(f"celda {i}: tiene {marcas} pero no metadatos de nbgrader")
            continue
        grade_id = meta.get("grade_id", "")
        donde = f"celda {i} ({grade_id})"
        if meta.get("schema_version") != 3:
            problemas.append(f"{donde}: schema_version debe ser 3")
        if not ID_VALIDO.fullmatch(grade_id) or not grade_id.startswith(prefijo):
            problemas.append(f"{donde}: grade_id debe usar [A-Za-z0-9_-] y empezar por {prefijo}")
        tipo = _tipo_nbgrader(meta)
        if tipo is None:
            problemas.append(f"{donde}: combinación de solution/grade/locked/task no prevista")
            continue
        if tipo == "respuesta":
            if celda.cell_type != "code":
                problemas.append(f"{donde}: una celda de respuesta debe ser de código")
            inicio, fin = fuente.find("### BEGIN SOLUTION"), fuente.find("### END SOLUTION")
            if inicio < 0 or fin < inicio:
                problemas.append(f"{donde}: falta ### BEGIN SOLUTION … ### END SOLUTION")
            if ultima_respuesta and ultima_respuesta[1] == 0:
                problemas.append(f"celda de respuesta {ultima_respuesta[0]}: sin celda de prueba")
            ultima_respuesta = [grade_id, 0]
            respuestas.append(grade_id)
        elif tipo == "prueba":
            puntos = meta.get("points")
            if not isinstance(puntos, (int, float)) or isinstance(puntos, bool) or puntos <= 0:
                problemas.append(f"{donde}: points debe ser un número > 0 (es {puntos!r})")
            if celda.cell_type != "code":
                problemas.append(f"{donde}: una celda de prueba debe ser de código")
            inicio = fuente.find("### BEGIN HIDDEN TESTS")
            fin = fuente.find("### END HIDDEN TESTS")
            if inicio < 0 or fin < inicio:
                problemas.append(f"{donde}: falta ### BEGIN HIDDEN TESTS … ### END HIDDEN TESTS")
            visible = [
                linea
                for linea in fuente[: max(inicio, 0)].splitlines()
                if linea.strip() and not linea.strip().startswith("#")
            ]
            if not visible:
                problemas.append(f"{donde}: falta la comprobación visible antes de las ocultas")
            if "SOLUTION" in fuente:
                problemas.append(f"{donde}: una celda de prueba no lleva marcas de solución")
            if ultima_respuesta is None or not grade_id.startswith(ultima_respuesta[0] + "_"):
                problemas.append(
                    f"{donde}: debe seguir a su celda de respuesta y llamarse como ella con un "
                    "sufijo (p. ej. m02_derivadas_autograd_prueba)"
                )
            else:
                ultima_respuesta[1] += 1
        elif marcas:
            problemas.append(f"{donde}: una celda de enunciado no lleva {marcas}")
    if ultima_respuesta and ultima_respuesta[1] == 0:
        problemas.append(f"celda de respuesta {ultima_respuesta[0]}: sin celda de prueba")
    if len(respuestas) < 2:
        problemas.append(f"hay {len(respuestas)} ejercicios calificados; se piden al menos dos")
    return problemas


@pytest.mark.parametrize("ruta", SOLUCIONES, ids=_id)
def test_metadatos_nbgrader_validos(ruta):
    problemas = _problemas_nbgrader(ruta)
    assert not problemas, f"{_id(ruta)}:\n" + "\n".join(problemas)


def test_grade_id_unicos_en_todo_el_curso():
    contador = Counter(
        (celda.metadata["nbgrader"].get("grade_id"), _id(ruta))
        for ruta in SOLUCIONES
        for celda in _leer(ruta).cells
        if "nbgrader" in celda.metadata
    )
    por_id = Counter(grade_id for grade_id, _ in contador.elements())
    repetidos = sorted(
        f"{grade_id}: {sorted(r for (g, r) in contador if g == grade_id)}"
        for grade_id, n in por_id.items()
        if n > 1
    )
    assert not repetidos, "grade_id repetidos:\n" + "\n".join(repetidos)


# --- Cuadernos del alumno (notebooks/) -----------------------------------------------------------


@pytest.mark.parametrize("ruta", ALUMNO, ids=_id)
def test_alumno_sin_soluciones_ni_pruebas_ocultas(ruta):
    nb = _leer(ruta)
    texto = ruta.read_text(encoding="utf-8")
    for marca in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marca not in texto, f"{_id(ruta)} contiene «{marca}»: regenéralo con curso generar"
    sin_esqueleto = [
        c.metadata["nbgrader"]["grade_id"]
        for c in nb.cells
        if _es_solucion(c) and "raise NotImplementedError" not in c.source
    ]
    assert not sin_esqueleto, (
        f"{_id(ruta)}: celdas de respuesta sin raise NotImplementedError: {sin_esqueleto}"
    )


@pytest.mark.parametrize("ruta", ALUMNO, ids=_id)
def test_alumno_tiene_los_ejercicios_de_la_solucion(ruta):
    solucion = RAIZ / "solutions" / ruta.parent.name / ruta.name
    if not solucion.exists():
        pytest.fail(f"{_id(ruta)} no tiene cuaderno fuente en solutions/")

    def ids(r):
        return [
            c.metadata["nbgrader"]["grade_id"]
            for c in _leer(r).cells
            if _es_solucion(c) or _es_prueba(c)
        ]

    assert ids(ruta) == ids(solucion), (
        f"{_id(ruta)} no tiene los mismos ejercicios que su solución: regenéralo con curso generar"
    )


def test_la_revision_nbgrader_detecta_errores(tmp_path):
    """La revisión de metadatos señala cada error típico en un cuaderno defectuoso."""
    v4 = nbformat.v4

    def celda(fuente, **meta):
        nueva = v4.new_code_cell(fuente)
        nueva.metadata["nbgrader"] = {"schema_version": 3, "task": False, **meta}
        return nueva

    respuesta = {"solution": True, "grade": False, "locked": False}
    prueba = {"solution": False, "grade": True, "locked": True}
    nb = v4.new_notebook(
        cells=[
            celda(
                "assert True\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS",
                grade_id="m02_a_prueba",
                points=1,
                **prueba,
            ),
            celda("def a():\n    ### BEGIN SOLUTION\n    return 1", grade_id="m02_a", **respuesta),
            celda(
                "### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS",
                grade_id="m02_a_prueba2",
                points=0,
                **prueba,
            ),
            celda("x = 1", grade_id="m03 mal", solution=True, grade=True, locked=False),
        ]
    )
    ruta = tmp_path / "02_autograd" / "02_autograd.ipynb"
    ruta.parent.mkdir()
    nbformat.write(nb, ruta)
    texto = "\n".join(_problemas_nbgrader(ruta))
    for esperado in [
        "(m02_a_prueba): debe seguir a su celda de respuesta",
        "(m02_a): falta ### BEGIN SOLUTION … ### END SOLUTION",
        "(m02_a_prueba2): points debe ser un número > 0",
        "(m02_a_prueba2): falta la comprobación visible",
        "(m03 mal): grade_id debe usar [A-Za-z0-9_-] y empezar por m02_",
        "(m03 mal): combinación de solution/grade/locked/task no prevista",
        "hay 1 ejercicios calificados; se piden al menos dos",
    ]:
        assert esperado in texto, f"no se detectó «{esperado}» en:\n{texto}"
