"""Benchmark: answer latency with the in-process model against the same model behind an OpenAI-compatible
server (llama-cpp-python's `llama_cpp.server`, the ARTICLEBOT_LLM_URL backend), in one run.

Usage: python bench/bench_backends.py [--model default|small|PATH] [--rounds 2] [--out bench/results-backends.md]
Not a test: numbers, not assertions. The server runs on this machine, so both backends share its 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from bench import machine, pct  # noqa: E402  (bench/ is on sys.path when run as a script)


def measure(engine, questions: dict, rounds: int) -> dict[str, list[float]]:
    from bot.engine import Turn

    first, total, follow_first, follow_total = [], [], [], []
    for _ in range(rounds):
        for question in questions["new"]:
            answer = engine.answer(question)
            first.append(answer.timings.get("first_token_s", answer.timings.get("total_s", 0)))
            total.append(answer.timings["total_s"])
        for opener, follow in questions["follow_up"]:
            before = engine.answer(opener)
            history = [Turn(opener, before.text, before.language, [h.chunk.id for h in before.sources])]
            answer = engine.answer(follow, history)
            follow_first.append(answer.timings.get("first_token_s", answer.timings.get("total_s", 0)))
            follow_total.append(answer.timings["total_s"])
    return {"first token, new question": first, "full answer, new question": total,
            "first token, follow-up": follow_first, "full answer, follow-up": follow_total}


def main() -> int:
    import json

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="default")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-backends.md")
    args = parser.parse_args()

    from bot.config import Settings
    from bot.engine import Engine
    from bot.llm_remote import RemoteLLM
    from bot.models import resolve_model_path
    from llm_server import LlamaServer

    settings = Settings.from_env().with_overrides(llm_model=args.model)
    questions = json.loads((ROOT / "bench" / "questions.json").read_text(encoding="utf-8"))
    path = resolve_model_path(settings, settings.llm_model, "gguf")

    local = Engine.load(settings)
    in_process = measure(local, questions, args.rounds)

    server = LlamaServer(path, settings.n_ctx, settings.threads, ROOT / "bench" / ".server.log").start(300)
    try:
        remote = Engine(settings.with_overrides(llm_url=server.url), local.article, local.index, local.embedder,
                        RemoteLLM(server.url, "", "", settings.n_ctx, 300), local.prompts)
        started = time.perf_counter()
        remote.warm()
        warm_s = time.perf_counter() - started
        through_server = measure(remote, questions, args.rounds)
    finally:
        server.kill()

    lines = [f"# Backends: in-process llama.cpp vs an OpenAI-compatible server ({path.name})", "",
             f"Machine: {machine()}", "",
             f"{args.rounds} rounds of {len(questions['new'])} new questions and {len(questions['follow_up'])} "
             "follow-up chains per backend. The server is `python -m llama_cpp.server` on 127.0.0.1 with the same "
             f"model, context ({settings.n_ctx}) and threads ({settings.threads}); it keeps the article prefix in "
             f"its KV cache between requests. Server start-up prefix evaluation: {warm_s:.1f} s (once).", "",
             "| measure | in process p50 | p95 | server p50 | p95 | server / in process (p50) |",
             "|---|---|---|---|---|---|"]
    for name, values in in_process.items():
        other = through_server[name]
        lines.append(f"| {name} | {pct(values, .5):.2f} s | {pct(values, .95):.2f} s | {pct(other, .5):.2f} s | "
                     f"{pct(other, .95):.2f} s | {pct(other, .5) / max(pct(values, .5), 1e-9):.2f}× |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
