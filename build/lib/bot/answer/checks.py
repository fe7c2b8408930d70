"""Stage 5, check: general tests of a drafted answer against what it rests on, each returning a Verdict.
None knows any article: they compare the answer with its own sources."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Sequence

from ..lang import DATA_DIR
from ..text import answer_language_ok, normalize_arabic
from .types import Verdict

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1)
def _number_words() -> dict[str, str]:
    pairs = {}
    for line in (DATA_DIR / "number_words_ar.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            word, _, value = line.partition("\t")
            pairs[word.strip()] = value.strip()
    return pairs


def numbers_of(text: str) -> set[str]:
    """The numbers a text writes, in digits (Arabic-Indic digits and Arabic number words included)."""
    plain = normalize_arabic(text)
    found = {n.replace(",", "") for n in _NUMBER.findall(plain)}
    words = _number_words()
    for word in _WORD.findall(plain):
        for candidate in (word, word[1:], word[2:]):  # with an attached letter or the article: «والخمسه»
            if candidate in words:
                found.add(words[candidate])
                break
    return found


def numbers_kept(text: str, source: str) -> Verdict:
    """Every number `text` writes is one `source` writes (a translation must not change or add a figure)."""
    extra = numbers_of(text) - numbers_of(source)
    return Verdict(False, "numbers_not_in_source", ",".join(sorted(extra))) if extra else Verdict.passed()


def quoted(span: str, sources: Sequence[str]) -> Verdict:
    """`span` is written in one of `sources` (spelling variants and spacing aside): for backends that cannot
    constrain their output to a quote."""
    needle = " ".join(normalize_arabic(span).split())
    if needle and any(needle in " ".join(normalize_arabic(s).split()) for s in sources):
        return Verdict.passed()
    return Verdict(False, "not_a_quote")


def in_language(text: str, lang: str) -> Verdict:
    return Verdict.passed() if answer_language_ok(text, lang) else Verdict(False, "wrong_language", lang)
