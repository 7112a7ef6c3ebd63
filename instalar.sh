#!/usr/bin/env bash
# Instala el curso de PyTorch en un entorno virtual (.venv) y lo abre, o ejecuta las pruebas.
#
#   bash instalar.sh [OPCIONES DE «curso abrir»]   instala y abre el curso en JupyterLab
#   bash instalar.sh --pruebas [OPCIONES DE PYTEST]  instala y ejecuta las pruebas
#
# Variables de entorno:
#   CURSO_TORCH   requisito de PyTorch para pip (por defecto torch==2.13.0); puede llevar
#                 opciones de pip, p. ej. "torch==2.13.0 --index-url URL_DE_LAS_RUEDAS".
#   CURSO_PYTHON  intérprete con el que se crea .venv (por defecto python3, 3.10 o posterior).
#
# Es idempotente: la segunda vez solo comprueba que todo sigue instalado.
set -euo pipefail

RAIZ="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$RAIZ"

TORCH_POR_DEFECTO="torch==2.13.0"
# Paquetes de Debian/Ubuntu: los del curso y los que necesitan las pruebas.
PAQUETES_CURSO="graphviz"
PAQUETES_PRUEBAS="graphviz hunspell hunspell-es bubblewrap chromium postgresql"

paso() { printf '==> %s\n' "$*"; }
aviso() { printf 'AVISO: %s\n' "$*" >&2; }
fallo() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

pruebas=0
case "${1:-}" in
    --pruebas)
        pruebas=1
        shift
        ;;
    -h | --ayuda)
        sed -n '2,12s/^# \{0,1\}//p' "$RAIZ/instalar.sh"
        exit 0
        ;;
esac

# --- Paquetes del sistema (apt-get) ------------------------------------------------------------
falta_paquete() {
    ! dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

instalar_paquetes_sistema() {
    local faltan=() paquete sudo=()
    if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
        if ! command -v dot >/dev/null 2>&1; then
            aviso "sin apt-get no puedo instalar: $*. Instálalos con el gestor de paquetes de tu" \
                "sistema (en macOS: brew install graphviz). Sin Graphviz los grafos se dibujan" \
                "con matplotlib."
        fi
        return 0
    fi
    for paquete in "$@"; do
        if falta_paquete "$paquete"; then faltan+=("$paquete"); fi
    done
    if [ "${#faltan[@]}" -eq 0 ]; then return 0; fi
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
            sudo=(sudo)
        else
            aviso "faltan paquetes del sistema: ${faltan[*]}. Instálalos con:" \
                "sudo apt-get install ${faltan[*]}"
            return 0
        fi
    fi
    paso "Instalando paquetes del sistema: ${faltan[*]}…"
    if ! { "${sudo[@]}" apt-get update -qq &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${faltan[@]}"; }; then
        if [ "$pruebas" -eq 1 ]; then
            fallo "apt-get no pudo instalar ${faltan[*]}, que necesitan las pruebas."
        fi
        aviso "apt-get no pudo instalar ${faltan[*]}; el curso funciona igualmente."
    fi
}

# --- Entorno virtual ---------------------------------------------------------------------------
PY=.venv/bin/python
if ! "$PY" -c "" >/dev/null 2>&1; then
    python="${CURSO_PYTHON:-python3}"
    command -v "$python" >/dev/null 2>&1 || fallo "no encuentro $python: instala Python 3.10 o posterior."
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
        fallo "$python es $("$python" -V 2>&1); el curso necesita Python 3.10 o posterior" \
            "(elige otro con CURSO_PYTHON=python3.11)."
    paso "Creando el entorno virtual en .venv…"
    rm -rf .venv
    if ! "$python" -m venv .venv; then
        rm -rf .venv
        fallo "no se pudo crear el entorno virtual. En Debian/Ubuntu instala el módulo venv:" \
            "sudo apt-get install python3-venv"
    fi
fi

# --- PyTorch primero (así pip no elige otra versión) ---------------------------------------------
torch_requisito="${CURSO_TORCH:-$TORCH_POR_DEFECTO}"
if [ -n "${CURSO_TORCH:-}" ] ||
    ! "$PY" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("torch") is None)'; then
    paso "Instalando PyTorch ($torch_requisito)…"
    # Sin comillas a propósito: CURSO_TORCH puede llevar opciones de pip.
    # shellcheck disable=SC2086
    "$PY" -m pip install $torch_requisito
fi

# --- Paquetes del sistema -----------------------------------------------------------------------
if [ "$pruebas" -eq 1 ]; then
    # shellcheck disable=SC2086
    instalar_paquetes_sistema $PAQUETES_PRUEBAS
else
    # shellcheck disable=SC2086
    instalar_paquetes_sistema $PAQUETES_CURSO
fi

# --- El paquete del curso (editable) -----------------------------------------------------------
extras="mnist"
if [ "$pruebas" -eq 1 ]; then extras="mnist,dev"; fi
marca=".venv/.curso-instalado-${extras/,/-}"
huella="$(cksum <pyproject.toml)"
if [ "$(cat "$marca" 2>/dev/null)" != "$huella" ] || ! "$PY" -c "import course_utils" 2>/dev/null; then
    paso "Instalando el curso y sus dependencias (pip install -e \".[$extras]\")…"
    "$PY" -m pip install --quiet -e ".[$extras]"
    printf '%s\n' "$huella" >"$marca"
else
    paso "El curso ya está instalado en .venv."
fi

export VIRTUAL_ENV="$PWD/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
if [ "$pruebas" -eq 1 ]; then
    paso "Ejecutando las pruebas (python -m pytest${*:+ $*})…"
    exec "$PY" -m pytest "$@"
fi
exec .venv/bin/curso abrir "$@"
