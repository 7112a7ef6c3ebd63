"""Calificación automática del curso con nbgrader: configuración, generación y calificación."""
