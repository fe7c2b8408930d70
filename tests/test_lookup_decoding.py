"""Prompt-lookup decoding: the draft proposal, and generation on the real small model."""

from __future__ import annotations

import numpy as np

from bot.lookup_decoding import propose


def test_the_draft_is_what_followed_the_latest_earlier_occurrence_of_the_ending():
    context = np.array([5, 6, 7, 8, 9, 1, 5, 6, 7, 2, 3, 4, 5, 6, 7])
    assert propose(context, 3, min_ngram=3) == [2, 3, 4], "the latest earlier '5 6 7' was followed by 2 3 4"
    assert propose(context, 10, min_ngram=3) == [2, 3, 4, 5, 6, 7]
    assert propose(np.array([1, 2, 3, 4, 9, 9, 3, 4]), 2, min_ngram=2) == [9, 9]
    assert propose(np.array([1, 2, 3, 4, 5, 6]), 4, min_ngram=2) == [], "an ending seen nowhere earlier: no draft"
    assert propose(np.array([7]), 4) == []


def test_lookup_generation_copies_quoted_text_with_drafts_and_frees_its_cache_cells(engine):
    import llama_cpp

    llm = engine.llm
    sentence = "The presidential train is expected to reach Vladivostok on Monday or Tuesday at the latest."
    before = (llm.scheduler.stats.drafted, llm.scheduler.stats.accepted)
    text = "".join(llm.stream("You repeat text exactly.", f"Repeat this sentence exactly:\n{sentence}", 40, 0.0))
    assert "Vladivostok on Monday or Tuesday" in text, text
    drafted, accepted = (llm.scheduler.stats.drafted - before[0], llm.scheduler.stats.accepted - before[1])
    assert 5 <= accepted <= drafted, (accepted, drafted)
    memory = llama_cpp.llama_get_memory(llm.llama._ctx.ctx)
    assert [llama_cpp.llama_memory_seq_pos_max(memory, seq) for seq in range(1, llm.slots + 1)] == [-1] * llm.slots
    assert llama_cpp.llama_memory_seq_pos_max(memory, 0) == llm.llama.n_tokens - 1, "the prefix is kept whole"


def test_answers_stream_the_same_with_and_without_lookup_drafts(engine, settings):
    """Greedy decoding: drafts change how many tokens one step computes, not the answer (small floating-point
    differences between batch sizes may still flip a near tie, so the answers' start is compared)."""
    from bot.engine import Engine

    question = "Where are Putin and Kim expected to meet?"
    greedy = settings.with_overrides(temperature=0.0)
    with_drafts = Engine(greedy, engine.article, engine.index, engine.embedder, engine.llm, engine.prompts)
    assert engine.llm.lookup_draft == settings.lookup_draft > 0, "drafts are on by default"
    try:
        drafted = with_drafts.answer(question)
        engine.llm.set_lookup_draft(0)
        plain = with_drafts.answer(question)
    finally:
        engine.llm.set_lookup_draft(settings.lookup_draft)
    assert drafted.text[:20] == plain.text[:20], (drafted.text, plain.text)
    assert drafted.timings["completion_tokens"] > 0
