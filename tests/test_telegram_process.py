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
        assert (await refusal_to(fake, 201, msg)).chat_id == 201
        log = await stop_with_sigterm(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
        await fake.stop()
    assert proc.returncode == 0, log[-2000:]
    assert "event=bot_ready" in log and "event=answer_sent" in log and "event=bot_stopped" in log
    assert fake.token not in log and fake.token.split(":")[1] not in log
    assert (tmp_path / "chats.sqlite3").exists()


async def test_webhook_process_with_postgres_answers_checks_the_secret_and_stops_on_sigterm(settings, tmp_path):
    """`articlebot telegram --webhook` as a replica runs it: webhook server, shared state in PostgreSQL."""
    from llm_server import free_port
    from postgres_server import PostgresServer, postgres_bin

    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed here (scripts/test.sh installs Debian's package)")
    postgres = PostgresServer().start()
    fake = FakeTelegram()
    await fake.start()
    port, secret = free_port(), "replica-secret_1"
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_BASE_URL": fake.base_url,
           "ARTICLEBOT_LLM_MODEL": "small", "ARTICLEBOT_INDEX_DIR": str(settings.index_dir),
           "ARTICLEBOT_DATA_DIR": str(tmp_path), "ARTICLEBOT_WEBHOOK_SECRET": secret,
           "ARTICLEBOT_DATABASE_URL": postgres.url, "ARTICLEBOT_REPLICA_ID": "replica-1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "telegram", "--webhook", "--webhook-url", f"http://127.0.0.1:{port}/tg/hook",
        "--port", str(port), cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await fake.wait_for(lambda: fake.webhook is not None, 180)
        assert fake.webhook == {"url": f"http://127.0.0.1:{port}/tg/hook", "secret_token": secret}
        msg = fake.user_message(202, "Who won the elections in Brazil?")
        await wait_for_port(port, 60)  # Telegram may post as soon as the webhook is set; the server follows
        assert await fake.post_update(fake.last_update, secret="not-the-secret") == 403
        assert await fake.post_update(fake.last_update) == 200
        assert (await refusal_to(fake, 202, msg)).chat_id == 202
        log = await stop_with_sigterm(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
        await fake.stop()
        postgres.remove()
    assert proc.returncode == 0, log[-2000:]
    assert "mode=webhook" in log and "event=answer_sent" in log and "event=bot_stopped" in log
    assert secret not in log and fake.token not in log
    assert not (tmp_path / "chats.sqlite3").exists(), "state went to PostgreSQL"


async def wait_for_port(port: int, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def refusal_to(fake: FakeTelegram, chat_id: int, msg: dict):
    return await fake.wait_for(lambda: next(
        (m for m in fake.replies_to(chat_id, msg["message_id"]) if "does not say" in m.final_text), None), 60)


async def stop_with_sigterm(proc) -> str:
    """SIGTERM, wait for the exit, return what the process logged."""
    proc.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    return stderr.decode()
