"""Los cuadernos se ejecutan de principio a fin en modo rápido y se califican como se espera.

- solutions/: sin ningún error y con la nota máxima en cada celda de prueba calificada.
- notebooks/ (alumno): solo errores NotImplementedError (ejercicios sin hacer) y 0 puntos en
  cada celda de prueba, sin que la ejecución se interrumpa.

Al terminar se imprimen los segundos de cada cuaderno y el total de las soluciones (objetivo:
180 s en 2 núcleos; se informa, no se exige).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nbgrader.utils import determine_grade, is_grade

from course_utils.ejecucion import ejecutar_cuaderno

pytestmark = pytest.mark.lento

RAIZ = Path(__file__).resolve().parent.parent
SOLUCIONES = sorted((RAIZ / "solutions").glob("*/*.ipynb"))
ALUMNO = sorted((RAIZ / "notebooks").glob("*/*.ipynb"))
OBJETIVO_SOLUCIONES_S = 180
TIEMPO_CELDA_S = 300


def _nombre(ruta: Path) -> str:
    return ruta.relative_to(RAIZ).as_posix()


@pytest.fixture(scope="module")
def tiempos(request):
    """Recoge los segundos de cada cuaderno y los imprime al final del módulo."""
    registro: dict[str, float] = {}
    yield registro
    if not registro:
        return
    lineas = ["", "Tiempo de ejecución de los cuadernos (modo rápido):"]
    ancho = max(len(nombre) for nombre in registro)
    lineas += [f"  {nombre:<{ancho}}  {s:6.1f} s" for nombre, s in sorted(registro.items())]
    soluciones = [s for nombre, s in registro.items() if nombre.startswith("solutions/")]
    if soluciones:
        lineas.append(
            f"  Total de solutions/ ({len(soluciones)} cuadernos): {sum(soluciones):.1f} s "
            f"(objetivo: ≤ {OBJETIVO_SOLUCIONES_S} s en 2 núcleos)"
        )
    reportero = request.config.pluginmanager.get_plugin("terminalreporter")
    captura = request.config.pluginmanager.get_plugin("capturemanager")
    if reportero is None:
        print("\n".join(lineas))
        return
    with captura.global_and_fixture_disabled():
        reportero.ensure_newline()
        for linea in lineas:
            reportero.write_line(linea)


def _notas(cuaderno) -> list[tuple[str, float, float]]:
    """(grade_id, puntos, máximo) de cada celda de prueba calificada, como nbgrader."""
    notas = []
    for celda in cuaderno.cells:
        if celda.cell_type == "code" and is_grade(celda):
            puntos, maximo = determine_grade(celda)
            notas.append((celda.metadata["nbgrader"]["grade_id"], puntos, maximo))
    return notas


def _salidas(cuaderno, grade_id: str) -> str:
    celda = next(
        c for c in cuaderno.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )
    partes = []
    for salida in celda.outputs:
        if salida.output_type == "stream":
            partes.append(f"[{salida.name}] {salida.text.strip()}")
        elif salida.output_type == "error":
            partes.append(f"[error] {salida.ename}: {salida.evalue}")
    return "\n    ".join(partes)[:1500]


@pytest.mark.parametrize("ruta", SOLUCIONES, ids=_nombre)
def test_solucion_sin_errores_y_con_nota_maxima(ruta, tiempos):
    resultado = ejecutar_cuaderno(ruta, rapido=True, tiempo_celda=TIEMPO_CELDA_S)
    tiempos[_nombre(ruta)] = resultado.segundos
    assert resultado.correcto, f"{_nombre(ruta)} falla en {resultado.primer_error}"
    notas = _notas(resultado.cuaderno)
    assert notas, f"{_nombre(ruta)} no tiene celdas de prueba calificadas"
    incompletas = [(g, p, m) for g, p, m in notas if p != m]
    assert not incompletas, f"{_nombre(ruta)}: celdas de prueba sin la nota máxima:\n" + "\n".join(
        f"  {g}: {p} de {m}\n    {_salidas(resultado.cuaderno, g)}" for g, p, m in incompletas
    )


@pytest.mark.parametrize("ruta", ALUMNO, ids=_nombre)
def test_alumno_solo_falla_en_los_ejercicios_y_saca_cero(ruta, tiempos):
    resultado = ejecutar_cuaderno(ruta, alumno=True, rapido=True, tiempo_celda=TIEMPO_CELDA_S)
    tiempos[_nombre(ruta)] = resultado.segundos
    assert resultado.correcto, (
        f"{_nombre(ruta)}: error que no es NotImplementedError en {resultado.primer_error}"
    )
    notas = _notas(resultado.cuaderno)
    assert notas, f"{_nombre(ruta)} no tiene celdas de prueba calificadas"
    con_puntos = [(g, p) for g, p, _ in notas if p != 0]
    assert not con_puntos, (
        f"{_nombre(ruta)}: celdas de prueba que dan puntos sin resolver el ejercicio: {con_puntos}"
    )
    assert resultado.sin_responder >= len(notas), (
        f"{_nombre(ruta)}: se esperaba al menos un NotImplementedError por celda de prueba"
    )
