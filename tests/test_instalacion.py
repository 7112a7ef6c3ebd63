"""instalar.sh, .ci/run, environment.yml y los comandos del README, sin reinstalar nada.

instalar.sh se ejecuta de verdad en una copia, con python3, pip, apt-get y dpkg-query sustituidos
por programas falsos que anotan cómo se les llama: así se comprueba el orden de los pasos, la
idempotencia, el código de salida de pytest y el tratamiento de los paquetes del sistema.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from test_cuadernos import MODULOS

from course_utils import cli

tomllib = pytest.importorskip("tomllib")  # Python 3.11 o posterior

RAIZ = Path(__file__).resolve().parent.parent
README = (RAIZ / "README.md").read_text(encoding="utf-8")
BASH = shutil.which("bash") or "/bin/bash"
INICIO_RAPIDO = [
    "git clone https://github.com/curso-pytorch/curso-pytorch && cd curso-pytorch",
    "bash instalar.sh",
    "bash instalar.sh --pruebas",
]


def _seccion(titulo: str) -> str:
    partes = re.split(r"^(#{2,3} .*)$", README, flags=re.M)
    for cabecera, cuerpo in zip(partes[1::2], partes[2::2], strict=True):
        if cabecera.lstrip("# ").strip() == titulo:
            return cuerpo
    raise AssertionError(f"el README no tiene la sección «{titulo}»")


def _ordenes(texto: str) -> list[str]:
    """Líneas de órdenes de los bloques de código bash, sin comentarios."""
    ordenes = []
    for bloque in re.findall(r"```bash\n(.*?)```", texto, flags=re.S):
        for linea in bloque.splitlines():
            orden = linea.split(" #", 1)[0].strip()
            if orden and not orden.startswith("#"):
                ordenes.append(orden)
    return ordenes


# --- README ----------------------------------------------------------------------------------


def test_inicio_rapido_son_exactamente_las_dos_ordenes():
    assert _ordenes(_seccion("Inicio rápido")) == INICIO_RAPIDO


def test_ci_ejecuta_la_orden_de_pruebas_del_readme():
    ci = (RAIZ / ".ci" / "run").read_text()
    lineas = [linea.strip() for linea in ci.splitlines() if not linea.strip().startswith("#")]
    assert any(linea.startswith(INICIO_RAPIDO[2]) for linea in lineas)


def test_readme_tiene_las_insignias_de_colab_de_los_seis_modulos():
    for modulo in MODULOS:
        url = (
            "https://colab.research.google.com/github/curso-pytorch/curso-pytorch/blob/main/"
            f"notebooks/{modulo}/{modulo}.ipynb"
        )
        assert f"(https://colab.research.google.com/assets/colab-badge.svg)]({url})" in README


def _sin_variables(orden: str) -> tuple[list[str], list[str]]:
    """Separa las asignaciones iniciales (VAR=valor) de la orden."""
    palabras = shlex.split(orden)
    variables = []
    while palabras and re.fullmatch(r"[A-Z_]+=.*", palabras[0]):
        variables.append(palabras.pop(0).split("=", 1)[0])
    return variables, palabras


def test_las_ordenes_del_readme_existen():
    """Cada orden del README es válida: opciones de curso, modos, rutas y variables."""
    fuentes = "\n".join(
        p.read_text(encoding="utf-8")
        for p in [*(RAIZ / "course_utils").glob("*.py"), RAIZ / "instalar.sh"]
    )
    analizador = cli.construir_analizador()
    ordenes = _ordenes(README)
    assert len(ordenes) >= 10
    for orden in ordenes:
        variables, palabras = _sin_variables(orden)
        for variable in variables:
            assert variable in fuentes, f"{orden}: nadie lee la variable {variable}"
        if palabras[0] == "curso":
            try:
                analizador.parse_args(palabras[1:])
            except SystemExit as salida:  # --ayuda sale con 0; un error de uso, con 2
                assert salida.code == 0, f"orden del README no válida: {orden}"
            for ruta in (p for p in palabras if p.endswith(".ipynb")):
                assert (RAIZ / ruta).is_file(), f"{orden}: no existe {ruta}"
        elif palabras[:2] == ["bash", "instalar.sh"]:
            assert palabras[2:3] in ([], ["--pruebas"]) or palabras[2].startswith("--puerto")
        elif palabras[0] == "python":
            assert (RAIZ / palabras[1]).is_file() and (RAIZ / palabras[2]).is_file(), orden
        elif palabras[0] == ".venv/bin/python" and palabras[1] == "-c":
            compile(palabras[2], "<README>", "exec")
        elif palabras[0] == ".venv/bin/python":
            assert palabras[1].startswith(("benchmarks/", "scripts/")), orden
            assert (RAIZ / palabras[1]).is_file(), f"{orden}: no existe {palabras[1]}"
        elif palabras[:2] == ["pip", "install"]:
            # Solo el propio curso con uno de sus extras.
            extra = re.fullmatch(r"'?curso-pytorch\[(\w+)\]'?", palabras[2])
            assert extra and extra.group(1) in _extras(), f"{orden}: extra desconocido"
        else:
            assert palabras[0] in ("git", "conda"), f"orden del README sin comprobar: {orden}"


def _extras() -> set[str]:
    import tomllib

    proyecto = tomllib.loads((RAIZ / "pyproject.toml").read_text(encoding="utf-8"))
    return set(proyecto["project"]["optional-dependencies"])


def test_readme_muestra_capturas_generadas_por_el_script():
    capturas = re.findall(r"!\[([^\]]+)\]\((docs/capturas/[\w.-]+\.png)\)", README)
    assert {ruta for _, ruta in capturas} == {
        "docs/capturas/retroalimentacion.png",
        "docs/capturas/informe.png",
    }
    for texto, ruta in capturas:
        assert texto and not texto.isascii(), "texto alternativo en español"
        imagen = (RAIZ / ruta).read_bytes()
        assert imagen[:8] == b"\x89PNG\r\n\x1a\n" and len(imagen) < 400_000, ruta
    assert "scripts/capturas.py" in README and (RAIZ / "scripts" / "capturas.py").is_file()


def test_readme_documenta_las_variables_de_entorno():
    for variable in (
        "CURSO_TORCH",
        "CURSO_PYTHON",
        "CURSO_DISPOSITIVO",
        "CURSO_DATOS",
        "CURSO_SIN_RED",
        "CURSO_RAPIDO",
    ):
        assert variable in README


# --- environment.yml frente a pyproject.toml -----------------------------------------------------

CONDA_A_PIP = {"pytorch": "torch", "python-graphviz": "graphviz"}
SOLO_CONDA = {"python", "pip", "graphviz"}  # el intérprete, pip y los programas de Graphviz
# No están en conda-forge: llegan con pip install -e ".[mnist]".
SOLO_PIP = {"torchviz", "jupyterlab-language-pack-es-es"}


def _requisitos(lista: list[str]) -> dict[str, str]:
    """nombre normalizado -> especificación de versión."""
    requisitos = {}
    for requisito in lista:
        nombre, version = re.match(r"([A-Za-z0-9_.\-\[\]]+)\s*(.*)", requisito).groups()
        nombre = re.sub(r"\[.*\]", "", nombre).lower().replace("_", "-")
        requisitos[nombre] = version.replace(" ", "")
    return requisitos


def test_environment_yml_coincide_con_pyproject():
    proyecto = tomllib.loads((RAIZ / "pyproject.toml").read_text())["project"]
    pip = _requisitos(proyecto["dependencies"] + proyecto["optional-dependencies"]["mnist"])
    entorno = yaml.safe_load((RAIZ / "environment.yml").read_text())
    assert entorno["channels"] == ["conda-forge"]
    dependencias = entorno["dependencies"]
    seccion_pip = next(d["pip"] for d in dependencias if isinstance(d, dict))
    assert seccion_pip == ['-e ".[mnist]"']
    conda = _requisitos([d for d in dependencias if isinstance(d, str)])
    assert conda.pop("python") == "=3.11"
    assert "graphviz" in conda and "python-graphviz" in conda
    traducidas = {CONDA_A_PIP.get(n, n): v for n, v in conda.items() if n not in SOLO_CONDA}
    sobran = set(traducidas) - set(pip)
    assert not sobran, f"environment.yml tiene paquetes que no están en pyproject: {sobran}"
    faltan = set(pip) - set(traducidas) - SOLO_PIP
    assert not faltan, f"faltan en environment.yml: {faltan}"
    distintas = {n: (v, pip[n]) for n, v in traducidas.items() if v != pip[n]}
    assert not distintas, f"versiones distintas (conda, pyproject): {distintas}"


# --- Scripts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["instalar.sh", ".ci/run"])
def test_sintaxis_bash(script):
    subprocess.run([BASH, "-n", str(RAIZ / script)], check=True)
    texto = (RAIZ / script).read_text()
    assert texto.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in texto


def test_ci_run_es_ejecutable():
    assert os.access(RAIZ / ".ci" / "run", os.X_OK)


def _ejecutable(ruta: Path, texto: str) -> None:
    ruta.parent.mkdir(parents=True, exist_ok=True)
    ruta.write_text(texto)
    ruta.chmod(ruta.stat().st_mode | stat.S_IXUSR)


# Python falso del entorno virtual: anota cada llamada y simula pip, torch y pytest.
PYTHON_FALSO = r"""#!/bin/sh
echo "python $*" >> "$REGISTRO"
venv=$(dirname "$(dirname "$0")")
case "$*" in
    *'find_spec("torch")'*) [ -f "$venv/torch" ] ;;
    *"import course_utils"*) [ -f "$venv/curso" ] ;;
    *"platform.python_version"*) cat "$venv/identidad" 2>/dev/null ;;
    *"-m pip install"*)
        echo "Collecting torch"
        echo "Downloading torch-2.13.0-cp311-manylinux.whl (900.1 MB)"
        [ -n "${PIP_LENTO:-}" ] && sleep "$PIP_LENTO"
        if [ -n "${CODIGO_PIP:-}" ]; then
            echo "ERROR: No matching distribution found for torch==9"
            exit "$CODIGO_PIP"
        fi
        case "$*" in *torch*) touch "$venv/torch" ;; *"-e"*) touch "$venv/curso" ;; esac ;;
    *"-m pytest"*) exit "${CODIGO_PYTEST:-0}" ;;
esac
"""

PYTHON3_FALSO = r"""#!/bin/sh
nombre=$(basename "$0")
echo "$nombre $*" >> "$REGISTRO"
version=3.11.2
[ "$nombre" = python3.12 ] && version=3.12.1
case "$*" in *"platform.python_version"*) echo "$version /usr/$nombre" ;; esac
if [ "$1 $2" = "-m venv" ]; then
    mkdir -p "$3/bin"
    cp "$(dirname "$0")/python-venv" "$3/bin/python"
    echo "$version /usr/$nombre" > "$3/identidad"
    printf '#!/bin/sh\necho "curso $*" >> "$REGISTRO"\n' > "$3/bin/curso"
    chmod +x "$3/bin/python" "$3/bin/curso"
fi
"""

# touch falso: la prueba de escritura de instalar.sh falla si SOLO_LECTURA está puesta.
TOUCH_FALSO = r"""#!/bin/sh
case "$*" in *.curso-escritura*) [ -z "${SOLO_LECTURA:-}" ] || exit 1 ;; esac
exec /usr/bin/touch "$@"
"""

DPKG_QUERY_FALSO = r"""#!/bin/sh
paquete=$(eval echo "\${$#}")
for falta in $FALTAN; do [ "$falta" = "$paquete" ] && exit 1; done
printf 'install ok installed'
"""

APT_GET_FALSO = r"""#!/bin/sh
echo "apt-get $*" >> "$REGISTRO"
case "$*" in *install*) exit "${CODIGO_APT:-0}" ;; esac
"""


@pytest.fixture
def instalacion(tmp_path):
    """Copia de instalar.sh con programas falsos; devuelve una función que lo ejecuta."""
    copia = tmp_path / "curso"
    copia.mkdir()
    shutil.copy(RAIZ / "instalar.sh", copia)
    shutil.copy(RAIZ / "pyproject.toml", copia)
    falsos = tmp_path / "falsos"
    _ejecutable(falsos / "python3", PYTHON3_FALSO)
    _ejecutable(falsos / "python3.12", PYTHON3_FALSO)
    _ejecutable(falsos / "touch", TOUCH_FALSO)
    _ejecutable(falsos / "python-venv", PYTHON_FALSO)
    _ejecutable(falsos / "dpkg-query", DPKG_QUERY_FALSO)
    _ejecutable(falsos / "apt-get", APT_GET_FALSO)
    _ejecutable(falsos / "id", "#!/bin/sh\necho 0\n")
    _ejecutable(falsos / "sudo", '#!/bin/sh\necho "sudo $*" >> "$REGISTRO"\nexit 1\n')
    registro = tmp_path / "registro.txt"

    def ejecutar(*argumentos: str, **entorno: str):
        registro.write_text("")
        variables = {
            "PATH": f"{falsos}:/usr/bin:/bin",
            "REGISTRO": str(registro),
            "HOME": str(tmp_path),
            **entorno,
        }
        proceso = subprocess.run(
            [BASH, str(copia / "instalar.sh"), *argumentos],
            cwd=tmp_path,
            env=variables,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return proceso, registro.read_text().splitlines()

    return ejecutar


def test_instalar_crea_el_entorno_instala_y_abre(instalacion):
    proceso, llamadas = instalacion("--puerto", "9000")
    assert proceso.returncode == 0, proceso.stderr
    pasos = [
        llamada
        for llamada in llamadas
        if "pip" in llamada or "venv" in llamada or llamada.startswith(("curso", "apt-get"))
    ]
    assert pasos == [
        "python3 -m venv .venv",
        "python -m pip install --progress-bar off torch==2.13.0",
        "python -m pip install --progress-bar off -e .[mnist]",
        "curso abrir --puerto 9000",
    ]
    assert "==> Creando el entorno virtual en .venv…" in proceso.stdout


def test_instalar_es_idempotente(instalacion):
    instalacion()
    proceso, llamadas = instalacion()
    assert proceso.returncode == 0, proceso.stderr
    assert not [llamada for llamada in llamadas if "pip install" in llamada or "venv" in llamada]
    assert llamadas[-1] == "curso abrir"
    assert "El curso ya está instalado" in proceso.stdout


def test_pruebas_instala_dev_y_devuelve_el_codigo_de_pytest(instalacion):
    proceso, llamadas = instalacion("--pruebas", "-k", "algo", CODIGO_PYTEST="3")
    assert proceso.returncode == 3
    assert "python -m pip install --progress-bar off -e .[mnist,dev]" in llamadas
    assert llamadas[-1] == "python -m pytest -k algo"
    assert not any(llamada.startswith("curso") for llamada in llamadas)


def test_paquetes_del_sistema_que_faltan_se_instalan_con_apt(instalacion):
    proceso, llamadas = instalacion("--pruebas", FALTAN="hunspell-es bubblewrap")
    assert proceso.returncode == 0, proceso.stderr
    assert "apt-get update -qq" in llamadas
    assert "apt-get install -y -qq --no-install-recommends hunspell-es bubblewrap" in llamadas
    proceso, llamadas = instalacion(FALTAN="hunspell-es bubblewrap")
    assert not any(llamada.startswith("apt-get") for llamada in llamadas)


def test_fallo_de_apt_solo_es_un_aviso_al_abrir_el_curso(instalacion):
    proceso, llamadas = instalacion(FALTAN="graphviz", CODIGO_APT="100")
    assert proceso.returncode == 0
    assert "AVISO: apt-get no pudo instalar graphviz" in proceso.stderr
    assert llamadas[-1] == "curso abrir"
    proceso, llamadas = instalacion("--pruebas", FALTAN="graphviz", CODIGO_APT="100")
    assert proceso.returncode == 1
    assert "ERROR: apt-get no pudo instalar graphviz" in proceso.stderr


def test_curso_torch_elige_pytorch(instalacion):
    instalacion()
    opcion = "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
    proceso, llamadas = instalacion(CURSO_TORCH=opcion)
    assert proceso.returncode == 0, proceso.stderr
    assert f"python -m pip install --progress-bar off {opcion}" in llamadas


def test_python_demasiado_antiguo(instalacion, tmp_path):
    _ejecutable(
        tmp_path / "falsos" / "python3.9",
        "#!/bin/sh\n[ \"$1\" = -V ] && echo 'Python 3.9.2'\nexit 1\n",
    )
    proceso, _ = instalacion(CURSO_PYTHON="python3.9")
    assert proceso.returncode == 1
    assert "ERROR: python3.9 es Python 3.9.2; el curso necesita Python 3.10" in proceso.stderr


@pytest.mark.parametrize("opcion", ["--ayuda", "--help", "-h"])
def test_ayuda_de_instalar(opcion):
    proceso = subprocess.run(
        [BASH, str(RAIZ / "instalar.sh"), opcion], capture_output=True, text=True, timeout=30
    )
    assert proceso.returncode == 0
    assert "bash instalar.sh --pruebas" in proceso.stdout and "CURSO_TORCH" in proceso.stdout
    assert "se vuelve a crear" in proceso.stdout and "set -euo" not in proceso.stdout


def test_instalar_dice_que_hace_durante_la_instalacion_larga(instalacion):
    proceso, _ = instalacion(PIP_LENTO="3", CURSO_PROGRESO_S="1")
    assert proceso.returncode == 0, proceso.stderr
    assert "la primera vez tarda unos minutos" in proceso.stdout
    assert re.search(
        r"… \d+ s: descargando torch-2\.13\.0-cp311-manylinux\.whl \(900\.1 MB\)", proceso.stdout
    ), proceso.stdout
    assert "Collecting" not in proceso.stdout and "Downloading" not in proceso.stdout


def test_fallo_de_pip_en_espanol_con_el_final_del_registro(instalacion):
    proceso, _ = instalacion(CODIGO_PIP="1")
    assert proceso.returncode == 1
    assert "ERROR: pip no pudo instalar torch==2.13.0 (código 1)" in proceso.stderr
    assert "No matching distribution found for torch==9" in proceso.stderr


def test_curso_python_distinto_rehace_el_entorno(instalacion):
    instalacion()
    proceso, llamadas = instalacion(CURSO_PYTHON="python3.12")
    assert proceso.returncode == 0, proceso.stderr
    assert "CURSO_PYTHON=python3.12 es Python 3.12.1, pero .venv usa Python 3.11.2" in (
        proceso.stdout
    )
    assert "python3.12 -m venv .venv" in llamadas
    proceso, llamadas = instalacion(CURSO_PYTHON="python3.12")  # ya coincide: no se rehace
    assert not any("-m venv" in llamada for llamada in llamadas)
    assert "El curso ya está instalado" in proceso.stdout


def test_carpeta_de_solo_lectura(instalacion):
    proceso, llamadas = instalacion(SOLO_LECTURA="1")
    assert proceso.returncode == 1
    assert "ERROR: no puedo escribir en" in proceso.stderr
    assert "solo lectura" in proceso.stderr and "python3-venv" not in proceso.stderr
    assert not any("-m venv" in llamada for llamada in llamadas)


@pytest.mark.parametrize(("codigo", "esperado"), [(0, 0), (1, 1), (5, 1)])
def test_ci_run_no_acepta_una_ejecucion_sin_pruebas(tmp_path, codigo, esperado):
    shutil.copytree(RAIZ / ".ci", tmp_path / ".ci")
    _ejecutable(
        tmp_path / "instalar.sh",
        '#!/usr/bin/env bash\necho "args=$* CI=$CI"\n'
        'if read -r linea; then echo "la entrada estándar no está vacía"; exit 9; fi\n'
        f"exit {codigo}\n",
    )
    proceso = subprocess.run(
        [BASH, str(tmp_path / ".ci" / "run")],
        input="hola\n",
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
    )
    assert proceso.returncode == esperado, proceso.stdout + proceso.stderr
    assert "args=--pruebas CI=true" in proceso.stdout
    if codigo == 5:
        assert "pytest no ejecutó ninguna prueba" in proceso.stderr


def test_jupyterlab_y_su_paquete_de_idioma_van_a_la_par():
    """Con un JupyterLab más nuevo que su paquete de idioma, los textos nuevos salen en inglés."""
    from importlib.metadata import version

    proyecto = tomllib.loads((RAIZ / "pyproject.toml").read_text())["project"]
    requisitos = _requisitos(proyecto["dependencies"])
    serie = re.fullmatch(r">=(\d+\.\d+),<(\d+\.\d+)", requisitos["jupyterlab"])
    assert serie, requisitos["jupyterlab"]
    idioma = requisitos["jupyterlab-language-pack-es-es"]
    assert idioma.startswith(f">={serie.group(1)}") and idioma.endswith(f",<{serie.group(2)}")
    conda = _requisitos(
        [
            d
            for d in yaml.safe_load((RAIZ / "environment.yml").read_text())["dependencies"]
            if isinstance(d, str)
        ]
    )
    assert conda["jupyterlab"] == requisitos["jupyterlab"]
    instalado = version("jupyterlab").split(".")[:2]
    assert version("jupyterlab-language-pack-es-ES").split(".")[:2] == instalado
