"""Benchmark the bot as users see it: the real Application over HTTP against the fake Bot API server
(tests/fake_telegram.py), with the real engine. Measures, per question, the time from the user's message
to the first visible text and to the full answer; then the same with N chats asking at once, decoded
together (continuous batching). Ratios against the single-chat times and raw llama.cpp of the same run.

Usage: python bench/bench_telegram.py [--model default] [--users 5,20] [--out bench/results-telegram.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PTB_TIMEDELTA", "1")

from bench import commit, machine, pct, raw_llama  # noqa: E402


RAW_SUFFIX_TOKENS = 256  # near what a question evaluates after the article prefix (mean 322 measured)
QUEUE_NOTICE = ("in line", "في الدور")  # words of the bot's place-in-line message, both languages


def is_notice(text: str) -> bool:
    return any(words in text for words in QUEUE_NOTICE)


async def measure(fake, user_id: int, text: str, timeout: float = 300) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    msg = fake.user_message(user_id, text)
    while time.perf_counter() - started < timeout:
        replies = fake.replies_to(user_id, msg["message_id"])
        if replies and first is None and not is_notice(replies[0].final_text):
            first = time.perf_counter() - started
        if replies and not replies[0].final_text.endswith("▌") and not is_notice(replies[0].final_text):
            return first or time.perf_counter() - started, time.perf_counter() - started
        await asyncio.sleep(0.01)
    raise TimeoutError(text)


def rss_mib() -> float:
    """The process's resident memory now (the peak of the whole run would count the raw baseline's model)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def phase(fake, engine, questions: list[str], chats: int, first_chat: int, at_once: bool) -> dict:
    """Ask `questions` (cycled) from `chats` chats, all at the same moment or one after another; per-chat
    times, the decoded tokens per second of wall time, the sampled RSS peak, the queue notices."""
    stats = engine.llm.scheduler.stats
    tokens_before, peak = stats.tokens, rss_mib()
    done = asyncio.Event()

    async def sample_rss() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mib())
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample_rss())
    started = time.perf_counter()
    asks = [(first_chat + n, questions[n % len(questions)]) for n in range(chats)]
    work: list[tuple[int, int]] = []  # one at a time: prompt tokens evaluated and tokens decoded per question
    if at_once:
        times = await asyncio.gather(*[measure(fake, chat, text, 900) for chat, text in asks])
    else:
        times = []
        for chat, text in asks:
            before = stats.prompt_tokens, stats.tokens
            times.append(await measure(fake, chat, text))
            work.append((stats.prompt_tokens - before[0], stats.tokens - before[1]))
    wall = time.perf_counter() - started
    done.set()
    await sampler
    notices = sum(1 for m in fake.sent.values() if first_chat <= m.chat_id < first_chat + chats
                  and is_notice(m.text))
    return {"first": [t[0] for t in times], "full": [t[1] for t in times], "wall": wall,
            "tps": (stats.tokens - tokens_before) / wall, "rss": peak, "notices": notices, "chats": chats,
            "work": work}


def ideal_ratios(full: list[float], work: list[tuple[int, int]], prompt_tps: float, gen_tps: float) -> list[float]:
    """Each question's full answer time over its ideal: the prompt tokens it evaluated at raw llama.cpp's
    prompt rate plus the tokens it decoded at raw generation rate (both passes of an English answer count)."""
    return [seconds / (prompt / prompt_tps + decoded / gen_tps) for seconds, (prompt, decoded) in zip(full, work)]


async def main_async(args) -> str:
    import tempfile

    from bot.config import Settings
    from bot.engine import Engine
    from bot.telegram.app import build_application
    from bot.telegram.store import ChatStore
    from fake_telegram import FakeTelegram

    questions = json.loads((ROOT / "bench" / "questions.json").read_text(encoding="utf-8"))["new"]
    settings = Settings.from_env().with_overrides(llm_model=args.model)
    engine = Engine.load(settings)
    rates = raw_llama(engine.llm.path, settings.threads, settings.n_ctx, [512], gen_tokens=64,
                      gen_depth=engine.prefix_tokens, suffix_tokens=RAW_SUFFIX_TOKENS)
    raw, raw_prompt = rates["gen_tps_deep"], RAW_SUFFIX_TOKENS / rates["suffix_s_deep"]
    fake = FakeTelegram()
    await fake.start()
    data = Path(tempfile.mkdtemp())
    settings = settings.with_overrides(telegram_token=fake.token, telegram_api_base_url=fake.base_url, data_dir=data,
                                       max_queue=200, max_pending_per_user=5)
    app = build_application(settings, engine, ChatStore(data / "chats.sqlite3"))
    await app.initialize()
    await app.post_init(app)
    await app.start()
    await app.updater.start_polling(poll_interval=0.0, timeout=1)
    try:
        await measure(fake, 999, questions[0])  # warm-up: the first answer builds vocabulary tables
        results = [await phase(fake, engine, questions, len(questions), 1000, at_once=False)]
        for n, chats in enumerate(args.users):
            results.append(await phase(fake, engine, questions, chats, 10_000 * (n + 1), at_once=True))
    finally:
        await app.updater.stop()
        await app.stop()
        await app.post_stop(app)
        await app.shutdown()
        await app.post_shutdown(app)
        await fake.stop()
    alone = pct(results[0]["full"], .5)
    ratios = ideal_ratios(results[0]["full"], results[0]["work"], raw_prompt, raw)
    prompt_mean = statistics.mean(p for p, _ in results[0]["work"])
    lines = [f"# Telegram benchmark: {engine.llm.name}", "", f"Machine: {machine()}  ",
             f"Commit: {commit()} · {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {settings.threads} threads · "
             f"{settings.slots} slots · edit interval {settings.edit_interval} s · fake Bot API on 127.0.0.1 "
             "(HTTP, long polling)", "",
             f"Raw llama.cpp, one sequence, greedy, {engine.prefix_tokens} tokens deep (the article prefix), same run: "
             f"**{raw:.1f} tokens/s**. The same {len(questions)} questions (bench/questions.json, new) are asked "
             "one at a time, then cycled over N chats that ask at the same moment.", "",
             f"Ideal time of a question: the prompt tokens it evaluates after the prefix (mean {prompt_mean:.0f}) at "
             f"raw llama.cpp's rate for a {RAW_SUFFIX_TOKENS}-token suffix on the prefix ({raw_prompt:.1f} tokens/s, "
             f"same run) plus the tokens it decodes at the raw rate above. One at a time, full answer over ideal: "
             f"**p50 {pct(ratios, .5):.2f}x, p95 {pct(ratios, .95):.2f}x** (issue 28 targets 1.3x and 2x).", "",
             "| chats | first text p50 / p95 | full answer p50 / p95 | full p50 x alone | aggregate tokens/s | x raw "
             "| told place in line | RSS peak |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        label = "1 (one at a time)" if r is results[0] else f"{r['chats']} at once"
        lines.append(f"| {label} | {pct(r['first'], .5):.2f} / {pct(r['first'], .95):.2f} s | "
                     f"{pct(r['full'], .5):.2f} / {pct(r['full'], .95):.2f} s | {pct(r['full'], .5) / alone:.2f} | "
                     f"{r['tps']:.1f} | {r['tps'] / raw:.2f} | {r['notices']} of {r['chats']} | {r['rss']:.0f} MiB |")
    lines += ["", "Aggregate tokens/s: tokens decoded for the answers / wall time of the phase (prompts, checks and "
              "Telegram round trips included; the decoding rate alone is bench/results-batching.md)."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="default")
    parser.add_argument("--users", default="5,20")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-telegram.md")
    args = parser.parse_args()
    args.users = [int(u) for u in args.users.split(",") if u]
    report = asyncio.run(main_async(args))
    args.out.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
