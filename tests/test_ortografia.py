"""Ortografía de la prosa de los cuadernos con hunspell (diccionario es_ES) y tests/palabras.txt.

Se revisa el texto de las celdas Markdown sin código (bloques y en línea), fórmulas LaTeX,
direcciones web, etiquetas HTML ni destinos de enlaces. Cero palabras desconocidas: una palabra
sin tilde («libreria», «funcion») es un error. Las palabras técnicas que el diccionario no
conoce van a tests/palabras.txt, una por línea (en minúsculas valen con cualquier mayúscula;
con mayúsculas, solo tal cual).

Para revisar un cuaderno mientras se escribe:

    python tests/test_ortografia.py solutions/02_autograd/02_autograd.ipynb
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

RAIZ = Path(__file__).resolve().parent.parent
PALABRAS = Path(__file__).resolve().parent / "palabras.txt"
DICCIONARIO = "es_ES"
CUADERNOS = sorted(p for c in ("solutions", "notebooks") for p in (RAIZ / c).glob("*/*.ipynb"))

_QUITAR = [
    re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.S | re.M),  # bloques de código
    re.compile(r"<!--.*?-->", re.S),  # comentarios HTML
    re.compile(r"\$\$.*?\$\$", re.S),  # fórmulas en bloque
    re.compile(r"\\\[.*?\\\]", re.S),
    re.compile(r"\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.S),
    re.compile(r"(?<!\\)\$.+?(?<!\\)\$", re.S),  # fórmulas en línea
    re.compile(r"\\\(.*?\\\)", re.S),
    re.compile(r"(`+).+?\1", re.S),  # código en línea
    re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$", re.M),  # definiciones de enlaces [x]: url
    re.compile(r"\]\([^)]*\)"),  # destino de enlaces e imágenes (se queda el texto)
    re.compile(r"<[^>]+>"),  # etiquetas HTML
    re.compile(r"\b(?:https?://|www\.)\S+"),  # direcciones sueltas
    re.compile(r"&#?\w+;"),  # entidades HTML
]


def extraer_prosa(markdown: str) -> str:
    """Texto de una celda Markdown sin código, fórmulas, direcciones ni HTML."""
    for patron in _QUITAR:
        markdown = patron.sub(" ", markdown)
    return markdown


def cargar_palabras(ruta: Path = PALABRAS) -> tuple[set[str], set[str]]:
    """Lista del proyecto: (entradas exactas, entradas en minúsculas que valen con mayúsculas)."""
    exactas, minusculas = set(), set()
    if ruta.exists():
        for linea in ruta.read_text(encoding="utf-8").splitlines():
            palabra = linea.split("#", 1)[0].strip()
            if palabra:
                (minusculas if palabra == palabra.lower() else exactas).add(palabra)
    return exactas, minusculas


def hunspell_disponible() -> str | None:
    """``None`` si hunspell y el diccionario es_ES funcionan; si no, el motivo."""
    if shutil.which("hunspell") is None:
        return "falta hunspell (Debian: apt-get install hunspell hunspell-es)"
    proceso = subprocess.run(
        ["hunspell", "-d", DICCIONARIO, "-i", "UTF-8", "-l"],
        input="casa\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    if proceso.returncode != 0 or proceso.stdout.strip():
        return (
            f"falta el diccionario {DICCIONARIO} de hunspell (Debian: apt-get install hunspell-es)"
        )
    return None


def desconocidas_hunspell(texto: str) -> list[str]:
    """Palabras que hunspell no reconoce, sin repetir y en orden de aparición."""
    proceso = subprocess.run(
        ["hunspell", "-d", DICCIONARIO, "-i", "UTF-8", "-l"],
        input=texto,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    )
    return list(dict.fromkeys(proceso.stdout.split()))


def palabras_desconocidas(texto: str, palabras=None) -> list[str]:
    """Palabras desconocidas de un texto en prosa, descontando la lista del proyecto."""
    exactas, minusculas = palabras if palabras is not None else cargar_palabras()
    return [
        palabra
        for palabra in desconocidas_hunspell(texto)
        if len(palabra) > 1 and palabra not in exactas and palabra.lower() not in minusculas
    ]


def revisar_cuaderno(ruta: Path, palabras=None) -> list[str]:
    """Una línea por palabra desconocida: cuaderno, celda, palabra y contexto."""
    nb = nbformat.read(ruta, as_version=4)
    prosas = [
        (i, extraer_prosa(celda.source))
        for i, celda in enumerate(nb.cells, start=1)
        if celda.cell_type == "markdown"
    ]
    texto = "\n\n".join(prosa for _, prosa in prosas)
    try:
        nombre = ruta.resolve().relative_to(RAIZ).as_posix()
    except ValueError:
        nombre = str(ruta)
    lineas = []
    for palabra in palabras_desconocidas(texto, palabras):
        patron = re.compile(rf"(?<![^\W\d_]){re.escape(palabra)}(?![^\W\d_])")  # entre no letras
        for i, prosa in prosas:
            encontrada = patron.search(prosa)
            if encontrada:
                inicio, fin = encontrada.span()
                contexto = " ".join(prosa[max(0, inicio - 40) : fin + 40].split())
                lineas.append(f"{nombre}, celda {i}: «{palabra}» en «…{contexto}…»")
                break
        else:
            lineas.append(f"{nombre}: «{palabra}»")
    return lineas


@pytest.fixture(scope="module")
def palabras():
    motivo = hunspell_disponible()
    if motivo:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"La prueba de ortografía necesita hunspell en CI: {motivo}")
        pytest.skip(motivo)
    return cargar_palabras()


@pytest.mark.parametrize("ruta", CUADERNOS, ids=lambda r: r.relative_to(RAIZ).as_posix())
def test_ortografia_del_cuaderno(ruta, palabras):
    errores = revisar_cuaderno(ruta, palabras)
    assert not errores, (
        f"{len(errores)} palabras desconocidas. Corrígelas (¿falta una tilde?) o, si son términos "
        "técnicos correctos, añádelas a tests/palabras.txt:\n" + "\n".join(errores)
    )


def test_detecta_tildes_que_faltan(palabras):
    texto = "Esta libreria tiene una funcion. Compara el tensor con PyTorch."
    assert palabras_desconocidas(texto, ({"PyTorch"}, set())) == ["libreria", "funcion"]
    assert palabras_desconocidas("La librería tiene una función.", (set(), set())) == []


def test_la_lista_respeta_mayusculas(palabras):
    texto = "Usamos PyTorch, NumPy y numpy."
    assert palabras_desconocidas(texto, ({"PyTorch"}, {"numpy"})) == []
    assert palabras_desconocidas("Usamos pytorch.", ({"PyTorch"}, set())) == ["pytorch"]


def test_la_prosa_excluye_codigo_formulas_y_enlaces():
    markdown = (
        "Texto `codigo_raro` con $\\alpha_{xyz}$ y $$\\sum_i w_i$$ en [la guía](https://a.b/ruta_x)"
        " y <span style='color:red'>rojo</span> más https://pytorch.org/docs.\n"
        "```python\nimport modulo_falso\n```\n"
        "Fin.\n[ref]: https://c.d/otra_ruta"
    )
    prosa = extraer_prosa(markdown)
    for debe_estar in ("Texto", "la guía", "rojo", "Fin."):
        assert debe_estar in prosa
    for no_debe in (
        "codigo_raro",
        "alpha",
        "sum_i",
        "ruta_x",
        "span",
        "pytorch.org",
        "modulo_falso",
        "otra_ruta",
    ):
        assert no_debe not in prosa


TILDES = {"a": "á", "e": "é", "i": "í", "o": "ó", "u": "úü", "n": "ñ"}


def _variantes_con_tilde(palabra: str) -> list[str]:
    """La palabra con una tilde (o ñ, ü) más en cada posición posible."""
    return [
        palabra[:i] + acentuada + palabra[i + 1 :]
        for i, letra in enumerate(palabra)
        for acentuada in TILDES.get(letra, "")
    ]


def test_la_lista_no_esconde_palabras_sin_tilde(palabras):
    """Una entrada como «funcion» haría pasar una tilde olvidada: no se admite."""
    exactas, minusculas = palabras
    variantes = {
        v: palabra for palabra in exactas | minusculas for v in _variantes_con_tilde(palabra)
    }
    if not variantes:
        pytest.skip("tests/palabras.txt no tiene palabras con vocales")
    desconocidas = set(desconocidas_hunspell("\n".join(variantes)))
    sospechosas = sorted(
        f"«{palabra}» (¿«{variante}»?)"
        for variante, palabra in variantes.items()
        if variante not in desconocidas
    )
    assert not sospechosas, (
        "tests/palabras.txt tiene palabras que parecen españolas sin tilde: "
        + ", ".join(sospechosas)
    )


def test_detecta_entradas_sin_tilde_en_la_lista(palabras):
    assert "función" in _variantes_con_tilde("funcion")
    assert set(desconocidas_hunspell("\n".join(_variantes_con_tilde("funcion")))) != set(
        _variantes_con_tilde("funcion")
    )


def main(argumentos: list[str]) -> int:
    """Revisa los cuadernos indicados e imprime sus palabras desconocidas."""
    if not argumentos:
        print("uso: python tests/test_ortografia.py CUADERNO.ipynb [CUADERNO.ipynb …]")
        return 2
    motivo = hunspell_disponible()
    if motivo:
        print(f"error: {motivo}", file=sys.stderr)
        return 2
    palabras = cargar_palabras()
    total = 0
    for argumento in argumentos:
        errores = revisar_cuaderno(Path(argumento), palabras)
        total += len(errores)
        print("\n".join(errores) if errores else f"{argumento}: sin palabras desconocidas")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
