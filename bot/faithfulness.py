"""Cheap checks that an answer says only what the article says.

A small model invents figures and dates; an answer that asserts what the article does not contain is
worse than a refusal. The check: every number in the answer occurs in the article, after normalisation
(Arabic-Indic digits, citation markers removed).
"""

from __future__ import annotations

import re
from .text import normalize_arabic

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_CITATION = re.compile(r"\[\d{1,3}\]")


def numbers_in(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(normalize_arabic(_CITATION.sub("", text)))}


def unsupported_numbers(answer: str, article_text: str) -> set[str]:
    """Numbers in the answer that the article never writes."""
    known = numbers_in(article_text)
    return {n for n in numbers_in(answer) if n not in known and n.split(".")[0] not in known}
