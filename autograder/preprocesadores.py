"""Preprocesadores de nbgrader del curso.

Al sanear la entrega (antes de ejecutarla):

- :class:`RepararMetadatos`: quita los metadatos de nbgrader dañados (la celda pasa a ser
  normal; si era una prueba, :class:`RestaurarCeldas` la repone).
- :class:`QuitarCopias`: si una celda se copió y pegó (Jupyter copia sus metadatos de
  nbgrader, así que su ``grade_id`` aparece varias veces), se califica la original y las
  copias pasan a ser celdas normales (sin esto, ``DeduplicateIds`` dejaría el cuaderno a 0).
- :class:`RestaurarCeldas`: como ``OverwriteCells``, pero también impone los indicadores de
  cada celda (prueba, respuesta, bloqueada, puntos) según el libro de notas, olvida los
  ``grade_id`` desconocidos y repone las celdas de prueba que falten en un lugar robusto.
- :class:`NeutralizarOrdenesSistema`: comenta ``!pip install …``, ``%pip``, ``%%bash``…

Tras ejecutar: :class:`FiltrarAvisos` pasa a stdout todo lo que las celdas de prueba
escribieron en stderr (avisos, barras de progreso, ``print(..., file=sys.stderr)``), para que
no reste puntos; los errores de verdad son salidas de error y siguen restando.
:class:`LimitarSalidas` recorta las salidas si entre todas pasan del máximo del cuaderno
(``max_mb``), sin cambiar la nota.

En la retroalimentación: :class:`MostrarIncidencias` pone al principio, para el alumno, las
incidencias de la calificación.

La limpieza de la retroalimentación (sin pruebas ocultas) está en
:mod:`autograder.retroalimentacion`.

Las incidencias (celdas restauradas, órdenes desactivadas…) se anotan en los metadatos del
cuaderno (:data:`CLAVE_METADATOS`) y las lee ``autograder.calificacion``.
"""

from __future__ import annotations

import json
import re

from nbformat.notebooknode import NotebookNode, from_dict
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor, OverwriteCells
from traitlets import Dict, Float, Integer, Unicode

CLAVE_METADATOS = "calificacion_curso"
INICIO_OCULTAS = "BEGIN HIDDEN TESTS"
FIN_OCULTAS = "END HIDDEN TESTS"


def anotar(nb: NotebookNode, tipo: str, mensaje: str, celda: int | None = None) -> None:
    """Añade una incidencia a los metadatos del cuaderno.

    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook()
    >>> anotar(nb, "aviso", "algo pasó", celda=3)
    >>> incidencias(nb)
    [{'tipo': 'aviso', 'mensaje': 'algo pasó', 'celda': 3}]
    """
    registro = nb.metadata.setdefault(CLAVE_METADATOS, {}).setdefault("incidencias", [])
    incidencia = {"tipo": tipo, "mensaje": mensaje}
    if celda is not None:
        incidencia["celda"] = celda
    registro.append(from_dict(incidencia))


def incidencias(nb: NotebookNode) -> list[dict]:
    """Incidencias anotadas en un cuaderno (lista vacía si no hay)."""
    return [dict(i) for i in nb.metadata.get(CLAVE_METADATOS, {}).get("incidencias", [])]


def _plural(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


class RepararMetadatos(NbGraderPreprocessor):
    """Quita los metadatos de nbgrader que no superan la validación del esquema."""

    def preprocess(self, nb, resources):
        validador = MetadataValidator()
        dañadas = []
        for posicion, cell in enumerate(nb.cells, start=1):
            if "nbgrader" not in cell.metadata:
                continue
            try:
                validador.upgrade_cell_metadata(cell)
                validador.validate_cell(cell)
            except Exception:
                del cell.metadata["nbgrader"]
                dañadas.append(posicion)
        if dañadas:
            lista = ", ".join(map(str, dañadas))
            anotar(
                nb,
                "metadatos",
                f"metadatos de nbgrader dañados en {_plural(len(dañadas), 'celda', 'celdas')} "
                f"({lista}): se ignoran",
            )
        return nb, resources


def _visible(fuente: str) -> str:
    """Lo que ve el alumno de una celda del original: sin el bloque de pruebas ocultas."""
    celda = from_dict({"cell_type": "code", "source": fuente, "metadata": {}})
    try:
        ClearHiddenTests()._remove_hidden_test_region(celda)
    except RuntimeError:
        return fuente
    return celda.source


def _identificar(nb, celda, nombre: str) -> None:
    """Da a una celda repuesta el ``id`` que exige nbformat 4.5 (estable y único)."""
    if (nb.nbformat, nb.get("nbformat_minor", 0)) >= (4, 5):
        usados = {c.get("id") for c in nb.cells}
        identificador, n = f"restaurada-{nombre}"[:60], 2
        while identificador in usados:
            identificador, n = f"restaurada-{nombre}"[:56] + f"-{n}", n + 1
        celda["id"] = identificador


class QuitarCopias(NbGraderPreprocessor):
    """Deja los metadatos de nbgrader solo en la celda original de cada ``grade_id`` repetido.

    La original es, en las celdas bloqueadas (pruebas, enunciados), la primera cuyo contenido
    coincide con el del original; si ninguna coincide, o en las respuestas, la primera. Las
    copias pasan a ser celdas normales y se anota la incidencia.
    """

    def _originales(self, resources) -> dict:
        """grade_id -> (tipo de celda, fuentes válidas) de las celdas bloqueadas del original."""
        try:
            datos = resources["nbgrader"]
            with Gradebook(datos["db_url"]) as gb:
                fuente = gb.find_notebook(datos["notebook"], datos["assignment"])
                pruebas = {c.name for c in fuente.grade_cells} - {
                    c.name for c in fuente.solution_cells
                }
                return {
                    c.name: (c.cell_type, {c.source.rstrip(), _visible(c.source).rstrip()})
                    for c in fuente.source_cells
                    if c.locked or c.name in pruebas
                }
        except Exception:
            return {}

    def preprocess(self, nb, resources):
        posiciones: dict[str, list[int]] = {}
        for i, cell in enumerate(nb.cells):
            meta = cell.metadata.get("nbgrader")
            if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
                posiciones.setdefault(meta["grade_id"], []).append(i)
        repetidos = {g: lista for g, lista in posiciones.items() if len(lista) > 1}
        if not repetidos:
            return nb, resources
        originales = self._originales(resources)
        for grade_id, lista in repetidos.items():
            original = lista[0]
            if grade_id in originales:
                tipo, fuentes = originales[grade_id]
                iguales = [
                    i
                    for i in lista
                    if nb.cells[i].cell_type == tipo and nb.cells[i].source.rstrip() in fuentes
                ]
                original = iguales[0] if iguales else original
            copias = [i for i in lista if i != original]
            for i in copias:
                del nb.cells[i].metadata["nbgrader"]
            anotar(
                nb,
                "celda_duplicada",
                f"la celda {grade_id} aparece {len(lista)} veces (¿copiada y pegada?): se "
                f"califica la de la posición {original + 1} y "
                + (
                    f"la copia de la posición {copias[0] + 1} cuenta como una celda normal"
                    if len(copias) == 1
                    else f"las copias de las posiciones {', '.join(str(i + 1) for i in copias)} "
                    "cuentan como celdas normales"
                ),
                original + 1,
            )
        return nb, resources


class RestaurarCeldas(OverwriteCells):
    """``OverwriteCells`` que no se deja engañar por metadatos cambiados ni celdas borradas."""

    orden = Dict(
        help="Cuaderno -> grade_id de sus celdas en el orden del original (para reponer las "
        "que falten en su sitio); sin él se usa el orden del libro de notas."
    ).tag(config=True)

    def preprocess(self, nb, resources):
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.db_url = resources["nbgrader"]["db_url"]
        with Gradebook(self.db_url) as gb:
            fuente = gb.find_notebook(self.notebook_id, self.assignment_id)
            self._puntos = {c.name: c.max_score for c in fuente.grade_cells}
            self._respuestas = {c.name for c in fuente.solution_cells}
            self._tareas = {c.name: c.max_score for c in fuente.task_cells}
            self._fuentes = {
                c.name: (c.locked, {c.source.rstrip(), _visible(c.source).rstrip()}, c.cell_type)
                for c in fuente.source_cells
            }
        self._modificadas = []
        self._repuestas = []
        self._desconocidas = 0
        nb, resources = super().preprocess(nb, resources)
        if self._modificadas:
            anotar(
                nb,
                "prueba_modificada",
                "celdas de prueba modificadas (se califica con las originales): "
                + ", ".join(self._modificadas),
            )
        if self._repuestas:
            anotar(
                nb,
                "prueba_restaurada",
                "celdas de prueba que faltaban (se han restaurado): " + ", ".join(self._repuestas),
            )
        if self._desconocidas:
            anotar(
                nb,
                "celda_desconocida",
                f"{_plural(self._desconocidas, 'celda', 'celdas')} con un grade_id que no existe "
                "en la tarea: se tratan como celdas normales",
            )
        return nb, resources

    def preprocess_cell(self, cell, resources, cell_index):
        meta = cell.metadata.get("nbgrader")
        if meta is None or "grade_id" not in meta:
            return cell, resources
        nombre = meta["grade_id"]
        if nombre not in self._fuentes:
            del cell.metadata["nbgrader"]
            self._desconocidas += 1
            return cell, resources
        # Los indicadores vienen del libro de notas, no de la entrega.
        bloqueada, originales, tipo = self._fuentes[nombre]
        meta["grade"] = nombre in self._puntos
        meta["solution"] = nombre in self._respuestas
        meta["task"] = nombre in self._tareas
        meta["locked"] = bloqueada
        if nombre in self._puntos:
            meta["points"] = self._puntos[nombre]
        elif nombre in self._tareas:
            meta["points"] = self._tareas[nombre]
        else:
            meta.pop("points", None)
        if (
            nombre in self._puntos
            and nombre not in self._respuestas
            and (cell.cell_type != tipo or cell.source.rstrip() not in originales)
        ):
            self._modificadas.append(nombre)
        return super().preprocess_cell(cell, resources, cell_index)

    @staticmethod
    def _posiciones(nb) -> dict[str, int]:
        return {
            c.metadata["nbgrader"]["grade_id"]: i
            for i, c in enumerate(nb.cells)
            if "grade_id" in c.metadata.get("nbgrader", {})
        }

    def add_missing_grade_cells(self, nb, resources):
        """Repone cada celda de prueba que falta tras la celda anterior que sí está."""
        fuente = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        fuentes = {c.name: c for c in fuente.source_cells}
        orden = [n for n in self.orden.get(self.notebook_id, []) if n in fuentes]
        orden += [n for n in fuentes if n not in orden]
        respuestas = {c.name for c in fuente.solution_cells}
        pruebas = sorted(fuente.grade_cells, key=lambda c: orden.index(c.name))
        for prueba in pruebas:
            posiciones = self._posiciones(nb)
            if prueba.name in posiciones:
                continue
            self.log.warning("Falta la celda de prueba %s: se restaura", prueba.name)
            celda = self.missing_cell_transform(
                fuentes[prueba.name], prueba.max_score, is_solution=prueba.name in respuestas
            )
            _identificar(nb, celda, prueba.name)
            anteriores = [
                posiciones[n] for n in orden[: orden.index(prueba.name)] if n in posiciones
            ]
            nb.cells.insert(max(anteriores) + 1 if anteriores else 0, celda)
            self._repuestas.append(prueba.name)
        return nb, resources

    def add_missing_task_cells(self, nb, resources):
        """Repone al final las celdas de tarea que falten (como nbgrader)."""
        fuente = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        fuentes = {c.name: c for c in fuente.source_cells}
        posiciones = self._posiciones(nb)
        for tarea in fuente.task_cells:
            if tarea.name not in posiciones:
                celda = self.missing_cell_transform(
                    fuentes[tarea.name], tarea.max_score, is_task=True
                )
                _identificar(nb, celda, tarea.name)
                nb.cells.append(celda)
                self._repuestas.append(tarea.name)
        return nb, resources


# Líneas que ejecutan órdenes del sistema (no tienen sentido al calificar: `!pip install`
# tardaría o fallaría sin red) y magias de celda que lanzan otro intérprete.
_ORDEN_LINEA = re.compile(r"^\s*(!|%(pip|conda|mamba|micromamba|sx|system|sh)\b)")
_MAGIA_CELDA = re.compile(
    r"^\s*%%(bash|sh|script|system|perl|ruby|python|python2|python3|pypy|sx)\b"
)


class NeutralizarOrdenesSistema(NbGraderPreprocessor):
    """Comenta las órdenes de sistema (``!pip``, ``%pip``, ``%%bash``…) de las celdas del alumno."""

    prefijo = Unicode("# [desactivado al calificar] ").tag(config=True)

    def preprocess(self, nb, resources):
        cambiadas = 0
        for cell in nb.cells:
            if cell.cell_type != "code" or utils.is_locked(cell):
                continue
            lineas = cell.source.split("\n")
            primera = next((linea for linea in lineas if linea.strip()), "")
            if _MAGIA_CELDA.match(primera):
                nuevas = [self.prefijo + linea for linea in lineas]
            else:
                nuevas = [
                    self.prefijo + linea if _ORDEN_LINEA.match(linea) else linea for linea in lineas
                ]
            if nuevas != lineas:
                cell.source = "\n".join(nuevas)
                cambiadas += 1
        if cambiadas:
            anotar(
                nb,
                "ordenes_sistema",
                "se desactivaron las órdenes de sistema (!pip, %pip, %%bash…) de "
                + _plural(cambiadas, "celda", "celdas"),
            )
        return nb, resources


# Avisos de Python ("archivo:línea: UserWarning: texto") con su línea de código sangrada, y
# barras de progreso de tqdm ("100%|█████| 10/10 [00:01<00:00, 9.8it/s]").
_AVISO = re.compile(r"^.*:\d+: [A-Za-z_][\w.]*Warning: ")
_BARRA = re.compile(r"^.*\d+%\|.*\|.*\[.*(it/s|s/it|\?it/s|B/s)\]\s*$")


def separar_avisos(texto: str) -> tuple[str, str]:
    """Divide un texto de stderr en (avisos y barras de progreso, resto).

    >>> avisos, resto = separar_avisos("a.py:3: UserWarning: ojo\\n  x = f()\\nTraceback\\n")
    >>> avisos
    'a.py:3: UserWarning: ojo\\n  x = f()\\n'
    >>> resto
    'Traceback\\n'
    """
    avisos, resto = [], []
    en_aviso = False
    for linea in texto.splitlines(keepends=True):
        if _AVISO.match(linea) or _BARRA.match(linea.replace("\r", "")):
            avisos.append(linea)
            en_aviso = True
        elif en_aviso and linea.startswith("  "):
            avisos.append(linea)
        else:
            en_aviso = False
            resto.append(linea)
    return "".join(avisos), "".join(resto)


class FiltrarAvisos(NbGraderPreprocessor):
    """En las celdas de prueba, todo lo escrito en stderr pasa a stdout.

    nbgrader da 0 puntos a una celda de prueba con cualquier texto en stderr, y el código del
    alumno puede escribir ahí sin fallar (avisos de PyTorch o NumPy, barras de progreso,
    ``print(..., file=sys.stderr)``). Los fallos de verdad son salidas de error y siguen
    restando.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or not utils.is_grade(cell):
            return cell, resources
        for salida in cell.outputs:
            if salida.output_type == "stream" and salida.get("name") == "stderr":
                salida.name = "stdout"
        return cell, resources


def _tamano(salida) -> int:
    return len(json.dumps(salida))


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f}".replace(".", ",")


class LimitarSalidas(NbGraderPreprocessor):
    """Recorta las salidas del cuaderno si entre todas pasan de ``max_mb``.

    Se recortan primero las más grandes: del texto se conserva el principio, de las imágenes y
    el HTML solo el texto y de los errores el tipo, el principio del mensaje y de la traza. Los
    errores siguen siendo errores y ninguna salida cambia de tipo ni de orden, así que la nota
    no cambia. Si aun así no basta (miles de salidas pequeñas), en cada celda quedan solo los
    errores y la salida que decide la nota de una celda de prueba. Se anota la incidencia.
    """

    max_mb = Float(20, help="MB como máximo de todas las salidas del cuaderno (0: sin límite)").tag(
        config=True
    )
    conservar = Integer(2000, help="Caracteres que se conservan de cada salida recortada").tag(
        config=True
    )

    def _nota(self, tamano: int) -> str:
        return f"\n… (salida recortada: ocupaba {_mb(tamano)} MB) …\n"

    def _texto(self, texto, tamano: int) -> str:
        if not isinstance(texto, str):
            texto = "".join(texto) if isinstance(texto, list) else str(texto)
        if len(texto) <= self.conservar:
            return texto
        return texto[: self.conservar] + self._nota(tamano)

    def _reducir(self, salida, tamano: int):
        tipo = salida.get("output_type")
        if tipo == "stream":
            salida.text = self._texto(salida.get("text", ""), tamano)
        elif tipo == "error":
            salida.evalue = self._texto(salida.get("evalue", ""), tamano)
            traza = [self._texto(linea, tamano) for linea in salida.get("traceback", [])]
            if len(traza) > 10:
                traza = [*traza[:5], "… (traza recortada) …", *traza[-5:]]
            salida.traceback = traza
        elif tipo in ("execute_result", "display_data"):
            datos = salida.get("data", {})
            texto = datos.get("text/plain")
            if texto is None:
                texto = f"… (salida recortada: ocupaba {_mb(tamano)} MB) …"
            salida.data = {"text/plain": self._texto(texto, tamano)}
            salida.metadata = {}
        else:
            return from_dict(
                {"output_type": "stream", "name": "stdout", "text": self._nota(tamano)}
            )
        return salida

    @staticmethod
    def _decisiva(cell) -> int | None:
        """Posición de la salida que decide la nota de una celda de prueba (como nbgrader)."""
        for i, salida in enumerate(cell.outputs):
            tipo = salida.get("output_type")
            if tipo in ("error", "execute_result") or (
                tipo == "stream" and salida.get("name") == "stderr"
            ):
                return i
        return None

    def preprocess(self, nb, resources):
        limite = int(self.max_mb * 2**20)
        if limite <= 0:
            return nb, resources
        codigo = [c for c in nb.cells if c.cell_type == "code"]
        tamanos = [
            (_tamano(s), ci, si) for ci, c in enumerate(codigo) for si, s in enumerate(c.outputs)
        ]
        inicial = total = sum(t for t, _, _ in tamanos)
        if total <= limite:
            return nb, resources
        for tamano, ci, si in sorted(tamanos, reverse=True):
            if total <= limite:
                break
            nueva = self._reducir(codigo[ci].outputs[si], tamano)
            codigo[ci].outputs[si] = nueva
            total += _tamano(nueva) - tamano
        if total > limite:
            for cell in codigo:
                decisiva = self._decisiva(cell) if utils.is_grade(cell) else None
                quedan = [
                    s
                    for i, s in enumerate(cell.outputs)
                    if i == decisiva or s.get("output_type") == "error"
                ]
                if len(quedan) < len(cell.outputs):
                    omitidas = len(cell.outputs) - len(quedan)
                    nota = f"… ({_plural(omitidas, 'salida omitida', 'salidas omitidas')}) …\n"
                    quedan.insert(
                        0, from_dict({"output_type": "stream", "name": "stdout", "text": nota})
                    )
                    cell.outputs = quedan
        anotar(
            nb,
            "salida",
            f"salida recortada: las salidas del cuaderno ocupaban {_mb(inicial)} MB y el máximo "
            f"es {_mb(limite)} MB",
        )
        return nb, resources


def _escapar_markdown(texto: str) -> str:
    return re.sub(r"([\\`*_\[\]<>#|$])", r"\\\1", texto)


class MostrarIncidencias(NbGraderPreprocessor):
    """Retroalimentación: pone al principio una celda Markdown con las incidencias de la
    calificación (celdas copiadas, salida recortada, tiempo agotado…) y las deja en
    ``resources["incidencias"]``. Debe ir antes de la limpieza, que borra los metadatos."""

    def preprocess(self, nb, resources):
        mensajes = list(dict.fromkeys(i["mensaje"] for i in incidencias(nb)))
        resources["incidencias"] = mensajes
        if mensajes:
            texto = "**Incidencias al calificar tu entrega**\n\n" + "\n".join(
                f"- {_escapar_markdown(m)}" for m in mensajes
            )
            celda = from_dict({"cell_type": "markdown", "metadata": {}, "source": texto})
            if (nb.nbformat, nb.get("nbformat_minor", 0)) >= (4, 5):
                usados = {c.get("id") for c in nb.cells}
                celda["id"] = next(
                    f"incidencias-{n}"
                    for n in range(len(usados) + 1)
                    if f"incidencias-{n}" not in usados
                )
            nb.cells.insert(0, celda)
        return nb, resources
