"""Constrained decoding: the model may only write a verbatim span of the given source texts (or, instead, one
whole alternative such as the refusal sentinel). Quoting is then true by construction: an answer cannot hold a
figure, name or list item its passages do not hold.

Works on bytes, so it is exact for any byte-level BPE vocabulary (Arabic letters are two bytes and a token may
end inside one). `VocabIndex` maps each token's bytes to its id once per model; `SpanConstraint` is a
llama-cpp-python logits processor (called once per sampled position) that keeps only the tokens continuing
the text generated so far at some place of the sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

MAX_TOKEN_BYTES = 48
_SEPARATOR = b"\x00"  # between sources: no token holds it, so no span crosses from one source to the next
_WORD_START = re.compile(rb"(?:^|(?<=[\s\x00(\"'\xab\xbb\x9c\x9d]))[^\s\x00]")  # byte offsets where a word begins
_BOUNDARY = frozenset(b" \t\n\x00.,;:!?()\"'")  # a span may end before one of these bytes ...
_ARABIC_BOUNDARY = tuple(c.encode("utf-8") for c in "،؛؟«»“”…")  # ... or characters


@dataclass(frozen=True)
class VocabIndex:
    """The vocabulary as bytes: `by_bytes` maps a token's bytes to its id (the lowest id where several
    spell the same bytes), `bytes_of` the other way; tokens longer than MAX_TOKEN_BYTES are left out."""

    by_bytes: dict[bytes, int]
    bytes_of: dict[int, bytes]
    longest: int

    @classmethod
    def build(cls, size: int, token_bytes: Callable[[int], bytes]) -> "VocabIndex":
        by_bytes: dict[bytes, int] = {}
        for token in range(size):
            piece = token_bytes(token)
            if piece and len(piece) <= MAX_TOKEN_BYTES and piece not in by_bytes:
                by_bytes[piece] = token
        return cls(by_bytes, {v: k for k, v in by_bytes.items()}, max((len(b) for b in by_bytes), default=1))


class SpanConstraint:
    """Logits processor that lets the model write a span of `sources`, starting at a word and ending, with one
    of `stop_ids`, before a word boundary; or, at the first position, one of the token sequences in
    `alternatives` (written whole, then stopped). `span` and `alternative` tell what was written."""

    def __init__(self, vocab: VocabIndex, sources: Sequence[str], stop_ids: Sequence[int],
                 alternatives: Sequence[Sequence[int]] = (), min_alternative_probability: float = 0.0) -> None:
        """An alternative may be chosen only where the model gives its first token at least
        `min_alternative_probability` (softmax over the whole vocabulary at the first position)."""
        self.vocab = vocab
        self.text = _SEPARATOR.join(s.encode("utf-8") for s in sources)
        self.stop_ids = list(stop_ids)
        self.alternatives = [list(a) for a in alternatives if a]
        self.positions = [m.start() for m in _WORD_START.finditer(self.text)]
        self.written = b""
        self.alternative: list[int] | None = None  # the alternative being written, once chosen
        self.min_alternative_probability = min_alternative_probability
        self.alternative_probability = 0.0  # what the model gave the alternatives' first tokens, first position
        self._alternative_done = 0
        self._steps = 0
        self._memo: tuple[int, frozenset[int]] | None = None

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self._steps:
            self.advance(int(input_ids[-1]))
        self._steps += 1
        allowed = self.allowed()
        if self._steps == 1 and self.alternatives:
            probabilities = np.exp(scores - scores.max())
            firsts = sorted({a[0] for a in self.alternatives})
            self.alternative_probability = float(probabilities[firsts].sum() / probabilities.sum())
            if self.alternative_probability < self.min_alternative_probability:
                allowed = [t for t in allowed if t not in firsts or t in self._span_tokens()]
        masked = np.full_like(scores, -np.inf)
        masked[allowed] = scores[allowed]
        return masked

    def allowed(self) -> list[int]:
        """Token ids that may come next."""
        if self.alternative is not None:
            done = self._alternative_done
            return [self.alternative[done]] if done < len(self.alternative) else self.stop_ids
        allowed = self._span_tokens()
        if not self.written:
            allowed.update(a[0] for a in self.alternatives)
        if not allowed:  # nothing continues the span (cannot happen after a valid step): stop
            allowed.update(self.stop_ids)
        return sorted(allowed)

    def _span_tokens(self) -> set[int]:
        """Tokens continuing the span at some position (computed once per position: the first step asks
        three times)."""
        n = len(self.written)
        if self._memo is not None and self._memo[0] == n:
            return set(self._memo[1])
        allowed = self._continuations(n)
        self._memo = (n, frozenset(allowed))
        return allowed

    def _continuations(self, n: int) -> set[int]:
        allowed: set[int] = set()
        at_boundary = False
        for start in self.positions:
            at = start + n
            for length in range(1, self.vocab.longest + 1):
                piece = self.text[at:at + length]
                if len(piece) < length or _SEPARATOR in piece:
                    break
                token = self.vocab.by_bytes.get(piece)
                if token is not None:
                    allowed.add(token)
            if n and _ends_word(self.text, at):
                at_boundary = True
        if at_boundary:
            allowed.update(self.stop_ids)
        return allowed

    def advance(self, token: int) -> None:
        """Take `token` as written (the processor calls this itself with the last sampled token)."""
        if token in self.stop_ids:
            return
        if self.alternative is not None:
            self._alternative_done += 1
            return
        if not self.written and token not in self._span_tokens():
            self.alternative = next((a for a in self.alternatives if a[0] == token), None)
            if self.alternative is not None:
                self._alternative_done = 1
                return
        piece = self.vocab.bytes_of.get(token, b"")
        n = len(self.written)
        self.positions = [p for p in self.positions if self.text[p + n:p + n + len(piece)] == piece]
        self.written += piece

    @property
    def span(self) -> str:
        """The span written so far (empty when an alternative was chosen)."""
        return self.written.decode("utf-8", errors="ignore")


def _ends_word(text: bytes, at: int) -> bool:
    return at >= len(text) or text[at] in _BOUNDARY or text.startswith(_ARABIC_BOUNDARY, at)
