"""Decoding throughput with several chats at once (continuous batching, bot/batching.py), against raw
llama.cpp generating one sequence at the same depth, measured in the same run.

For k = 1, 2, 4, 8 chats asked at the same moment (each its own question on top of the cached article prefix,
greedy, prompt-lookup drafts off so that only batching is measured): every streamed token is timestamped,
and the aggregate rate is taken over the window in which all k were decoding (after the last first token,
before the first end). Peak RSS is the process's.

Usage: python bench/bench_batching.py [--model default] [--chats 1,2,4,8] [--out bench/results-batching.md]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench import commit, machine, raw_llama  # noqa: E402

GEN_TOKENS = 96
QUESTIONS = [f"Translate passage [{n}] of the article into English, sentence by sentence." for n in range(1, 9)]


def timed_stream(llm, system: str, question: str, stamps: list[float], stats) -> None:
    for _ in llm.stream(system, question, GEN_TOKENS, 0.0, stats):
        stamps.append(time.perf_counter())


def together(llm, system: str, k: int) -> dict:
    from bot.llm import GenerationStats

    stamps: list[list[float]] = [[] for _ in range(k)]
    stats = [GenerationStats() for _ in range(k)]
    threads = [threading.Thread(target=timed_stream, args=(llm, system, QUESTIONS[i], stamps[i], stats[i]))
               for i in range(k)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    window = (max(s[0] for s in stamps), min(s[-1] for s in stamps))
    # a streamed piece may hold two tokens (an Arabic letter split in two): pieces are weighted by tokens/pieces
    in_window = sum(sum(1 for t in s if window[0] < t <= window[1]) * st.completion_tokens / max(1, len(s))
                    for s, st in zip(stamps, stats))
    return {"k": k, "wall_s": wall, "tokens": sum(st.completion_tokens for st in stats),
            "window_s": window[1] - window[0], "window_tps": in_window / max(1e-6, window[1] - window[0]),
            "first_s": [s[0] - started for s in stamps]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="default")
    parser.add_argument("--chats", default="1,2,4,8")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-batching.md")
    args = parser.parse_args()
    chats = [int(c) for c in args.chats.split(",")]

    from bot.config import Settings
    from bot.engine import Engine

    settings = Settings.from_env().with_overrides(llm_model=args.model, slots=max(chats))
    engine = Engine.load(settings)
    llm, system = engine.llm, engine._system
    depth = engine.prefix_tokens
    raw = raw_llama(llm.path, settings.threads, settings.n_ctx, [512], gen_tokens=GEN_TOKENS, gen_depth=depth)
    llm.set_lookup_draft(0)
    together(llm, system, 1)  # warm-up: vocabulary, sampler, caches
    results = [together(llm, system, k) for k in chats]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    single = results[0]["window_tps"] if results[0]["k"] == 1 else raw["gen_tps_deep"]
    lines = [f"# Batched decoding: {llm.name}", "",
             f"Machine: {machine()}  ", f"Commit: {commit()} · {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · "
             f"{settings.threads} threads · context {settings.n_ctx} · {max(chats)} slots · peak RSS {rss:.0f} MiB", "",
             f"Raw llama.cpp, one sequence, greedy, {depth} tokens deep (the article prefix): "
             f"**{raw['gen_tps_deep']:.1f} tokens/s**.", "",
             "| chats at once | aggregate tokens/s (all decoding) | x raw single | x bot, 1 chat | per chat tokens/s "
             "| first token, slowest | wall |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['k']} | {r['window_tps']:.1f} | {r['window_tps'] / raw['gen_tps_deep']:.2f} | "
                     f"{r['window_tps'] / single:.2f} | {r['window_tps'] / r['k']:.1f} | {max(r['first_s']):.2f} s | "
                     f"{r['wall_s']:.1f} s |")
    report = "\n".join(lines) + "\n"
    args.out.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
