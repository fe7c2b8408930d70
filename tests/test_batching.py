"""Continuous batching on the real small model: requests decoded together keep their own prompts, constraints
and cancellation, and give up their cache cells when they end."""

from __future__ import annotations

import threading
import time

import llama_cpp

SYSTEM = "You answer in one short sentence."
SOURCES = {
    "Where was the treaty signed?": "The treaty was signed in Vienna in 1815 by five powers.",
    "Who built the bridge?": "The bridge over the river was built by Anna Petrova's company in 1932.",
    "What does the factory make?": "The factory on the coast makes glass bottles for three dairies.",
}


def _together(llm, jobs: dict[str, dict]) -> dict[str, str]:
    """Run every job's stream in its own thread, all at once; their texts by key."""
    texts: dict[str, str] = {}
    errors: list[BaseException] = []

    def run(key: str, kwargs: dict) -> None:
        try:
            texts[key] = "".join(llm.stream(**kwargs))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=item) for item in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    return texts


def _free_cells(llm) -> list[int]:
    memory = llama_cpp.llama_get_memory(llm.llama._ctx.ctx)
    return [llama_cpp.llama_memory_seq_pos_max(memory, seq) for seq in range(1, llm.slots + 1)]


def test_quotes_decoded_together_each_stay_within_their_own_sources(engine):
    llm = engine.llm
    assert llm.slots >= 3
    constraints = {q: llm.span_constraint([s]) for q, s in SOURCES.items()}
    peak_before = llm.scheduler.stats.batched_steps
    jobs = {q: {"system": SYSTEM, "user": f"{s}\n\nQuestion: {q}\nQuote the answer.", "max_tokens": 16,
                "temperature": 0.0, "constraint": constraints[q]} for q, s in SOURCES.items()}
    texts = _together(llm, jobs)
    assert llm.scheduler.stats.batched_steps > peak_before, "the requests were decoded in shared steps"
    for question, source in SOURCES.items():
        span = constraints[question].span
        assert span and span in source, (question, span)
        assert texts[question].strip() and texts[question].strip() in source, texts[question]
    assert _free_cells(llm) == [-1] * llm.slots, "every sequence gave its cells back"


def test_answers_decoded_together_begin_as_they_do_alone(engine):
    """Greedy decoding: another chat in the same batch changes how a step is computed, not the answer (a
    near tie may still flip after many tokens, so the first words are compared)."""
    llm = engine.llm
    questions = ["Name the capital of France.", "Name three colours.", "What is two plus two?"]
    alone = {q: "".join(llm.stream(SYSTEM, q, 24, 0.0)) for q in questions}
    together = _together(llm, {q: {"system": SYSTEM, "user": q, "max_tokens": 24, "temperature": 0.0}
                               for q in questions})
    for question in questions:
        assert together[question][:12] == alone[question][:12], (question, alone[question], together[question])


def test_a_cancelled_request_leaves_and_the_others_finish(engine):
    llm = engine.llm
    cancel = threading.Event()
    long_text: list[str] = []

    def cancelled_reader() -> None:
        for piece in llm.stream(SYSTEM, "Count from one to one hundred in words.", 200, 0.0, cancel=cancel):
            long_text.append(piece)
            if len(long_text) == 3:
                cancel.set()

    reader = threading.Thread(target=cancelled_reader)
    reader.start()
    alone = "".join(llm.stream(SYSTEM, "Name the capital of France.", 24, 0.0))
    reader.join(120)
    assert not reader.is_alive()
    assert 3 <= len(long_text) < 20, "the cancelled stream stopped soon after its reader asked"
    assert "Paris" in alone, alone
    deadline = time.monotonic() + 10
    while _free_cells(llm) != [-1] * llm.slots and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _free_cells(llm) == [-1] * llm.slots


def test_a_reader_that_stops_early_frees_its_slot(engine):
    """A generator closed before the end (the pipeline stops reading a quote) does not hold a slot."""
    llm = engine.llm
    for _ in range(llm.slots + 1):
        stream = llm.stream(SYSTEM, "Count from one to one hundred in words.", 200, 0.0)
        next(stream)
        stream.close()
    assert "Paris" in "".join(llm.stream(SYSTEM, "Name the capital of France.", 24, 0.0))
