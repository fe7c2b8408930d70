#!/usr/bin/env bash
# Set up what the tests need (packages, the LLMs, the embedding model), then run the tests.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "small,embed" test  # the tests run the small model; quality is the benchmark's job
# The shared-state tests start a throwaway PostgreSQL server: Debian's package, installed if missing.
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "== installing PostgreSQL for the shared-state tests"
    if [ "$(id -u)" = 0 ]; then apt_get="apt-get"; else apt_get="sudo -n apt-get"; fi
    $apt_get install -y -q postgresql >/dev/null 2>&1 || { $apt_get update -q >/dev/null 2>&1 && $apt_get install -y -q postgresql >/dev/null 2>&1; } \
        || echo "   could not install PostgreSQL: its tests will be skipped"
fi
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
