"""Stage 1, understand: the question's language, whether it asks for a summary, and what to search for
when it leans on the chat before it ("and when did he go there?")."""

from __future__ import annotations

import re

from ..lang import words
from ..messages import bilingual
from ..text import clean_text, detect_language, normalize_arabic
from .types import Answer, Kind, Query, Turn

FOLLOW_UP_MAX_WORDS = 4  # a question this short is read with the one before it
SUMMARY_MAX_WORDS = 12  # a longer message naming "summary" asks something else about it
_WORD = re.compile(r"[\w;']+")


def understand(question: str, history: list[Turn], history_turns: int) -> Query | Answer:
    """The Query for `question`, or the Answer itself when there is nothing to look up (an empty message,
    a language the bot does not answer in). A follow-up is searched with the previous question before it."""
    kept = tuple(history[-history_turns:]) if history_turns else ()
    question = clean_text(question).strip()
    if not question:
        return Answer(bilingual("empty_question"), "other", Kind.EMPTY)
    lang = detect_language(question)
    if lang == "other" and kept and len(question.split()) <= 3:
        lang = kept[-1].language  # "ok?", "why?" keep the chat's language
    if lang not in ("ar", "en"):
        return Answer(bilingual("unsupported_language"), "other", Kind.UNSUPPORTED)
    search = f"{kept[-1].question} {question}" if kept and is_follow_up(question) else question
    return Query(question, lang, search, kept, summary=asks_for_summary(question))


def _words(text: str) -> list[str]:
    return _WORD.findall(normalize_arabic(text))


def is_follow_up(question: str) -> bool:
    """Does the question lean on the chat before it: short, or with a pronoun or opener of the language data
    (an Arabic word with an attached conjunction counts by its stem too)."""
    found = _words(question)
    if len(found) <= FOLLOW_UP_MAX_WORDS:
        return True
    markers = words("follow_up_en") | {normalize_arabic(w) for w in words("follow_up_ar")}
    return any(w in markers or (w[:1] in "وف" and w[1:] in markers) for w in found)


def asks_for_summary(question: str) -> bool:
    """'Summarise the article', 'ما ملخص المقال؟'."""
    text = " ".join(_words(question))
    if len(text.split()) > SUMMARY_MAX_WORDS:
        return False
    triggers = words("summary_en") | {normalize_arabic(w) for w in words("summary_ar")}
    found = set(text.split())
    return any(t in found or (" " in t and t in text) or any(w.endswith(t) and len(w) <= len(t) + 2 for w in found)
               for t in triggers)
