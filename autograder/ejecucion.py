"""Ejecución robusta de las entregas: un fallo en una celda no arruina el resto del cuaderno.

:class:`EjecutarRobusto` es el preprocesador ``Execute`` de la calificación. Usa el núcleo
aislado y con límites de :mod:`autograder.aislamiento` y, además:

- si una celda agota su tiempo (``Execute.timeout``), se interrumpe y se sigue con la
  siguiente; si el núcleo ni siquiera responde después, se da por perdido;
- el cuaderno entero tiene un tiempo máximo (``tiempo_total``), también dentro de una celda
  larga: el tiempo de cada celda se recorta a lo que le queda al cuaderno;
- si el núcleo muere (``os._exit``, una señal, memoria o CPU agotadas), las celdas ya
  ejecutadas conservan su resultado y las siguientes quedan marcadas como no ejecutadas (sus
  pruebas valen 0), en lugar de perder el cuaderno entero como haría nbgrader;
- anota cada incidencia (tiempo agotado, memoria agotada, núcleo muerto) en los metadatos del
  cuaderno con el número de celda (ver :func:`autograder.preprocesadores.incidencias`);
- si el núcleo tiene la vigilancia de integridad (``GestorNucleoAislado.vigilar``), pide una
  verificación antes y después de cada celda de prueba (:mod:`course_utils.integridad`): lo que
  haya cambiado se restaura, esa prueba vale 0 y se anota como «posible manipulación»;
- con ``demostraciones`` (el código de las celdas de demostración publicadas, por cuaderno),
  salta las celdas de la entrega que :func:`autograder.demostraciones.celdas_a_saltar` da por
  prescindibles: no cuentan para la nota y así el cuaderno cuesta menos.
"""

from __future__ import annotations

import json
import re
import secrets
from queue import Empty
from time import monotonic

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat.notebooknode import from_dict
from nbgrader import utils
from traitlets import Dict, Integer

from autograder.aislamiento import EjecutarAislado, motivo_fallo
from autograder.demostraciones import celdas_a_saltar
from autograder.preprocesadores import anotar

NOMBRE_NO_EJECUTADA = "CeldaNoEjecutada"
NOMBRE_MANIPULACION = "ManipulacionDetectada"
CLAVE_INTEGRIDAD = "__curso_integridad__"  # course_utils.integridad.CLAVE
NOMBRE_TIEMPO = "CellTimeoutError"
_MEMORIA = re.compile(
    r"can't allocate memory|Cannot allocate memory|Unable to allocate|out of memory|bad_alloc",
    re.I,
)
_NOMBRES_MEMORIA = {"MemoryError", "_ArrayMemoryError", "OutOfMemoryError"}


def error_de_memoria(ename: str, evalue: str) -> bool:
    """Indica si un error de celda se debe a que se agotó la memoria.

    >>> error_de_memoria("RuntimeError", "DefaultCPUAllocator: can't allocate memory: ...")
    True
    >>> error_de_memoria("ValueError", "forma incorrecta")
    False
    """
    return ename in _NOMBRES_MEMORIA or bool(_MEMORIA.search(evalue or ""))


def _salida_error(nombre: str, mensaje: str):
    return from_dict(
        {
            "output_type": "error",
            "ename": nombre,
            "evalue": mensaje,
            "traceback": [f"{nombre}: {mensaje}"],
        }
    )


class EjecutarRobusto(EjecutarAislado):
    """``Execute`` de la calificación: núcleo aislado con límites y fallos acotados a su celda."""

    espera_respuesta = Integer(
        10, help="Segundos que se espera al núcleo tras interrumpir una celda por tiempo."
    ).tag(config=True)
    espera_verificacion = Integer(
        30, help="Segundos que se espera la respuesta de la verificación de integridad."
    ).tag(config=True)
    tiempo_total = Integer(
        0,
        help="Segundos como máximo para todo el cuaderno (0: sin límite); al pasarlos, "
        "las celdas que faltan no se ejecutan.",
    ).tag(config=True)
    demostraciones = Dict(
        help="Cuaderno -> código de sus celdas de demostración publicadas (se saltan si nada "
        "de lo que se ejecuta depende de ellas); vacío: se ejecuta todo.",
    ).tag(config=True)
    publicadas = Dict(
        help="Cuaderno -> código de todas sus celdas de código publicadas (las demás son del "
        "alumno).",
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        cuaderno = ((resources or {}).get("nbgrader") or {}).get("notebook")
        demostraciones = self.demostraciones.get(cuaderno)
        self._saltar = (
            celdas_a_saltar(nb, set(demostraciones), set(self.publicadas.get(cuaderno, [])))
            if demostraciones
            else set()
        )
        self._motivo = None
        self._agotado = False
        self._por_cuaderno = False
        self._siguiente = 0
        self._inicio = monotonic()
        try:
            nb, resources = super().preprocess(nb, resources, km)
        except Exception as error:
            # El núcleo no arrancó o falló algo fuera de una celda: nada de lo que quede sin
            # ejecutar puede contar como correcto (una celda de prueba sin salida vale el máximo).
            if self._motivo is None:
                motivo = motivo_fallo(error) or f"{type(error).__name__}: {error}"
                self._motivo = (
                    f"el núcleo no pudo arrancar ({motivo})"
                    if self._siguiente == 0
                    else f"la ejecución se interrumpió ({motivo})"
                )
                anotar(nb, "nucleo", self._motivo)
            for cell in nb.cells[self._siguiente :]:
                self._marcar_no_ejecutada(cell)
        for posicion, cell in enumerate(nb.cells, start=1):
            if cell.cell_type != "code":
                continue
            if any(
                s.output_type == "error" and error_de_memoria(s.ename, s.evalue)
                for s in cell.outputs
            ):
                anotar(nb, "memoria", f"memoria agotada en la celda {posicion}", posicion)
        return nb, resources

    def _marcar_no_ejecutada(self, cell):
        if cell.cell_type == "code" and cell.source.strip():
            cell.outputs = [_salida_error(NOMBRE_NO_EJECUTADA, f"no se ejecutó: {self._motivo}")]

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        respuesta = kwargs.get("execute_reply") or {}
        if respuesta.get("content", {}).get("ename") == self.error_on_timeout.get("ename"):
            self._agotado = True

    def _get_timeout(self, cell):
        """Tiempo de la celda, recortado a lo que le queda al cuaderno (``tiempo_total``)."""
        limite = super()._get_timeout(cell)
        self._por_cuaderno = False
        if cell is None or not self.tiempo_total or not hasattr(self, "_inicio"):
            return limite
        resto = max(1, int(self.tiempo_total - (monotonic() - self._inicio)) + 1)
        if limite is None or resto < limite:
            self._por_cuaderno = True
            return resto
        return limite

    def preprocess_cell(self, cell, resources, index):
        # Con vigilancia (course_utils.integridad), cada celda de prueba se verifica antes y
        # después: si algo cambió el estado de confianza, la prueba vale 0 y se anota.
        vigilada = utils.is_grade(cell) and getattr(self.km, "vigilar", False)
        hallazgos = self._integridad("antes") if vigilada and self._motivo is None else []
        cell, resources = self._ejecutar_celda(cell, resources, index)
        if vigilada and self._motivo is None:
            hallazgos += self._integridad("despues")
        if hallazgos:
            self._manipulacion(cell, index + 1, list(dict.fromkeys(hallazgos)))
        return cell, resources

    def _integridad(self, fase: str) -> list[str]:
        """Pide al núcleo una verificación de integridad; devuelve lo que encontró cambiado."""
        numero = secrets.token_hex(8)
        mensaje = self._respuesta(
            lambda: self.kc.execute(
                "",
                silent=True,
                store_history=False,
                user_expressions={CLAVE_INTEGRIDAD: f"{fase}:{numero}"},
            ),
            self.espera_verificacion,
        )
        if mensaje is None:
            return ["la verificación de integridad no respondió"]
        dato = mensaje["content"].get("user_expressions", {}).get(CLAVE_INTEGRIDAD)
        try:
            respuesta = json.loads(dato["data"]["text/plain"])
            if respuesta["numero"] != numero:
                raise ValueError(respuesta["numero"])
            return [str(h) for h in respuesta["hallazgos"]]
        except (KeyError, TypeError, ValueError):
            return ["la verificación de integridad no dio una respuesta válida"]

    def _manipulacion(self, cell, posicion: int, hallazgos: list[str]) -> None:
        """La prueba vale 0 (una salida de error) y se anota para el informe del profesor."""
        detalle = "; ".join(hallazgos[:5]) + ("…" if len(hallazgos) > 5 else "")
        cell.outputs.append(
            _salida_error(
                NOMBRE_MANIPULACION,
                f"posible manipulación de las comprobaciones ({detalle}): esta prueba vale 0",
            )
        )
        ejercicio = cell.metadata.get("nbgrader", {}).get("grade_id", f"celda {posicion}")
        anotar(
            self.nb,
            "manipulacion",
            f"posible manipulación en {ejercicio} (celda {posicion}): {detalle}",
            posicion,
        )

    def _ejecutar_celda(self, cell, resources, index):
        posicion = index + 1
        self._siguiente = posicion
        if (
            self._motivo is None
            and self.tiempo_total
            and cell.cell_type == "code"
            and monotonic() - self._inicio > self.tiempo_total
        ):
            self._abandonar(f"se agotó el tiempo total del cuaderno ({self.tiempo_total} s)")
        if self._motivo is not None:
            self._marcar_no_ejecutada(cell)
            return cell, resources
        if index in self._saltar:
            cell.outputs, cell.execution_count = [], None
            return cell, resources
        if utils.is_grade(cell):
            # Una etiqueta «skip-execution» no puede librar a una prueba de ejecutarse.
            etiquetas = cell.metadata.get("tags", [])
            if self.skip_cells_with_tag in etiquetas:
                cell.metadata["tags"] = [e for e in etiquetas if e != self.skip_cells_with_tag]
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError as error:
            self._nucleo_muerto(cell, posicion, error)
            return cell, resources
        except CellTimeoutError:
            # nbclient se rinde si, tras interrumpir, el núcleo no termina la celda.
            self._tiempo_agotado(cell, posicion)
            self._abandonar(f"el núcleo no respondió tras agotar el tiempo en la celda {posicion}")
            return cell, resources
        except Exception as error:
            cell.outputs.append(_salida_error(type(error).__name__, str(error)))
            self._abandonar(f"error al ejecutar la celda {posicion}: {error}")
            return cell, resources
        if self._agotado:
            self._agotado = False
            self._tiempo_agotado(cell, posicion, ya_anotada=True)
            if self._por_cuaderno:
                self._abandonar(f"se agotó el tiempo total del cuaderno ({self.tiempo_total} s)")
            elif not self._responde():
                self._abandonar(
                    f"el núcleo no respondió tras agotar el tiempo en la celda {posicion}"
                )
        return cell, resources

    def _tiempo_agotado(self, cell, posicion: int, ya_anotada: bool = False):
        if not ya_anotada:
            cell.outputs.append(
                _salida_error(NOMBRE_TIEMPO, self.error_on_timeout.get("evalue", ""))
            )
        anotar(self.nb, "tiempo", f"tiempo agotado en la celda {posicion}", posicion)

    def _nucleo_muerto(self, cell, posicion: int, error: Exception):
        motivo = None
        if hasattr(self.km, "motivo"):
            motivo = self.km.motivo()
        motivo = motivo or motivo_fallo(error)
        texto = (motivo or "").lower()
        if "límite de memoria" in texto:
            tipo, mensaje = "memoria", f"memoria agotada en la celda {posicion}"
        elif "tiempo de cpu" in texto and "sigkill" not in texto:
            tipo, mensaje = "cpu", f"tiempo de CPU agotado en la celda {posicion}"
        else:
            tipo, mensaje = "nucleo", f"el núcleo murió en la celda {posicion}"
        if motivo:
            mensaje += f" ({motivo})"
        cell.outputs.append(_salida_error("DeadKernelError", mensaje))
        anotar(self.nb, tipo, mensaje, posicion)
        self._motivo = mensaje

    def _responde(self) -> bool:
        """Comprueba que el núcleo contesta a ``kernel_info`` tras una interrupción."""
        return self._respuesta(self.kc.kernel_info, self.espera_respuesta) is not None

    def _respuesta(self, pedir, espera: float):
        """Envía la petición ``pedir()`` (devuelve su msg_id) y espera su respuesta en el canal
        shell ``espera`` segundos como mucho; None si no llega."""

        async def esperar():
            identificador = pedir()
            limite = monotonic() + espera
            while (resto := limite - monotonic()) > 0:
                try:
                    mensaje = await ensure_async(self.kc.shell_channel.get_msg(timeout=resto))
                except Empty:
                    return None
                if mensaje["parent_header"].get("msg_id") == identificador:
                    return mensaje
            return None

        try:
            return run_sync(esperar)()
        except Exception:
            return None

    def _abandonar(self, motivo: str):
        """Detiene el núcleo; las celdas siguientes no se ejecutan."""
        self._motivo = motivo
        anotar(self.nb, "nucleo", motivo)

        async def detener():
            await ensure_async(self.km.shutdown_kernel(now=True))

        try:
            run_sync(detener)()
        except Exception as error:
            self.log.warning("No se pudo detener el núcleo: %s", error)
