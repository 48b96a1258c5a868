#!/usr/bin/env bash
# The numpy baseline of `hamlet bench memory --numpy`: makes its virtual environment (numpy from
# PyPI) under $HAMLET_HOME the first time, then runs scripts/numpy_recall.py on the data
# directory the benchmark wrote. Usage: scripts/numpy-baseline.sh DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${HAMLET_HOME:-$HOME/.cache/hamlet}/venv-numpy"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import numpy' 2>/dev/null; then
    echo "numpy-baseline: creating $venv (pip install numpy)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet numpy >&2
fi
exec "$venv/bin/python" "$here/numpy_recall.py" "$@"
