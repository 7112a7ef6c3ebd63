"""Configuración de nbgrader del curso.

``solutions/`` es el directorio fuente y ``notebooks/`` el de publicación; las entregas, las
copias calificadas, la retroalimentación y el libro de notas van a ``calificacion/`` (ignorado
por git).
"""

from pathlib import Path

c = get_config()  # noqa: F821

RAIZ = Path(__file__).resolve().parent.parent
TRABAJO = "calificacion"

c.CourseDirectory.root = str(RAIZ)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = f"{TRABAJO}/entregas"
c.CourseDirectory.autograded_directory = f"{TRABAJO}/calificados"
c.CourseDirectory.feedback_directory = f"{TRABAJO}/retroalimentacion"
c.CourseDirectory.db_url = f"sqlite:///{RAIZ / TRABAJO / 'gradebook.db'}"

c.ClearSolutions.code_stub = {
    "python": '# TU CÓDIGO AQUÍ\nraise NotImplementedError("Completa este ejercicio")',
}
c.ClearSolutions.text_stub = "TU RESPUESTA AQUÍ"
