"""Answer scores for extractive question answering, SQuAD style, for Arabic and English: contains-gold (every
gold word is in the answer) and token F1 of the answer's first sentence against the gold span."""

from __future__ import annotations

import re
import string
from collections import Counter

from .text import SENTENCE_END, light_stem, normalize_arabic

_CITATION = re.compile(r"\[\d{1,3}\]")
_PUNCTUATION = re.compile("[" + re.escape(string.punctuation) + "«»“”‘’،؛؟…]")
_ENGLISH_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ATTACHED = "وفبلك"  # one-letter conjunctions and prepositions written onto an Arabic word


def answer_tokens(text: str) -> list[str]:
    """Normalised words: citations, punctuation and English articles dropped, Arabic spelling variants folded,
    an Arabic word's article and attached letter taken off (so «بالمدينة» matches «المدينة»)."""
    text = _CITATION.sub(" ", text)
    text = _ENGLISH_ARTICLES.sub(" ", _PUNCTUATION.sub(" ", normalize_arabic(text)))
    return [_arabic_core(w) for w in text.split()]


def _arabic_core(word: str) -> str:
    stem = light_stem(word)
    if stem == word and len(word) >= 4 and word[0] in _ATTACHED:
        stem = light_stem(word[1:])
    return stem


def contains_gold(answer: str, gold: str) -> bool:
    """Every word of the gold span occurs in the answer."""
    have = set(answer_tokens(answer))
    want = answer_tokens(gold)
    return bool(want) and all(w in have for w in want)


def first_sentence(text: str) -> str:
    text = _CITATION.sub("", text).strip()
    match = SENTENCE_END.search(text)
    return text[: match.start()] if match else text


def token_f1(answer: str, gold: str) -> float:
    """SQuAD's token F1 of the answer's first sentence against the gold span."""
    pred, ref = answer_tokens(first_sentence(answer)), answer_tokens(gold)
    common = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref or not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)
