"""Un solo estilo para los números (temario, «Second edition»).

- Punto decimal en todas partes, como los escribe Python: «0.8», nunca «0,8» (ni «0{,}8» en LaTeX).
- Millares separados con un espacio desde cinco cifras: «60 000», pero «4000»; nunca «60.000».
- Porcentajes con un espacio antes del signo: «93.6 %». En el código, ``f"{100 * x:.1f} %"`` en
  lugar de ``f"{x:.1%}"``, que imprime «93.6%».

Se revisa la prosa de los cuadernos (fuera de los fragmentos de código) y del README, y las cadenas
y los formatos del código de los cuadernos y de los módulos del curso que escriben mensajes.
"""

import json
import re
from pathlib import Path

import pytest

RAIZ = Path(__file__).resolve().parent.parent
CUADERNOS = sorted((RAIZ / "solutions").glob("*/*.ipynb"))
MODULOS = [RAIZ / "course_utils" / f"{n}.py" for n in ("graficos", "dispositivos", "datos")]

# «1.000» puede ser un decimal o un millar mal escrito: los decimales con tres cifras de la prosa se
# enumeran aquí. Módulo 2: «Salen 24.004 y 60.037 en lugar de 24 y 60»; módulo 6: ln 10 ≈ 2.303.
DECIMALES_PERMITIDOS = {"24.004", "60.037", "2.303"}

COMA_DECIMAL = re.compile(r"\d(?:,|\{,\})\d")
PUNTO_DE_MILLARES = re.compile(r"(?<![\d.])[1-9]\d{0,2}(?:\.\d{3})+(?![\d.])")
SIN_AGRUPAR = re.compile(r"(?<![\w.,\\])\d{5,}(?!\w)")
AGRUPADO = re.compile(r"(?<![\d.,])(?<!\d )(\d{1,3}(?:(?: |\\,)\d{3})+)(?![\d.,])")
PORCENTAJE_PEGADO = re.compile(r"\d\\?%")
# Formatos de f-strings y de str.format: {x:.1%} y {n:,} o {n:_}.
ESPECIFICACION = r"\{[^{}\n]*:[<>^=]?[+\- ]?#?0?\d*"
FORMATO_PORCENTAJE = re.compile(ESPECIFICACION + r"[,_]?(?:\.\d+)?%\}")
FORMATO_AGRUPADO = re.compile(ESPECIFICACION + r"[,_](?:\.\d+)?[a-zA-Z%]?\}")
CADENA = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'")


def _sin_codigo(markdown: str) -> str:
    """Markdown sin bloques de código, fragmentos de código ni direcciones de enlaces."""
    texto = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    texto = re.sub(r"`[^`\n]*`", " ", texto)
    return re.sub(r"\]\([^)]*\)|https?://\S+", " ", texto)


def problemas_prosa(texto: str) -> list[str]:
    """Números con otro estilo en un texto en prosa (Markdown)."""
    texto = _sin_codigo(texto)
    problemas = [f"coma decimal: {m.group()!r}" for m in COMA_DECIMAL.finditer(texto)]
    problemas += [
        f"punto de millares: {m.group()!r}"
        for m in PUNTO_DE_MILLARES.finditer(texto)
        if m.group() not in DECIMALES_PERMITIDOS
    ]
    problemas += [f"sin agrupar: {m.group()!r}" for m in SIN_AGRUPAR.finditer(texto)]
    for m in AGRUPADO.finditer(texto):
        cifras = re.sub(r"\D", "", m.group(1))
        if len(cifras) < 5:
            problemas.append(f"cuatro cifras agrupadas: {m.group(1)!r}")
    problemas += [
        f"porcentaje sin espacio: {m.group()!r}" for m in PORCENTAJE_PEGADO.finditer(texto)
    ]
    return problemas


def problemas_codigo(codigo: str) -> list[str]:
    """Formatos y cadenas del código que imprimirían números con otro estilo."""
    problemas = [
        f"formato de porcentaje: {m.group()!r}" for m in FORMATO_PORCENTAJE.finditer(codigo)
    ]
    problemas += [f"formato agrupado: {m.group()!r}" for m in FORMATO_AGRUPADO.finditer(codigo)]
    for cadena in CADENA.findall(codigo):
        problemas += [f"en {cadena}: {p}" for p in problemas_prosa(cadena[1:-1])]
    return problemas


def _celdas(ruta: Path, tipo: str):
    for indice, celda in enumerate(json.loads(ruta.read_text(encoding="utf-8"))["cells"]):
        if celda["cell_type"] == tipo:
            yield indice, "".join(celda["source"])


@pytest.mark.parametrize("ruta", CUADERNOS, ids=lambda r: r.stem)
def test_prosa_de_los_cuadernos(ruta):
    problemas = [
        f"celda {i}: {p}" for i, texto in _celdas(ruta, "markdown") for p in problemas_prosa(texto)
    ]
    assert not problemas, "\n".join(problemas)


@pytest.mark.parametrize("ruta", CUADERNOS, ids=lambda r: r.stem)
def test_salidas_impresas_de_los_cuadernos(ruta):
    problemas = [
        f"celda {i}: {p}" for i, codigo in _celdas(ruta, "code") for p in problemas_codigo(codigo)
    ]
    assert not problemas, "\n".join(problemas)


@pytest.mark.parametrize("ruta", MODULOS, ids=lambda r: r.stem)
def test_mensajes_de_course_utils(ruta):
    problemas = problemas_codigo(ruta.read_text(encoding="utf-8"))
    assert not problemas, "\n".join(problemas)


def test_prosa_del_readme():
    texto = (RAIZ / "README.md").read_text(encoding="utf-8")
    problemas = problemas_prosa(texto)
    assert not problemas, "\n".join(problemas)


@pytest.mark.parametrize(
    "texto",
    [
        "un 93,6 % de aciertos",
        "$\\eta = 0{,}8$",
        "60.000 imágenes",
        "4.000 de entrenamiento",
        "60000 imágenes",
        "4 000 imágenes",
        "el 93.6% de la prueba",
    ],
)
def test_detecta_los_otros_estilos(texto):
    assert problemas_prosa(texto)


@pytest.mark.parametrize(
    "texto",
    [
        "un 93.6 % de aciertos, con η = 0.8",
        "60 000 imágenes y 4000 de entrenamiento; $79\\,510$ parámetros",
        "las filas 1, 2 y 3; el tensor (2, 3)",
        "PyTorch 2.13.0, Python 3.10 y `torch==2.13.0`; `60_000` en el código",
        "[enlace](https://example.com/a,b/10.000)",
        "Salen 24.004 y 60.037 en lugar de 24 y 60",
        "Glorot y Bengio (2010); $e^{-2000}$",
    ],
)
def test_acepta_el_estilo_del_curso(texto):
    assert problemas_prosa(texto) == []


def test_formatos_de_codigo():
    assert problemas_codigo('print(f"{x:.1%}")')
    assert problemas_codigo('print(f"{n:,} imágenes")')
    assert problemas_codigo('print("η = 0,8")')
    assert problemas_codigo('titulo = "60.000 imágenes"')
    assert problemas_codigo('print(f"{100 * x:.1f} % y {n} imágenes, η = 0.8")') == []
    assert problemas_codigo("x = f(1,2)") == []  # solo se miran las cadenas
