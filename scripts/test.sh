#!/usr/bin/env bash
# Set up what the tests need (packages, the small LLM, the embedding model), then run the tests.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "small,embed" test
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
