"""Benchmark the bot as users see it: the real Application over HTTP against the fake Bot API server
(tests/fake_telegram.py), with the real engine. Measures, per question, the time from the user's message
to the first visible text and to the full answer; then the same with N users asking at once.

Usage: python bench/bench_telegram.py [--model default] [--users 1,5,20] [--out bench/results-telegram.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PTB_TIMEDELTA", "1")

from bench import machine, pct  # noqa: E402


async def measure(fake, user_id: int, text: str, timeout: float = 300) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    msg = fake.user_message(user_id, text)
    while time.perf_counter() - started < timeout:
        replies = fake.replies_to(user_id, msg["message_id"])
        if replies and first is None and not any(n in replies[0].text for n in ("in line", "في الدور")):
            first = time.perf_counter() - started
        if replies and not replies[0].final_text.endswith("▌") and not any(
                n in replies[0].final_text for n in ("in line", "في الدور")):
            return first or time.perf_counter() - started, time.perf_counter() - started
        await asyncio.sleep(0.01)
    raise TimeoutError(text)


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
    rows = []
    try:
        single = [await measure(fake, 1000 + i, q) for i, q in enumerate(questions)]
        rows.append(("1 user, one question at a time: first visible text p50 / p95",
                     f"{pct([s[0] for s in single], .5):.2f} / {pct([s[0] for s in single], .95):.2f} s"))
        rows.append(("1 user, one question at a time: full answer p50 / p95",
                     f"{pct([s[1] for s in single], .5):.2f} / {pct([s[1] for s in single], .95):.2f} s"))
        for users in args.users:
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            started = time.perf_counter()
            results = await asyncio.gather(*[measure(fake, 5000 + users * 100 + u, questions[u % len(questions)], 900)
                                             for u in range(users)])
            wall = time.perf_counter() - started
            rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            notices = sum(1 for m in fake.sent.values() if 5000 + users * 100 <= m.chat_id < 5000 + users * 100 + users
                          and any(n in m.text for n in ("in line", "في الدور")))
            rows.append((f"{users} users at once: full answer p50 / max, wall time",
                         f"{pct([r[1] for r in results], .5):.1f} / {max(r[1] for r in results):.1f} s, {wall:.1f} s"))
            rows.append((f"{users} users at once: told their place in line / peak RSS",
                         f"{notices} of {users} / {rss_after:.0f} MiB (before {rss_before:.0f})"))
    finally:
        await app.updater.stop()
        await app.stop()
        await app.post_stop(app)
        await app.shutdown()
        await app.post_shutdown(app)
        await fake.stop()
    lines = [f"# Telegram benchmark: {engine.llm.name}", "", f"Machine: {machine()}",
             f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             f"Edit interval {settings.edit_interval} s; fake Bot API on 127.0.0.1 (HTTP, long polling)", "",
             "| measure | value |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="default")
    parser.add_argument("--users", default="1,5,20")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-telegram.md")
    args = parser.parse_args()
    args.users = [int(u) for u in args.users.split(",") if u]
    report = asyncio.run(main_async(args))
    args.out.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
