#!/usr/bin/env bash
# Set up (or bring up to date) the project's virtual environment in .venv: the exact versions pinned in
# requirements.lock, then the mlbasics package itself (editable). Needs only Python 3.11 with pip.
# Cheap when nothing changed: it reinstalls only when requirements.lock or pyproject.toml differ from
# what .venv was built from.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      python=$candidate
      break
    fi
  done
fi
if [ -z "$python" ]; then
  echo "setup: Python 3.11 not found (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi

stamp=.venv/.mlbasics-installed
want=$(.venv/bin/python - <<'PY'
import hashlib
print(hashlib.sha256(open("requirements.lock", "rb").read() + open("pyproject.toml", "rb").read()).hexdigest())
PY
)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing the locked dependencies (requirements.lock) into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
fi
# Snakemake reads a --configfile before any workflow code and names no line for a YAML error in it: this hook
# (src/mlbasics/pipeline/configfile_hook.py, loaded at interpreter start) makes it name file, line and column
.venv/bin/python - <<'PY'
import pathlib, sysconfig
line = "import sys; exec('try:\\n import mlbasics.pipeline.configfile_hook\\nexcept Exception:\\n pass')\n"
pth = pathlib.Path(sysconfig.get_paths()["purelib"]) / "mlbasics_configfile_hook.pth"
if not pth.is_file() or pth.read_text() != line:
    pth.write_text(line)
PY
echo "setup: .venv is ready"
