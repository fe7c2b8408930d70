"""Public benchmark: answering on XQuAD articles (../shared/xquad-dev), Arabic article, questions in Arabic and
in English, plus questions of another article that must be refused; a plain whole-article prompt with the
same model is measured in the same run as the baseline.

The split is fixed once (README, "Answer quality"): articles 0-17 tune, 18-35 report. Look at the report half
only to report.

Usage: python bench/xquad.py --half tune|report [--per-article 8] [--foreign 2] [--baseline]
                             [--set quote_from=article ...] [--model default|small|PATH] [--out FILE.json]
Not a test: it writes numbers (JSON with every answer, and a Markdown table beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from bench import commit, machine, pct  # noqa: E402

DATA = ROOT.parent / "shared" / "xquad-dev"
HALVES = {"tune": range(0, 18), "report": range(18, 36)}


def load_split(data_dir: Path) -> tuple[list[dict], dict[str, dict]]:
    arabic = json.loads((data_dir / "ar.json").read_text(encoding="utf-8"))["data"]
    english = json.loads((data_dir / "en.json").read_text(encoding="utf-8"))["data"]
    english_by_id = {qa["id"]: qa for art in english for p in art["paragraphs"] for qa in p["qas"]}
    return arabic, english_by_id


def spread(items: list, n: int) -> list:
    """`n` items evenly spread over the list (all of them when it is shorter)."""
    if n <= 0:
        return []
    if len(items) <= n:
        return list(items)
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)] if n > 1 else items[:1]


def article_text(article: dict) -> str:
    return "\n\n".join(p["context"].strip() for p in article["paragraphs"])


def questions_of(article: dict) -> list[dict]:
    return [qa for p in article["paragraphs"] for qa in p["qas"]]


def baseline_answer(llm, prompts, text: str, question: str, max_tokens: int) -> tuple[str, float]:
    """The plain whole-article prompt: the article, the question, free greedy text."""
    started = time.perf_counter()
    system = prompts.fill("baseline_system", article=text)
    answer = "".join(llm.stream(system, question, max_tokens, 0.0))
    return answer.strip(), time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", choices=sorted(HALVES), default="tune")
    parser.add_argument("--per-article", type=int, default=8, help="questions per article and language")
    parser.add_argument("--foreign", type=int, default=2, help="questions of the next article, per language")
    parser.add_argument("--articles", type=int, help="only the first N articles of the half")
    parser.add_argument("--baseline", action="store_true", help="also the plain whole-article prompt")
    parser.add_argument("--langs", default="ar,en", help="question languages, comma-separated")
    parser.add_argument("--model", default="default")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting override")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    from bot.config import Settings
    from bot.engine import Engine, load_llm
    from bot.models import resolve_model_path
    from bot.prompts import Prompts
    from bot.retrieval import load_embedder
    from bot.scoring import contains_gold, token_f1
    from bot.text import parse_article

    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = type(getattr(Settings(), key))(value) if not isinstance(getattr(Settings(), key), bool) \
            else value.lower() in ("1", "true", "yes", "on")
    scratch = Path(tempfile.mkdtemp(prefix="xquad-"))
    settings = Settings.from_env().with_overrides(llm_model=args.model, index_dir=scratch, **overrides)
    embedder = load_embedder(resolve_model_path(settings, settings.embed_model, "embed"), settings.threads,
                             settings.embed_backend, "auto", settings.cache_dir)
    llm = load_llm(settings, resolve_model_path(settings, settings.llm_model, "gguf"))
    prompts = Prompts(settings.prompts_dir)
    arabic, english_by_id = load_split(args.data)
    half = list(HALVES[args.half])[: args.articles]
    rows: list[dict] = []
    started = time.perf_counter()
    for position, number in enumerate(half):
        article = arabic[number]
        text = article_text(article)
        engine = Engine.for_article(settings, parse_article(text), embedder, llm, prompts)
        engine.warm()
        neighbour = arabic[half[(position + 1) % len(half)]]
        asked = [(qa, False) for qa in spread(questions_of(article), args.per_article)]
        asked += [(qa, True) for qa in spread(questions_of(neighbour), args.foreign)]
        for qa, foreign in asked:
            for lang in args.langs.split(","):
                source = qa if lang == "ar" else english_by_id[qa["id"]]
                gold = source["answers"][0]["text"]
                answer = engine.answer(source["question"])
                row = {"article": number, "id": qa["id"], "lang": lang, "foreign": foreign,
                       "question": source["question"], "gold": gold, "answer": answer.text, "kind": str(answer.kind),
                       "seconds": answer.timings.get("total_s", 0.0),
                       "first_text_s": answer.timings.get("first_token_s", 0.0),
                       # scored on the answer itself: the article sentence quoted under it as evidence often
                       # holds the gold even when the answer names the wrong thing (kept apart, below)
                       "contains_gold": contains_gold(answer.short, gold) if answer.kind == "answer" else False,
                       "evidence_contains_gold": answer.kind == "answer" and contains_gold(answer.text, gold),
                       "f1": token_f1(answer.short, gold) if answer.kind == "answer" else 0.0,
                       "refused": answer.kind != "answer",
                       # the Arabic quote the answer rests on, and whether it holds the Arabic gold: for an
                       # English question this tells a wrong span from a wrong wording
                       "quote": answer.raw,
                       "quote_contains_ar_gold": bool(answer.raw) and contains_gold(answer.raw, qa["answers"][0]["text"])}
                if args.baseline:
                    plain, seconds = baseline_answer(llm, prompts, text, source["question"], 64)
                    refused = "NOT_IN_ARTICLE" in plain.upper().replace(" ", "_") or not plain
                    row.update(baseline_answer=plain, baseline_seconds=round(seconds, 3),
                               baseline_refused=refused,
                               baseline_contains_gold=not refused and contains_gold(plain, gold),
                               baseline_f1=0.0 if refused else token_f1(plain, gold))
                rows.append(row)
                print(f"[{len(rows)}] a{number} {lang} {'F' if foreign else ' '} {row['kind']:<11} "
                      f"{'✓' if row['contains_gold'] else '·'} {answer.text[:70]!r} | gold {gold[:40]!r}",
                      file=sys.stderr, flush=True)
    report = summarize(rows, args.baseline)
    report.update(half=args.half, articles=half, per_article=args.per_article, foreign=args.foreign,
                  model=settings.llm_model, overrides=overrides, machine=machine(), commit=commit(),
                  seconds=round(time.perf_counter() - started, 1))
    out = args.out or ROOT / "bench" / f"xquad-{args.half}.json"
    out.write_text(json.dumps({"summary": report, "rows": rows}, ensure_ascii=False, indent=1, default=str),
                   encoding="utf-8")  # default=str: a --set override may be a path
    table = format_table(report)
    out.with_suffix(".md").write_text(table, encoding="utf-8")
    print(table)
    return 0


def summarize(rows: list[dict], baseline: bool) -> dict:
    """Rates per language: contains-gold and F1 over answerable questions, answerable-but-refused, foreign
    refused; latency; the same for the baseline when it ran."""
    out: dict = {}
    for lang in ("ar", "en"):
        own = [r for r in rows if r["lang"] == lang and not r["foreign"]]
        foreign = [r for r in rows if r["lang"] == lang and r["foreign"]]
        systems = [("pipeline", "")] + ([("baseline", "baseline_")] if baseline else [])
        for name, prefix in systems:
            out[f"{name}_{lang}"] = {
                "answerable": len(own),
                "contains_gold": _rate(own, prefix + "contains_gold"),
                "with_evidence_contains_gold": _rate(own, "evidence_contains_gold") if name == "pipeline" else None,
                "f1": round(statistics.mean(r[prefix + "f1"] for r in own), 3) if own else None,
                "answerable_refused": _rate(own, prefix + "refused"),
                "foreign": len(foreign),
                "foreign_refused": _rate(foreign, prefix + "refused"),
                "latency_p50_s": round(pct([r[prefix + "seconds"] for r in own], 0.5), 2) if own else None,
                "latency_p95_s": round(pct([r[prefix + "seconds"] for r in own], 0.95), 2) if own else None,
            }
    return out


def _rate(rows: list[dict], key: str) -> float | None:
    return round(sum(bool(r[key]) for r in rows) / len(rows), 3) if rows else None


def format_table(report: dict) -> str:
    keys = ["answerable", "contains_gold", "with_evidence_contains_gold", "f1", "answerable_refused", "foreign",
            "foreign_refused", "latency_p50_s", "latency_p95_s"]
    systems = [k for k in report if k.startswith(("pipeline_", "baseline_"))]
    lines = [f"# XQuAD {report['half']} half: articles {report['articles'][0]}-{report['articles'][-1]}, "
             f"{report['per_article']} questions per article and language, {report['foreign']} foreign",
             "", f"Machine: {report['machine']}  ", f"Commit: {report['commit']} · model {report['model']} · "
             f"overrides {report['overrides'] or 'none'} · {report['seconds']} s in all", "",
             "| measure | " + " | ".join(systems) + " |", "|---|" + "---|" * len(systems)]
    for key in keys:
        lines.append(f"| {key} | " + " | ".join(_cell(report[s][key], key) for s in systems) + " |")
    return "\n".join(lines) + "\n"


def _cell(value, key: str) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" if key in ("contains_gold", "with_evidence_contains_gold", "answerable_refused",
                                     "foreign_refused") else str(value)


if __name__ == "__main__":
    raise SystemExit(main())
