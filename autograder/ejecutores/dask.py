"""Ejecutor de Dask: califica las entregas en un clúster de Dask distributed.

``curso calificar CARPETA --cluster tcp://HOST:8786`` envía cada entrega a un planificador de
Dask ya en marcha. Cada tarea lleva consigo todo lo que necesita (los cuadernos y archivos de
la entrega, y una vez por módulo, la versión publicada con las
pruebas ocultas en su libro de notas plantilla y la configuración de nbgrader del curso); el
trabajador califica en una carpeta temporal suya y devuelve el resultado completo (notas,
copia calificada, retroalimentación, registro). Los trabajadores no necesitan los archivos
del instructor ni acceso al libro de notas: solo el curso instalado y bubblewrap.

Si un trabajador muere mientras califica, Dask repite su tarea en otro; si la misma entrega
hace caer dos trabajadores, vuelve como fallida para ese alumno (el planificador se ajusta a
``allowed_failures = 1`` y ``worker-saturation = 1.0`` mientras dura la calificación y luego
se restaura; cada trabajador debe tener un solo hilo, ``--nthreads 1``, para que la muerte de
un trabajador solo cuente para la entrega que de verdad calificaba).

Requiere el extra ``cluster``: ``pip install 'curso-pytorch[cluster]'``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
import secrets
import shutil
import tempfile
import zlib
from pathlib import Path

from autograder.ejecutores import Ejecutor

MAX_ARCHIVO_MB = 50
INSTALAR = "pip install 'curso-pytorch[cluster]'"


def _error(mensaje: str):
    from autograder.calificacion import ErrorCalificacion

    return ErrorCalificacion(mensaje)


def _leer(ruta: Path) -> bytes | None:
    from autograder.configuracion import leer_sin_enlaces

    try:
        return leer_sin_enlaces(ruta, MAX_ARCHIVO_MB * 2**20)
    except OSError:
        return None


def paquete_de_modulo(ctx, modulo: str) -> dict[str, bytes]:
    """Lo que un trabajador necesita de un módulo (igual para todas sus entregas): el libro
    de notas plantilla (con las pruebas ocultas), los archivos del módulo que no son
    cuadernos y la configuración de nbgrader del curso."""
    from autograder.configuracion import ARCHIVO_CONFIG, archivos

    plantilla = Path(ctx.plantilla)
    paquete = {"gradebook.db": (plantilla / "gradebook.db").read_bytes()}
    carpeta = plantilla / "solutions" / modulo
    for relativa in archivos(carpeta):
        if relativa.suffix != ".ipynb":
            datos = _leer(carpeta / relativa)
            if datos is not None:
                paquete[f"solutions/{modulo}/{relativa.as_posix()}"] = datos
    config = Path(ctx.raiz) / "autograder" / ARCHIVO_CONFIG
    if config.is_file():
        paquete[f"autograder/{ARCHIVO_CONFIG}"] = config.read_bytes()
    return paquete


def paquete_de_tarea(tarea) -> dict:
    """Los cuadernos y demás archivos de una entrega, en bytes (sin seguir enlaces)."""
    from autograder.configuracion import archivos

    cuadernos = {c: _leer(Path(ruta)) for c, ruta in tarea.cuadernos.items()}
    extras = {}
    if tarea.extras:
        for relativa in archivos(Path(tarea.extras)):
            if relativa.suffix != ".ipynb" and relativa.name != "timestamp.txt":
                datos = _leer(Path(tarea.extras) / relativa)
                if datos is not None:
                    extras[relativa.as_posix()] = datos
    return {"cuadernos": cuadernos, "extras": extras}


def _escribir(base: Path, relativa: str, datos: bytes) -> None:
    partes = Path(relativa).parts
    if not partes or Path(relativa).is_absolute() or ".." in partes:
        return
    ruta = base.joinpath(*partes)
    ruta.parent.mkdir(parents=True, exist_ok=True)
    ruta.write_bytes(datos)


def calificar_en_trabajador(funcion, tarea, ctx, manual, paquete: dict, modulo: bytes):
    """Se ejecuta en un trabajador de Dask: reconstruye la entrega y la plantilla en una
    carpeta temporal, califica con ``funcion`` y devuelve el resultado (con sus archivos)."""
    temporal = Path(tempfile.mkdtemp(prefix="curso-dask-"))
    modulo = pickle.loads(zlib.decompress(modulo))  # lo empaquetó el cliente del instructor
    try:
        # La configuración va en una carpeta estable (por contenido) para reutilizar su caché.
        config = modulo.get("autograder/nbgrader_config.py", b"")
        raiz = Path(tempfile.gettempdir()) / (
            "curso-dask-raiz-" + hashlib.sha256(config).hexdigest()[:16]
        )
        if config and not (raiz / "autograder" / "nbgrader_config.py").is_file():
            _escribir(raiz, "autograder/nbgrader_config.py", config)
        for relativa, datos in modulo.items():
            if not relativa.startswith("autograder/"):
                _escribir(temporal / "plantilla", relativa, datos)
        cuadernos = {}
        for cuaderno, datos in paquete["cuadernos"].items():
            ruta = temporal / "entrega" / f"{cuaderno}.ipynb"
            if datos is not None:
                _escribir(temporal / "entrega", f"{cuaderno}.ipynb", datos)
            cuadernos[cuaderno] = str(ruta)  # si no se pudo leer, el error lo dirá
        extras = None
        if paquete["extras"]:
            extras = temporal / "extras"
            for relativa, datos in paquete["extras"].items():
                _escribir(extras, relativa, datos)
        tarea = dataclasses.replace(
            tarea, cuadernos=cuadernos, extras=str(extras) if extras else None
        )
        ctx = dataclasses.replace(
            ctx,
            raiz=str(raiz),
            plantilla=str(temporal / "plantilla"),
            trabajo=str(temporal / "trabajo"),
            temporal=str(temporal),
        )
        return funcion(tarea, ctx, manual)
    finally:
        shutil.rmtree(temporal, ignore_errors=True)


class EjecutorDask(Ejecutor):
    """Reparte las entregas entre los trabajadores de un planificador de Dask."""

    def __init__(self, direccion: str, tiempo_conexion: float = 30):
        try:
            from distributed import Client
        except ImportError:
            raise _error(
                "Para calificar en un clúster hace falta Dask distributed, que no está "
                f"instalado. Instálalo con: {INSTALAR}"
            ) from None
        self.direccion = direccion
        try:
            self.cliente = Client(direccion, timeout=tiempo_conexion, set_as_default=False)
        except Exception as error:
            raise _error(
                f"No se puede conectar con el planificador de Dask {direccion} ({error}). "
                "Comprueba la dirección (tcp://HOST:8786) y que el planificador esté en marcha."
            ) from None
        trabajadores = self.cliente.scheduler_info().get("workers", {})
        self.cuantos = max(1, sum(w.get("nthreads", 1) for w in trabajadores.values()))
        self.futuros: dict = {}

        def ajustar(dask_scheduler, valores=None):  # se envía por valor al planificador
            anteriores = (dask_scheduler.allowed_failures, dask_scheduler.WORKER_SATURATION)
            if valores is not None:
                dask_scheduler.allowed_failures, dask_scheduler.WORKER_SATURATION = valores
            return anteriores

        self._ajustar = ajustar
        self._antes = None
        # Cada entrega, como mucho dos intentos (dos trabajadores caídos); y ninguna tarea
        # esperando en un trabajador tras la que se ejecuta: si este muere, solo cuenta para
        # la que de verdad estaba calificándose (con --nthreads 1 en cada trabajador).
        try:
            self._antes = self.cliente.run_on_scheduler(ajustar, valores=(1, 1.0))
        except Exception:
            pass

    def hilos(self) -> int:
        """Tareas que el clúster puede calificar a la vez ahora (al menos 1)."""
        try:
            return max(1, sum(self.cliente.nthreads().values()))
        except Exception:
            return max(1, self.cuantos)

    def calificar(self, funcion, tareas, ctx, manuales):
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        from autograder.calificacion import Resultado, resultado_fallido

        cola = list(enumerate(tareas))
        cola.reverse()
        lote = secrets.token_hex(4)
        # Lo común de cada módulo va comprimido dentro de cada tarea (nada que se pierda si
        # muere un trabajador) y solo hay en vuelo tantas tareas como hilos tiene el clúster:
        # así cada trabajador tiene una sola asignada y, si muere, solo cuenta para esa.
        modulos = {
            m: zlib.compress(pickle.dumps(paquete_de_modulo(ctx, m)), 6)
            for m in sorted({t.modulo for _, t in cola})
        }
        futuros: dict = {}
        completados = as_completed(loop=self.cliente.loop)

        def enviar() -> None:
            while cola and len(futuros) < self.hilos():
                i, tarea = cola.pop()
                futuro = self.cliente.submit(
                    calificar_en_trabajador,
                    funcion,
                    tarea,
                    ctx,
                    manuales.get((tarea.alumno, tarea.modulo)),
                    paquete_de_tarea(tarea),
                    modulos[tarea.modulo],
                    key=f"calificar-{lote}-{i}-{tarea.modulo}",
                    pure=False,
                )
                futuros[futuro] = tarea
                completados.add(futuro)

        self.futuros = futuros
        enviar()
        for futuro in completados:
            tarea = futuros.pop(futuro)
            try:
                resultado = futuro.result()
            except KilledWorker:
                resultado = resultado_fallido(
                    tarea,
                    ctx,
                    "la calificación hizo caer dos trabajadores del clúster; no se repite más",
                )
            except Exception as error:
                resultado = resultado_fallido(
                    tarea, ctx, f"error interno del calificador en el clúster ({error})"
                )
            if not isinstance(resultado, Resultado):
                resultado = resultado_fallido(tarea, ctx, "error interno del calificador")
            futuro.release()
            enviar()
            yield tarea, resultado

    def detener(self) -> None:
        """Tras Ctrl+C: cancela en el clúster todo lo pendiente."""
        try:
            self.cliente.cancel(list(self.futuros), force=True)
        except Exception:
            pass

    def cerrar(self) -> None:
        try:
            if self._antes is not None:
                self.cliente.run_on_scheduler(self._ajustar, valores=tuple(self._antes))
        except Exception:
            pass
        try:
            self.cliente.close()
        except Exception:
            pass
