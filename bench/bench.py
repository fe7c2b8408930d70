"""Benchmark: raw llama.cpp (llama-cpp-python) against articlebot on the same model, in one run.

Usage: python bench/bench.py [--model default|small|PATH] [--out bench/results-default.md]
Writes a Markdown table with the machine it ran on. Not a test: numbers, not assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[k]


def commit() -> str:
    """The commit benchmarked, "+dirty" when tracked files differ from it."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node()} · {cpu} · {os.cpu_count()} cores · {mem:.0f} GiB · Python {platform.python_version()}"


def raw_llama(path: Path, threads: int, n_ctx: int, sizes: list[int], gen_tokens: int = 64,
              gen_depth: int = 3000, use_mmap: bool = False, repack: bool = True,
              bot_sampling: dict | None = None, suffix_tokens: int = 44) -> dict:
    """Prompt tokens/s at the prompt sizes the bot uses, and generation tokens/s from a fresh context:
    after 64 tokens, and after `gen_depth` tokens, the depth at which the bot's answers are decoded
    (attention over the article makes each token dearer there)."""
    from bot.llm import load_llama

    llama = load_llama(path, repack, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, n_batch=512,
                       use_mmap=use_mmap, verbose=False)
    text = (ROOT / "index" / "article-ar.txt").read_text(encoding="utf-8")
    tokens = llama.tokenize(text.encode(), add_bos=False) * 4
    out = {}
    for size in sizes:
        llama.reset()
        started = time.perf_counter()
        llama.eval(tokens[:size])
        out[f"prompt_tps_{size}"] = size / (time.perf_counter() - started)
    # The question part as the bot computes it: `suffix_tokens` new tokens on top of a cached prefix
    # `gen_depth` deep, until the first token is sampled (median of 5). Prompt rates measured from an empty
    # context undercount this: each new token attends to the whole article.
    llama.reset()
    llama.eval(tokens[:gen_depth])
    times = []
    for _ in range(5):
        llama.n_tokens = gen_depth
        llama._ctx.kv_cache_seq_rm(-1, gen_depth, -1)
        started = time.perf_counter()
        llama.eval(tokens[gen_depth: gen_depth + suffix_tokens])
        llama.sample(temp=0.0)
        times.append(time.perf_counter() - started)
    out["suffix_s_deep"] = statistics.median(times)
    out["suffix_tokens"] = suffix_tokens
    greedy = {"temp": 0.0}
    bot_sampling = bot_sampling or greedy
    for depth, key, sampling in ((64, "gen_tps", greedy), (gen_depth, "gen_tps_deep", greedy),
                                 (gen_depth, "gen_tps_deep_sampled", bot_sampling)):
        llama.reset()
        llama.eval(tokens[:depth])
        started = time.perf_counter()
        n = 0
        for _ in llama.generate(tokens[:depth], **sampling):
            n += 1
            if n >= gen_tokens:
                break
        out[key] = n / (time.perf_counter() - started)
    del llama
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="default")
    parser.add_argument("--out", type=Path, help="default: bench/results-<model>.md")
    args = parser.parse_args()

    from bot.config import Settings
    from bot.engine import Engine, Turn
    from bot.models import resolve_model_path
    from bot.retrieval import ArticleIndex

    settings = Settings.from_env().with_overrides(llm_model=args.model)
    questions = json.loads((ROOT / "bench" / "questions.json").read_text(encoding="utf-8"))
    path = resolve_model_path(settings, settings.llm_model, "gguf")

    from bot.llm import SAMPLING

    raw = raw_llama(path, settings.threads, settings.n_ctx, [80, 512, 2880], use_mmap=False, repack=True,
                    bot_sampling={"temp": settings.temperature, "repeat_penalty": settings.repeat_penalty, **SAMPLING})

    started = time.perf_counter()
    engine = Engine.load(settings)
    cold_start = time.perf_counter() - started
    prefix_tokens = engine.prefix_tokens

    started = time.perf_counter()
    ArticleIndex.build(engine.article, engine.embedder)
    index_build = time.perf_counter() - started

    retrieval = []
    for q in questions["new"] * 3:
        t = time.perf_counter()
        engine.retrieve(q, [])
        retrieval.append(time.perf_counter() - t)

    def run(question: str, history: list[Turn]) -> dict:
        answer = engine.answer(question, history)
        return {"question": question, **answer.timings, "kind": answer.kind, "text": answer.text, "turn":
                Turn(question, answer.text, answer.language, [h.chunk.id for h in answer.sources])}

    new = [run(q, []) for q in questions["new"]]
    follow = []
    for first, second in questions["follow_up"]:
        r1 = run(first, [])
        follow.append(run(second, [r1["turn"]]))
    refusal = [run(q, []) for q in questions["refusal"]]
    summary_first = {}
    for lang in ("ar", "en"):
        for p in engine.settings.index_dir.glob(f"summary-{lang}-*.json"):
            p.unlink()
        t = time.perf_counter()
        engine.summary(lang)
        summary_first[lang] = time.perf_counter() - t
    repeated = []
    for _ in range(5):
        t = time.perf_counter()
        engine.summary("en")
        repeated.append(time.perf_counter() - t)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    answered = [r for r in new + follow if r.get("completion_tokens")]
    # tokens after the first one, over the time after the first one
    gen_rates = [(r["completion_tokens"] - 1) / max(1e-6, r["generation_s"] - r["first_token_s"] + r["retrieval_s"])
                 for r in answered if r["completion_tokens"] > 3]
    ideal = [r["completion_tokens"] / raw["gen_tps_deep"] for r in answered]
    rows = [
        ("raw llama.cpp prompt tokens/s (80 / 512 / 2880 tokens)",
         f"{raw['prompt_tps_80']:.0f} / {raw['prompt_tps_512']:.0f} / {raw['prompt_tps_2880']:.0f}"),
        ("raw llama.cpp generation tokens/s after 64 / after 3,000 tokens of context",
         f"{raw['gen_tps']:.1f} / {raw['gen_tps_deep']:.1f}"),
        (("raw llama.cpp generation tokens/s after 3,000 tokens, sampling as the bot does "
          f"(t={settings.temperature:g}, top-k 40, top-p 0.9, repeat penalty {settings.repeat_penalty:g})"),
         f"{raw['gen_tps_deep_sampled']:.1f}"),
        ("articlebot generation tokens/s (median over answers, decoded ~3,000 tokens deep)",
         f"{statistics.median(gen_rates):.1f} ({statistics.median(gen_rates) / raw['gen_tps_deep']:.2f}× raw greedy, "
         f"{statistics.median(gen_rates) / raw['gen_tps_deep_sampled']:.2f}× raw with the same sampling, same depth)"
         if gen_rates else "n/a"),
        ("prompt-lookup drafts kept (tokens kept / drafted)",
         f"{lookup.accepted:,} / {lookup.drafted:,} ({lookup.accepted / max(1, lookup.drafted):.0%})"
         if getattr(engine.llm, "lookup_draft", 0) and (lookup := engine.llm.scheduler.stats) else "off"),
        ("prefix (instructions + article) tokens", str(prefix_tokens)),
        ("article prefix from scratch at raw prompt rate", f"{prefix_tokens / raw['prompt_tps_2880']:.1f} s"),
        ("cold start (models + index + prefix state present)", f"{cold_start:.1f} s"),
        ("index build (chunk + embed)", f"{index_build:.2f} s"),
        ("query embedding + retrieval p50 / p95", f"{pct(retrieval, .5) * 1000:.0f} / {pct(retrieval, .95) * 1000:.0f} ms"),
        ("new question: first token p50 / p95", f"{pct([r['first_token_s'] for r in new if 'first_token_s' in r], .5):.2f} / {pct([r['first_token_s'] for r in new if 'first_token_s' in r], .95):.2f} s"),
        ("new question: full answer p50 / p95", f"{pct([r['total_s'] for r in new if 'total_s' in r], .5):.2f} / {pct([r['total_s'] for r in new if 'total_s' in r], .95):.2f} s"),
        ("follow-up: first token p50 / full answer p50", f"{pct([r['first_token_s'] for r in follow if 'first_token_s' in r], .5):.2f} / {pct([r['total_s'] for r in follow if 'total_s' in r], .5):.2f} s"),
        ("evaluated prompt tokens per question (median)", f"{statistics.median([r['evaluated_tokens'] for r in answered]):.0f}" if answered else "n/a"),
        (f"raw llama.cpp: {raw['suffix_tokens']} new tokens on a cached prefix 3,000 deep, to the first token",
         f"{raw['suffix_s_deep']:.2f} s"),
        ("first token vs raw llama.cpp on the same number of new tokens at that depth (median ratio)",
         f"{statistics.median([r['first_token_s'] / (raw['suffix_s_deep'] * r['evaluated_tokens'] / raw['suffix_tokens']) for r in answered]):.2f}×" if answered else "n/a"),
        ("full answer vs ideal (answer tokens / raw generation rate), median",
         f"{statistics.median([r['total_s'] / i for r, i in zip(answered, ideal) if i > 0]):.2f}×" if answered else "n/a"),
        ("refusal (off-topic) full answer p50", f"{pct([r['total_s'] for r in refusal if 'total_s' in r] or [r['retrieval_s'] for r in refusal], .5):.2f} s"),
        ("/summary first time ar / en", f"{summary_first['ar']:.1f} / {summary_first['en']:.1f} s"),
        ("/summary repeated (cached) p50", f"{pct(repeated, .5) * 1000:.1f} ms"),
        ("peak RSS", f"{peak_rss:.0f} MiB"),
    ]
    lines = [f"# Benchmark: {path.name}", "", f"Machine: {machine()}", f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             f"Threads: {settings.threads}, context {settings.n_ctx}, prompt mode {engine.mode}", "",
             "| measure | value |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows] + [""]
    lines += ["## Answers", "", "| question | kind | first token s | total s | tokens |", "|---|---|---|---|---|"]
    for r in new + follow + refusal:
        lines.append(f"| {r['question']} | {r['kind']} | {r.get('first_token_s', 0):.2f} | {r.get('total_s', r.get('retrieval_s', 0)):.2f} | {r.get('completion_tokens', 0)} |")
    report = "\n".join(lines) + "\n"
    out = args.out or ROOT / "bench" / f"results-{Path(args.model).stem}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
