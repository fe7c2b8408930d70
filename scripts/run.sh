#!/usr/bin/env bash
# Set up everything, then start articlebot: the Telegram bot when TELEGRAM_BOT_TOKEN is set,
# otherwise a chat in this terminal. Extra arguments go to `articlebot start` (e.g. --model small).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "${ARTICLEBOT_SETUP_MODELS:-default,embed}"
exec .venv/bin/articlebot start "$@"
