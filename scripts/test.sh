#!/usr/bin/env bash
# Set up what the tests need (packages, the LLMs, the embedding model), then run the tests.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "default,small,embed" test
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
