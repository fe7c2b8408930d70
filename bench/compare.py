"""Compare answer-quality variants in one run: retrieval (dense / lexical / hybrid), follow-up query
rewriting, prompt layout (whole article, retrieved passages only, whole article + quoted passages), the
names list, decoding settings (prompt-lookup drafts, a second look at rejected answers). One model and
embedder are loaded once and shared by every variant.

Usage: python bench/compare.py [--model default] [--types fact,refusal,followup] [--out bench/compare-results.md]
Not a test: numbers, not assertions. Takes about 3 minutes per variant with the default model on 2 cores
(the passages-only layout about 10).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import machine  # noqa: E402

# name -> settings overrides; special keys: "prompts" (prompt file name -> text, for this variant only),
# "separator" (between the passage numbers of the hint), "second_look_passages" (engine.SECOND_LOOK_PASSAGES)
VARIANTS: dict[str, dict] = {
    "default: hybrid, whole article, names list, follow-up rewriting, t=0 (greedy), repeat 1.1, second look": {},
    "dense retrieval only": {"retrieval": "dense"},
    "lexical (BM25) retrieval only": {"retrieval": "lexical"},
    "no follow-up query rewriting": {"rewrite_follow_ups": False},
    "no names list (names copied in Arabic script)": {"use_names": False},
    "no passage numbers next to the question (shorter suffix)": {"passage_hints": False},
    "whole article + top 2 passages quoted with the question": {"quote_passages": 2},
    "retrieved passages only (no whole article)": {"prompt_mode": "retrieval"},
    "temperature 0.1 (sampled)": {"temperature": 0.1},
    "no repeat penalty (1.0)": {"repeat_penalty": 1.0},
    "compact passage hint: Relevant passages: [3][5][7][12]": {"separator": ""},
    "compact passage hint without its label: [3][5][7][12]": {"separator": "", "prompts": {
        "passage_hint": "{passage_numbers}\n"}},
    "compact passage hint, top 3 passages only": {"separator": "", "top_k": 3},
    "earlier questions as a history block (not chat turns)": {"history_as_turns": False},
    "whole article + the retrieved sentence closest to the question quoted": {"quote_sentence": True},
    "no second look at answers that missed the question": {"second_look": False},
    "plain decoding (no prompt-lookup drafts)": {"lookup_draft": 0},
    "second look at off-question answers, closest sentence quoted (not the top 2 passages)": {
        "second_look": True, "second_look_passages": 0},
    "temperature 0.1 + second look at off-question answers, closest sentence quoted": {
        "temperature": 0.1, "second_look": True, "second_look_passages": 0},
    "no check that an answer's names occur in the retrieved passages": {"names_in_passages": False},
}
COLUMNS = ["fact_accuracy_ar", "fact_accuracy_en", "refusal_rate", "followup_accuracy", "answer_language_match",
           "recall@5_ar", "recall@5_en", "first_token_p50_s", "latency_p50_s"]


def variant_prompts(prompts_dir: Path, changed: dict[str, str]) -> Path:
    """The prompts directory, or a temporary copy of it with some files replaced."""
    if not changed:
        return prompts_dir
    copy = Path(tempfile.mkdtemp(prefix="articlebot-prompts-"))
    for path in prompts_dir.glob("*.txt"):
        (copy / path.name).write_text(changed.get(path.stem, path.read_text(encoding="utf-8")), encoding="utf-8")
    return copy


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="default")
    parser.add_argument("--types", default="fact,refusal,followup")
    parser.add_argument("--only", help="comma-separated variant numbers (1-based) to run")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "compare-results.md")
    args = parser.parse_args()

    import bot.engine as engine_module
    from bot.config import Settings
    from bot.engine import Engine
    from bot.evaluation import load_items, run_eval, summarize
    from bot.prompts import Prompts

    default_separator = engine_module.PASSAGE_NUMBER_SEPARATOR
    default_second_look_passages = engine_module.SECOND_LOOK_PASSAGES

    settings = Settings.from_env().with_overrides(llm_model=args.model)
    items = load_items(ROOT / "tests" / "eval" / "eval_set.json", set(args.types.split(",")))
    base = Engine.load(settings, lambda m: print(m, file=sys.stderr))
    chosen = list(VARIANTS.items())
    if args.only:
        chosen = [chosen[int(n) - 1] for n in args.only.split(",")]
    rows = []
    for name, overrides in chosen:
        overrides = dict(overrides)
        engine_module.PASSAGE_NUMBER_SEPARATOR = overrides.pop("separator", default_separator)
        engine_module.SECOND_LOOK_PASSAGES = overrides.pop("second_look_passages", default_second_look_passages)
        prompts_dir = variant_prompts(settings.prompts_dir, overrides.pop("prompts", {}))
        variant_settings = settings.with_overrides(prompts_dir=prompts_dir, **overrides)
        base.llm.repeat_penalty = variant_settings.repeat_penalty
        base.llm.set_lookup_draft(variant_settings.lookup_draft)
        engine = Engine(variant_settings, base.article, base.index, base.embedder, base.llm, Prompts(prompts_dir))
        engine.warm()
        started = time.perf_counter()
        summary = summarize(run_eval(engine, items))
        rows.append((name, summary))
        print(f"{name}: {json.dumps(summary)} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    base.llm.repeat_penalty = settings.repeat_penalty
    base.llm.set_lookup_draft(settings.lookup_draft)

    def cell(column: str, value) -> str:
        if value is None:
            return "–"
        return str(value) if column.endswith("_s") or not isinstance(value, float) else f"{value:.0%}"

    lines = [f"# Answer-quality variants, one run ({base.llm.name})", "", f"Machine: {machine()}", "",
             (f"{len(items)} items of `tests/eval/eval_set.json` ({args.types}); every variant shares the loaded "
              "model, embedder and index. first_token_p50_s: retrieval and prompt until the first generated token; "
              "latency_p50_s: the whole answer."), "",
             "| variant | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for name, summary in rows:
        lines.append(f"| {name} | " + " | ".join(cell(c, summary.get(c)) for c in COLUMNS) + " |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
