"""Units of the Telegram layer that need no server: splitting, escaping, the fair queue, the chat store,
log redaction."""

import io
import logging

import pytest

from bot.engine import Turn
from bot.logs import setup_logging
from bot.telegram.delivery import RLM, rtl, split_message, to_plain
from bot.telegram.handlers import format_answer
from bot.telegram.queue import FairQueue, Job, QueueFull, TooManyPending
from bot.telegram.store import ChatStore


def test_split_message_cuts_after_sentences_and_keeps_everything():
    text = " ".join(f"Sentence number {i} ends here." for i in range(400))
    parts = split_message(text, 1000)
    assert len(parts) > 1
    assert all(len(p) <= 1000 for p in parts)
    assert all(p.endswith(".") for p in parts)
    assert " ".join(parts) == text


def test_split_message_arabic_question_marks_and_no_spaces():
    text = "هل هذا سؤال؟ " * 300
    parts = split_message(text.strip(), 500)
    assert all(p.endswith("؟") for p in parts)
    blob = "x" * 9000
    assert [len(p) for p in split_message(blob, 4096)] == [4096, 4096, 808]


def test_rtl_mark_only_for_arabic():
    assert rtl("[2] نص", "ar").startswith(RLM)
    assert rtl(RLM + "نص", "ar").count(RLM) == 1
    assert rtl("text", "en") == "text"


def test_format_answer_escapes_user_visible_text():
    from bot.engine import Answer

    body, footer = format_answer(Answer("<b>x</b> & <script>", "en", "answer"))
    assert body == "&lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;"
    assert footer == ""
    assert to_plain(body) == "<b>x</b> & <script>"


@pytest.mark.asyncio
async def test_fair_queue_round_robin_positions_and_limits():
    async def noop(job):
        return None

    queue = FairQueue(max_total=5, max_per_user=2)
    a1, a2 = Job(1, 1, noop), Job(1, 1, noop)
    b1 = Job(2, 2, noop)
    assert queue.put(a1) == 0
    assert queue.put(a2) == 1
    assert queue.put(b1) == 1, "user 2 is served before user 1's second question"
    with pytest.raises(TooManyPending):
        queue.put(Job(1, 1, noop))
    assert [await queue.get() for _ in range(3)] == [a1, b1, a2]
    for user in range(10, 15):
        queue.put(Job(user, user, noop))
    with pytest.raises(QueueFull):
        queue.put(Job(99, 99, noop))


@pytest.mark.asyncio
async def test_fair_queue_tells_a_place_in_line_only_when_every_slot_is_busy():
    async def noop(job):
        return None

    queue = FairQueue(max_total=10, max_per_user=3, slots=2)
    assert [queue.put(Job(user, user, noop)) for user in (1, 2)] == [0, 0], "two slots: both start at once"
    queue.running.extend([await queue.get(), await queue.get()])
    assert queue.put(Job(3, 3, noop)) == 1 and queue.put(Job(4, 4, noop)) == 2
    queue.running.pop()
    assert queue.put(Job(5, 5, noop)) == 2, "one slot free, two ahead in line"


@pytest.mark.asyncio
async def test_cancel_chat_drops_waiting_and_signals_running():
    async def noop(job):
        return None

    queue = FairQueue(10, 3)
    running = Job(1, 1, noop)
    queue.running.append(running)
    queue.put(Job(1, 1, noop))
    queue.put(Job(2, 2, noop))
    dropped = queue.cancel_chat(1)
    assert len(dropped) == 2 and dropped[-1] is running
    assert running.cancel.is_set()
    assert len(queue) == 1
    assert len(queue.cancel_chat(None)) == 2 and len(queue) == 0


def test_chat_store_bounded_history_survives_reopen(tmp_path):
    store = ChatStore(tmp_path / "c.sqlite3", max_turns=3)
    for i in range(5):
        store.add_turn(7, Turn(f"q{i}", f"a{i}", "en", [i]))
    assert [t.question for t in store.history(7, 10)] == ["q2", "q3", "q4"]
    assert store.last_sources(7) == [4]
    store.close()
    again = ChatStore(tmp_path / "c.sqlite3", max_turns=3)
    assert [t.question for t in again.history(7, 2)] == ["q3", "q4"]
    assert again.language(7) == "en"
    again.reset(7)
    assert again.history(7, 10) == [] and again.last_sources(7) == []
    assert again.history(8, 10) == []


def test_token_never_reaches_the_logs():
    token = "123456:SECRET-token-value"
    stream = io.StringIO()
    setup_logging("INFO", [token], stream=stream)
    log = logging.getLogger("articlebot.test")
    log.info("event=request url=https://api.telegram.org/bot%s/getUpdates", token)
    try:
        raise RuntimeError(f"failed calling bot{token}/sendMessage")
    except RuntimeError:
        log.exception("event=failure")
    output = stream.getvalue()
    assert "SECRET" not in output
    assert output.count("***") >= 2
    setup_logging("WARNING")


def test_a_logged_event_is_one_line_and_library_chatter_goes_to_the_log_file(tmp_path):
    import warnings

    stream = io.StringIO()
    log_file = tmp_path / "setup.log"
    setup_logging("INFO", [], stream=stream, log_file=log_file)
    try:
        raise ValueError("first line\nsecond line")
    except ValueError:
        logging.getLogger("telegram.ext.Updater").error("polling failed", exc_info=True)
    logging.getLogger("onnxruntime.quantization").info("Quantization parameters for tensor x not specified")
    warnings.warn("Converting a tensor to a Python boolean might cause the trace to be incorrect")
    logging.getLogger("articlebot.setup").info("event=step_done")
    terminal = stream.getvalue().splitlines()
    setup_logging("WARNING")
    assert len(terminal) == 2, terminal
    assert "exception=ValueError" in terminal[0] and "second line" in terminal[0], "the traceback is one line"
    assert terminal[1].endswith("event=step_done")
    in_file = log_file.read_text(encoding="utf-8")
    assert "Quantization parameters" in in_file and "trace to be incorrect" in in_file
    assert "Quantization" not in stream.getvalue()


def test_user_rate_limit_sliding_window():
    from bot.telegram.ratelimit import UserRateLimit

    now = [0.0]
    limit = UserRateLimit(3, 60.0, clock=lambda: now[0])
    assert [limit.allow(1) for _ in range(4)] == [True, True, True, False]
    assert limit.allow(2), "other users are not affected"
    now[0] = 59.0
    assert not limit.allow(1)
    now[0] = 60.5
    assert limit.allow(1), "the window slid past the first questions"
    assert all(UserRateLimit(0).allow(1) for _ in range(100))
