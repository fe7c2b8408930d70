#!/usr/bin/env bash
# Set up articlebot on this machine: a virtualenv in .venv, the packages, the models and the index.
# Idempotent and safe to re-run: installed packages, assembled models (~/.cache/articlebot) and a fresh
# index are reused. Usage: scripts/setup.sh [MODELS] [EXTRAS]   e.g. scripts/setup.sh small,embed test
set -euo pipefail
cd "$(dirname "$0")/.."
models="${1:-default,embed}"
extras="${2:-}"

python="${PYTHON:-python3}"
cache="${ARTICLEBOT_CACHE_DIR:-$HOME/.cache/articlebot}"
log="$cache/setup.log"  # the tools' own output; the terminal gets one line per step
mkdir -p "$cache"
echo "== setup $(date -u +%FT%TZ)" >> "$log"
quietly() {  # run a tool with its output in the log; when it fails, show its last lines and stop
    if ! "$@" >> "$log" 2>&1; then
        echo "setup failed at: $*" >&2
        grep -v "is ignored: it is neither a file nor a directory" "$log" | tail -n 15 >&2
        echo "(whole output: $log; rerun the same command when fixed: finished steps are skipped)" >&2
        exit 1
    fi
}
if [ ! -x .venv/bin/python ]; then
    echo "== creating .venv"
    quietly "$python" -m venv .venv
fi
echo "== installing packages (output in $log)"
spec="."
[ -n "$extras" ] && spec=".[$extras]"
quiet_pip() {
    quietly .venv/bin/pip install --disable-pip-version-check -q "$@"
}
# torch first, pinned, so nothing pulls a CUDA build.
quiet_pip "torch==2.13.0"

# llama-cpp-python compiles for the CPU it is built on (-march=native): a wheel built on another CPU can die
# with "Illegal instruction". pip's own wheel cache does not know the CPU, so the built wheel is kept in a
# folder named after this CPU's instruction sets and installed from there. AMX stays off: on VMs that list
# the amx flags, llama.cpp's AMX kernels were seen to die with "Illegal instruction" (tilezero) mid-answer.
build_flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
llama_version="$(sed -n 's/.*"llama-cpp-python==\([0-9.]*\)".*/\1/p' pyproject.toml | head -1)"
cpu_key="$( (grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m; echo "$build_flags") | tr ' ' '\n' | sort | sha256sum | cut -c1-12)"
wheel_dir="$cache/wheels/llama-cpp-python-$llama_version-cpu-$cpu_key"
installed_key=".venv/.llama-cpp-cpu-key"
if [ "$(cat "$installed_key" 2>/dev/null)" != "$llama_version-$cpu_key" ]; then
    if ! ls "$wheel_dir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
        echo "== compiling llama-cpp-python $llama_version for this CPU (once per CPU type, 4-9 minutes) -> $wheel_dir"
        mkdir -p "$wheel_dir.partial"
        case "$(uname -m)" in x86_64) cmake_args="-DCMAKE_C_FLAGS='$build_flags' -DCMAKE_CXX_FLAGS='$build_flags'" ;; *) cmake_args="" ;; esac
        CMAKE_ARGS="${CMAKE_ARGS:-} $cmake_args" quietly .venv/bin/pip wheel --disable-pip-version-check -q --no-deps --no-cache-dir --no-binary llama-cpp-python \
            -w "$wheel_dir.partial" "llama-cpp-python==$llama_version"
        rm -rf "$wheel_dir" && mv "$wheel_dir.partial" "$wheel_dir"
    fi
    quiet_pip --force-reinstall --no-deps --no-index --find-links "$wheel_dir" "llama-cpp-python==$llama_version"
    echo "$llama_version-$cpu_key" > "$installed_key"
fi
quiet_pip -e "$spec"

echo "== assembling models: $models"
.venv/bin/articlebot models fetch --only "$models"

# A llama.cpp build that does not fit this CPU loads fine and dies at the first token: try one token now.
gguf="$(ls models/*.gguf 2>/dev/null | sort | head -1)"
if [ -n "$gguf" ] && ! .venv/bin/python -c "import sys, llama_cpp; m = llama_cpp.Llama(sys.argv[1], n_ctx=64, verbose=False); m.eval(m.tokenize(b'ok'))" "$gguf" 2>/dev/null; then
    echo "llama.cpp cannot compute on this CPU with the wheel in $wheel_dir." >&2
    echo "Remove that folder and .venv/.llama-cpp-cpu-key, then rerun with CMAKE_ARGS='-DGGML_NATIVE=OFF' for a generic build." >&2
    exit 1
fi
if [[ ",$models," == *",embed,"* ]]; then
    echo "== building the index (skipped when fresh)"
    .venv/bin/articlebot index build
fi
