"""Informe de la clase para el instructor: ``calificacion/informe.html``.

``curso calificar`` lo escribe al final, después de ``notas.csv`` y ``resumen.csv``, y se puede
rehacer con ``python -m autograder.informe_clase [CARPETA_DE_TRABAJO]``. Lee solo archivos:

- ``resumen.csv``: nota y estado de cada entrega (alumno × módulo);
- ``notas.csv``: puntos de cada ejercicio (columnas con el ``grade_id`` de su celda de prueba);
- ``calificados/<alumno>/<módulo>/*.ipynb``: los errores de las celdas de prueba, de los que
  salen los fallos más frecuentes (la pista de la comprobación o, sin pista, el mensaje);
- ``solutions/<módulo>/*.ipynb`` del curso: nombre y puntos máximos de cada ejercicio.

Muestra la distribución de notas de cada módulo (gráficos de matplotlib en PNG dentro del
HTML), el porcentaje de aciertos de cada ejercicio, los fallos más frecuentes y las entregas
que conviene revisar: las que no quedaron «calificado» (errores, tiempo agotado, posible
manipulación, entregas idénticas, identificadores que no coinciden…). Sin red ni scripts.
"""

from __future__ import annotations

import base64
import csv
import io
import logging
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from pathlib import Path

from autograder.retroalimentacion import (
    NOMBRE_TIEMPO,
    nombres_de_ejercicios,
    numero,
    pista_de,
    resumen_de,
    sin_ansi,
    titulo_del_cuaderno,
)

CALIFICADO = "calificado"
NOMBRE_INFORME = "informe.html"
MAX_FALLOS = 5  # fallos distintos que se muestran por ejercicio

_log = logging.getLogger(__name__)
_NUMERO = re.compile(r"[-−]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?")


@dataclass
class Ejercicio:
    grade_id: str
    nombre: str
    maximo: float
    puntos: list[float] = field(default_factory=list)
    fallos: Counter = field(default_factory=Counter)

    @property
    def aciertos(self) -> int:
        return sum(p >= self.maximo for p in self.puntos)


@dataclass
class Entrega:
    alumno: str
    modulo: str
    puntos: float
    maximo: float
    estado: str


def _float(texto: str | None) -> float | None:
    try:
        return float(texto) if texto not in (None, "") else None
    except ValueError:
        return None


def _leer_csv(ruta: Path) -> list[dict[str, str]]:
    if not ruta.is_file():
        return []
    with ruta.open(newline="", encoding="utf-8") as archivo:
        return list(csv.DictReader(archivo))


def _ejercicios(raiz: Path, modulo: str) -> tuple[str, dict[str, Ejercicio]]:
    """(título del módulo, grade_id -> ejercicio en el orden de los cuadernos del instructor)."""
    import nbformat

    titulo, ejercicios = "", {}
    for ruta in sorted((raiz / "solutions" / modulo).glob("*.ipynb")):
        try:
            nb = nbformat.read(ruta, as_version=4)
        except Exception:
            continue
        titulo = titulo or titulo_del_cuaderno(nb.cells)
        nombres = nombres_de_ejercicios(nb.cells)
        for celda in nb.cells:
            meta = celda.metadata.get("nbgrader", {})
            if meta.get("grade_id") in nombres:
                grade_id = meta["grade_id"]
                maximo = float(meta.get("points") or 0)
                ejercicios[grade_id] = Ejercicio(grade_id, nombres[grade_id], maximo)
    return titulo or modulo, ejercicios


def fallo_de(salidas) -> str | None:
    """Texto con el que se agrupa el fallo de una celda de prueba (``None`` si no falló).

    La pista de la comprobación si la hay; si no, el tipo y el mensaje con los números
    sustituidos por «…» (así se agrupan los mismos fallos con valores distintos).
    """
    errores = [s for s in salidas if s.get("output_type") == "error"]
    if not errores:
        return None
    if any(s.get("ename") == NOMBRE_TIEMPO for s in errores):
        return "tiempo agotado (¿un bucle infinito?)"
    error = errores[-1]
    nombre = error.get("ename") or "Error"
    if nombre == "NotImplementedError":
        return "sin hacer (NotImplementedError)"
    mensaje = sin_ansi(error.get("evalue") or "")
    pista = pista_de(mensaje)
    if pista:
        return f"Pista: {pista}"
    texto = _NUMERO.sub("…", resumen_de(mensaje, 180))
    return f"{nombre}: {texto}" if texto else nombre


def _fallos_del_cuaderno(ruta: Path) -> dict[str, str]:
    import nbformat

    try:
        nb = nbformat.read(ruta, as_version=4)
    except Exception:
        return {}
    fallos = {}
    for celda in nb.cells:
        meta = celda.metadata.get("nbgrader", {})
        if celda.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            fallo = fallo_de(celda.get("outputs", []))
            if fallo:
                fallos[meta.get("grade_id")] = fallo
    return fallos


def _histograma(modulo: str, puntos: list[float], maximo: float) -> str:
    """Distribución de notas de un módulo como PNG en base64."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figura, eje = plt.subplots(figsize=(5.2, 2.4), dpi=100)
    ancho = 0.5 if maximo <= 10 else max(1.0, round(maximo / 20))
    bordes = [i * ancho - ancho / 2 for i in range(int(maximo / ancho) + 2)]
    eje.hist(puntos, bins=bordes, color="#4c78a8", edgecolor="white")
    eje.set_xlim(-ancho, maximo + ancho)
    eje.set_xlabel(f"puntos (máximo {numero(maximo)})")
    eje.set_ylabel("alumnos")
    eje.yaxis.get_major_locator().set_params(integer=True)
    eje.spines[["top", "right"]].set_visible(False)
    eje.set_title(f"Notas de {modulo}", fontsize=10)
    figura.tight_layout()
    memoria = io.BytesIO()
    figura.savefig(memoria, format="png")
    plt.close(figura)
    return base64.b64encode(memoria.getvalue()).decode("ascii")


def _mediana(valores: list[float]) -> float:
    ordenados = sorted(valores)
    n = len(ordenados)
    if not n:
        return 0.0
    mitad = n // 2
    return ordenados[mitad] if n % 2 else (ordenados[mitad - 1] + ordenados[mitad]) / 2


def _enlace(trabajo: Path, alumno: str, modulo: str) -> str:
    carpeta = trabajo / "retroalimentacion" / alumno / modulo
    paginas = sorted(carpeta.glob("*.html")) if carpeta.is_dir() else []
    if not paginas:
        return ""
    relativa = paginas[0].relative_to(trabajo).as_posix()
    return f' <a href="{escape(relativa)}">retroalimentación</a>'


def datos(trabajo: Path, raiz: Path) -> tuple[list[Entrega], dict, dict[str, str]]:
    """Lee las entregas y, por módulo, los ejercicios (grade_id -> :class:`Ejercicio`, con sus
    puntos y sus fallos) y el título."""
    entregas = []
    for fila in _leer_csv(trabajo / "resumen.csv"):
        entregas.append(
            Entrega(
                alumno=fila.get("alumno", ""),
                modulo=fila.get("módulo", ""),
                puntos=_float(fila.get("puntos")) or 0.0,
                maximo=_float(fila.get("máximo")) or 0.0,
                estado=fila.get("estado", ""),
            )
        )
    notas = {fila.get("alumno"): fila for fila in _leer_csv(trabajo / "notas.csv")}
    modulos = sorted({e.modulo for e in entregas if (raiz / "solutions" / e.modulo).is_dir()})
    leidos = {m: _ejercicios(raiz, m) for m in modulos}
    titulos = {m: titulo for m, (titulo, _) in leidos.items()}
    ejercicios = {m: lista for m, (_, lista) in leidos.items()}
    for entrega in entregas:
        lista = ejercicios.get(entrega.modulo)
        if not lista:
            continue
        fila = notas.get(entrega.alumno, {})
        for grade_id, ejercicio in lista.items():
            valor = _float(fila.get(grade_id))
            if valor is not None:
                ejercicio.puntos.append(valor)
        carpeta = trabajo / "calificados" / entrega.alumno / entrega.modulo
        for ruta in sorted(carpeta.glob("*.ipynb")) if carpeta.is_dir() else []:
            for grade_id, fallo in _fallos_del_cuaderno(ruta).items():
                if grade_id in lista:
                    lista[grade_id].fallos[fallo] += 1
    return entregas, ejercicios, titulos


_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       margin: 0; }
main { max-width: 64rem; margin: 0 auto; padding: 1.5rem 1rem 4rem; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; }
h2 { border-bottom: 2px solid #d0d7de; padding-bottom: .2rem; margin-top: 2.2rem; }
.datos { color: #57606a; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { border-bottom: 1px solid #d0d7de; padding: .35rem .5rem; text-align: left;
         vertical-align: top; }
td.n { text-align: right; white-space: nowrap; }
.barra { background: #eaeef2; border-radius: 3px; height: .8rem; min-width: 8rem; }
.barra > span { display: block; height: 100%; border-radius: 3px; background: #1a7f37; }
.bajo > span { background: #b42318; }
.medio > span { background: #bf8700; }
img { max-width: 100%; height: auto; }
.modulo { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1.2fr); gap: 1rem;
          align-items: start; }
@media (max-width: 50rem) { .modulo { grid-template-columns: 1fr; } }
.revisar td:last-child { color: #b42318; }
ul.estado { margin: 0; padding-left: 1.1rem; }
.vacio { color: #57606a; font-style: italic; }
"""


def _alumnos(n: int) -> str:
    return "1 alumno" if n == 1 else f"{n} alumnos"


def _barra(fraccion: float) -> str:
    clase = "bajo" if fraccion < 0.4 else "medio" if fraccion < 0.7 else ""
    return f'<div class="barra {clase}"><span style="width: {fraccion * 100:.0f}%"></span></div>'


def html_informe(trabajo: Path, raiz: Path, fecha: datetime | None = None) -> str:
    """El informe de la clase como HTML autónomo."""
    entregas, ejercicios, titulos = datos(trabajo, raiz)
    fecha = fecha or datetime.now()
    alumnos = sorted({e.alumno for e in entregas})
    revisar = [e for e in entregas if e.estado.strip() != CALIFICADO]
    partes = [
        '<!DOCTYPE html>\n<html lang="es">\n<head>\n<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Informe de la clase: calificación</title>",
        f"<style>{_CSS}</style>\n</head>\n<body>\n<main>",
        "<h1>Informe de la clase</h1>",
        f'<p class="datos">{_alumnos(len(alumnos))}, {len(entregas)} entregas · '
        f"generado el {fecha:%d/%m/%Y a las %H:%M} · "
        f"{len(revisar)} {'entrega' if len(revisar) == 1 else 'entregas'} para revisar</p>",
        '<nav><ul><li><a href="#revisar">Entregas que conviene revisar</a></li>',
    ]
    for modulo in ejercicios:
        titulo = titulos[modulo]
        partes.append(f'<li><a href="#{escape(modulo)}">{escape(titulo)}</a></li>')
    partes.append("</ul></nav>")

    for modulo, lista in ejercicios.items():
        del_modulo = [e for e in entregas if e.modulo == modulo]
        puntos = [e.puntos for e in del_modulo]
        maximo = max((e.maximo for e in del_modulo), default=0.0) or sum(
            x.maximo for x in lista.values()
        )
        media = sum(puntos) / len(puntos) if puntos else 0.0
        titulo = titulos[modulo]
        partes.append(
            f'<h2 id="{escape(modulo)}">{escape(titulo)} <small>({escape(modulo)})</small></h2>'
        )
        partes.append(
            f'<p class="datos">{_alumnos(len(puntos))} · media {numero(media)} y mediana '
            f"{numero(_mediana(puntos))} de {numero(maximo)} puntos · "
            f"{sum(p >= maximo > 0 for p in puntos)} con la nota máxima</p>"
        )
        grafico = ""
        if puntos and maximo > 0:
            imagen = _histograma(modulo, puntos, maximo)
            grafico = (
                f'<img src="data:image/png;base64,{imagen}" alt="Histograma de las notas de '
                f'{escape(modulo)}: número de alumnos por puntuación">'
            )
        filas = []
        for ejercicio in lista.values():
            n = len(ejercicio.puntos)
            fraccion = ejercicio.aciertos / n if n else 0.0
            filas.append(
                f"<tr><td>{escape(ejercicio.nombre)}</td>"
                f'<td class="n">{ejercicio.aciertos}/{n}</td><td>{_barra(fraccion)}</td>'
                f'<td class="n">{numero(sum(ejercicio.puntos) / n if n else 0)}'
                f"/{numero(ejercicio.maximo)}</td></tr>"
            )
        partes.append(
            f'<div class="modulo"><div>{grafico}</div><div><table><caption>Aciertos por '
            "ejercicio (nota máxima en la prueba)</caption><thead><tr><th>Ejercicio</th>"
            '<th class="n">Aciertos</th><th></th><th class="n">Media</th></tr></thead><tbody>'
            + "".join(filas)
            + "</tbody></table></div></div>"
        )
        partes.append("<h3>Fallos más frecuentes</h3>")
        fallos = []
        for ejercicio in lista.values():
            for texto, veces in ejercicio.fallos.most_common(MAX_FALLOS):
                fallos.append(
                    f"<tr><td>{escape(ejercicio.nombre)}</td>"
                    f'<td class="n">{_alumnos(veces)}</td><td>{escape(texto)}</td></tr>'
                )
        if fallos:
            partes.append(
                "<table><thead><tr><th>Ejercicio</th><th class='n'>Alumnos</th>"
                "<th>Pista que dio la comprobación (o el error)</th></tr></thead><tbody>"
                + "".join(fallos)
                + "</tbody></table>"
            )
        else:
            partes.append('<p class="vacio">Ningún fallo en las pruebas.</p>')

    partes.append('<h2 id="revisar">Entregas que conviene revisar</h2>')
    if revisar:
        filas = []
        for e in sorted(revisar, key=lambda e: (e.modulo, e.alumno)):
            motivos = "".join(f"<li>{escape(m)}</li>" for m in e.estado.split("; ") if m)
            filas.append(
                f"<tr><td>{escape(e.alumno)}{_enlace(trabajo, e.alumno, e.modulo)}</td>"
                f"<td>{escape(e.modulo)}</td>"
                f'<td class="n">{numero(e.puntos)}/{numero(e.maximo)}</td>'
                f'<td><ul class="estado">{motivos}</ul></td></tr>'
            )
        partes.append(
            '<table class="revisar"><thead><tr><th>Alumno</th><th>Módulo</th>'
            '<th class="n">Puntos</th><th>Motivo</th></tr></thead><tbody>'
            + "".join(filas)
            + "</tbody></table>"
        )
    else:
        partes.append('<p class="vacio">Todas las entregas se calificaron sin incidencias.</p>')
    partes.append("</main>\n</body>\n</html>\n")
    return "\n".join(partes)


def escribir_informe(trabajo: Path, raiz: Path) -> Path | None:
    """Escribe ``<trabajo>/informe.html``; nunca lanza (devuelve ``None`` si no pudo)."""
    try:
        trabajo, raiz = Path(trabajo), Path(raiz)
        ruta = trabajo / NOMBRE_INFORME
        temporal = ruta.with_suffix(".html.tmp")
        temporal.write_text(html_informe(trabajo, raiz), encoding="utf-8")
        temporal.replace(ruta)
        return ruta
    except Exception as error:  # el informe nunca estropea una calificación
        _log.warning("No se pudo escribir el informe de la clase: %s", error)
        return None


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.informe_clase [CARPETA_DE_TRABAJO]`` rehace el informe."""
    from course_utils.raiz import raiz_proyecto

    argumentos = sys.argv[1:] if argv is None else argv
    raiz = raiz_proyecto()
    trabajo = Path(argumentos[0]) if argumentos else raiz / "calificacion"
    if not (trabajo / "resumen.csv").is_file():
        print(f"No hay resumen.csv en {trabajo}: califica primero con «curso calificar».")
        return 1
    ruta = escribir_informe(trabajo, raiz)
    print(f"Informe de la clase: {ruta}" if ruta else "No se pudo escribir el informe.")
    return 0 if ruta else 1


if __name__ == "__main__":
    sys.exit(main())
