"""Configuración de nbgrader del curso.

``solutions/`` es el directorio fuente y ``notebooks/`` el de publicación; las entregas, las
copias calificadas, la retroalimentación y el libro de notas van a ``calificacion/`` (ignorado
por git). ``curso generar`` y ``curso calificar`` cargan este archivo y ajustan la raíz, el
libro de notas y el directorio de trabajo de cada ejecución. Para usar nbgrader directamente
(``nbgrader formgrader``…), un ``nbgrader_config.py`` en la raíz puede cargarlo con
``load_subconfig("autograder/nbgrader_config.py")``.
"""

from pathlib import Path

c = get_config()  # noqa: F821

RAIZ = Path(__file__).resolve().parent.parent
TRABAJO = "calificacion"

# Directorios del curso. El identificador del curso hace falta con PostgreSQL (clave ajena de
# las tareas; SQLite no la comprueba).
c.CourseDirectory.course_id = "curso-pytorch"
c.CourseDirectory.root = str(RAIZ)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = f"{TRABAJO}/entregas"
c.CourseDirectory.autograded_directory = f"{TRABAJO}/calificados"
c.CourseDirectory.feedback_directory = f"{TRABAJO}/retroalimentacion"
c.CourseDirectory.db_url = f"sqlite:///{RAIZ / TRABAJO / 'gradebook.db'}"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", TRABAJO]

# Lo que ve el alumno en lugar de las soluciones.
c.ClearSolutions.code_stub = {
    "python": '# TU CÓDIGO AQUÍ\nraise NotImplementedError("Completa este ejercicio")',
}
c.ClearSolutions.text_stub = "TU RESPUESTA AQUÍ"

# Mensajes de `nbgrader validate` y de la extensión de validación.
c.Validator.type_changed_warning = (
    "¡HA CAMBIADO EL TIPO DE {num_changed} CELDA(S)! Aunque ahora las pruebas pasen, "
    "puede que no pasen cuando se califique la tarea.\n"
)
c.Validator.changed_warning = (
    "¡HA CAMBIADO EL CONTENIDO DE {num_changed} CELDA(S) DE PRUEBA! Aunque ahora las "
    "pruebas pasen, puede que no pasen cuando se califique la tarea.\n"
)
c.Validator.failed_warning = (
    "¡LA VALIDACIÓN HA FALLADO EN {num_failed} CELDA(S)! Si entregas la tarea así, NO "
    "obtendrás la nota máxima.\n"
)
c.Validator.passed_warning = "¡EL CUADERNO SUPERA {num_passed} CELDA(S)!\n"

# Calificación: se restauran las celdas de prueba borradas o dañadas, las copias de una celda
# (copiar y pegar) no cuentan, se desactivan las órdenes de sistema (`!pip`, `%%bash`…), lo que
# las pruebas escriben en stderr no resta puntos y las salidas de todo el cuaderno se recortan
# a `LimitarSalidas.max_mb` sin cambiar la nota.
c.OverwriteCells.add_missing_cells = True
c.OverwriteCells.missing_cell_notification = (
    "Esta celda ({cell_id}) faltaba en la entrega; se ha restaurado al calificar.\n\n"
)
c.Autograde.sanitize_preprocessors = [
    "autograder.preprocesadores.RepararMetadatos",
    "autograder.preprocesadores.QuitarCopias",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "autograder.preprocesadores.RestaurarCeldas",
    "autograder.preprocesadores.NeutralizarOrdenesSistema",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.LimitarSalidas.max_mb = 20
c.Autograde.autograde_preprocessors = [
    "autograder.ejecucion.EjecutarRobusto",
    "autograder.preprocesadores.FiltrarAvisos",
    "nbgrader.preprocessors.LimitOutput",
    "autograder.preprocesadores.LimitarSalidas",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Tiempo máximo por celda (en modo rápido cada celda del curso tarda unos segundos).
c.Execute.timeout = 60
c.Execute.error_on_timeout = {
    "ename": "CellTimeoutError",
    "evalue": "la celda superó el tiempo máximo de ejecución",
    "traceback": ["CellTimeoutError: la celda superó el tiempo máximo de ejecución"],
}

# Retroalimentación sin pruebas ocultas ni salidas del alumno en las pruebas, con el nombre y la
# pista de cada ejercicio (`curso calificar` usa además una plantilla en español, sin recursos
# externos: autograder/plantillas/retroalimentacion).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.preprocesadores.MostrarIncidencias",
    "autograder.retroalimentacion.LimpiarRetroalimentacion",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
