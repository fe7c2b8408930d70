"""The real python-telegram-bot Application, over HTTP, against the fake Bot API server, with the real
engine (small LLM). Only Telegram's servers are faked."""

from __future__ import annotations

import asyncio
import html
import threading

import pytest
import pytest_asyncio

from bot.messages import message
from bot.telegram.app import build_application
from bot.telegram.delivery import RLM, StreamingReply
from bot.telegram.store import ChatStore
from bot.text import answer_language_ok, arabic_ratio
from fake_telegram import BOT_USERNAME, FakeTelegram

pytestmark = pytest.mark.asyncio(loop_scope="session")

QUEUE_NOTICE = ("in line", "في الدور")


def is_final(sent) -> bool:
    text = sent.final_text
    return not text.endswith("▌") and not any(n in text for n in QUEUE_NOTICE)


def body_of(sent) -> str:
    """The answer's text without its sources footer."""
    return sent.final_text.split("\n\n")[0]


async def answer_to(fake: FakeTelegram, user_message: dict, timeout: float = 120):
    chat_id = user_message["chat"]["id"]
    message_id = user_message["message_id"]

    def done():
        replies = [m for m in fake.replies_to(chat_id, message_id) if is_final(m)]
        return replies[0] if replies else None

    return await fake.wait_for(done, timeout)


async def start_app(fake: FakeTelegram, settings, engine, data_dir, **overrides):
    overrides = {"edit_interval": 0.3, **overrides}
    settings = settings.with_overrides(telegram_token=fake.token, telegram_api_base_url=fake.base_url,
                                       data_dir=data_dir, **overrides)
    app = build_application(settings, engine, ChatStore(data_dir / "chats.sqlite3"))
    await app.initialize()
    await app.post_init(app)
    await app.start()
    await app.updater.start_polling(poll_interval=0.0, timeout=1)
    return app


async def stop_app(app) -> None:
    """The order python-telegram-bot's run_polling uses."""
    await app.updater.stop()
    await app.stop()
    await app.post_stop(app)
    await app.shutdown()
    await app.post_shutdown(app)


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def fake():
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("botdata")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def app(fake, settings, engine, data_dir):
    application = await start_app(fake, settings, engine, data_dir)
    yield application
    await stop_app(application)


async def test_commands_are_registered_in_both_languages(app, fake):
    await fake.wait_for(lambda: None in fake.commands and "ar" in fake.commands, 10)
    names = {c["command"] for c in fake.commands[None]}
    assert {"start", "help", "summary", "sources", "reset", "cancel"} <= names
    assert any("ملخص" in c["description"] for c in fake.commands["ar"])


async def test_start_shows_title_and_source_in_both_languages(app, fake):
    msg = fake.user_message(101, "/start")
    reply = await answer_to(fake, msg)
    assert "نقلة روسيّة" in reply.text and "الأخبار" in reply.text
    assert "Hello" in reply.text and "أهلاً" in reply.text
    assert reply.parse_mode == "HTML"


async def test_arabic_question_answered_in_arabic_with_sources(app, fake):
    msg = fake.user_message(102, "أين يتوقع أن يلتقي بوتين وكيم؟", language_code="en")
    reply = await answer_to(fake, msg)
    body = reply.final_text.split("\n\n")[0]
    assert body.startswith(RLM)
    assert arabic_ratio(body) > 0.5
    assert (102, "typing") in fake.actions


async def test_english_question_answered_in_english(app, fake):
    msg = fake.user_message(103, "Who is Adrian Watson?", language_code="ar")
    reply = await answer_to(fake, msg)
    body = reply.final_text.split("\n\n")[0]
    assert answer_language_ok(body, "en") and not body.startswith(RLM), "English, the article's words quoted «...»"


async def test_follow_up_uses_history_and_sources_show_the_passages(app, fake):
    first = fake.user_message(104, "Which Russian minister visited Pyongyang in July?")
    await answer_to(fake, first)
    follow = fake.user_message(104, "Who went with him?")
    await answer_to(fake, follow)
    store: ChatStore = app.bot_data["ctx"].store
    history = store.history(104, 10)
    assert [t.question for t in history] == ["Which Russian minister visited Pyongyang in July?", "Who went with him?"]
    sources = fake.user_message(104, "/sources")
    reply = await answer_to(fake, sources)
    assert "كريفوروتشكو" in reply.text, "the follow-up found the passage naming Shoigu's companion"


async def test_summary_names_its_passages_and_sources_shows_them(app, fake, engine):
    msg = fake.user_message(105, "/summary en")
    reply = await answer_to(fake, msg, timeout=180)
    assert reply.final_text.startswith("- ") and len(reply.final_text) > 40
    again = fake.user_message(105, "/summary en")
    cached = await answer_to(fake, again, timeout=10)
    assert cached.final_text == reply.final_text
    held = engine.summary("en").sources  # served from the cache the bot just wrote
    numbers = " ".join(f"[{h.chunk.id + 1}]" for h in held)
    assert held and f"{numbers} · /sources" in reply.final_text
    sources = fake.user_message(105, "/sources")
    first_part = await answer_to(fake, sources)
    await asyncio.sleep(1.0)
    shown = "\n".join(m.text for m in fake.to_chat(105) if m.message_id >= first_part.message_id)
    assert all(f"[{h.chunk.id + 1}]" in shown and h.chunk.text[:40] in shown for h in held)
    others = [c for c in engine.index.chunks if c not in [h.chunk for h in held]]
    assert not any(f"[{c.id + 1}]" in shown for c in others)


async def test_reset_forgets_the_chat(app, fake):
    msg = fake.user_message(106, "Who is Adrian Watson?")
    await answer_to(fake, msg)
    store: ChatStore = app.bot_data["ctx"].store
    assert store.history(106, 10)
    reset = fake.user_message(106, "/reset")
    reply = await answer_to(fake, reset)
    assert "forgotten" in reply.text
    assert store.history(106, 10) == [] and store.last_sources(106) == []


async def test_429_is_retried_after_retry_after(app, fake):
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    msg = fake.user_message(107, "/help")
    reply = await answer_to(fake, msg, timeout=30)
    assert "/summary" in reply.text
    statuses = [m for m, _ in fake.calls if m == "sendMessage"]
    assert len(statuses) >= 2


async def test_rejected_html_is_resent_as_plain_text(app, fake):
    fake.fail_next("sendMessage", 400, "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 3")
    msg = fake.user_message(108, "/start")
    reply = await answer_to(fake, msg, timeout=30)
    assert reply.parse_mode is None
    assert "<b>" not in reply.text and "نقلة روسيّة" in reply.text


async def test_sticker_photo_voice_get_a_short_note(app, fake):
    for extra in ({"sticker": {"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1, "height": 1,
                               "is_animated": False, "is_video": False}},
                  {"photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]},
                  {"location": {"latitude": 1.0, "longitude": 2.0}}):
        msg = fake.user_message(109, None, extra=extra)
        reply = await answer_to(fake, msg, timeout=30)
        assert "only read text" in reply.text


async def test_too_long_and_unknown_command(app, fake):
    msg = fake.user_message(110, "Why? " * 500)
    reply = await answer_to(fake, msg, timeout=30)
    assert "too long" in reply.text and "2000" in reply.text
    msg = fake.user_message(110, "/frobnicate")
    reply = await answer_to(fake, msg, timeout=30)
    assert "do not know that command" in reply.text


async def test_edited_message_does_not_cause_a_second_answer(app, fake):
    msg = fake.user_message(111, "Who won the elections in Brazil?")
    reply = await answer_to(fake, msg)
    assert "does not say" in reply.final_text
    fake.user_message(111, "Who won the elections in Brazil??", edited=True, extra={"message_id": msg["message_id"]})
    await asyncio.sleep(2.0)
    assert len(fake.to_chat(111)) == 1


async def test_two_users_at_once_are_answered_together_each_in_their_language(app, fake, engine):
    steps_before = engine.llm.scheduler.stats.batched_steps
    a = fake.user_message(112, "What did the United States do at Camp David?")
    b = fake.user_message(113, "ما موقف الصين من التقارب الروسي الكوري؟")
    first, second = await asyncio.gather(answer_to(fake, a, 180), answer_to(fake, b, 180))
    assert answer_language_ok(body_of(first), "en") and arabic_ratio(body_of(second)) > 0.5
    assert engine.llm.scheduler.stats.batched_steps > steps_before, "the two answers shared decoding steps"
    notices = [m for m in fake.sent.values() if m.chat_id in (112, 113) and any(n in m.text for n in QUEUE_NOTICE)]
    assert not notices, "with free slots nobody is told to wait"


async def test_cancel_in_one_chat_leaves_the_other_answer_whole(app, fake):
    cancelled = fake.user_message(116, "What did Kim Jong Un say about Russia's war?")
    other = fake.user_message(117, "Who accompanied Shoigu to North Korea?")
    await fake.wait_for(lambda: (116, "typing") in fake.actions, 60)  # its answer is being written
    command = fake.user_message(116, "/cancel")
    assert (await answer_to(fake, command, 60)).final_text == "Cancelled."
    reply = await answer_to(fake, cancelled, 180)
    assert reply.final_text == "Cancelled.", reply.final_text
    answer = await answer_to(fake, other, 180)
    assert answer.final_text != "Cancelled." and answer_language_ok(body_of(answer), "en"), answer.final_text
    assert "[" in answer.final_text or "does not say" in answer.final_text, "a whole answer: cited or refused"


async def test_a_burst_beyond_the_slots_waits_in_fair_order_and_all_are_answered(settings, engine, tmp_path,
                                                                                 monkeypatch):
    """Two slots, held until every later question is in line: then one user's second question is served after
    the other users' first ones, and everyone is answered."""
    started: list[str] = []
    hold = threading.Event()
    busy_questions = ("Who is Sergei Shoigu?", "Who is John Kirby?")
    real = engine.stream_answer

    def observed(question, history=None, cancel=None):  # runs in the job's worker thread
        started.append(question)
        if question in busy_questions:
            hold.wait(120)
        return real(question, history, cancel)

    def told_to_wait(chat_id: int) -> int:
        return sum(any(n in m.text for n in QUEUE_NOTICE) for m in fake.to_chat(chat_id))

    monkeypatch.setattr(engine, "stream_answer", observed)
    fake = FakeTelegram()  # its own server: the module's app would take these updates too
    await fake.start()
    application = await start_app(fake, settings, engine, tmp_path, slots=2)
    try:
        busy = [fake.user_message(131 + i, q) for i, q in enumerate(busy_questions)]
        await fake.wait_for(lambda: len(started) == 2, 60)
        same_user = [fake.user_message(133, f"What was {w} about Kim and Putin?") for w in ("said", "agreed")]
        await fake.wait_for(lambda: told_to_wait(133) == 2, 60)
        others = []
        for chat_id, question in ((134, "Where will Putin and Kim meet?"), (135, "ماذا قالت واشنطن؟")):
            others.append(fake.user_message(chat_id, question))
            await fake.wait_for(lambda: told_to_wait(chat_id), 60)
        hold.set()
        replies = [await answer_to(fake, m, 300) for m in [*busy, *same_user, *others]]
    finally:
        hold.set()
        await stop_app(application)
        await fake.stop()
    failures = {message(key, lang) for key in ("error", "llm_unavailable") for lang in ("en", "ar")}
    assert all(r.final_text and not any(f in r.final_text for f in failures) for r in replies)
    assert started[2:] == ["What was said about Kim and Putin?", "Where will Putin and Kim meet?", "ماذا قالت واشنطن؟",
                           "What was agreed about Kim and Putin?"], started


async def test_one_user_cannot_flood_the_queue(app, fake):
    messages = [fake.user_message(114, f"Question number {i} about Kim and Putin?") for i in range(4)]
    await fake.wait_for(lambda: any("already have a question waiting" in m.text for m in fake.to_chat(114)), 60)
    for msg in messages[:2]:
        await answer_to(fake, msg, 180)


async def test_group_messages_need_a_mention_reply_or_ask(app, fake):
    silent = fake.user_message(115, "Where are Putin and Kim expected to meet?", chat_id=-500, chat_type="group")
    await asyncio.sleep(2.0)
    assert fake.replies_to(-500, silent["message_id"]) == []
    mentioned = fake.user_message(115, f"@{BOT_USERNAME} Where are Putin and Kim expected to meet?",
                                  chat_id=-500, chat_type="group")
    assert await answer_to(fake, mentioned)
    asked = fake.user_message(116, "/ask Who is Adrian Watson?", chat_id=-500, chat_type="group")
    assert await answer_to(fake, asked)


async def test_long_answers_split_on_sentence_boundaries(app, fake):
    """The streaming reply used for answers, against the fake server: a 9,000-character final text."""
    sentence = "هذه جملة طويلة من جمل المقال تنتهي بنقطة. "
    text = html.escape(sentence * 220)
    streamer = StreamingReply(app.bot, 120, None, "ar", interval=0.0)
    await streamer.update("بداية")
    ids = await streamer.finish(text, "\n\n<i>Sources: [1]</i>")
    assert len(ids) == 3
    parts = [fake.sent[i].final_text for i in ids]
    assert all(len(p) <= 4096 for p in parts)
    assert all(p.rstrip().endswith(".") for p in parts[:-1])
    assert parts[-1].endswith("</i>")


async def test_allowlist_refuses_politely_and_does_nothing_else(fake, settings, engine, tmp_path):
    private_fake = FakeTelegram()
    await private_fake.start()
    application = await start_app(private_fake, settings, engine, tmp_path, allowed_users=frozenset({1}))
    try:
        msg = private_fake.user_message(2, "Where are Putin and Kim expected to meet?")
        reply = await answer_to(private_fake, msg, 30)
        assert "private" in reply.text
        await asyncio.sleep(1.0)
        assert len(private_fake.to_chat(2)) == 1
        assert not [a for a in private_fake.actions if a[0] == 2], "no work was started for a refused user"
    finally:
        await stop_app(application)
        await private_fake.stop()


async def test_restart_keeps_the_chat_history(settings, engine, tmp_path):
    server = FakeTelegram()
    await server.start()
    try:
        application = await start_app(server, settings, engine, tmp_path)
        msg = server.user_message(130, "Who is Adrian Watson?")
        await answer_to(server, msg)
        await stop_app(application)
        application = await start_app(server, settings, engine, tmp_path)
        try:
            history = application.bot_data["ctx"].store.history(130, 10)
            assert [t.question for t in history] == ["Who is Adrian Watson?"]
            sources = server.user_message(130, "/sources")
            reply = await answer_to(server, sources, 30)
            assert history[0].chunk_ids and all(f"[{cid + 1}]" in reply.text for cid in history[0].chunk_ids), \
                "the passages behind the answer before the restart"
            await asyncio.sleep(1.5)
            assert len(server.replies_to(130, msg["message_id"])) == 1, "old updates are not answered twice"
        finally:
            await stop_app(application)
    finally:
        await server.stop()


async def test_llm_failure_gets_an_apology_and_the_bot_keeps_serving(fake, settings, engine, tmp_path):
    """A question too long for the model's context makes llama.cpp refuse it: a real engine error."""
    server = FakeTelegram()
    await server.start()
    application = await start_app(server, settings, engine, tmp_path, max_message_chars=100_000)
    try:
        huge = engine.article.body * 3  # on topic, so it passes retrieval, but ~9,000 tokens
        msg = server.user_message(140, huge)
        reply = await answer_to(server, msg, 120)
        assert "حدث خطأ" in reply.final_text  # the apology, in the language of the (Arabic) question
        after = server.user_message(140, "/help")
        assert "/summary" in (await answer_to(server, after, 30)).text
        again = server.user_message(140, "Who won the elections in Brazil?")
        assert "does not say" in (await answer_to(server, again, 60)).final_text
        assert application.bot_data["ctx"].stats.errors == 1
    finally:
        await stop_app(application)
        await server.stop()


async def test_a_withdrawn_wording_is_replaced_in_the_chat(settings, engine, tmp_path, monkeypatch):
    """When the pipeline withdraws what it streamed (an English wording that failed its check), the message
    stops showing that text at once, shows the note, and ends with the final answer. The engine's stream is
    scripted here: what is tested is the delivery of a Retraction through the real Bot API calls."""
    from bot.engine import Answer, Retraction

    note = "In the article's own words: «في فلاديفوستوك»"
    final = Answer(f"{note} [2]", "en", "answer", engine.answer("Where are Putin and Kim expected to meet?").sources)

    def scripted(question, history=None, cancel=None):
        yield from ["They meet in ", "Seoul in 1999.", Retraction(note), final]

    scripted_engine = engine.with_overrides()
    monkeypatch.setattr(scripted_engine, "stream_answer", scripted)
    server = FakeTelegram()  # its own server: the module's app must not take these updates
    await server.start()
    application = await start_app(server, settings, scripted_engine, tmp_path)
    try:
        msg = server.user_message(150, "Where are Putin and Kim expected to meet?")
        reply = await answer_to(server, msg, 120)
        shown = [reply.text, *reply.edits]
        assert any(html.escape(note) in text for text in shown), shown
        assert "Seoul" not in reply.final_text and "فلاديفوستوك" in reply.final_text
    finally:
        await stop_app(application)
        await server.stop()
