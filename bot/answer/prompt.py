"""Stage 3, prompt: the per-question text the model reads after the article prefix, from `prompts/*.txt`."""

from __future__ import annotations

from ..prompts import Prompts
from .retrieve import Sentence
from .types import Query, Turn

HISTORY_ANSWER_CHARS = 300  # an earlier answer is shown this long at most


def quote_prompt(prompts: Prompts, query: Query, sentences: list[Sentence]) -> str:
    """Ask for the article's own words answering the question, out of its `sentences` closest to it (shown
    right before the question, each with its passage number)."""
    body = "\n".join(f"[{s.chunk_id + 1}] {s.text}" for s in sentences)
    return prompts.fill("quote_question", history=history_block(prompts, query.history, query.language),
                        sentences=body, question=query.question)


def sentence_translation_prompt(prompts: Prompts, sentence: str) -> str:
    return prompts.fill("summary_sentence_en", sentence=sentence)


def translation_prompt(prompts: Prompts, query: Query, span: str) -> str:
    """Ask for the Arabic `span` as an English answer to the question (the article prefix gives the context,
    the question the spelling of names it shares)."""
    return prompts.fill("translate_answer", question=query.question, span=span)


def history_block(prompts: Prompts, history: tuple[Turn, ...], lang: str) -> str:
    if not history:
        return ""
    lines = [f"Q: {t.question}\nA: {_shorten(t.answer, HISTORY_ANSWER_CHARS)}" for t in history]
    return prompts.fill(f"history_{lang}", turns="\n".join(lines))


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
