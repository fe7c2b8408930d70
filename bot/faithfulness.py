"""Cheap checks that an answer says only what the article says.

A small model invents figures and dates; an answer that asserts what the article does not contain is
worse than a refusal. Two checks, both after normalisation (digits, Arabic spelling variants):
- every number in the answer occurs in the article;
- a quoted Arabic sentence is really in the article (most of its words occur in one passage, in order
  of appearance not required).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .text import lexical_tokens, normalize_arabic

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_CITATION = re.compile(r"\[\d{1,3}\]")
_LABELLED = re.compile(r"^\s*(?:arabic|العربية)\s*:\s*(?P<quote>.*?)\s*(?:english|الإنجليزية)\s*:\s*(?P<answer>.*)$",
                       re.I | re.S)


@dataclass(frozen=True)
class QuotedAnswer:
    answer: str
    quote: str


def numbers_in(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(normalize_arabic(_CITATION.sub("", text)))}


def unsupported_numbers(answer: str, article_text: str) -> set[str]:
    """Numbers in the answer that the article never writes."""
    known = numbers_in(article_text)
    return {n for n in numbers_in(answer) if n not in known and n.split(".")[0] not in known}


def split_quoted(text: str) -> QuotedAnswer | None:
    """Parse the 'Arabic: <quote> / English: <answer>' layout used for English questions."""
    match = _LABELLED.match(text)
    if not match:
        return None
    return QuotedAnswer(answer=match.group("answer").strip(), quote=match.group("quote").strip())


def quote_support(quote: str, passages: list[str]) -> float:
    """Share of the quote's Arabic words found in the best single passage (0..1)."""
    words = [w for w in lexical_tokens(_CITATION.sub("", quote)) if not w.isascii()]
    if not words:
        return 0.0
    best = 0.0
    for passage in passages:
        vocabulary = set(lexical_tokens(passage))
        best = max(best, sum(w in vocabulary for w in words) / len(words))
    return best
