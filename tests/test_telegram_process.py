"""`articlebot telegram` as an operator runs it: a separate process, long polling against the fake Bot
API, stopped with SIGTERM. Checks the run path, graceful shutdown and that the token never reaches logs."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from fake_telegram import FakeTelegram

pytestmark = pytest.mark.asyncio(loop_scope="session")
ROOT = Path(__file__).resolve().parent.parent


async def test_bot_process_answers_and_stops_cleanly_on_sigterm(settings, tmp_path):
    fake = FakeTelegram()
    await fake.start()
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_BASE_URL": fake.base_url,
           "ARTICLEBOT_LLM_MODEL": "small", "ARTICLEBOT_INDEX_DIR": str(settings.index_dir),
           "ARTICLEBOT_DATA_DIR": str(tmp_path), "ARTICLEBOT_LOG_LEVEL": "DEBUG"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "start", cwd=ROOT, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await fake.wait_for(lambda: any(m == "getUpdates" for m, _ in fake.calls), 180)
        msg = fake.user_message(201, "Who won the elections in Brazil?")
        reply = await fake.wait_for(
            lambda: next((m for m in fake.replies_to(201, msg["message_id"]) if "does not say" in m.final_text), None), 60)
        assert reply.chat_id == 201
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
        await fake.stop()
    log = stderr.decode()
    assert proc.returncode == 0, log[-2000:]
    assert "event=bot_ready" in log and "event=answer_sent" in log and "event=bot_stopped" in log
    assert fake.token not in log and fake.token.split(":")[1] not in log
    assert (tmp_path / "chats.sqlite3").exists()
