"""Capturas del README: la retroalimentación de un alumno y el informe de la clase.

Califica con ``curso calificar`` (la función :func:`autograder.calificacion.calificar`) una clase
inventada del módulo 2: entregas hechas a partir de la versión del alumno con las soluciones
de ``solutions/`` y algunos errores típicos (el gradiente de z en lugar del de la pérdida, un
bucle infinito, un ejercicio sin hacer, una copia…). Después Chromium sin ventana fotografía las
dos páginas y las deja en ``docs/capturas/``.

    .venv/bin/python scripts/capturas.py            # necesita Chromium (apt-get install chromium)
    .venv/bin/python scripts/capturas.py --destino /tmp/capturas
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

RAIZ = Path(__file__).resolve().parents[1]
MODULO = "02_autograd"

Z_EN_LUGAR_DE_LA_PERDIDA = """def derivadas_a_mano(a, b, c, d):
    m = 3 * a + 4 * b - 2 * c + 10 * d
    n = 7 * a + b + c + 4 * d
    dp_dm = 1.0 if m > 0 else 0.0
    dq_dn = 1.0 if n > 0 else 0.0
    return tuple(dp_dm * x - dq_dn * y for x, y in zip((3, 4, -2, 10), (7, 1, 1, 4)))
"""
PASO_HACIA_DELANTE = """def derivadas_numericas(a, b, c, d, h=1e-6):
    def perdida(valores):
        entradas = [torch.tensor(v, dtype=torch.float64) for v in valores]
        return grafo_clasico(*entradas)["loss"].item()

    punto = [a, b, c, d]
    base = perdida(punto)
    return tuple(
        (perdida([v + h if j == i else v for j, v in enumerate(punto)]) - base) / h
        for i in range(4)
    )
"""
BUCLE_INFINITO = """def diferencias_centrales(f, *tensores, h=1e-6):
    gradientes = []
    i = 0
    while i < len(tensores):
        gradientes.append(torch.zeros_like(tensores[i]))
    return tuple(gradientes)
"""


def soluciones(modulo: str) -> dict[str, str]:
    """grade_id -> código de cada respuesta en el cuaderno del instructor (sin las marcas)."""
    nb = nbformat.read(RAIZ / "solutions" / modulo / f"{modulo}.ipynb", as_version=4)
    return {
        c.metadata["nbgrader"]["grade_id"]: re.sub(
            r"[ \t]*### (BEGIN|END) SOLUTION\n?", "", c.source
        )
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }


def entrega(modulo: str, respuestas: dict[str, str]):
    """La versión del alumno con estas respuestas (grade_id -> código)."""
    nb = nbformat.read(RAIZ / "notebooks" / modulo / f"{modulo}.ipynb", as_version=4)
    for celda in nb.cells:
        grade_id = celda.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in respuestas:
            celda.source = respuestas[grade_id]
    return nb


def clase(carpeta: Path) -> None:
    """Escribe las entregas de la clase inventada en ``carpeta``."""
    bien = soluciones(MODULO)
    alumnos = {
        "ana_garcia": bien,
        "bruno_diaz": {**bien, "m02_a_mano": Z_EN_LUGAR_DE_LA_PERDIDA},
        "carmen_lopez": {**bien, "m02_a_mano": Z_EN_LUGAR_DE_LA_PERDIDA.replace("dp_dm", "dp")},
        "david_martin": {
            **bien,
            "m02_a_mano": Z_EN_LUGAR_DE_LA_PERDIDA,
            "m02_numericas": PASO_HACIA_DELANTE,
        },
        "elena_ruiz": {**bien, "m02_diferencias": BUCLE_INFINITO},
        "fernando_gil": {k: v for k, v in bien.items() if k in ("m02_grafo", "m02_autograd")},
        "gloria_sanz": bien,  # idéntica a la de ana_garcia
    }
    carpeta.mkdir(parents=True)
    for alumno, respuestas in alumnos.items():
        nbformat.write(entrega(MODULO, respuestas), carpeta / f"{alumno}_{MODULO}.ipynb")


def fotografiar(chromium: str, pagina: Path, destino: Path, ancho: int, alto: int) -> None:
    with tempfile.TemporaryDirectory(prefix="capturas-perfil-") as perfil:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                f"--user-data-dir={perfil}",
                f"--window-size={ancho},{alto}",
                f"--screenshot={destino}",
                pagina.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    print(f"Captura: {destino} ({destino.stat().st_size // 1024} KB)")


def main(argv: list[str] | None = None) -> int:
    from autograder.aislamiento import ErrorAislamiento, comprobar_aislamiento
    from autograder.calificacion import Opciones, calificar

    analizador = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    analizador.add_argument("--destino", type=Path, default=RAIZ / "docs" / "capturas")
    args = analizador.parse_args(argv)
    chromium = next(
        (
            shutil.which(n)
            for n in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(n)
        ),
        None,
    )
    if chromium is None:
        print("Falta Chromium (Debian: sudo apt-get install chromium).", file=sys.stderr)
        return 1
    try:
        comprobar_aislamiento()
        aislar = True
    except ErrorAislamiento:
        aislar = False
    with tempfile.TemporaryDirectory(prefix="capturas-") as temporal:
        temporal = Path(temporal)
        clase(temporal / "entregas")
        trabajo = temporal / "calificacion"
        opciones = Opciones(trabajo=trabajo, modulo=MODULO, aislar=aislar, tiempo_celda=20)
        informe = calificar(temporal / "entregas", RAIZ, opciones)
        print(informe.tabla())
        args.destino.mkdir(parents=True, exist_ok=True)
        retro = trabajo / "retroalimentacion" / "bruno_diaz" / MODULO / f"{MODULO}.html"
        fotografiar(chromium, retro, args.destino / "retroalimentacion.png", 960, 1100)
        fotografiar(chromium, trabajo / "informe.html", args.destino / "informe.png", 1100, 1500)
    return 0


if __name__ == "__main__":
    sys.exit(main())
