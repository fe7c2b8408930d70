"""Benchmark: how time and memory grow with article length. The bundled article's body repeated 1, 4
and 16 times stands in for a long document; the prompt layout is chosen by the engine itself (the whole
article as a cached prefix while it fits the context, retrieved passages beyond).

Usage: python bench/bench_growth.py [--model default] [--out bench/results-growth.md]
Not a test: numbers, not assertions. One model and embedder are shared by all sizes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import machine, pct  # noqa: E402

QUESTIONS = ["أين يتوقع أن يلتقي بوتين وكيم؟", "Where are Putin and Kim expected to meet?",
             "من هو أدريان واتسون؟", "Which Russian general accompanied Shoigu to Pyongyang?"]


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="default")
    parser.add_argument("--sizes", default="1,4,16")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-growth.md")
    args = parser.parse_args()

    from bot.config import Settings
    from bot.engine import Engine, ensure_index
    from bot.text import parse_article

    settings = Settings.from_env().with_overrides(llm_model=args.model)
    base = Engine.load(settings)
    article = base.article
    rows = []
    for times in (int(n) for n in args.sizes.split(",")):
        body = "\n\n".join([article.body.strip()] * times)
        long_article = parse_article(f"{article.title}\n\n{body}\n\n::::\n\n{article.source}\n")
        with tempfile.TemporaryDirectory() as tmp:
            local = settings.with_overrides(index_dir=Path(tmp))
            started = time.perf_counter()
            index = ensure_index(local, long_article, base.embedder)
            build = time.perf_counter() - started
            engine = Engine(local, long_article, index, base.embedder, base.llm, base.prompts)
            started = time.perf_counter()
            engine.warm()
            warm = time.perf_counter() - started
            retrieval, first, total, prompt = [], [], [], []
            for question in QUESTIONS:
                t = time.perf_counter()
                engine.retrieve(question, [])
                retrieval.append(time.perf_counter() - t)
                answer = engine.answer(question)
                first.append(answer.timings.get("first_token_s", answer.timings["total_s"]))
                total.append(answer.timings["total_s"])
                prompt.append(answer.timings.get("evaluated_tokens", 0))
            rows.append((times, len(long_article.body), len(index.chunks), engine.mode, engine.prefix_tokens, build,
                         warm, pct(retrieval, .5), pct(prompt, .5), pct(first, .5), pct(total, .5), rss_mib()))
    base.warm()

    lines = [f"# Growth with article length ({base.llm.name})", "", f"Machine: {machine()}", "",
             f"The bundled article's body repeated N times; {len(QUESTIONS)} questions per size; context "
             f"{settings.n_ctx} tokens. Prefix = the fixed, cached part of every prompt.", "",
             "| N | body chars | chunks | layout chosen | prefix tokens | index build | prefix ready | retrieval p50 | "
             "tokens computed per question p50 | first token p50 | full answer p50 | RSS |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n, chars, chunks, mode, prefix, build, warm, ret, tokens, first, total, rss in rows:
        lines.append(f"| {n} | {chars:,} | {chunks} | {mode} | {prefix:,} | {build:.1f} s | {warm:.1f} s | "
                     f"{ret * 1000:.0f} ms | {tokens:.0f} | {first:.2f} s | {total:.2f} s | {rss:,.0f} MiB |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
