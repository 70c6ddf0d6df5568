#!/usr/bin/env bash
# Installs what the two README commands need: uv (from PyPI when missing) and the locked
# dependencies. Prints the path of uv on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never
if command -v uv >/dev/null 2>&1; then
  UV=$(command -v uv)
elif [ -x .tools/bin/uv ]; then
  UV="$PWD/.tools/bin/uv"
else
  PY=$(command -v python3 || command -v python)
  echo "bootstrap: installing uv from PyPI into .tools/" >&2
  "$PY" -m venv .tools >&2
  .tools/bin/pip install --quiet --disable-pip-version-check uv >&2
  UV="$PWD/.tools/bin/uv"
fi
"$UV" sync --frozen --all-packages --quiet >&2
echo "$UV"
