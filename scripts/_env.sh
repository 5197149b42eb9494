# Sourced by scripts/demo and scripts/test: make sure .venv exists with the project installed.
# Reinstalls only when pyproject.toml changes, so the second run starts at once.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Python 3.11 or newer is needed (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv ..." >&2
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-${1:-base}"
if [ ! -f "$stamp" ]; then
  echo "installing the hub and what it needs into .venv (once) ..." >&2
  .venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' >&2 || true
  extras=""
  [ "${1:-base}" = "test" ] && extras="[test]"
  .venv/bin/python -m pip install --quiet -e ".${extras}" 2>&1 | grep -vE "^WARNING: Location|^\s*$|\*\*\*|!!|Please be careful|name as your package|with strategy|Installing|precedence" >&2 || true
  .venv/bin/python -c 'import hub, fastapi, sqlalchemy, pika' || { echo "installation failed" >&2; exit 1; }
  rm -f .venv/.installed-*
  touch "$stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"
