"""The answer engine end to end with real models (the small LLM for speed): behaviour that holds whatever
the model writes. How well it answers is the benchmark's job (bench/xquad.py), not the tests'."""

import re
import threading

import pytest

from bot.engine import Answer, Retraction, Turn
from bot.messages import message
from bot.scoring import first_sentence
from bot.text import answer_language_ok, normalize_arabic

CITY = "فلاديفوستوك"


def _plain(text: str) -> str:
    return " ".join(normalize_arabic(re.sub(r"\[\d+\]", "", text)).split())


def test_stream_yields_text_then_one_final_answer(engine):
    items = list(engine.stream_answer("Where are Putin and Kim expected to meet?"))
    assert isinstance(items[-1], Answer)
    assert all(isinstance(i, (str, Retraction)) for i in items[:-1])
    answer = items[-1]
    assert answer.language == "en" and answer.kind == "answer"
    assert answer.sources, "every answer carries its sources"
    assert answer.timings["retrieval_s"] >= 0 and answer.timings["total_s"] >= answer.timings["retrieval_s"]
    assert "".join(i for i in items if isinstance(i, str)) == answer.text, "streamed as shown"


def test_an_arabic_answer_is_a_verbatim_quote_of_the_passage_it_cites(engine):
    """Constrained decoding: the short answer is written in its passage, and so is the sentence after it."""
    answer = engine.answer("أين يتوقع أن يلتقي بوتين وكيم؟")
    assert answer.kind == "answer" and answer.language == "ar"
    short, quote = answer.text.split("\n", 1)
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", short)}
    assert numbers == {h.chunk.id + 1 for h in answer.sources}
    cited = _plain(" ".join(h.chunk.text for h in answer.sources))
    assert _plain(short) and _plain(short) in cited
    assert quote.startswith("«") and quote.endswith("»") and _plain(quote.strip("«»")) in cited
    assert _plain(answer.raw) in _plain(quote), "the short answer stands in the quoted sentence"
    assert answer.short == answer.raw and short.startswith(answer.short), "the answer without its evidence"


def test_an_english_answer_writes_no_figure_its_passage_lacks(engine):
    from bot.answer.checks import numbers_of

    answer = engine.answer("In which year did Putin and Kim meet before?")
    assert answer.kind == "answer" and answer.language == "en"
    assert answer_language_ok(first_sentence(answer.text), "en") or "«" in answer.text
    cited = " ".join(h.chunk.text for h in answer.sources)
    assert numbers_of(re.sub(r"\[\d+\]", "", answer.text)) <= numbers_of(cited)


@pytest.mark.parametrize("question", ["من كتب المقال؟", "Who wrote the article?", "Which newspaper published it?"])
def test_byline_questions_reach_the_byline(engine, question):
    from bot.answer.retrieve import retrieve
    from bot.answer.understand import understand

    found = retrieve(engine.index, engine.embedder, understand(question, [], 6), 4)
    byline = engine.index.chunks[-1]
    assert byline.end <= byline.start, "the last passage is the byline"
    assert byline.id in [s.chunk_id for s in found.sentences], "the byline is among the sentences quoted from"
    answer = engine.answer(question)
    assert answer.kind == "answer", "a byline question is not refused"


@pytest.mark.parametrize("question,lang", [("من هو أدريان واتسون؟", "ar"), ("Who is Adrian Watson?", "en")])
def test_answer_is_in_the_language_of_the_question(engine, question, lang):
    answer = engine.answer(question)
    assert answer.language == lang
    assert answer_language_ok(answer.text, lang)


@pytest.mark.parametrize("question,expected", [
    ("Who won the football world cup in 2010?", "The article does not say."),
    ("من فاز بكأس العالم لكرة القدم عام 2010؟", "لا يذكر المقال ذلك."),
])
def test_a_question_far_from_the_article_gets_a_plain_refusal(engine, question, expected):
    answer = engine.answer(question)
    assert answer.kind == "refusal"
    assert answer.text == expected


def test_other_languages_get_a_bilingual_note(engine):
    answer = engine.answer("Où Poutine et Kim vont-ils se rencontrer ?")
    assert answer.kind == "unsupported"
    assert "Arabic or English" in answer.text and "العربية" in answer.text


@pytest.mark.parametrize("question", ["", "   ", "\u200f\u200b"])
def test_empty_question(engine, question):
    answer = engine.answer(question)
    assert answer.kind == "empty"


def test_follow_up_retrieval_uses_the_history(engine):
    history = [Turn("Which Russian minister visited Pyongyang?", "Shoigu [7].", "en", [6])]
    query, hits, _ = engine.retrieve("Who went with him?", history)
    assert "Pyongyang" in query
    assert any("كريفوروتشكو" in h.chunk.text for h in hits), "the passage naming his companion is found"
    _, alone, _ = engine.retrieve("Who went with him?", [])
    assert [h.chunk.id for h in alone] != [h.chunk.id for h in hits]


def test_a_follow_up_answer_shows_the_earlier_turn_to_the_model(engine):
    from bot.answer.prompt import quote_prompt
    from bot.answer.understand import understand

    history = [Turn("Which Russian minister visited Pyongyang?", "Shoigu [7]", "en", [6])]
    answer = engine.answer("Who went with him?", history)
    assert answer.kind == "answer" and answer.query.startswith("Which Russian minister")
    prompt = quote_prompt(engine.prompts, understand("Who went with him?", history, 6), [])
    assert "Which Russian minister visited Pyongyang?" in prompt and "Shoigu [7]" in prompt


def test_summary_is_cached_on_disk(engine):
    first = engine.summary("en")
    assert first.kind == "summary" and first.text
    second = engine.summary("en")
    assert second.text == first.text
    assert second.timings.get("cached") == 1.0
    assert list(engine.settings.index_dir.glob("summary-en-*.json"))


def test_summary_in_the_articles_language_is_its_central_sentences_verbatim(engine):
    from bot.summary import SUMMARY_WORDS, summary_sentences

    chosen = summary_sentences(engine.article, engine.embedder)
    assert 2 <= len(chosen) <= 5 and sum(len(s.text.split()) for s in chosen) <= SUMMARY_WORDS
    assert [s.start for s in chosen] == sorted(s.start for s in chosen)
    assert all(engine.article.text[s.start:].startswith(s.text) for s in chosen)
    summary = list(engine.stream_summary("ar"))
    answer = summary[-1]
    assert answer.kind == "summary" and answer.text == "\n".join(f"- {s.text}" for s in chosen)
    assert "".join(p for p in summary if isinstance(p, str)) == answer.text, "streamed as shown"
    assert {h.chunk.id for h in answer.sources} == {c.id for c in engine.index.chunks
                                                   if any(c.core_start <= s.start < c.end for s in chosen)}


def test_a_translated_summary_sentence_that_fails_a_check_is_left_out(engine, monkeypatch, caplog, tmp_path):
    """In another language than the article's, each summary sentence is translated on its own; a translation
    with a number its sentence does not write is dropped and the next most central sentence is tried."""
    from bot.summary import SUMMARY_SENTENCES

    replies = iter(["The US opened the warship Shark in 1999.",
                    *["In English:\nThe two countries may cooperate more. [4]"] * 20])
    asked: list[str] = []

    def fake_stream(system, user, *args, **kwargs):
        asked.append(user)
        return iter([next(replies)])

    monkeypatch.setattr(engine.llm, "stream", fake_stream)
    monkeypatch.setattr(engine, "_summary_path", lambda lang: tmp_path / f"summary-{lang}.json")
    with caplog.at_level("INFO", logger="articlebot.engine"):
        answer = list(engine._generate_summary("en", 0.0))[-1]
    assert answer.kind == "summary" and "Shark" not in answer.text
    *bullets, note = answer.text.splitlines()
    assert len(bullets) == SUMMARY_SENTENCES
    assert all(re.fullmatch(r"- The two countries may cooperate more\. \[\d+\]", b) for b in bullets), bullets
    assert note == message("summary_translated", "en"), "a translated summary says it is one"
    assert len(asked) == SUMMARY_SENTENCES + 1 and len(set(asked)) == len(asked), "a new sentence each time"
    assert "event=summary_sentence_dropped reason=numbers_not_in_source" in caplog.text


def test_cancel_stops_generation_early(engine):
    cancel = threading.Event()
    pieces = 0
    for item in engine.stream_answer("ما موقف الصين من التقارب الروسي الكوري؟", cancel=cancel):
        if isinstance(item, str):
            pieces += 1
            cancel.set()
    assert pieces <= 3


def test_the_start_example_question_comes_from_the_article(engine):
    for lang in ("ar", "en"):
        question = engine.example_question(lang)
        assert question.endswith(("?", "؟")) or question == message("example_fallback", lang)
        assert engine.example_question(lang) == question, "asked once, then from disk"


def test_long_article_switches_to_retrieved_passages_by_itself(engine, settings, tmp_path):
    """An article that does not fit the context (the bundled one, three times over) is answered from
    retrieved sentences with no article prefix, without configuration."""
    from bot.engine import Engine, ensure_index
    from bot.text import parse_article

    article = engine.article
    body = "\n\n".join([article.body.strip()] * 3)
    long_article = parse_article(f"{article.title}\n\n{body}\n\n::::\n\n“الأخبار”\n")
    local = settings.with_overrides(index_dir=tmp_path)
    index = ensure_index(local, long_article, engine.embedder)
    try:
        big = Engine(local, long_article, index, engine.embedder, engine.llm, engine.prompts)
        assert big.mode == "retrieval"
        assert big.prefix_tokens < 600
        answer = big.answer("Where are Putin and Kim expected to meet?")
        assert answer.language == "en" and answer.sources
        assert answer.timings["prompt_tokens"] < engine.llm.n_ctx
    finally:
        engine.warm()  # give the shared model its whole-article prefix back
    assert engine.mode == "article"


def test_an_answer_does_not_depend_on_the_question_asked_before(engine):
    """Two prompts share their first tokens after the article; only the article's prefix is reused and the
    whole question is computed from the same position, so the answer is the one it gets after any other."""
    from bot.llm import GenerationStats

    llm, system = engine.llm, engine._system
    asked = "Question: Where did Kim travel by train in 2019?"
    shares_its_start = "Question: Where did the United States hold a summit with Japan?"
    first, again = GenerationStats(), GenerationStats()
    first_text = "".join(llm.stream(system, asked, 24, 0.0, first))
    "".join(llm.stream(system, shares_its_start, 24, 0.0))
    again_text = "".join(llm.stream(system, asked, 24, 0.0, again))
    assert again_text == first_text
    assert again.evaluated_tokens == again.prompt_tokens - llm.prompt_tokens(system) == first.evaluated_tokens, \
        (again, first)


def test_the_articles_prompt_state_comes_back_after_another_prompt(engine, caplog):
    """A prompt under another system text takes llama.cpp's cache; the next question reloads the article's
    saved prefix state instead of evaluating it again."""
    list(engine.llm.stream("You answer briefly.", "Say hello.", 4))
    with caplog.at_level("INFO", logger="articlebot.llm"):
        answer = engine.answer("Where are Putin and Kim expected to meet?")
    assert "event=prefix_state_loaded" in caplog.text
    assert answer.timings["evaluated_tokens"] < engine.llm.prompt_tokens(engine._system) / 4, answer.timings


def test_a_saved_prompt_state_is_loaded_and_a_damaged_one_replaced(engine, caplog):
    """The prefix state file is read back into llama.cpp; a truncated one is removed, the prefix evaluated
    again and its state saved anew (a full disk or a killed process must not break the next start)."""
    import hashlib
    import json

    llm = engine.llm
    prefix = llm.render("You answer questions about nothing in particular, briefly.", "x")[0]
    llm.warm_prefix(prefix)  # evaluated (or loaded) and saved
    key = hashlib.sha256((llm.fingerprint + json.dumps(prefix)).encode()).hexdigest()[:24]
    saved = llm.state_dir / f"prefix-{key}.kv"
    assert saved.exists()
    llm.llama.reset()
    with caplog.at_level("INFO", logger="articlebot.llm"):
        llm.warm_prefix(prefix)
    assert "event=prefix_state_loaded" in caplog.text and llm.llama.n_tokens == len(prefix)
    saved.write_bytes(saved.read_bytes()[:-100])
    llm.llama.reset()
    caplog.clear()
    with caplog.at_level("INFO", logger="articlebot.llm"):
        llm.warm_prefix(prefix)
    assert "event=prefix_state_unreadable" in caplog.text and "event=prefix_evaluated" in caplog.text
    assert llm.llama.n_tokens == len(prefix) and saved.exists()
    llm.llama.reset()
    caplog.clear()
    with caplog.at_level("INFO", logger="articlebot.llm"):
        llm.warm_prefix(prefix)
    assert "event=prefix_state_loaded" in caplog.text
