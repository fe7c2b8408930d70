"""`articlebot eval`: run the evaluation set through the same engine the bot uses and score it.

Matching is robust to Arabic spelling variants (alef forms, ta marbuta, alef maqsura, harakat, tatweel)
and to Arabic-Indic digits. An item may list `wrong` facts besides the `expected` ones: for a question
about a date, the years and months the article gives for something else; an answer naming one is wrong.
Each item names its gold passage by a distinctive piece of its text, so the set survives changes to
chunking; the chunk id is resolved at run time and reported.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .engine import Answer, Engine, Turn
from .text import ATTACHED_LETTERS, answer_language_ok, normalize_arabic

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
RECALL_K = 5


_ARABIC_ARTICLE = re.compile(r"(?<!\S)ال(?=\S{2})")


def normalize_for_match(text: str) -> str:
    """Spelling variants folded, punctuation dropped, and the Arabic definite article «ال» taken off each
    word: «منتدى الاقتصادي الشرقي» names the same forum as «المنتدى الاقتصادي الشرقي»."""
    return _ARABIC_ARTICLE.sub("", " ".join(_PUNCT.sub(" ", normalize_arabic(text)).split()))


def contains_any(text: str, variants: list[str]) -> bool:
    haystack = f" {normalize_for_match(text)} "
    return any(normalize_for_match(v) and normalize_for_match(v) in haystack for v in variants)


def mentions_any(text: str, variants: list[str]) -> bool:
    """Like `contains_any`, but whole words only (the first may carry one attached «و ب ل ف ك»): for the
    facts an answer must not give, where a substring would find «آب» inside «الانتخابات»."""
    words = normalize_for_match(text).split()
    for variant in variants:
        target = normalize_for_match(variant).split()
        for i in range(len(words) - len(target) + 1) if target else ():
            first, rest = words[i], words[i + 1: i + len(target)]
            attached = first[:1] in ATTACHED_LETTERS and first[1:] == target[0]
            if rest == target[1:] and (first == target[0] or attached):
                return True
    return False


def answer_right(answer: Answer, expected: list[str], wrong: list[str]) -> bool:
    """An answer (not a refusal) that gives one of the `expected` variants and none of the `wrong` ones: a
    year or month the article gives for something else ("August/September 2019" for a summit it dates
    "last August"). Read on the answer itself, not on the article sentence quoted under it as evidence."""
    said = answer.short or answer.text
    return answer.kind == "answer" and contains_any(said, expected) and not mentions_any(said, wrong)


def is_refusal(answer: Answer) -> bool:
    return answer.kind in ("refusal", "unconfirmed")


def summary_ok(answer: Answer, item: dict) -> dict[str, bool]:
    words = len(answer.text.split())
    facts = sum(contains_any(answer.text, variants) for variants in item["expected_facts"])
    return {"language": answer.kind == "summary" and answer_language_ok(answer.text, item["lang"]),
            "length": 0 < words <= item.get("max_words", 150),
            "facts": facts >= item.get("min_facts", 3)}


@dataclass
class ItemResult:
    id: str
    type: str
    lang: str
    correct: bool
    language_ok: bool
    recall: bool | None
    seconds: float
    answer: str
    detail: dict[str, Any] = field(default_factory=dict)
    first_token_s: float | None = None  # of the (last) answer: retrieval + prompt until its first token


def gold_chunk(engine: Engine, gold: str) -> int | None:
    needle = normalize_for_match(gold)
    for chunk in engine.index.chunks:
        if needle in normalize_for_match(chunk.text):
            return chunk.id
    return None


def _recall(engine: Engine, question: str, history: list[Turn], gold: str) -> tuple[bool, int | None]:
    cid = gold_chunk(engine, gold)
    _, hits, _ = engine.retrieve(question, history, k=RECALL_K)
    return (cid is not None and cid in [h.chunk.id for h in hits]), cid


def run_item(engine: Engine, item: dict) -> ItemResult:
    started = time.perf_counter()
    kind, lang = item["type"], item["lang"]
    if kind == "fact":
        answer = engine.answer(item["question"])
        recall, cid = _recall(engine, item["question"], [], item["gold"])
        correct = answer_right(answer, item["expected"], item.get("wrong", []))
        detail = {"gold_chunk": cid}
    elif kind == "refusal":
        answer = engine.answer(item["question"])
        recall, correct, detail = None, is_refusal(answer), {}
    elif kind == "followup":
        history: list[Turn] = []
        turns_ok, recalls = [], []
        for turn in item["turns"]:
            answer = engine.answer(turn["question"], history)
            turns_ok.append(answer_right(answer, turn["expected"], turn.get("wrong", [])))
            recalls.append(_recall(engine, turn["question"], history, turn["gold"])[0])
            history.append(Turn(turn["question"], answer.text, answer.language, [h.chunk.id for h in answer.sources]))
        correct, recall = turns_ok[-1], all(recalls)
        detail = {"turns_correct": turns_ok}
    elif kind == "summary":
        q = item["question"]
        answer = engine.summary(lang) if q.startswith("/summary") else engine.answer(q)
        checks = summary_ok(answer, item)
        correct, recall, detail = all(checks.values()), None, checks
    else:
        raise ValueError(f"unknown item type {kind!r} in {item.get('id')}")
    if answer.check:
        detail["rejected_by"] = answer.check  # which faithfulness check turned the answer into "cannot confirm"
        detail["draft"] = answer.draft  # ... and what the model had written
    language_ok = answer.language == lang and (is_refusal(answer) or answer_language_ok(answer.text, lang))
    return ItemResult(item["id"], kind, lang, bool(correct), language_ok, recall, time.perf_counter() - started,
                      answer.text, detail, answer.timings.get("first_token_s"))


def run_eval(engine: Engine, items: list[dict], progress: Callable[[int, int, ItemResult], None] | None = None) -> list[ItemResult]:
    results = []
    for i, item in enumerate(items, 1):
        result = run_item(engine, item)
        results.append(result)
        if progress:
            progress(i, len(items), result)
    return results


def summarize(results: list[ItemResult]) -> dict[str, Any]:
    def rate(rows: list[ItemResult], attr: str = "correct") -> float | None:
        values = [getattr(r, attr) for r in rows if getattr(r, attr) is not None]
        return round(sum(values) / len(values), 3) if values else None

    by = lambda t, lang=None: [r for r in results if r.type == t and (lang is None or r.lang == lang)]  # noqa: E731
    seconds = [r.seconds for r in results if r.type in ("fact", "refusal")]
    first_tokens = [r.first_token_s for r in results if r.type in ("fact", "refusal", "followup") and r.first_token_s]
    return {
        "items": len(results),
        "fact_accuracy_ar": rate(by("fact", "ar")),
        "fact_accuracy_en": rate(by("fact", "en")),
        "refusal_rate": rate(by("refusal")),
        "followup_accuracy": rate(by("followup")),
        # every turn of every chain, where followup_accuracy counts a chain by its last turn
        "followup_turn_accuracy": _turn_rate(by("followup")),
        "summary_checks": rate(by("summary")),
        "answer_language_match": rate(results, "language_ok"),
        f"recall@{RECALL_K}_ar": rate(by("fact", "ar") + by("followup", "ar"), "recall"),
        f"recall@{RECALL_K}_en": rate(by("fact", "en") + by("followup", "en"), "recall"),
        "latency_p50_s": round(statistics.median(seconds), 2) if seconds else None,
        "latency_max_s": round(max(seconds), 2) if seconds else None,
        "first_token_p50_s": round(statistics.median(first_tokens), 2) if first_tokens else None,
    }


def _turn_rate(chains: list[ItemResult]) -> float | None:
    turns = [ok for chain in chains for ok in chain.detail.get("turns_correct", [])]
    return round(sum(turns) / len(turns), 3) if turns else None


def format_table(summary: dict[str, Any], title: str) -> str:
    lines = [f"| {title} | value |", "|---|---|"]
    for key, value in summary.items():
        shown = f"{value:.0%}" if isinstance(value, float) and key not in ("latency_p50_s", "latency_max_s", "first_token_p50_s") else value
        lines.append(f"| {key} | {shown} |")
    return "\n".join(lines)


def load_items(path: Path, types: set[str] | None = None, limit: int | None = None) -> list[dict]:
    items = json.loads(path.read_text(encoding="utf-8"))
    if types:
        items = [i for i in items if i["type"] in types]
    return items[:limit] if limit else items


def progress_bar(i: int, n: int, result: ItemResult, out=sys.stderr) -> None:
    width = 30
    filled = int(width * i / n)
    mark = "✓" if result.correct else "✗"
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {i}/{n} {mark} {result.id:<22}")
    if i == n:
        out.write("\n")
    out.flush()
