"""Utilidades del curso de PyTorch: dispositivos, grafos, gradientes, datos, gráficos y pruebas.

Los cuadernos importan el paquete como ``import course_utils as cu``. Los submódulos se cargan
al usar la primera función que necesitan, así que ``import course_utils`` es inmediato.

>>> import course_utils as cu
>>> cu.modo_rapido() in (True, False)
True
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Nombre público -> submódulo que lo define.
_API = {
    # entorno
    "modo_rapido": "entorno",
    "fijar_semilla": "entorno",
    "en_colab": "entorno",
    # dispositivos y tiempos
    "dispositivos_disponibles": "dispositivos",
    "elegir_dispositivo": "dispositivos",
    "describir_dispositivo": "dispositivos",
    "dtype_flotante": "dispositivos",
    "sincronizar": "dispositivos",
    "medir_matmul": "dispositivos",
    "graficar_tiempos": "dispositivos",
    "DispositivoNoDisponible": "dispositivos",
    # grafos de cómputo
    "graphviz_disponible": "grafos",
    "dibujar_grafo": "grafos",
    "dibujar_grafo_variables": "grafos",
    # gradientes de referencia
    "gradiente_numerico": "gradientes",
    "gradiente_autograd": "gradientes",
    "comparar_gradientes": "gradientes",
    # datos
    "datos_regresion": "datos",
    "cargar_mnist": "datos",
    "leer_idx": "datos",
    "ErrorDatos": "datos",
    # gráficos
    "graficar_perdidas": "graficos",
    "graficar_funcion_y_derivada": "graficos",
    "graficar_regresion": "graficos",
    "mostrar_digitos": "graficos",
    "miles": "graficos",
    "porcentaje": "graficos",
    "widgets_disponibles": "graficos",
    "graficar_descenso_tasas": "graficos",
    "descenso_interactivo": "graficos",
    "graficar_trayectorias": "graficos",
    "trayectorias_interactivas": "graficos",
    # comprobaciones de los ejercicios
    "comprobar_tensor": "comprobaciones",
    "comprobar_escalar": "comprobaciones",
    "comprobar_funcion": "comprobaciones",
    "comprobar_gradientes": "comprobaciones",
    "ErrorComprobacion": "comprobaciones",
    "ejecutar_alumno": "comprobaciones",
    # reglas de los ejercicios y variantes personales
    "ErrorRegla": "reglas",
    "reglas_del_ejercicio": "reglas",
    "fijar_alumno": "variantes",
    "identificador_alumno": "variantes",
    "valores_grafo": "variantes",
    "tabla_personal": "variantes",
    "matriz_personal": "variantes",
    "sistema_personal": "variantes",
}

__all__ = sorted(_API)


def __getattr__(nombre: str):
    submodulo = _API.get(nombre)
    if submodulo is None:
        raise AttributeError(f"El módulo 'course_utils' no tiene el atributo {nombre!r}")
    valor = getattr(importlib.import_module(f"{__name__}.{submodulo}"), nombre)
    globals()[nombre] = valor
    return valor


def __dir__():
    return sorted(set(globals()) | set(_API))
