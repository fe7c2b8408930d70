"""The `articlebot` command as a user runs it: clear one-line errors, JSON output, the terminal chat."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, env: dict | None = None, stdin: str | None = None, timeout: int = 300):
    full_env = {**os.environ, "ARTICLEBOT_LLM_MODEL": "small", **(env or {})}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, env=full_env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args,env,needle", [
    (["ask", "  "], {}, "the question is empty"),
    (["ask", "hi", "--article", "/nonexistent/article.txt"], {}, "article not found"),
    (["ask", "hi", "--model", "/nonexistent/model.gguf"], {}, "model not found: /nonexistent/model.gguf"),
    (["ask", "hi"], {"ARTICLEBOT_HISTORY_TURNS": "many"}, "ARTICLEBOT_HISTORY_TURNS='many' is not a whole number"),
    (["ask", "hi"], {"ARTICLEBOT_THREADS": "0"}, "ARTICLEBOT_THREADS=0 must be at least 1"),
    (["ask", "hi"], {"ARTICLEBOT_LOG_LEVEL": "loud"}, "ARTICLEBOT_LOG_LEVEL='loud': use one of"),
    (["telegram"], {"TELEGRAM_BOT_TOKEN": ""}, "TELEGRAM_BOT_TOKEN is not set"),
    (["telegram", "--webhook"], {"TELEGRAM_BOT_TOKEN": "1:x"}, "--webhook needs the public URL"),
    (["telegram", "--webhook-url", "https://bot.example.org/tg"], {"TELEGRAM_BOT_TOKEN": "1:x"},
     "webhook mode needs ARTICLEBOT_WEBHOOK_SECRET"),
    (["ask", "hi"], {"ARTICLEBOT_LLM_URL": "localhost:8080"}, "must start with http:// or https://"),
    (["telegram"], {"TELEGRAM_BOT_TOKEN": "1:x", "ARTICLEBOT_DATABASE_URL": "postgresql://u@127.0.0.1:1/db"},
     "cannot connect to ARTICLEBOT_DATABASE_URL"),
])
def test_bad_input_gets_one_line_and_exit_2(args, env, needle):
    result = run(*args, env=env)
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("articlebot: error:")


def test_unreadable_article_is_explained(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    result = run("ask", "hi", "--article", str(bad))
    assert result.returncode == 2 and "not UTF-8" in result.stderr


def test_ask_json(tmp_path):
    result = run("ask", "Where are Putin and Kim expected to meet?", "--json",
                 env={"ARTICLEBOT_INDEX_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["language"] == "en"
    assert data["sources"] and {"chunk_id", "text", "score"} <= set(data["sources"][0])
    assert "فلاديفوستوك" in " ".join(s["text"] for s in data["sources"])
    assert data["timings"]["retrieval_s"] >= 0


def test_terminal_chat_commands(tmp_path):
    script = "\n".join(["/help", "/sources", "Who won the elections in Brazil?", "/sources", "/nonsense", "/reset", "/quit"])
    result = run("chat", env={"ARTICLEBOT_INDEX_DIR": str(tmp_path)}, stdin=script + "\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "نقلة روسيّة" in out  # the article's title in the welcome
    assert "/summary" in out
    assert "no sources yet" in out
    assert "The article does not say." in out
    assert "unknown command /nonsense" in out
    assert "conversation forgotten" in out


def test_unusable_data_directory_is_a_clear_startup_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "123:abc-secret-token", "ARTICLEBOT_DATA_DIR": str(blocker / "data")}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "telegram"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    assert "cannot open the chat database" in result.stderr and "ARTICLEBOT_DATA_DIR" in result.stderr
    assert "Traceback" not in result.stderr and "abc-secret-token" not in result.stderr


def test_terminal_chat_shows_a_withdrawn_answer_as_withdrawn():
    """The printer the terminal chat uses: text streamed before a Retraction stays on screen (a terminal cannot
    unprint), so the note goes on a new line and the final answer is printed after it in full."""
    import io

    from bot.cli import _stream_to
    from bot.engine import Answer, Retraction

    out = io.StringIO()
    final = Answer("They meet in Vladivostok. [2]", "en", "answer")
    stream = iter(["They meet in ", "Seoul.", Retraction("reading the passages again …"), "They meet in ",
                   "Vladivostok.", final])
    assert _stream_to(out, stream) is final
    lines = out.getvalue().splitlines()
    assert lines == ["They meet in Seoul.", "↳ reading the passages again …", "They meet in Vladivostok. [2]"]


def test_terminal_chat_prints_a_streamed_answer_once():
    """The stream's blanks may differ from the final text's (a quote is stripped): the answer is printed once,
    then only its citation."""
    import io

    from bot.cli import _stream_to
    from bot.engine import Answer

    out = io.StringIO()
    final = Answer("في فلاديفوستوك [2]\n«حيث يتوقع أن يلتقي الرئيسان في فلاديفوستوك»", "ar", "answer")
    _stream_to(out, iter([" في ", "فلاديفوستوك ", " [2]\n«حيث يتوقع أن يلتقي الرئيسان في فلاديفوستوك»", final]))
    assert out.getvalue().count("فلاديفوستوك") == 2, "the quote once, the evidence sentence once"
    assert "↳" not in out.getvalue()
    assert out.getvalue().rstrip().endswith("»"), "it ends with its citation"


def test_terminal_chat_does_not_repeat_a_withdrawn_answers_note():
    """A wording withdrawn for the article's own words: the note is the answer's start, printed once."""
    import io

    from bot.cli import _stream_to
    from bot.engine import Answer, Retraction

    out = io.StringIO()
    kept = "In the article's own words: «في فلاديفوستوك»"
    final = Answer(kept + " [2]\n«يلتقي الرئيسان في فلاديفوستوك»", "en", "answer")
    _stream_to(out, iter(["They meet in Seoul", Retraction(kept), " [2]\n«يلتقي الرئيسان في فلاديفوستوك»", final]))
    assert out.getvalue().count("In the article's own words") == 1
    assert out.getvalue().splitlines()[0] == "They meet in Seoul"


def test_readme_configuration_is_generated_from_the_option_definitions():
    """The README's tables are `articlebot options` verbatim, and every variable the docs name exists."""
    import re

    from bot.config import options, options_markdown

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- options:start -->\n", 1)[1].split("<!-- options:end -->", 1)[0]
    assert block == options_markdown(), "regenerate the README's tables with `articlebot options`"
    known = {opt.env for _, opt in options()}
    docs = readme + "".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))
    named = set(re.findall(r"\b(?:ARTICLEBOT|TELEGRAM)_[A-Z_]+[A-Z]\b", docs)) - {"ARTICLEBOT_SETUP_MODELS"}
    assert named <= known, f"documented but not options: {sorted(named - known)}"
