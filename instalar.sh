#!/usr/bin/env bash
# Instala el curso de PyTorch en un entorno virtual (.venv) y lo abre, o ejecuta las pruebas.
#
#   bash instalar.sh [OPCIONES DE «curso abrir»]   instala y abre el curso en JupyterLab
#   bash instalar.sh --pruebas [OPCIONES DE PYTEST]  instala y ejecuta las pruebas
#
# Variables de entorno:
#   CURSO_TORCH   requisito de PyTorch para pip (por defecto torch==2.13.0); puede llevar
#                 opciones de pip, p. ej. "torch==2.13.0 --index-url URL_DE_LAS_RUEDAS".
#   CURSO_PYTHON  intérprete con el que se crea .venv (por defecto python3, 3.10 o posterior);
#                 si .venv se creó con otro, se vuelve a crear.
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
    -h | --ayuda | --help)
        sed -n '2,13s/^# \{0,1\}//p' "$RAIZ/instalar.sh"
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

# --- pip con progreso ---------------------------------------------------------------------------
# pip trabaja en silencio (su salida va a un registro) y cada CURSO_PROGRESO_S segundos se dice,
# en español, qué está haciendo; si falla, se muestra el final del registro.
resumir_pip() {
    local linea
    linea="$(grep -E '^(Collecting|Downloading|Building|Installing|Requirement|Using cached)' \
        "$1" 2>/dev/null | tail -n 1 || true)"
    case "$linea" in
        Collecting*) printf 'preparando %s' "${linea#Collecting }" ;;
        Downloading*) printf 'descargando %s' "${linea#Downloading }" ;;
        "Using cached"*) printf 'usando la copia descargada de %s' "${linea#Using cached }" ;;
        Building*) printf 'compilando (%s)' "$linea" ;;
        Installing*) printf 'instalando los paquetes' ;;
        Requirement*) printf 'comprobando lo que ya está instalado' ;;
        *) printf 'empezando' ;;
    esac
}

pip_instalar() {
    local registro pid intervalo="${CURSO_PROGRESO_S:-10}" siguiente codigo=0
    registro="$(mktemp "${TMPDIR:-/tmp}/curso-pip.XXXXXX")"
    "$PY" -m pip install --progress-bar off "$@" >"$registro" 2>&1 &
    pid=$!
    siguiente=$((SECONDS + intervalo))
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        if [ "$SECONDS" -ge "$siguiente" ] && kill -0 "$pid" 2>/dev/null; then
            printf '    … %s s: %s\n' "$SECONDS" "$(resumir_pip "$registro")"
            siguiente=$((SECONDS + intervalo))
        fi
    done
    wait "$pid" || codigo=$?
    if [ "$codigo" -ne 0 ]; then
        printf '\nÚltimas líneas de pip:\n' >&2
        tail -n 25 "$registro" >&2
        rm -f "$registro"
        fallo "pip no pudo instalar $* (código $codigo). Revisa la conexión a internet y el" \
            "espacio libre en disco, y vuelve a ejecutar bash instalar.sh."
    fi
    rm -f "$registro"
}

# --- Entorno virtual ---------------------------------------------------------------------------
PY=.venv/bin/python
IDENTIDAD='import platform, sys; print(platform.python_version(), sys.base_prefix)'
python="${CURSO_PYTHON:-python3}"
if [ -n "${CURSO_PYTHON:-}" ] && "$PY" -c "" >/dev/null 2>&1 &&
    command -v "$python" >/dev/null 2>&1; then
    actual="$("$PY" -c "$IDENTIDAD" 2>/dev/null || true)"
    pedido="$("$python" -c "$IDENTIDAD" 2>/dev/null || true)"
    if [ -n "$pedido" ] && [ "$actual" != "$pedido" ]; then
        paso "CURSO_PYTHON=$python es Python ${pedido%% *}, pero .venv usa Python" \
            "${actual%% *}: vuelvo a crear el entorno virtual."
        rm -rf .venv
    fi
fi
if ! "$PY" -c "" >/dev/null 2>&1; then
    command -v "$python" >/dev/null 2>&1 || fallo "no encuentro $python: instala Python 3.10 o posterior."
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
        fallo "$python es $("$python" -V 2>&1); el curso necesita Python 3.10 o posterior" \
            "(elige otro con CURSO_PYTHON=python3.11)."
    prueba_escritura="$RAIZ/.curso-escritura"
    if ! touch "$prueba_escritura" 2>/dev/null; then
        fallo "no puedo escribir en $RAIZ (¿una carpeta de solo lectura?): el entorno virtual" \
            "(.venv) y tu trabajo (mi-curso/) se guardan ahí. Clona el curso en una carpeta" \
            "tuya, p. ej.: cd ~ && git clone https://github.com/curso-pytorch/curso-pytorch"
    fi
    rm -f "$prueba_escritura"
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
    paso "Instalando PyTorch ($torch_requisito); la primera vez tarda unos minutos…"
    # Sin comillas a propósito: CURSO_TORCH puede llevar opciones de pip.
    # shellcheck disable=SC2086
    pip_instalar $torch_requisito
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
    paso "Instalando el curso y sus dependencias (pip install -e \".[$extras]\"); la primera vez" \
        "tarda un par de minutos…"
    pip_instalar -e ".[$extras]"
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
