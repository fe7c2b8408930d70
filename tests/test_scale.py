"""Scale-out: chat state in a real PostgreSQL server (started by the tests), webhook delivery with a
secret token, and two webhook replicas sharing one database."""

from __future__ import annotations

import pytest
import pytest_asyncio

from bot.config import ConfigError, Settings
from bot.engine import Turn
from bot.telegram.app import build_application, webhook_options
from bot.telegram.store import ChatStore, StoreError
from fake_telegram import FakeTelegram
from llm_server import free_port
from postgres_server import PostgresServer, postgres_bin
from test_telegram_e2e import answer_to, stop_app

SECRET = "s3cret-token_for-tests"
BIG_CHAT = -1001234567890  # supergroup ids do not fit 32 bits


@pytest.fixture(scope="module")
def postgres():
    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed here (scripts/test.sh installs Debian's package)")
    server = PostgresServer().start()
    yield server
    server.remove()


def test_postgres_store_keeps_bounded_history_sources_and_language(postgres):
    store = ChatStore(postgres.url, max_turns=3)
    for i in range(5):
        store.add_turn(BIG_CHAT, Turn(f"q{i}", f"a{i}", "ar", [i]))
    assert [t.question for t in store.history(BIG_CHAT, 10)] == ["q2", "q3", "q4"]
    assert store.last_sources(BIG_CHAT) == [4] and store.language(BIG_CHAT) == "ar"
    store.reset(BIG_CHAT)
    assert store.history(BIG_CHAT, 10) == [] and store.last_sources(BIG_CHAT) == []
    store.close()


def test_replicas_share_seen_messages_and_keep_their_own_pending_questions(postgres):
    a, b = ChatStore(postgres.url, owner="replica-a"), ChatStore(postgres.url, owner="replica-b")
    assert a.first_time(7, 70) is True
    assert b.first_time(7, 70) is False, "an update handled by one replica is not answered by another"
    a.add_pending(7, 71, "en")
    assert a.pending() == [(7, 71, "en")]
    assert b.pending() == [], "a restarting replica must not tell another replica's askers to ask again"
    a.remove_pending(7, 71)
    assert a.pending() == []
    a.close()
    b.close()


def test_postgres_restart_is_survived_by_reconnecting(postgres):
    store = ChatStore(postgres.url)
    store.add_turn(8, Turn("q", "a", "en", [1]))
    postgres.stop()
    with pytest.raises(StoreError):
        store.history(8, 5)
    store.add_pending(8, 1, "en")  # bookkeeping is best effort: logged, not raised
    postgres.start()
    assert [t.question for t in store.history(8, 5)] == ["q"]
    store.close()


def test_unreachable_database_is_a_clear_startup_error():
    with pytest.raises(StoreError, match="ARTICLEBOT_DATABASE_URL"):
        ChatStore(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")


def test_webhook_settings_are_validated():
    with pytest.raises(ConfigError, match="ARTICLEBOT_WEBHOOK_SECRET"):
        Settings.from_env({"ARTICLEBOT_WEBHOOK_URL": "https://bot.example.org/tg"})
    with pytest.raises(ConfigError, match="may hold only"):
        Settings.from_env({"ARTICLEBOT_WEBHOOK_URL": "https://bot.example.org/tg", "ARTICLEBOT_WEBHOOK_SECRET": "a b"})
    with pytest.raises(ConfigError, match="postgresql://"):
        Settings.from_env({"ARTICLEBOT_DATABASE_URL": "mysql://x"})
    ok = Settings.from_env({"ARTICLEBOT_WEBHOOK_URL": "https://bot.example.org/telegram/hook",
                            "ARTICLEBOT_WEBHOOK_SECRET": SECRET, "ARTICLEBOT_WEBHOOK_PORT": "9000"})
    options = webhook_options(ok)
    assert options["url_path"] == "telegram/hook" and options["port"] == 9000 and options["secret_token"] == SECRET
    assert SECRET not in repr(ok), "secrets never appear in logs of the settings"


async def start_webhook_app(fake: FakeTelegram, settings: Settings, engine, store: ChatStore, replica: str):
    port = free_port()
    settings = settings.with_overrides(
        telegram_token=fake.token, telegram_api_base_url=fake.base_url, edit_interval=0.3, replica_id=replica,
        webhook_url=f"http://127.0.0.1:{port}/hook", webhook_port=port, webhook_secret=SECRET)
    app = build_application(settings, engine, store)
    await app.initialize()
    await app.post_init(app)
    await app.start()
    await app.updater.start_webhook(**webhook_options(settings))
    return app, settings.webhook_url


@pytest_asyncio.fixture(loop_scope="session")
async def fake():
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.mark.asyncio(loop_scope="session")
async def test_webhook_mode_answers_and_refuses_requests_without_the_secret(fake, settings, engine, tmp_path):
    app, url = await start_webhook_app(fake, settings, engine, ChatStore(tmp_path / "c.sqlite3"), "solo")
    try:
        assert fake.webhook == {"url": url, "secret_token": SECRET}, "the bot registered its webhook and secret"
        msg = fake.user_message(6100, "Who won the elections in Brazil?")
        assert await fake.post_update(fake.last_update, secret="wrong") == 403
        assert await fake.post_update(fake.last_update, secret=None) == 403
        assert await fake.post_update(fake.last_update) == 200
        reply = await answer_to(fake, msg, 60)
        assert "does not say" in reply.final_text
        assert len(fake.replies_to(6100, msg["message_id"])) == 1, "the refused posts were never handled"
    finally:
        await stop_app(app)


@pytest.mark.asyncio(loop_scope="session")
async def test_two_webhook_replicas_share_chats_through_postgres(fake, settings, engine, postgres):
    app_a, url_a = await start_webhook_app(fake, settings, engine, ChatStore(postgres.url, owner="a"), "a")
    app_b, url_b = await start_webhook_app(fake, settings, engine, ChatStore(postgres.url, owner="b"), "b")
    try:
        chat = 6200
        first = fake.user_message(chat, "Who is Adrian Watson?")
        assert await fake.post_update(fake.last_update, url_a) == 200
        await answer_to(fake, first, 90)

        sources = fake.user_message(chat, "/sources")  # replica B knows what replica A answered with
        assert await fake.post_update(fake.last_update, url_b) == 200
        shown = (await answer_to(fake, sources, 30)).final_text
        assert "[" in shown and "no sources" not in shown.lower()

        follow = fake.user_message(chat, "And what did she say?")
        update = fake.last_update
        assert await fake.post_update(update, url_b) == 200
        assert await fake.post_update(update, url_a) == 200  # the same update reaching both replicas
        await answer_to(fake, follow, 90)
        await fake.wait_for(lambda: len(ChatStore(postgres.url).history(chat, 10)) == 2, 20)
        assert len(fake.replies_to(chat, follow["message_id"])) == 1, "answered once across replicas"
        history = ChatStore(postgres.url).history(chat, 10)
        assert [t.question for t in history] == ["Who is Adrian Watson?", "And what did she say?"]
    finally:
        await stop_app(app_b)
        await stop_app(app_a)
