#!/usr/bin/env bash
# Set up articlebot on this machine: a virtualenv in .venv, the packages, the models and the index.
# Idempotent and safe to re-run: installed packages, assembled models (~/.cache/articlebot) and a fresh
# index are reused. Usage: scripts/setup.sh [MODELS] [EXTRAS]   e.g. scripts/setup.sh small,embed test
set -euo pipefail
cd "$(dirname "$0")/.."
models="${1:-default,embed}"
extras="${2:-}"

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv"
    "$python" -m venv .venv
fi
echo "== installing packages (llama-cpp-python compiles once, 4-9 minutes; pip caches the wheel)"
spec="."
[ -n "$extras" ] && spec=".[$extras]"
quiet_pip() {  # this machine's pip config names local package folders; their "is ignored" notes are noise
    .venv/bin/pip install --disable-pip-version-check -q "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
# torch first, pinned, so nothing pulls a CUDA build.
quiet_pip "torch==2.13.0"
quiet_pip -e "$spec"

echo "== assembling models: $models"
.venv/bin/articlebot models fetch --only "$models"
if [[ ",$models," == *",embed,"* ]]; then
    echo "== building the index (skipped when fresh)"
    .venv/bin/articlebot index build
fi
