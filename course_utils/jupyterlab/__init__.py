"""Extensión de Jupyter Server del curso: completa la traducción al español de JupyterLab.

El paquete de idioma ``jupyterlab-language-pack-es-ES`` deja en inglés muchos textos (el menú
«Run», la barra del cuaderno, el menú contextual de las celdas…) y mezcla «Kernel», «núcleo» e
«intérprete». ``es_ES.json`` trae esos textos (formato Jed, como el paquete) y esta extensión,
que ``curso abrir`` activa, los añade por encima del paquete: en las traducciones que recibe el
navegador (``/lab/api/translations/es_ES``) y en las que el servidor aplica a los esquemas de
configuración (títulos de los menús). Con otro idioma no cambia nada.

Esta carpeta es también ``LabApp.app_settings_dir`` (``overrides.json``, ``page_config.json``).
"""

from __future__ import annotations

import gettext
import json
from functools import lru_cache
from pathlib import Path

IDIOMA = "es_ES"
ARCHIVO = Path(__file__).with_name(f"{IDIOMA}.json")
_MARCA = "_curso_pytorch"


@lru_cache(maxsize=1)
def traducciones() -> dict[str, dict]:
    """dominio -> {msgid (con «contexto\\x04» delante si lo tiene): [traducciones]}."""
    return json.loads(ARCHIVO.read_text(encoding="utf-8"))


class _Suplemento(gettext.NullTranslations):
    """Traducciones de ``es_ES.json``; lo que no tiene lo pide al paquete de idioma."""

    def __init__(self, datos: dict):
        super().__init__()
        self._datos = datos

    def _buscar(self, clave: str, n: int | None = None) -> str | None:
        formas = self._datos.get(clave)
        if not formas or not clave:
            return None
        return formas[0] if n is None or n == 1 or len(formas) == 1 else formas[1]

    def gettext(self, message):
        encontrado = self._buscar(message)
        if encontrado is not None:
            return encontrado
        return self._fallback.gettext(message) if self._fallback else message

    def ngettext(self, msgid1, msgid2, n):
        encontrado = self._buscar(msgid1, n)
        if encontrado is not None:
            return encontrado
        if self._fallback:
            return self._fallback.ngettext(msgid1, msgid2, n)
        return msgid1 if n == 1 else msgid2

    def pgettext(self, context, message):
        encontrado = self._buscar(f"{context}\x04{message}")
        if encontrado is not None:
            return encontrado
        return self._fallback.pgettext(context, message) if self._fallback else message

    def npgettext(self, context, msgid1, msgid2, n):
        encontrado = self._buscar(f"{context}\x04{msgid1}", n)
        if encontrado is not None:
            return encontrado
        if self._fallback:
            return self._fallback.npgettext(context, msgid1, msgid2, n)
        return msgid1 if n == 1 else msgid2


def combinar(datos: dict, idioma: str) -> dict:
    """Añade el suplemento a las traducciones que recibe el navegador (``get_language_pack``)."""
    if idioma != IDIOMA:
        return datos
    for dominio, extra in traducciones().items():
        base = dict(datos.get(dominio) or {"": extra.get("", {})})
        base.update({clave: valor for clave, valor in extra.items() if clave})
        datos[dominio] = base
    return datos


def aplicar() -> None:
    """Instala el suplemento en jupyterlab_server (una sola vez por proceso)."""
    from jupyterlab_server import translation_utils, translations_handler

    paquete = translations_handler.get_language_pack
    if getattr(paquete, _MARCA, False):
        return

    def get_language_pack(locale_: str):
        datos, mensaje = paquete(locale_)
        return combinar(datos, locale_), mensaje

    setattr(get_language_pack, _MARCA, True)
    translations_handler.get_language_pack = get_language_pack

    clase = translation_utils.TranslationBundle
    actualizar = clase.update_locale

    def update_locale(self, locale_: str) -> None:
        actualizar(self, locale_)
        extra = traducciones().get(self._domain)
        if locale_ == IDIOMA and extra:
            suplemento = _Suplemento(extra)
            suplemento.add_fallback(self._translator)
            self._translator = suplemento

    clase.update_locale = update_locale
    for bundle in translation_utils.translator._TRANSLATORS.values():
        bundle.update_locale(bundle._locale)


def _jupyter_server_extension_points():
    return [{"module": "course_utils.jupyterlab"}]


def _load_jupyter_server_extension(serverapp) -> None:
    aplicar()
