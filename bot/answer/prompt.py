"""Stage 3, prompt: the per-question text the model reads after the article prefix, from `prompts/*.txt`."""

from __future__ import annotations

from typing import Sequence

from ..prompts import Prompts
from ..text import normalize_arabic
from .retrieve import Sentence
from .types import Query, Turn

HISTORY_ANSWER_CHARS = 300  # an earlier answer is shown this long at most
Names = Sequence[tuple[str, str]]


def quote_prompt(prompts: Prompts, query: Query, sentences: list[Sentence], offer_refusal: bool = True) -> str:
    """Ask for the article's own words answering the question, out of its `sentences` closest to it (shown
    right before the question, each with its passage number). `offer_refusal`: the model may reply with the
    refusal sentinel; only where the backend gates it by the model's confidence (unoffered, a small model
    would refuse whenever unsure)."""
    body = "\n".join(f"[{s.chunk_id + 1}] {s.text}" for s in sentences)
    refusal = " " + prompts.text("quote_refusal").strip() if offer_refusal else ""
    return prompts.fill("quote_question", history=history_block(prompts, query.history, query.language),
                        sentences=body, question=query.question, refusal=refusal)


def translation_prompt(prompts: Prompts, query: Query, span: str, names: Names = ()) -> str:
    """Ask for the Arabic `span` as an English answer to the question (the article prefix gives the context,
    the question the spelling of names it shares, an optional names list the spelling of the others)."""
    return prompts.fill("translate_answer", question=query.question, span=span) + names_line(prompts, span, names)


def names_line(prompts: Prompts, text: str, names: Names) -> str:
    """The (Arabic, English) pairs of the article's optional names list that `text` writes, as a line."""
    plain = normalize_arabic(text)
    pairs = [f"{arabic} = {english}" for arabic, english in names if normalize_arabic(arabic) in plain]
    return "\n" + prompts.fill("names_line", names="; ".join(pairs)) if pairs else ""


def history_block(prompts: Prompts, history: tuple[Turn, ...], lang: str) -> str:
    if not history:
        return ""
    lines = [f"Q: {t.question}\nA: {_shorten(t.answer, HISTORY_ANSWER_CHARS)}" for t in history]
    return prompts.fill(f"history_{lang}", turns="\n".join(lines))


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
