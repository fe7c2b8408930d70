"""Stage 4, generate: the model's quote of the article (a verbatim span, by constrained decoding where the
backend can do it), its free draft of an answer (aligned onto the article afterwards) and the English wording
of a quote."""

from __future__ import annotations

import re
import threading
from contextlib import closing
from dataclasses import dataclass
from typing import Iterator, Sequence

from ..llm import ChatModel, GenerationStats
from .checks import quoted

SENTINEL = "NOT_IN_ARTICLE"
# the sentinel as models also write it ("Not_in_article", "NOT IN ARTICLE")
_SENTINEL_ANY = re.compile(r"not[_ ]in[_ ]article|\w*_in_article", re.I)


@dataclass
class Generated:
    """Filled in while a stream runs: the text written, and whether it was the refusal sentinel."""

    text: str = ""
    refused: bool = False
    constrained: bool = False
    shown: str = ""  # what the stream has shown of it so far


def stream_quote(llm: ChatModel, system: str, user: str, sources: Sequence[str], max_tokens: int,
                 result: Generated, stats: GenerationStats, cancel: threading.Event | None = None,
                 show: bool = True, temperature: float = 0.0, refusal_confidence: float = 1.0) -> Iterator[str]:
    """Stream the model's quote of `sources` (nothing while it may still be the sentinel, nothing at all
    unless `show`); `result` holds the whole quote or the refusal at the end. The model may refuse (write
    the sentinel) only where it gives the sentinel's first token at least `refusal_confidence`."""
    make = getattr(llm, "span_constraint", None)
    constraint = make(sources, [SENTINEL], refusal_confidence) if make else None
    result.constrained = constraint is not None
    shown = 0
    for piece in llm.stream(system, user, max_tokens, temperature, stats, cancel, constraint=constraint):
        result.text += piece
        body = result.text.strip()  # trailing blanks held back: the quote is shown as it ends, stripped
        if _SENTINEL_ANY.search(body) or SENTINEL.startswith(body.upper().replace(" ", "_")):
            continue
        if show and len(body) > shown:
            yield body[shown:]
            shown = len(body)
    result.refused = bool(_SENTINEL_ANY.search(result.text)) or bool(constraint and constraint.alternative)
    result.text = "" if result.refused else result.text.strip()


def stream_draft(llm: ChatModel, system: str, user: str, sources: Sequence[str], max_tokens: int,
                 result: Generated, stats: GenerationStats, cancel: threading.Event | None = None,
                 temperature: float = 0.0) -> Iterator[str]:
    """Stream the model's free first line (`stream_line`), to be aligned onto `sources` (stage align): a piece
    is shown only while the line so far is still the words of a source, so a figure the article does not
    write is never on screen; `result.shown` is what was shown, `result.text` the whole line."""
    line = ""
    for piece in stream_line(llm, system, user, max_tokens, result, stats, cancel, temperature):
        line += piece
        if len(line) > len(result.shown) and quoted(line, sources).ok:
            yield line[len(result.shown):]
            result.shown = line


def stream_line(llm: ChatModel, system: str, user: str, max_tokens: int, result: Generated,
                stats: GenerationStats, cancel: threading.Event | None = None,
                temperature: float = 0.0) -> Iterator[str]:
    """Stream the first line of free text (a translation): leading blanks skipped, trailing ones held back,
    generation stopped at the line's end; `result.text` holds the line."""
    shown = 0
    with closing(llm.stream(system, user, max_tokens, temperature, stats, cancel)) as pieces:
        for piece in pieces:
            result.text += piece
            line, newline, _ = result.text.lstrip().partition("\n")
            visible = line.rstrip()
            if len(visible) > shown:
                yield visible[shown:]
                shown = len(visible)
            if newline and visible:
                break
    result.refused = bool(_SENTINEL_ANY.search(result.text))
    result.text = result.text.lstrip().partition("\n")[0].strip()
