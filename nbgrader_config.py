"""Permite usar ``nbgrader`` directamente desde la raíz: carga la configuración del curso."""

c = get_config()  # noqa: F821
load_subconfig("autograder/nbgrader_config.py")  # noqa: F821
