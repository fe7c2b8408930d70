"""Whether the words of an English answer are in the Arabic sentences it was read off.

The multilingual embedding model places a word near its translation (measured with EmbeddingGemma:
"cooperation"/«التعاون» 0.83, "military"/«العسكريّ» 0.82, "claimed"/«وزعم» 0.49), so each English content word
is compared with every Arabic word of the sentences, and an answer most of whose words have no close Arabic
word says what the sentences do not. An Arabic word is also compared without its attached conjunction and
without a dual or plural ending: "exchanging"/«تبادلا» 0.58, /«تبادل» 0.79.
"""

from __future__ import annotations

import re
from typing import Callable, Collection

import numpy as np

from .faithfulness import content_words
from .text import light_stem

ALIGNED_MIN = 0.66  # cosine at which an English word counts as written in the Arabic sentences
ALIGNED_SHARE = 2 / 3  # ... and the share of an answer's words that must be
_MAX_CACHED = 50_000

_ENGLISH_WORD = re.compile(r"[A-Za-z]+")
_ARABIC_WORD = re.compile(r"[\u0620-\u065f\u0671-\u06d3]+")  # letters and harakat, no Arabic punctuation
_ARABIC_ENDINGS = ("ان", "ون", "ين", "ات", "ا")  # dual and plural endings («تبادلا» -> «تبادل»)
_ENGLISH_ENDINGS = ("ing", "ed", "es", "s")
_CLAUSE_BREAK = re.compile(r"[،؛,;.]")


class WordAligner:
    """Word vectors from `encode` (texts to unit vectors), kept so an article's words are encoded once.
    `encode` must give a text the same vector whatever it is encoded with: the int8 ONNX model quantizes
    each batch's activations, and a word batched with others moved (cosine ~0.987), enough to flip a word
    at the line."""

    def __init__(self, encode: Callable[[list[str]], np.ndarray]) -> None:
        self._encode = encode
        self._vectors: dict[str, np.ndarray] = {}

    def unaligned_words(self, english: str, arabic: str, skip: Collection[str] = frozenset(),
                        asked: str = "") -> tuple[list[str], int]:
        """The content words of `english` with no word of `arabic` within ALIGNED_MIN, and how many words
        were compared. Left out: the lower-cased `skip` (such as the names another check holds) and the words
        of the question `asked` in any ending: "claimed" for "What did he claim ...?" repeats the question
        and is as much the sentences' word as the question's («وزعم»: 0.47)."""
        matches = self.closest_words(english, arabic, skip, asked)
        return [w for w, _, score in matches if score < ALIGNED_MIN], len(matches)

    def clauses_used(self, english: str, arabic: str, skip: Collection[str] = frozenset(),
                     asked: str = "") -> set[int]:
        """Which clauses of `arabic` (split at commas, semicolons and full stops) hold the aligned words of
        `english` (same `skip` and `asked` as `unaligned_words`)."""
        clauses = [c for c in _CLAUSE_BREAK.split(arabic) if _ARABIC_WORD.search(c)]
        used = set()
        for _, arabic_word, score in self.closest_words(english, arabic, skip, asked):
            if score >= ALIGNED_MIN:
                used |= {i for i, clause in enumerate(clauses)
                         if any(arabic_word in arabic_forms(w) for w in _ARABIC_WORD.findall(clause))}
        return used

    def closest_words(self, english: str, arabic: str, skip: Collection[str] = frozenset(),
                      asked: str = "") -> list[tuple[str, str, float]]:
        """Each compared English word (see `unaligned_words`) with its closest Arabic word form and cosine."""
        content = content_words(english)
        given = {english_stem(w) for w in _ENGLISH_WORD.findall(asked)}
        words = [w for w in dict.fromkeys(_ENGLISH_WORD.findall(english))
                 if w.lower() in content and w.lower() not in skip and english_stem(w) not in given]
        targets = sorted({form for word in _ARABIC_WORD.findall(arabic) for form in arabic_forms(word)})
        if not words or not targets:
            return []
        scores = self._vectors_of(words) @ self._vectors_of(targets).T
        return [(w, targets[int(row.argmax())], float(row.max())) for w, row in zip(words, scores)]

    def _vectors_of(self, words: list[str]) -> np.ndarray:
        """Safe for chats answered at once: a lookup never fails when another thread empties the cache."""
        found = {w: vector for w in dict.fromkeys(words) if (vector := self._vectors.get(w)) is not None}
        if missing := [w for w in dict.fromkeys(words) if w not in found]:
            found.update(zip(missing, self._encode(missing)))
            if len(self._vectors) + len(missing) > _MAX_CACHED:
                self._vectors.clear()
            self._vectors.update((w, found[w]) for w in missing)
        return np.array([found[w] for w in words])


def english_stem(word: str) -> str:
    """"claimed", "claims" and "claim" alike; only for telling whether two words are one."""
    word = word.lower()
    for ending in _ENGLISH_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)].rstrip("e")
    return word.rstrip("e") if len(word) > 3 else word


def arabic_forms(word: str) -> set[str]:
    """The word, without its attached conjunction or article (`light_stem`), and without a dual or plural
    ending, where at least four letters stay."""
    forms = {word, light_stem(word)}
    for form in list(forms):
        for ending in _ARABIC_ENDINGS:
            if form.endswith(ending) and len(form) - len(ending) >= 4:
                forms.add(form[: -len(ending)])
                break
    return forms


def aligned_enough(apart: list[str], compared: int) -> bool:
    """Whether at least ALIGNED_SHARE of the `compared` words are aligned (`WordAligner.unaligned_words`)."""
    return compared == 0 or (compared - len(apart)) / compared >= ALIGNED_SHARE
