"""The ARTICLEBOT_LLM_URL backend against a real OpenAI-compatible server: llama-cpp-python's own
(`llama_cpp.server`) with the small model, started and killed by the tests."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.engine import Engine, Turn
from bot.llm import LLMUnavailable
from bot.llm_remote import RemoteLLM
from bot.models import resolve_model_path
from fake_telegram import FakeTelegram
from llm_server import LlamaServer, free_port
from test_telegram_e2e import answer_to, start_app, stop_app

UNREACHABLE = "غير متاحة"  # the Arabic "answering service is unreachable" message


@pytest.fixture(scope="module")
def server(settings, tmp_path_factory):
    model = resolve_model_path(settings, "small", "gguf")
    llama = LlamaServer(model, settings.n_ctx, settings.threads, tmp_path_factory.mktemp("server") / "log").start()
    yield llama
    llama.kill()


def remote_engine(settings, engine, url: str, timeout: float = 60.0) -> Engine:
    llm = RemoteLLM(url, "", "", settings.n_ctx, timeout)
    return Engine(settings.with_overrides(llm_url=url), engine.article, engine.index, engine.embedder, llm,
                  engine.prompts)


def test_server_backend_streams_a_grounded_answer_in_the_whole_article_layout(settings, engine, server):
    remote = remote_engine(settings, engine, server.url)
    assert remote.mode == "article", "the article fits: it is the fixed first message, cached by the server"
    remote.warm()
    items = list(remote.stream_answer("أين يتوقع أن يلتقي بوتين وكيم؟"))
    final, pieces = items[-1], items[:-1]
    assert remote.llm.model == "articlebot-test", "the model name is taken from the server's /models"
    assert len(pieces) >= 2, "the answer arrives in pieces"
    assert final.language == "ar" and final.sources
    assert final.timings["completion_tokens"] >= 2
    assert final.kind in ("answer", "unconfirmed")


def test_server_backend_follow_up_uses_the_history(settings, engine, server):
    remote = remote_engine(settings, engine, server.url)
    history = [Turn("Who is Adrian Watson?", "A spokeswoman of the US National Security Council.", "en", [1])]
    final = remote.answer("And what did she say?", history)
    assert final.language == "en"
    assert final.query.startswith("Who is Adrian Watson?"), "the follow-up is searched with the previous question"
    assert final.timings["completion_tokens"] >= 1


def test_prefix_is_cached_by_the_server(settings, engine, server):
    """A question after the warm-up reuses the server's cached article prefix: its first token comes far
    sooner than the same question's after another system prompt took the server's cache (measured against
    each other in the same run, so a busy machine slows both alike)."""
    remote = remote_engine(settings, engine, server.url)
    question = "من هو شويغو؟"
    remote.warm()
    cached = remote.answer(question).timings["first_token_s"]
    for _ in remote.llm.stream("You answer briefly.", "Say hello.", 2):
        pass  # the server's one cache slot now holds this prompt, not the article
    cold = remote.answer(question).timings["first_token_s"]
    assert cached < cold / 3, f"cached prefix {cached:.1f} s against a cold prompt {cold:.1f} s"


def test_unreachable_server_is_a_clear_error_after_retries(settings, engine):
    llm = RemoteLLM(f"http://127.0.0.1:{free_port()}", "m", "", settings.n_ctx, 5)
    started = time.perf_counter()
    with pytest.raises(LLMUnavailable, match="cannot reach"):
        list(llm.stream("system", "question", 10))
    assert 3.0 < time.perf_counter() - started < 15, "retried with backoff, then gave up"


@pytest.mark.asyncio(loop_scope="session")
async def test_bot_on_server_backend_survives_the_server_dying_mid_answer(settings, engine, tmp_path):
    model = resolve_model_path(settings, "small", "gguf")
    llama = LlamaServer(model, settings.n_ctx, settings.threads, tmp_path / "server.log").start()
    remote = remote_engine(settings, engine, llama.url, timeout=30)
    remote.warm()
    fake = FakeTelegram()
    await fake.start()
    app = await start_app(fake, settings, remote, tmp_path, edit_interval=0.0)
    try:
        msg = fake.user_message(5100, "اشرح بالتفصيل موقف الصين من التقارب الروسي الكوري وما قاله المتحدث باسم الخارجية")

        # killed while the server holds the question: once the bot shows "typing" (it asks the server right
        # after), not when text shows (a short answer may be complete by then)
        await fake.wait_for(lambda: any(m == "sendChatAction" and str(p.get("chat_id")) == "5100"
                                        for m, p in fake.calls), 120)
        await asyncio.sleep(0.3)
        llama.kill()
        reply = await answer_to(fake, msg, 60)
        assert UNREACHABLE in reply.final_text, "the half answer became a clear 'service unreachable' message"
        assert len(fake.replies_to(5100, msg["message_id"])) == 1

        down = fake.user_message(5100, "من هو شويغو؟")
        assert UNREACHABLE in (await answer_to(fake, down, 60)).final_text

        llama.start()  # the same port: the bot recovers without a restart
        again = fake.user_message(5100, "Who won the elections in Brazil?")
        text = (await answer_to(fake, again, 120)).final_text
        assert UNREACHABLE not in text and "unreachable" not in text
        assert app.bot_data["ctx"].stats.errors == 2
    finally:
        await stop_app(app)
        await fake.stop()
        llama.kill()
