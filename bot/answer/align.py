"""Stage 4b, align: the model's free answer mapped onto the article's own words. The answer shown is the
span of the shown sentences that shares most words with the draft (token F1), so it is verbatim by
construction while the model chose it freely. Measured against the constrained quote (bench/xquad-results.md):
Arabic tune half contains-gold 25 -> 27 of 72, F1 0.347 -> 0.419; report half 34.7 -> 40.3 %, 0.321 -> 0.383."""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import NamedTuple, Sequence

from ..scoring import answer_tokens

MAX_SPAN_WORDS = 30
SAME_WORD_RATIO = 0.8  # two words of 3+ letters this alike are one (a hamza or a letter spelt otherwise)
_EDGE_PUNCTUATION = "،,.؛;:«»()\"'“”"


class Span(NamedTuple):
    text: str
    source: int  # index of the sentence it was taken from
    score: float  # token F1 of the span against the draft, 0..1


def _same(a: str, b: str) -> bool:
    return a == b or (min(len(a), len(b)) >= 3 and SequenceMatcher(None, a, b).ratio() >= SAME_WORD_RATIO)


def best_span(draft: str, sources: Sequence[str]) -> Span | None:
    """The span (whole words, up to MAX_SPAN_WORDS) of one of `sources` closest to `draft`; the shorter one
    on a tie; None when no word of the draft is in any source."""
    wanted = answer_tokens(draft)
    if not wanted:
        return None
    best: Span | None = None
    best_length = 0
    for number, source in enumerate(sources):
        words = source.split()
        tokens = [answer_tokens(word) for word in words]
        # matches[i][k]: the k-th wanted word matches a token of word i
        matches = [[any(_same(w, t) for t in word_tokens) for w in wanted] for word_tokens in tokens]
        for start in range(len(words)):
            if not tokens[start]:
                continue
            found = [False] * len(wanted)
            span_tokens = 0
            for end in range(start, min(len(words), start + MAX_SPAN_WORDS)):
                span_tokens += len(tokens[end])
                found = [f or m for f, m in zip(found, matches[end])]
                common = min(sum(found), span_tokens)
                if not common:
                    continue
                score = 2 * common / (len(wanted) + span_tokens)
                length = end - start + 1
                if best is None or score > best.score or (score == best.score and length < best_length):
                    text = " ".join(words[start:end + 1]).strip(_EDGE_PUNCTUATION)
                    best, best_length = Span(text, number, score), length
    return best if best is not None and best.text else None
