"""The values that travel between the answer stages. Imports nothing of the project, so every stage (and
every front end) can use them without pulling in another stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What an Answer is; front ends branch on it (a StrEnum, so it compares equal to its value)."""

    ANSWER = "answer"  # grounded in the article, with its sources
    REFUSAL = "refusal"  # the article does not say
    UNCONFIRMED = "unconfirmed"  # the model's text failed a check: not shown
    UNSUPPORTED = "unsupported"  # a language the bot does not answer in
    EMPTY = "empty"  # nothing was asked
    SUMMARY = "summary"


@dataclass
class Turn:
    """One question and its answer, as kept in a chat's history."""

    question: str
    answer: str
    language: str
    chunk_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Query:
    """A question as understood: its language, what to search for, and the chat turns it may lean on."""

    question: str
    language: str  # ar | en
    search_text: str  # the question, or a follow-up with the previous question before it
    history: tuple[Turn, ...] = ()
    summary: bool = False


@dataclass(frozen=True)
class Verdict:
    """What a check found: `ok`, or the name of the failed check and what it saw."""

    ok: bool
    check: str = ""
    detail: str = ""

    @classmethod
    def passed(cls) -> "Verdict":
        return cls(True)


@dataclass
class Answer:
    text: str
    language: str
    kind: str  # a Kind value
    sources: list[Any] = field(default_factory=list)  # retrieval.Hit, best first
    timings: dict[str, float] = field(default_factory=dict)
    query: str = ""
    raw: str = field(default="", repr=False)  # the model's own text behind an answer
    short: str = ""  # the answer itself, without the article sentence quoted under it as evidence
    check: str = ""  # for an unconfirmed answer: the check that rejected it
    draft: str = field(default="", repr=False)  # for an unconfirmed answer: the model's rejected text

    def to_dict(self) -> dict:
        return {"answer": self.text, "language": self.language, "kind": str(self.kind), "query": self.query,
                "sources": [h.to_dict() for h in self.sources], "timings": self.timings,
                **({"check": self.check} if self.check else {})}


@dataclass
class Retraction:
    """In a stream: the text streamed so far is withdrawn and `note` shown instead; text streamed after it
    goes on from the note."""

    note: str
