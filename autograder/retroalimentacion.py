"""Retroalimentación para el alumno: sin pruebas ocultas y con lo que sirve para aprender.

:class:`LimpiarRetroalimentacion` es el preprocesador de ``GenerateFeedback`` (ver
``autograder/nbgrader_config.py``); la plantilla ``autograder/plantillas/retroalimentacion``
muestra el resultado. Reglas:

- En las celdas de prueba solo se ven los mensajes de las comprobaciones: las líneas «✔ …» que
  imprimen y el error con su pista. Nunca lo que imprimió el código del alumno (podría
  imprimir las entradas ocultas), ni trazas (citan código oculto), ni imágenes.
- Un error solo muestra su mensaje si lo lanzó la propia celda de prueba (el marco más interno
  de la traza es esa celda) y es de una comprobación (``ErrorComprobacion``, ``AssertionError``,
  ``NotImplementedError``…). Del mensaje se quitan el texto de los errores del alumno que las
  comprobaciones citan («lanza un error…: ValueError: …»), las palabras que no salen de las
  comprobaciones ni de las celdas bloqueadas visibles, las líneas que citan código oculto, los
  números que solo aparecen en las pruebas ocultas y, si el error ocurrió en la parte oculta,
  los números decimales (podrían ser valores de las entradas ocultas).
- Las salidas de las celdas que se ejecutaron después de la primera prueba oculta no se
  muestran (el código del alumno pudo guardar allí las entradas ocultas); el alumno las tiene
  en su cuaderno. En las demás se quitan las líneas que citan código oculto.
- Cada ejercicio se nombra con el encabezado Markdown que lo precede («Ejercicio 1b: las
  derivadas a mano»); las fórmulas LaTeX se convierten en texto Unicode legible (sin MathJax
  ni red).
"""

from __future__ import annotations

import ast
import base64
import builtins
import html
import importlib.util
import re
from functools import lru_cache
from pathlib import Path

from nbformat.notebooknode import from_dict
from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List

from autograder.preprocesadores import CLAVE_METADATOS, FIN_OCULTAS, INICIO_OCULTAS

CLAVE = "retroalimentacion"  # metadatos de celda y recursos que lee la plantilla
NOMBRE_TIEMPO = "CellTimeoutError"
NOMBRE_NO_EJECUTADA = "CeldaNoEjecutada"
# Errores de las comprobaciones (su mensaje es para el alumno).
ERRORES_COMPROBACION = {"ErrorComprobacion", "ErrorRegla", "AssertionError", "NotImplementedError"}
# Errores que pone el propio calificador (mensaje en español, sin datos del alumno).
ERRORES_CALIFICADOR = {NOMBRE_NO_EJECUTADA, "DeadKernelError", "ManipulacionDetectada"}
MAX_MENSAJE = 1500

_RECORTE_NBGRADER = "... Output truncated ..."
_TRAZA_NBGRADER = "... Traceback truncated ..."
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MARCO_CELDA = re.compile(r"^\s*(?:Cell In|Input In) ?\[(\d+)\], line (\d+)")
_MARCO = re.compile(r"^\s*(?:Cell In ?\[\d+\], line \d+|Input In ?\[\d+\]|File [^\n]*:\d+)")
_TOKEN = re.compile(r"(?<![\w.])(?P<num>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?!\w)(?!\.\d)|(?P<pal>\w+)")
_RACHA = re.compile(r"…(?:[\s,;:'\"()\[\]{}=+\-*/.·]*…)+")
_LANZA = re.compile(r"lanza un error(?:[^\n]*?)?: (?P<tipo>[A-Za-z_]\w*): ")
_ENCABEZADO = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
_PUNTOS = re.compile(r"\s*\((?:[^()]*\bpuntos?\b[^()]*)\)\s*$", re.I)
_APARTADO = re.compile(r"^(\d+[a-z])[.)]\s+(.+)$")


def numero(x) -> str:
    """Número para el alumno: sin ceros de sobra y con coma decimal.

    >>> numero(2.0), numero(1.5), numero(None)
    ('2', '1,5', '0')
    """
    return f"{round(float(x or 0), 2):g}".replace(".", ",")


# --- Fórmulas --------------------------------------------------------------------------------

_SIMBOLOS = {
    **{
        g: c
        for g, c in zip(
            "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda "
            "mu nu xi pi rho sigma tau upsilon phi varphi chi psi omega".split(),
            "αβγδεεζηθθικλμνξπρστυφφχψω",
            strict=True,
        )
    },
    **{
        g: c
        for g, c in zip(
            "Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega".split(), "ΓΔΘΛΞΠΣΦΨΩ", strict=True
        )
    },
    "partial": "∂",
    "nabla": "∇",
    "le": "≤",
    "leq": "≤",
    "ge": "≥",
    "geq": "≥",
    "ne": "≠",
    "neq": "≠",
    "approx": "≈",
    "sim": "∼",
    "equiv": "≡",
    "propto": "∝",
    "cdot": "·",
    "times": "×",
    "div": "÷",
    "pm": "±",
    "infty": "∞",
    "sum": "∑",
    "prod": "∏",
    "int": "∫",
    "to": "→",
    "rightarrow": "→",
    "Rightarrow": "⇒",
    "leftarrow": "←",
    "mapsto": "↦",
    "in": "∈",
    "notin": "∉",
    "subset": "⊂",
    "forall": "∀",
    "exists": "∃",
    "circ": "∘",
    "odot": "⊙",
    "otimes": "⊗",
    "ell": "ℓ",
    "ldots": "…",
    "dots": "…",
    "cdots": "⋯",
    "vdots": "⋮",
    "top": "ᵀ",
    "|": "‖",
    "Vert": "‖",
    "lVert": "‖",
    "rVert": "‖",
    "vert": "|",
    "lvert": "|",
    "rvert": "|",
    "mid": "|",
    "langle": "⟨",
    "rangle": "⟩",
    "quad": "\u2003",
    "qquad": "\u2003\u2003",
    ",": "\u2009",
    ";": "\u2009",
    ":": "\u2009",
    "!": "",
    " ": " ",
    "{": "{",
    "}": "}",
    "%": "%",
    "_": "_",
    "&": "&",
    "#": "#",
    "$": "$",
}
# Órdenes que se escriben como su nombre (funciones) y las que se ignoran.
_FUNCIONES = set("log ln exp max min sin cos tan tanh sinh cosh arg det lim sup inf".split())
_IGNORADAS = set(
    "left right big Big bigg Bigg bigl bigr Bigl Bigr displaystyle textstyle limits "
    "nolimits label nonumber".split()
)
_TEXTO = {"text", "mathrm", "mathbf", "mathit", "mathsf", "mathtt", "textbf", "textit",
          "operatorname", "boldsymbol", "mathbb", "mathcal", "emph"}  # fmt: skip
_ACENTOS = {"hat": "\u0302", "bar": "\u0304", "tilde": "\u0303", "vec": "\u20d7", "dot": "\u0307"}
_SUPER = dict(zip("0123456789+-=()niT", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱᵀ", strict=True))
_SUB = dict(zip("0123456789+-=()aeijkmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑᵢⱼₖₘₙₒₚᵣₛₜᵤᵥₓ", strict=True))
_ORDEN = re.compile(r"\\([A-Za-z]+|.)")


class _Latex:
    """Convierte un fragmento LaTeX en texto Unicode legible (subconjunto habitual)."""

    def __init__(self, texto: str):
        self.texto, self.i = texto, 0

    def grupo(self) -> str:
        """Siguiente argumento: ``{…}``, una orden o un carácter."""
        while self.i < len(self.texto) and self.texto[self.i] == " ":
            self.i += 1
        if self.i >= len(self.texto):
            return ""
        if self.texto[self.i] == "{":
            self.i += 1
            return self.hasta("}")
        if self.texto[self.i] == "\\":
            return self.orden()
        self.i += 1
        return self.texto[self.i - 1]

    def hasta(self, fin: str | None = None) -> str:
        partes = []
        while self.i < len(self.texto):
            c = self.texto[self.i]
            if fin is not None and c == fin:
                self.i += 1
                break
            if c == "{":
                self.i += 1
                partes.append(self.hasta("}"))
            elif c == "\\":
                partes.append(self.orden())
            elif c in "^_":
                self.i += 1
                partes.append(self.indice(self.grupo(), c == "^"))
            elif c == "&":
                self.i += 1
            elif c == "-":
                self.i += 1
                partes.append("−")
            else:
                self.i += 1
                partes.append(c)
        return "".join(partes)

    @staticmethod
    def indice(texto: str, arriba: bool) -> str:
        tabla = _SUPER if arriba else _SUB
        if texto and all(c in tabla for c in texto.replace("−", "-")):
            return "".join(tabla[c] for c in texto.replace("−", "-"))
        if arriba and texto == "ᵀ":
            return texto
        envuelto = texto if len(texto) == 1 else f"({texto})"
        return ("^" if arriba else "_") + envuelto

    def orden(self) -> str:
        m = _ORDEN.match(self.texto, self.i)
        if not m:
            self.i += 1
            return ""
        self.i = m.end()
        nombre = m.group(1)
        if nombre.isalpha():  # tras una orden con nombre, LaTeX ignora los espacios
            while self.i < len(self.texto) and self.texto[self.i] == " ":
                self.i += 1
        if nombre == "\\":
            return "\n"
        if nombre in ("frac", "dfrac", "tfrac"):
            arriba, abajo = self.grupo(), self.grupo()
            return f"{_parentesis(arriba)}/{_parentesis(abajo)}"
        if nombre == "sqrt":
            return "√" + _parentesis(self.grupo())
        if nombre in ("begin", "end"):
            self.grupo()
            return ""
        if nombre in _TEXTO:
            return self.grupo()
        if nombre in _ACENTOS:
            return self.grupo() + _ACENTOS[nombre]
        if nombre in _IGNORADAS:
            return ""
        if nombre in _FUNCIONES:
            return nombre + " "
        simbolo = _SIMBOLOS.get(nombre, nombre)
        return f" {simbolo} " if simbolo in _RELACIONES else simbolo


_SIMPLE = re.compile(r"[\d.]+|[∂]?[^\W\d_]+[ᵀ⁰¹²³⁴⁵⁶⁷⁸⁹ₐₑᵢⱼₖₘₙₒₚᵣₛₜᵤᵥₓ₀₁₂₃₄₅₆₇₈₉]*")
_RELACIONES = set("≤≥≠≈∼≡∝×·±→⇒←↦∈∉⊂÷")


def _parentesis(texto: str) -> str:
    texto = texto.strip()
    return texto if _SIMPLE.fullmatch(texto) else f"({texto})"


def latex_a_texto(formula: str) -> str:
    r"""Fórmula LaTeX como texto Unicode.

    >>> latex_a_texto(r"\partial\,\text{loss}/\partial a \le 10^{-6}")
    '∂\u2009loss/∂a ≤ 10⁻⁶'
    >>> latex_a_texto(r"\dfrac{f(x + h) - f(x - h)}{2h}")
    '(f(x + h) − f(x − h))/(2h)'
    >>> latex_a_texto(r"\sigma(z) = \frac{1}{1 + e^{-z}}")
    'σ(z) = 1/(1 + e^(−z))'
    """
    texto = _Latex(formula).hasta()
    lineas = [re.sub(r"[ \t]{2,}", " ", linea).strip() for linea in texto.split("\n")]
    lineas = [re.sub(r"([(\[]) | ([)\],])", r"\1\2", linea) for linea in lineas]
    lineas = [re.sub(r"\b(" + "|".join(_FUNCIONES) + r") \(", r"\1(", x) for x in lineas]
    return "\n".join(linea for linea in lineas if linea)


_MATEMATICAS = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\s)([^$\n]+?)(?<![\s\\])\$(?!\d)", re.S)
_CODIGO_MD = re.compile(r"(```.*?```|~~~.*?~~~|`[^`\n]*`)", re.S)


def _escapar_markdown(texto: str) -> str:
    return html.escape(texto).replace("*", "&#42;").replace("_", "&#95;").replace("\\", "&#92;")


def formulas_a_html(markdown: str) -> str:
    r"""Sustituye las fórmulas ``$…$`` y ``$$…$$`` de un Markdown por texto Unicode en HTML.

    >>> formulas_a_html(r"Con $a_i \le 2$ y `x = $y$`")
    'Con <span class="formula">aᵢ ≤ 2</span> y `x = $y$`'
    """

    def fuera_de_codigo(trozo: str) -> str:
        def cambiar(m: re.Match) -> str:
            if m.group(1) is not None:
                texto = _escapar_markdown(latex_a_texto(m.group(1))).replace("\n", "<br>")
                return f'\n\n<div class="formula">{texto}</div>\n\n'
            return f'<span class="formula">{_escapar_markdown(latex_a_texto(m.group(2)))}</span>'

        return _MATEMATICAS.sub(cambiar, trozo)

    partes = _CODIGO_MD.split(markdown)
    return "".join(p if i % 2 else fuera_de_codigo(p) for i, p in enumerate(partes))


def _sin_html(markdown: str) -> str:
    """Markdown de una celda del alumno sin HTML propio (se muestra como texto)."""
    partes = _CODIGO_MD.split(markdown)
    return "".join(p if i % 2 else p.replace("<", "&lt;") for i, p in enumerate(partes))


def texto_plano(markdown: str) -> str:
    r"""Texto de un encabezado Markdown: fórmulas en Unicode, sin `código` ni *énfasis*.

    >>> texto_plano(r"Regresión con `nn.Linear` y *broadcasting* en $\mathbb{R}^2$")
    'Regresión con nn.Linear y broadcasting en R²'
    """
    texto = _MATEMATICAS.sub(lambda m: latex_a_texto(m.group(1) or m.group(2)), markdown)
    texto = re.sub(r"`([^`]*)`", r"\1", texto)
    texto = re.sub(r"(\*\*|__|\*|_)(\S(?:.*?\S)?)\1", r"\2", texto)
    texto = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", texto)
    return " ".join(texto.split())


# --- Ejercicios ------------------------------------------------------------------------------


def nombre_de_encabezado(encabezado: str) -> str:
    """Nombre de un ejercicio a partir de su encabezado.

    >>> nombre_de_encabezado("Ejercicio 2: recortar y cambiar la forma (2 puntos)")
    'Ejercicio 2: recortar y cambiar la forma'
    >>> nombre_de_encabezado("1b. Las derivadas a mano (2 puntos)")
    'Ejercicio 1b: las derivadas a mano'
    """
    texto = _PUNTOS.sub("", texto_plano(encabezado)).strip()
    m = _APARTADO.match(texto)
    if m:
        resto = m.group(2)
        if len(resto) > 1 and resto[1].islower():
            resto = resto[0].lower() + resto[1:]
        texto = f"Ejercicio {m.group(1)}: {resto}"
    return texto


def _encabezados(celda) -> list[str]:
    if celda.get("cell_type") != "markdown":
        return []
    return [m.group(2) for m in _ENCABEZADO.finditer(celda.get("source", ""))]


def _empieza_con_encabezado(celda) -> bool:
    fuente = celda.get("source", "").lstrip()
    return celda.get("cell_type") == "markdown" and bool(_ENCABEZADO.match(fuente))


def _es_prueba(celda) -> bool:
    return (
        celda.get("cell_type") == "code" and utils.is_grade(celda) and not utils.is_solution(celda)
    )


def _grade_id(celda) -> str | None:
    return celda.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def nombres_de_ejercicios(celdas) -> dict[str, str]:
    """grade_id de cada celda de prueba -> nombre del ejercicio (encabezado anterior más cercano).

    Sin encabezado, «Celda de prueba <grade_id>».
    """
    nombres, ultimo = {}, None
    for celda in celdas:
        encabezados = _encabezados(celda)
        if encabezados:
            ultimo = encabezados[-1]
        if _es_prueba(celda):
            grade_id = _grade_id(celda)
            nombres[grade_id] = (
                nombre_de_encabezado(ultimo) if ultimo else f"Celda de prueba {grade_id}"
            )
    return nombres


def titulo_del_cuaderno(celdas) -> str:
    """Texto del primer encabezado de nivel 1 («Módulo 2: Autograd…»), o cadena vacía."""
    for celda in celdas:
        if celda.get("cell_type") == "markdown":
            for m in _ENCABEZADO.finditer(celda.get("source", "")):
                if m.group(1) == "#":
                    return texto_plano(m.group(2))
    return ""


def _bloques(celdas) -> dict[int, int]:
    """Celda de prueba -> primera celda de su ejercicio (su encabezado y el Markdown previo)."""
    inicios, ultimo_encabezado, fin_anterior = {}, None, -1
    for i, celda in enumerate(celdas):
        if _encabezados(celda):
            ultimo_encabezado = i
        if _es_prueba(celda):
            inicio = ultimo_encabezado if ultimo_encabezado is not None else i
            inicio = max(inicio, fin_anterior + 1)
            # Encabezados inmediatamente anteriores («## Ejercicios», «### Ejercicio 1: …»).
            while inicio - 1 > fin_anterior and _empieza_con_encabezado(celdas[inicio - 1]):
                inicio -= 1
            inicios[i] = inicio
            fin_anterior = i
            ultimo_encabezado = None
    return inicios


# --- Mensajes --------------------------------------------------------------------------------


def sin_ansi(texto: str) -> str:
    return _ANSI.sub("", texto or "")


def pista_de(mensaje: str) -> str:
    """La pista de un mensaje de comprobación (lo que sigue a «Pista:»), o cadena vacía.

    >>> pista_de("Los gradientes no coinciden.\\nPista: parece el gradiente de z.")
    'parece el gradiente de z.'
    """
    m = re.search(r"(?:^|\s)Pista:\s*(.+)", mensaje or "", re.S)
    return " ".join(m.group(1).split()) if m else ""


def resumen_de(mensaje: str, limite: int = 200) -> str:
    """Mensaje sin la pista, recortado en un límite de palabra.

    >>> resumen_de("Falla el caso 2. Revisa la forma.\\nPista: usa view.", 20)
    'Falla el caso 2. …'
    """
    texto = " ".join((mensaje or "").split("Pista:")[0].split())
    if len(texto) <= limite:
        return texto
    return texto[: limite - 1].rsplit(" ", 1)[0] + " …"


def _literales(carpeta: Path) -> set[str]:
    palabras: set[str] = set()
    for ruta in carpeta.glob("*.py"):
        try:
            arbol = ast.parse(ruta.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue
        for nodo in ast.walk(arbol):
            if isinstance(nodo, ast.Constant) and isinstance(nodo.value, str):
                palabras |= _palabras(nodo.value)
    return palabras


def _carpeta_course_utils() -> Path:
    """Carpeta del paquete ``course_utils`` (sin importarlo: importaría torch)."""
    spec = importlib.util.find_spec("course_utils")
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=1)
def vocabulario_base() -> frozenset[str]:
    """Palabras de los mensajes de las comprobaciones y del calificador, y nombres de Python."""
    palabras = _literales(_carpeta_course_utils()) | _literales(Path(__file__).resolve().parent)
    palabras |= {n.lower() for n in dir(builtins)}
    palabras |= {n.lower() for n in ERRORES_COMPROBACION | ERRORES_CALIFICADOR}
    return frozenset(palabras | {NOMBRE_TIEMPO.lower()})


def _palabras(texto: str) -> set[str]:
    return {p.lower() for p in re.findall(r"\w+", texto)}


def _numeros(texto: str) -> set[str]:
    return {m.group("num") for m in _TOKEN.finditer(texto) if m.group("num")}


def _partes(fuente: str) -> tuple[str, list[str], int | None]:
    """(fuente visible, líneas ocultas, línea (desde 1) donde empiezan las pruebas ocultas)."""
    visibles, ocultas, inicio, dentro = [], [], None, False
    for n, linea in enumerate(fuente.split("\n"), start=1):
        if INICIO_OCULTAS in linea:
            if not dentro:
                sangria = linea[: len(linea) - len(linea.lstrip())]
                visibles.append(f"{sangria}# (pruebas ocultas: no se muestran)")
            inicio = inicio or n
            dentro = True
        elif FIN_OCULTAS in linea:
            dentro = False
        elif dentro:
            ocultas.append(linea)
        else:
            visibles.append(linea)
    return "\n".join(visibles), ocultas, inicio


class _Filtro:
    """Lo que se sabe del cuaderno para filtrar mensajes (vocabulario, código oculto)."""

    def __init__(self, vocabulario: set[str], ocultas: list[str], numeros_ocultos: set[str]):
        self.vocabulario = vocabulario
        self.lineas_ocultas = [x.strip() for x in ocultas if len(x.strip()) >= 4]
        self.lineas_ocultas = [x for x in self.lineas_ocultas if re.search(r"\w", x)]
        self.numeros_ocultos = numeros_ocultos

    def cita_oculto(self, linea: str) -> bool:
        return any(oculta in linea for oculta in self.lineas_ocultas)

    def texto(self, texto: str, en_ocultas: bool = False) -> tuple[str, int, int]:
        """(texto filtrado, palabras tapadas, palabras) de un mensaje."""
        tapadas = total = 0

        def cambiar(m: re.Match) -> str:
            nonlocal tapadas, total
            total += 1
            valor = m.group(0)
            if m.group("num"):
                decimal = "." in valor or "e" in valor.lower()
                if valor in self.numeros_ocultos or (
                    en_ocultas and decimal and valor.lower() not in self.vocabulario
                ):
                    tapadas += 1
                    return "…"
                return valor
            if valor.lower() in self.vocabulario:
                return valor
            tapadas += 1
            return "…"

        lineas = [x for x in texto.split("\n") if not self.cita_oculto(x)]
        filtrado = _RACHA.sub("…", _TOKEN.sub(cambiar, "\n".join(lineas)))
        return filtrado.strip(), tapadas, total

    def linea_de_exito(self, linea: str) -> bool:
        """Una línea «✔ …» que solo usa palabras de las comprobaciones (y números pequeños)."""
        if not linea.startswith("✔") or self.cita_oculto(linea):
            return False
        for m in _TOKEN.finditer(linea):
            valor = m.group(0)
            if m.group("num"):
                pequeno = valor.isdigit() and int(valor) < 1000
                if valor in self.numeros_ocultos or not (pequeno or valor in self.vocabulario):
                    return False
            elif valor.lower() not in self.vocabulario:
                return False
        return True


def _marcos(traza: list[str]) -> list[tuple[int | None, int | None]]:
    """Marcos de una traza de IPython, de fuera adentro: (ejecución, línea) o (None, None)."""
    marcos = []
    for entrada in traza:
        texto = sin_ansi(entrada)
        celda = _MARCO_CELDA.match(texto)
        if celda:
            marcos.append((int(celda.group(1)), int(celda.group(2))))
        elif _MARCO.match(texto):
            marcos.append((None, None))
    return marcos


def _sin_mensaje_del_alumno(mensaje: str, conocidas: str) -> str:
    """Quita el texto de un error del alumno que cita la comprobación («lanza un error…»).

    Se conserva al final una pista conocida (del código visible o de las comprobaciones).
    """
    m = _LANZA.search(mensaje)
    if not m:
        return mensaje
    resto = mensaje[m.end() :]
    pista = ""
    posicion = resto.rfind("Pista:")
    if posicion >= 0:
        candidata = resto[posicion:].strip()
        if candidata[len("Pista:") :].strip() and candidata[len("Pista:") :].strip() in conocidas:
            pista = candidata
    texto = mensaje[: m.end() - 2] + " (el mensaje de tu error no se muestra aquí)."
    return f"{texto}\n{pista}" if pista else texto


class LimpiarRetroalimentacion(NbGraderPreprocessor):
    """Deja en la retroalimentación solo lo que el alumno debe ver (ver el módulo)."""

    max_lineas = 40
    display_data_priority = List(NbGraderPreprocessor.display_data_priority.default_value).tag(
        config=True
    )

    def _limite(self) -> int | None:
        try:
            valor = self.config.Execute.get("timeout")
            return int(valor) if valor else None
        except (TypeError, ValueError, AttributeError):
            return None

    def preprocess(self, nb, resources):
        # Las incidencias se muestran arriba (resources["incidencias"]), no como una celda más.
        nb.cells = [
            c
            for c in nb.cells
            if not (
                str(c.get("id", "")).startswith("incidencias-") and "nbgrader" not in c.metadata
            )
        ]
        celdas = nb.cells
        for cell in celdas:  # comentario automático de nbgrader para respuestas sin tocar
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("comment") == "No response.":
                meta["comment"] = "Sin respuesta."
        nombres = nombres_de_ejercicios(celdas)
        inicios = _bloques(celdas)
        titulo = titulo_del_cuaderno(celdas)

        # Código oculto y vocabulario visible (de celdas bloqueadas: nbgrader repone su fuente).
        partes, ocultas, visibles = {}, [], []
        for i, cell in enumerate(celdas):
            if cell.cell_type == "code" and INICIO_OCULTAS in cell.source:
                partes[i] = _partes(cell.source)
                ocultas += partes[i][1]
            if utils.is_locked(cell) or _es_prueba(cell):
                visibles.append(partes[i][0] if i in partes else cell.source)
        texto_visible = "\n".join(visibles)
        vocabulario = set(vocabulario_base()) | _palabras(texto_visible)
        vocabulario |= {n.lower() for n in _numeros(texto_visible)}
        numeros_ocultos = _numeros("\n".join(ocultas)) - _numeros(texto_visible)
        filtro = _Filtro(vocabulario, ocultas, numeros_ocultos)
        conocidas = texto_visible + "\n" + "\n".join(_pistas_conocidas())
        primera_oculta = min(partes) if partes else len(celdas)
        self._agrupar(celdas, inicios)

        ejercicios = []
        for i, cell in enumerate(celdas):
            if cell.cell_type == "markdown":
                fuente = cell.source if utils.is_locked(cell) else _sin_html(cell.source)
                cell.source = formulas_a_html(fuente)
            if cell.cell_type != "code":
                continue
            if i in partes:
                cell.source = partes[i][0]
            if _es_prueba(cell):
                inicio_ocultas = partes[i][2] if i in partes else None
                ejercicios.append(self._prueba(cell, inicio_ocultas, filtro, conocidas, nombres))
            elif i > primera_oculta:
                if cell.outputs:
                    cell.metadata.setdefault(CLAVE, {})["sin_salidas"] = True
                cell.outputs = []
            else:
                limpias = (self._limpiar(s, filtro) for s in cell.outputs)
                cell.outputs = [s for s in limpias if s is not None]
        nbgrader = resources.get("nbgrader", {})
        resources[CLAVE] = {
            "alumno": nbgrader.get("student", ""),
            "modulo": nbgrader.get("assignment", ""),
            "cuaderno": nbgrader.get("notebook", ""),
            "titulo": titulo,
            "ejercicios": ejercicios,
            "puntos": numero(nbgrader.get("score")),
            "maximo": numero(nbgrader.get("max_score")),
        }
        nb.metadata.pop(CLAVE_METADATOS, None)
        return nb, resources

    # --- Celdas de prueba ---

    def _prueba(self, cell, inicio_ocultas, filtro, conocidas, nombres) -> dict:
        meta = cell.metadata["nbgrader"]
        exitos, error = [], None
        tope = max(1, cell.source.count("comprobar_") + cell.source.count("✔"))
        errores = [s for s in cell.outputs if s.output_type == "error"]
        for salida in cell.outputs:
            if salida.output_type == "stream" and salida.name == "stdout":
                for linea in salida.text.splitlines():
                    linea = linea.strip()
                    if filtro.linea_de_exito(linea) and linea not in exitos:
                        exitos.append(linea)
        if any(s.ename == NOMBRE_TIEMPO for s in errores):
            limite = self._limite()
            cuanto = f" ({limite} s)" if limite else ""
            error = (
                NOMBRE_TIEMPO,
                f"La celda superó el tiempo máximo de ejecución{cuanto}. ¿Hay un bucle "
                "infinito? Revisa que tus bucles terminan (un while cuya condición nunca cambia) "
                "y que no repites cálculos muy costosos.",
            )
        elif errores:
            error = self._error(
                errores[-1], cell.execution_count, inicio_ocultas, filtro, conocidas
            )
        salidas = []
        exitos = exitos[:tope]
        puntos, maximo = meta.get("score"), meta.get("points")
        correcto = (
            error is None if puntos is None or maximo is None else float(puntos) >= float(maximo)
        )
        if not exitos and correcto and error is None:
            exitos = ["✔ ¡Correcto!"]
        if exitos:
            salidas.append(
                from_dict({"output_type": "stream", "name": "stdout", "text": "\n".join(exitos)})
            )
        if error is not None:
            nombre, mensaje = error
            salidas.append(
                from_dict(
                    {
                        "output_type": "error",
                        "ename": nombre,
                        "evalue": mensaje,
                        "traceback": [f"{nombre}: {mensaje}" if mensaje else nombre],
                    }
                )
            )
        cell.outputs = salidas
        mensaje = error[1] if error else ""
        grade_id = meta.get("grade_id", "")
        ejercicio = {
            "id": grade_id,
            "nombre": nombres.get(grade_id, f"Celda de prueba {grade_id}"),
            "puntos": numero(puntos),
            "maximo": numero(maximo),
            "correcto": bool(correcto),
            "pista": pista_de(mensaje),
            "mensaje": resumen_de(mensaje) if mensaje else "",
        }
        cell.metadata[CLAVE] = {**cell.metadata.get(CLAVE, {}), **ejercicio}
        return ejercicio

    def _error(self, salida, ejecucion, inicio_ocultas, filtro, conocidas) -> tuple[str, str]:
        nombre = salida.get("ename") or "Error"
        if nombre.lower() not in filtro.vocabulario:
            nombre = "Error"
        marcos = _marcos(salida.get("traceback") or [])
        propios = [linea for celda, linea in marcos if celda is not None and celda == ejecucion]
        en_ocultas = bool(inicio_ocultas and propios and propios[0] >= inicio_ocultas)
        if nombre in ERRORES_CALIFICADOR and len(salida.get("traceback") or []) <= 1:
            de_la_prueba = True
        else:
            de_la_prueba = bool(marcos) and marcos[-1][0] is not None and marcos[-1][0] == ejecucion
        mensaje = sin_ansi(salida.get("evalue") or "").strip()[:MAX_MENSAJE]
        if de_la_prueba and nombre in ERRORES_COMPROBACION | ERRORES_CALIFICADOR:
            mensaje = _sin_mensaje_del_alumno(mensaje, conocidas)
            filtrado, tapadas, total = filtro.texto(mensaje, en_ocultas)
            if filtrado and (nombre in ERRORES_CALIFICADOR or tapadas * 3 <= max(total, 1)):
                return nombre, filtrado
        if nombre == "NotImplementedError":
            return nombre, (
                "Todavía no has completado este ejercicio: sustituye la línea raise "
                "NotImplementedError(...) por tu solución."
            )
        donde = (
            "durante las pruebas ocultas; tu función debe servir para cualquier entrada válida, "
            "no solo para el ejemplo del enunciado"
            if en_ocultas
            else "durante la comprobación; ejecuta la celda de comprobación en tu cuaderno para "
            "ver el error completo"
        )
        return nombre, (
            f"Tu código lanzó {nombre} {donde}. (El mensaje no se muestra aquí: podría contener "
            "datos de las pruebas.)"
        )

    # --- Resto de celdas ---

    def _filtrar(self, texto: str, filtro: _Filtro) -> str:
        texto = texto.replace(_RECORTE_NBGRADER, "… (salida recortada) …")
        lineas = [x for x in texto.splitlines(keepends=True) if not filtro.cita_oculto(x)]
        return "".join(lineas)

    def _limpiar(self, salida, filtro: _Filtro):
        if salida.output_type == "error":
            if any(filtro.cita_oculto(sin_ansi(x)) for x in salida.traceback):
                mensaje = sin_ansi(salida.evalue or "").strip().split("\n")[0][:500]
                mensaje = "" if filtro.cita_oculto(mensaje) else mensaje
                salida.traceback = [f"{salida.ename}: {mensaje}" if mensaje else salida.ename]
            else:
                salida.traceback = [
                    "… (traza recortada) …" if x == _TRAZA_NBGRADER else x for x in salida.traceback
                ]
            return salida
        if salida.output_type == "stream":
            salida.text = self._filtrar(salida.text, filtro)
            return salida if salida.text else None
        if salida.output_type in ("execute_result", "display_data"):
            datos = salida.get("data", {})
            if "text/plain" in datos:
                datos["text/plain"] = self._filtrar(datos["text/plain"], filtro)
            if "image/svg+xml" in datos:  # como imagen: sin scripts
                svg = datos["image/svg+xml"]
                svg = "".join(svg) if isinstance(svg, list) else svg
                salida.setdefault("metadata", {})["retroalimentacion_svg"] = base64.b64encode(
                    svg.encode("utf-8")
                ).decode("ascii")
        return salida

    # --- Agrupación para la plantilla ---

    @staticmethod
    def _agrupar(celdas, inicios: dict[int, int]) -> None:
        """Marca qué celdas forman cada ejercicio y agrupa las demás en bloques plegados."""
        en_ejercicio = set()
        for prueba, inicio in inicios.items():
            en_ejercicio.update(range(inicio, prueba + 1))
            celdas[inicio].metadata.setdefault(CLAVE, {})["inicio_ejercicio"] = True
        grupo: list[int] = []

        def cerrar():
            if not grupo:
                return
            titulos = [nombre_de_encabezado(e) for i in grupo for e in _encabezados(celdas[i])]
            n = len(grupo)
            cuantas = "1 celda" if n == 1 else f"{n} celdas"
            resumen = f"{titulos[0]} ({cuantas})" if titulos else f"Celdas sin nota ({cuantas})"
            if len(titulos) > 1:
                resumen = f"{titulos[0]} … {titulos[-1]} ({cuantas})"
            celdas[grupo[0]].metadata.setdefault(CLAVE, {})["abrir_grupo"] = resumen
            celdas[grupo[-1]].metadata.setdefault(CLAVE, {})["cerrar_grupo"] = True
            grupo.clear()

        for i in range(len(celdas)):
            if i in en_ejercicio:
                cerrar()
            else:
                grupo.append(i)
        cerrar()


@lru_cache(maxsize=1)
def _pistas_conocidas() -> tuple[str, ...]:
    """Textos de pista de ``course_utils.comprobaciones`` (constantes ``PISTA_*``)."""
    ruta = _carpeta_course_utils() / "comprobaciones.py"
    try:
        arbol = ast.parse(ruta.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return ()
    return tuple(
        nodo.value.value
        for nodo in arbol.body
        if isinstance(nodo, ast.Assign)
        and isinstance(nodo.value, ast.Constant)
        and isinstance(nodo.value.value, str)
        and any(isinstance(t, ast.Name) and t.id.startswith("PISTA_") for t in nodo.targets)
    )
