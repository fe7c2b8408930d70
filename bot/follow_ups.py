"""Follow-up questions: telling one from a question that stands alone, and making it stand alone for
the search ("and when did he go there?") and for the sentence look ("Where did the US summon him?")."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Sequence

from .faithfulness import asks_where, names_in, whole_names

if TYPE_CHECKING:
    from .engine import Turn

_FOLLOW_UP_EN = re.compile(
    r"^(and|but|so|also|what about|how about|then)\b|\b(he|she|him|her|his|hers|it|its|they|them|their|there|that|this|those|these)\b",
    re.I,
)
_FOLLOW_UP_AR = re.compile(r"^(و|ف|ثم|ماذا عن)|\b(هو|هي|هم|هما|ذلك|تلك|هناك|هنا|هذا|هذه)\b|\w+(ه|ها|هم|هما)\b")
# "her" is left out: object or possessive, it cannot be replaced by a name without knowing which
_PERSON_PRONOUN = re.compile(r"\b(he|him|his|she)\b", re.I)
_THERE = re.compile(r"\bthere\b|(^|\s)[وف]?هناك(?![^\s؟?])", re.I)
_ASKS_WHO = re.compile(r"^\s*(and\s+)?who\b|^\s*[وف]?(من|مَن)\s", re.I)


def is_follow_up(question: str) -> bool:
    words = question.split()
    if len(words) <= 4:
        return True
    return bool(_FOLLOW_UP_EN.search(question) or _FOLLOW_UP_AR.search(question))


def standalone_query(question: str, history: list[Turn]) -> str:
    """Search text for a question that may lean on the conversation ("and when did he go there?"):
    the previous question is prepended so the search sees who and what "he" and "there" are."""
    if not history or not is_follow_up(question):
        return question
    return f"{history[-1].question} {question}"


def with_the_person_named(question: str, history: list[Turn], names: Sequence[tuple[str, str]]) -> str:
    """An English follow-up's "he"/"him"/"his"/"she" replaced by the person the previous turn was about,
    or the question unchanged. That person is known only when the previous question asked who and its
    answer writes one listed name (or one listed name of that question: "Who is John Kirby?" answered
    "John Kirby is a member of the National Security Council"). Measured: the sentence look answered
    "Where did the US summon Fumio Kishida?" with "Camp David", and "Where did the US summon him?" with
    NOT_IN_ARTICLE, the previous question shown or not."""
    if not history or not _PERSON_PRONOUN.search(question) or not _ASKS_WHO.search(history[-1].question):
        return question
    previous = history[-1]
    answered = _names_written(previous.answer, names)
    person = answered if len(answered) == 1 else [n for n in _names_written(previous.question, names)
                                                    if n in answered]
    if len(person) != 1:
        return question
    english = person[0][1]
    return _PERSON_PRONOUN.sub(lambda m: f"{english}'s" if m.group(1).lower() == "his" else english, question)


def the_place_named(question: str, history: list[Turn], names: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    """The listed name a follow-up's "there" («هناك») stands for: the one place the previous answer gave to
    a "where" question ("Where did the US summon him?" "Camp David [17]"), else None."""
    if not history or not _THERE.search(question) or not asks_where(history[-1].question):
        return None
    answered = _names_written(history[-1].answer, names)
    return answered[0] if len(answered) == 1 else None


def with_the_place_named(question: str, place: tuple[str, str] | None, lang: str) -> str:
    """A follow-up's "there" («هناك») replaced by the `place` it stands for (`the_place_named`), or the
    question unchanged. Measured: the sentences closest to "And what did they agree to at Camp David?"
    open with the agreement clause; with "there" and the previous question, with the summons clause and
    two about another meeting."""
    if place is None:
        return question
    arabic, english = place
    written = f"في {arabic}" if lang == "ar" else f"at {english}"
    return _THERE.sub(lambda m: f"{m.group(1) or ''}{written}", question, count=1)


def _names_written(text: str, names: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The listed names `text` writes, each once ("Fumio Kishida", not also "Kishida")."""
    return whole_names(names_in(text, names))
