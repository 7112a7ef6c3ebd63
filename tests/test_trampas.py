"""Entregas tramposas calificadas de principio a fin con ``curso calificar``.

Cada alumno de este lote hace una trampa distinta (o un despiste honrado) sobre los cuadernos
reales. La nota de cada ejercicio debe ser la justa: 0 en el ejercicio afectado, la nota
completa en los demás, y las manipulaciones y las copias señaladas en el estado para el
profesor. La solución saca la nota máxima y el cuaderno en blanco, cero.
"""

from __future__ import annotations

import copy
import csv
import re
from pathlib import Path

import nbformat
import pytest
from test_autograder import hay_aislamiento

from autograder.calificacion import Opciones, calificar

pytestmark = pytest.mark.lento

RAIZ = Path(__file__).resolve().parents[1]
M02, M03, M05 = "02_autograd", "03_descenso_gradiente", "05_sistemas_lineales"


def _cuaderno(carpeta: str, modulo: str):
    return nbformat.read(RAIZ / carpeta / modulo / f"{modulo}.ipynb", as_version=4)


def _respuestas(modulo: str, cambios: dict[str, str] | None = None, antes: dict | None = None):
    """Versión del alumno con las respuestas de la solución, salvo las de ``cambios``
    (grade_id → código); ``antes`` (grade_id → código) añade una celda delante de esa celda."""
    alumno, solucion = _cuaderno("notebooks", modulo), _cuaderno("solutions", modulo)
    fuentes = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in solucion.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    celdas = []
    for celda in alumno.cells:
        identificador = celda.metadata.get("nbgrader", {}).get("grade_id")
        if identificador in (antes or {}):
            celdas.append(nbformat.v4.new_code_cell(antes[identificador]))
        if identificador in fuentes:
            celda = copy.deepcopy(celda)
            fuente = (cambios or {}).get(identificador, fuentes[identificador])
            celda.source = "\n".join(
                linea
                for linea in fuente.splitlines()
                if "### BEGIN SOLUTION" not in linea and "### END SOLUTION" not in linea
            )
        celdas.append(celda)
    alumno.cells = celdas
    return alumno


_SOLVE_GUARDADO = """
_resolver = torch.linalg.solve  # guardada antes de que empiece la prueba


def resolver_sistema(B, c, tol=1e-6):
    return _resolver(B, c)
"""
_FIJA = """
def resolver_sistema(B, c, tol=1e-6):
    # La respuesta del ejemplo visible, copiada a mano.
    return torch.tensor([2.0, -1.0, 1.0], dtype=torch.float64)
"""
_NUMPY = """
import numpy as np


def resolver_por_descenso(B, c, tol=1e-8, max_iter=100_000):
    v = torch.from_numpy(np.linalg.lstsq(B.numpy(), c.numpy(), rcond=None)[0])
    return v, [torch.linalg.vector_norm(B.T @ c).item(), 0.0]
"""
_MANIPULA = """
cu.comprobar_tensor = lambda *a, **k: None
cu.ejecutar_alumno = lambda f, *a, **k: torch.zeros(a[0].shape[0], dtype=torch.float64)


def resolver_sistema(B, c, tol=1e-6):
    return torch.zeros(B.shape[1], dtype=torch.float64)
"""
_DURANTE = """
def resolver_sistema(B, c, tol=1e-6):
    import course_utils.comprobaciones as comprobaciones

    comprobaciones.ErrorComprobacion.__init__ = lambda self, *a: None
    return torch.zeros(B.shape[1], dtype=torch.float64)
"""
_TRANSFORMADOR = (
    "get_ipython().input_transformers_post.append(\n"
    "    lambda lineas: ['pass\\n'] if any('comprobar' in x for x in lineas) else lineas\n"
    ")"
)
_ESPIA = """
import linecache


def resolver_por_descenso(B, c, tol=1e-8, max_iter=100_000):
    fuentes = [str(In), str(_ih)] + ["".join(e[2]) for e in list(linecache.cache.values())]
    print("ESPÍA", "".join(fuentes).encode().hex()[:3000])
    print("ENTRADAS", B.tolist(), c.tolist())
    s = torch.linalg.svdvals(B)
    eta = 1 / s[0].item() ** 2
    v = torch.zeros(B.shape[1], dtype=B.dtype)
    normas = [torch.linalg.vector_norm(B.T @ (B @ v - c)).item()]
    for _ in range(max_iter):
        if normas[-1] <= tol:
            break
        v = v - eta * (B.T @ (B @ v - c))
        normas.append(torch.linalg.vector_norm(B.T @ (B @ v - c)).item())
    return v, normas
"""
_A_MANO_CON_AYUDA = """
def derivadas_a_mano(a, b, c, d):
    entradas = [torch.tensor(float(v), dtype=torch.float64) for v in (a, b, c, d)]
    return cu.gradiente_autograd(lambda *t: grafo_clasico(*t)["loss"], *entradas)
"""
_AUTOGRAD_CON_NUMPY = """
def regresion_autograd(x, y, eta=0.1, epocas=1000):
    return regresion_numpy(x, y, eta, epocas)
"""
_COPIA = """
def resolver_sistema(B, c, tol=1e-6):
    v = torch.zeros(B.shape[1], dtype=torch.float64, requires_grad=True)
    paso = 1 / torch.linalg.matrix_norm(B, ord=2).item() ** 2
    for _ in range(200_000):
        r = torch.linalg.vector_norm(B @ v - c)
        if r.item() <= tol:
            break
        (0.5 * r**2).backward()
        with torch.no_grad():
            v -= paso * v.grad
            v.grad.zero_()
    return v.detach()
"""

# La misma respuesta que _COPIA con otros nombres de variables y otros comentarios.
_COPIA_RENOMBRADA = """
def resolver_sistema(B, c, tol=1e-6):
    x = torch.zeros(B.shape[1], dtype=torch.float64, requires_grad=True)
    eta = 1 / torch.linalg.matrix_norm(B, ord=2).item() ** 2  # tasa
    for i in range(200_000):
        residuo = torch.linalg.vector_norm(B @ x - c)
        if residuo.item() <= tol:
            break
        (0.5 * residuo**2).backward()
        with torch.no_grad():
            x -= eta * x.grad
            x.grad.zero_()
    return x.detach()
"""
_GAUSS = """
def resolver_sistema(B, c, tol=1e-6):
    # Eliminación gaussiana con pivote, a mano: ninguna función prohibida, ningún gradiente.
    n = B.shape[0]
    M = torch.cat([B.clone(), c.reshape(-1, 1)], dim=1)
    for k in range(n):
        p = int(torch.argmax(M[k:, k].abs())) + k
        M[[k, p]] = M[[p, k]]
        for i in range(k + 1, n):
            M[i] = M[i] - M[i, k] / M[k, k] * M[k]
    v = torch.zeros(n, dtype=torch.float64)
    for i in reversed(range(n)):
        v[i] = (M[i, n] - M[i, i + 1 : n] @ v[i + 1 :]) / M[i, i]
    return v
"""


def _con_identificador(nb, identificador: str):
    for celda in nb.cells:
        if "configuracion" in celda.metadata.get("tags", []):
            celda.source = re.sub(
                r'IDENTIFICADOR = ".*"', f'IDENTIFICADOR = "{identificador}"', celda.source
            )
    return nb


# alumno -> (módulo, cuaderno, {grade_id de prueba: puntos esperados o None = máximo}, estado)
def _lote():
    m05_max = {"m05_resolver_sistema_prueba": None, "m05_resolver_por_descenso_prueba": None}
    return {
        "solucion": (M05, _cuaderno("solutions", M05), m05_max, "calificado"),
        "en_blanco": (
            M05,
            _cuaderno("notebooks", M05),
            dict.fromkeys(m05_max, 0),
            "calificado",
        ),
        "solve_guardado": (
            M05,
            _respuestas(M05, {"m05_resolver_sistema": _SOLVE_GUARDADO}),
            {**m05_max, "m05_resolver_sistema_prueba": 0},
            "calificado",
        ),
        "respuesta_fija": (
            M05,
            _respuestas(M05, {"m05_resolver_sistema": _FIJA}),
            {**m05_max, "m05_resolver_sistema_prueba": 0},
            "calificado",
        ),
        "numpy": (
            M05,
            _respuestas(M05, {"m05_resolver_por_descenso": _NUMPY}),
            {**m05_max, "m05_resolver_por_descenso_prueba": 0},
            "calificado",
        ),
        "manipula": (
            M05,
            _respuestas(M05, {"m05_resolver_sistema": _MANIPULA}),
            {**m05_max, "m05_resolver_sistema_prueba": 0},
            "posible manipulación",
        ),
        "manipula_durante": (
            M05,
            _respuestas(M05, {"m05_resolver_sistema": _DURANTE}),
            {**m05_max, "m05_resolver_sistema_prueba": 0},
            "posible manipulación",
        ),
        "transformador": (
            M05,
            _respuestas(
                M05,
                {"m05_resolver_sistema": _FIJA.replace("dtype=torch.float64)", ").double()")},
                antes={"m05_resolver_sistema_prueba": _TRANSFORMADOR},
            ),
            {**m05_max, "m05_resolver_sistema_prueba": 0},
            "posible manipulación",
        ),
        "espia": (
            M05,
            _respuestas(M05, {"m05_resolver_por_descenso": _ESPIA}),
            m05_max,
            "calificado",
        ),
        "copia_origen": (
            M05,
            _con_identificador(_respuestas(M05, {"m05_resolver_sistema": _COPIA}), "copia_origen"),
            m05_max,
            "respuestas idénticas a las de copia_destino",
        ),
        "copia_destino": (
            M05,
            _con_identificador(_respuestas(M05, {"m05_resolver_sistema": _COPIA}), "copia_origen"),
            m05_max,
            "el identificador escrito en el cuaderno (copia_origen) no es el de esta entrega",
        ),
        "copia_renombrada": (
            M05,
            _respuestas(M05, {"m05_resolver_sistema": _COPIA_RENOMBRADA}),
            m05_max,
            "respuestas idénticas salvo los nombres de las variables a las de copia_destino, "
            "copia_origen",
        ),
        "gauss": (
            M05,
            _respuestas(M05, {"m05_resolver_sistema": _GAUSS}),
            {**m05_max, "m05_resolver_sistema_prueba": 0},
            "calificado",
        ),
        "a_mano_con_ayuda": (
            M02,
            _respuestas(M02, {"m02_a_mano": _A_MANO_CON_AYUDA}),
            {"m02_a_mano_prueba": 0, "m02_autograd_prueba": None, "m02_grafo_prueba": None},
            "calificado",
        ),
        "regresion_sin_autograd": (
            M03,
            _respuestas(M03, {"m03_regresion_autograd": _AUTOGRAD_CON_NUMPY}),
            {"m03_regresion_autograd_prueba": 0, "m03_regresion_numpy_prueba": None},
            "calificado",
        ),
    }


@pytest.fixture(scope="module")
def calificado(tmp_path_factory):
    base = tmp_path_factory.mktemp("trampas")
    lote = _lote()
    for alumno, (modulo, nb, _, _) in lote.items():
        ruta = base / "entregas" / alumno / modulo / f"{modulo}.ipynb"
        ruta.parent.mkdir(parents=True)
        nbformat.write(nb, ruta)
    trabajo = base / "calificacion"
    opciones = Opciones(
        trabajo=trabajo, aislar=hay_aislamiento(), progreso=False, secreto="secreto de prueba"
    )
    informe = calificar(base / "entregas", RAIZ, opciones)
    with (trabajo / "notas.csv").open(encoding="utf-8") as archivo:
        notas = {fila["alumno"]: fila for fila in csv.DictReader(archivo)}
    maximos = {}
    for modulo in (M02, M03, M05):
        for celda in _cuaderno("solutions", modulo).cells:
            meta = celda.metadata.get("nbgrader", {})
            if meta.get("grade"):
                maximos[meta["grade_id"]] = float(meta["points"])
    return lote, informe, notas, maximos, trabajo


def test_cada_trampa_recibe_la_nota_justa(calificado):
    lote, informe, notas, maximos, _ = calificado
    filas = {f.alumno: f for f in informe.filas}
    for alumno, (_, _, esperadas, estado) in lote.items():
        for grade_id, puntos in esperadas.items():
            obtenido = float(notas[alumno][grade_id])
            justo = maximos[grade_id] if puntos is None else puntos
            assert obtenido == justo, (alumno, grade_id, obtenido, filas[alumno].estado)
        assert estado in filas[alumno].estado, (alumno, filas[alumno].estado)


def test_solucion_completa_y_sin_avisos(calificado):
    _, informe, _, _, _ = calificado
    fila = next(f for f in informe.filas if f.alumno == "solucion")
    assert fila.puntos == fila.maximo > 0 and fila.estado == "calificado"


def test_la_retroalimentacion_no_filtra_las_pruebas_ocultas(calificado):
    _, _, _, _, trabajo = calificado
    pagina = trabajo / "retroalimentacion" / "espia" / M05 / f"{M05}.html"
    texto = pagina.read_text(encoding="utf-8")
    plano = re.sub(r"<[^>]+>", "", texto).replace("&quot;", '"').replace("&#39;", "'")
    # Lo que imprimió la función del alumno durante las pruebas no aparece (en claro ni en hex).
    assert "ENTRADAS [[" not in plano and b"BEGIN HIDDEN".hex() not in plano
    assert "HIDDEN" not in plano and "_sistema(12, 3, 4" not in plano
    regla = trabajo / "retroalimentacion" / "solve_guardado" / M05 / f"{M05}.html"
    assert "Regla del ejercicio incumplida" in regla.read_text(encoding="utf-8")
    gauss = trabajo / "retroalimentacion" / "gauss" / M05 / f"{M05}.html"
    assert "no usa el gradiente de la" in gauss.read_text(encoding="utf-8")
