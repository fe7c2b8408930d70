"""`systemctl stop` on a running bot: SIGTERM ends the process within 5 s in every state, and questions it
did not answer stay recorded, so their askers are told to ask again (now, or after the restart)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from bot.messages import message
from fake_telegram import FakeTelegram

pytestmark = pytest.mark.asyncio(loop_scope="session")
ROOT = Path(__file__).resolve().parent.parent
STOP_WITHIN_S = 5.0
LONG_QUESTION = "اشرح بالتفصيل موقف الصين من التقارب الروسي الكوري وما قاله المتحدث باسم الخارجية"


async def start_bot(fake: FakeTelegram, settings, data_dir: Path, **env_extra: str):
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_BASE_URL": fake.base_url,
           "ARTICLEBOT_LLM_MODEL": "small", "ARTICLEBOT_INDEX_DIR": str(settings.index_dir),
           "ARTICLEBOT_DATA_DIR": str(data_dir), "ARTICLEBOT_EDIT_INTERVAL": "0", **env_extra}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "start", cwd=ROOT, env=env,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    await fake.wait_for(lambda: any(m == "getUpdates" for m, _ in fake.calls), 180)
    return proc


async def sigterm_seconds(proc) -> tuple[float, str]:
    started = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
    return time.perf_counter() - started, stderr.decode()


def pending(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "chats.sqlite3") as db:
        return db.execute("SELECT COUNT(*) FROM pending").fetchone()[0]


async def test_sigterm_mid_answer_with_a_full_queue_stops_quickly_and_tells_the_askers(settings, tmp_path):
    fake = FakeTelegram()
    await fake.start()
    try:
        proc = await start_bot(fake, settings, tmp_path, ARTICLEBOT_MAX_QUEUE="2")
        running = fake.user_message(301, LONG_QUESTION)
        await fake.wait_for(lambda: fake.replies_to(301, running["message_id"]), 120)
        waiting = [fake.user_message(302 + i, "من هو شويغو؟") for i in range(3)]  # the queue holds 2
        await fake.wait_for(lambda: len(fake.replies_to(304, waiting[2]["message_id"])) >= 1, 30)
        seconds, log = await sigterm_seconds(proc)
        assert seconds < STOP_WITHIN_S, f"stopped after {seconds:.1f} s\n{log[-1500:]}"
        assert proc.returncode == 0, log[-1500:]
        assert "event=bot_stopped" in log
        told = [m for m in fake.sent.values() if message("restarted", "ar") in m.final_text]
        assert len({m.chat_id for m in told}) + pending(tmp_path) >= 2, "every unanswered asker is told or recorded"
    finally:
        await fake.stop()


async def test_sigterm_while_the_bot_api_is_gone_stops_quickly_and_keeps_the_unanswered(settings, tmp_path):
    fake = FakeTelegram()
    await fake.start()
    proc = await start_bot(fake, settings, tmp_path)
    try:
        msg = fake.user_message(311, LONG_QUESTION)
        await fake.wait_for(lambda: any(m == "sendChatAction" for m, _ in fake.calls), 60)
    finally:
        await fake.stop()  # the Bot API goes away mid-answer: every call now fails to connect
    await asyncio.sleep(1.0)
    seconds, log = await sigterm_seconds(proc)
    assert seconds < STOP_WITHIN_S, f"stopped after {seconds:.1f} s\n{log[-1500:]}"
    assert proc.returncode == 0, log[-1500:]
    assert pending(tmp_path) == 1, f"the unanswered question {msg['message_id']} stays recorded for the restart"


async def test_sigterm_while_polling_a_bot_api_that_is_gone_stops_quickly(settings, tmp_path):
    fake = FakeTelegram()
    await fake.start()
    proc = await start_bot(fake, settings, tmp_path)
    await fake.stop()
    await asyncio.sleep(8.0)  # long enough for the poller to be in its retry backoff
    seconds, log = await sigterm_seconds(proc)
    assert seconds < STOP_WITHIN_S, f"stopped after {seconds:.1f} s\n{log[-1500:]}"
    assert proc.returncode == 0, log[-1500:]
