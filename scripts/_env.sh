# Sourced by scripts/demo and scripts/test: make sure .venv exists with the project installed.
# One install for both commands: the test install includes everything the demo needs, so switching between
# them never reinstalls; only a changed pyproject.toml does. Progress shows from the first second.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Python 3.11 or newer is needed (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
want="${1:-base}"
hash="$(sha256sum pyproject.toml | cut -c1-16)"
stamp_base=".venv/.installed-$hash-base"
stamp_test=".venv/.installed-$hash-test"
# What this command needs is there when its own stamp is, or (for the demo) the test install's, which is a superset.
ready() {
  [ -f "$stamp_test" ] || { [ "$want" = "base" ] && [ -f "$stamp_base" ]; }
}
# pip's own lines, one per package, indented: readable in a terminal and in a CI log alike.
pip_progress() {
  grep --line-buffered -E "^(Collecting|Downloading|Building|Installing collected|Successfully installed|ERROR|error)" \
    | sed -u -e 's/^/  /' -e 's/^  Successfully installed.*/  installed./' >&2 || true
}
if ! ready; then
  echo "setting up .venv for ./scripts/$([ "$want" = test ] && echo test || echo demo) (first run, or pyproject.toml changed; about 2 minutes) ..." >&2
  if [ ! -x .venv/bin/python ]; then
    echo "  creating .venv" >&2
    "$PYTHON" -m venv .venv
  fi
  # A newer pip is welcome, not needed: a failed upgrade (a download cut short fails its hash check, as seen once in
  # CI) leaves the venv's own pip, which installs the hub just as well.
  echo "  upgrading pip" >&2
  if ! .venv/bin/python -m pip install --upgrade --progress-bar off pip 2>&1 | pip_progress; then
    echo "  pip was not upgraded; going on with $(.venv/bin/python -m pip --version | cut -d' ' -f1-2)" >&2
  fi
  extras=""
  [ "$want" = "test" ] && extras="[test]"
  echo "  installing the hub$([ -n "$extras" ] && echo ' with the test tools') and what it needs:" >&2
  # Up to three tries: pip retries a refused connection itself but not a download that arrived damaged.
  for try in 1 2 3; do
    if .venv/bin/python -m pip install --progress-bar off -e ".${extras}" 2>&1 | pip_progress; then
      break
    fi
    [ "$try" = 3 ] && { echo "installation failed three times (see pip's lines above)" >&2; exit 1; }
    echo "  pip failed (try $try of 3); trying again in 5 s" >&2
    sleep 5
  done
  .venv/bin/python -c 'import hub, fastapi, sqlalchemy, pika' || { echo "installation failed (see pip's lines above)" >&2; exit 1; }
  # Only stamps of an older pyproject.toml go: the other command's install of this one is kept.
  find .venv -maxdepth 1 -name '.installed-*' ! -name ".installed-$hash-*" -delete
  touch ".venv/.installed-$hash-$want"
  [ "$want" = "test" ] && touch "$stamp_base"
  echo "  .venv is ready" >&2
fi
# The simulator's hot modules compiled with mypyc (docs/simulator.md): optional (pure Python if it fails or mypyc is
# missing), rebuilt only when their sources changed, silent otherwise.
.venv/bin/python -m plumbing.compiled build --if-stale || true
export PATH="$ROOT/.venv/bin:$PATH"
