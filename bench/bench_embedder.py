"""Benchmark: the embedding model's backends (ARTICLEBOT_EMBED_BACKEND) side by side, in one run.

For each backend, in a fresh process (so imports count, as they do at every start): seconds from process
start until the model is ready (imports included; an export not yet cached is made first and not timed),
query embedding time for a short, a medium and a long question (median of 15), recall@5 of the gold passage
over the evaluation set's fact and follow-up questions (index built in memory with that backend), cosine to
the torch float32 vectors, and peak RSS.

Usage: python bench/bench_embedder.py [--out bench/results-embedder.md]
Not a test: numbers, not assertions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = [("torch", "float32"), ("torch", "auto"), ("onnx", "auto"), ("onnx-int8", "auto")]
QUESTIONS = ["أين؟", "Where are Putin and Kim expected to meet?",
             "ما الذي يمكن أن تقدمه بيونغ يانغ لروسيا من ذخائر وصواريخ ومحركات درونات، وما الذي يمكن أن تصدّره "
             "موسكو إليها في المقابل من حبوب ونفط وتكنولوجيا عسكرية متقدمة، بحسب الخبراء الذين نقل عنهم المقال؟"]


def measure(backend: str, dtype: str) -> dict:
    """Runs in the child process: everything timed from its start."""
    started = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    import resource
    import statistics

    import numpy as np

    from bot.config import Settings
    from bot.engine import Engine, Turn
    from bot.evaluation import _recall, load_items
    from bot.models import resolve_model_path
    from bot.retrieval import ArticleIndex, load_embedder
    from bot.text import load_article

    settings = Settings.from_env()
    path = resolve_model_path(settings, settings.embed_model, "embed")
    embedder = load_embedder(path, settings.threads, backend, dtype, settings.cache_dir)
    ready = time.perf_counter() - started
    per_question = []
    for question in QUESTIONS:
        times = []
        for _ in range(15):
            t = time.perf_counter()
            embedder.encode_queries([question])
            times.append(time.perf_counter() - t)
        per_question.append(statistics.median(times) * 1000)
    article = load_article(settings.article)
    t = time.perf_counter()
    index = ArticleIndex.build(article, embedder)
    build = time.perf_counter() - t

    # The engine's own retrieval (follow-ups searched with the previous question), without loading an LLM:
    # retrieve() uses only the settings, the embedder and the index.
    engine = Engine.__new__(Engine)
    engine.settings, engine.embedder, engine.index = settings, embedder, index
    found: dict[str, list[bool]] = {"ar": [], "en": []}
    for item in load_items(ROOT / "tests" / "eval" / "eval_set.json", {"fact", "followup"}):
        history: list[Turn] = []
        for turn in item["turns"] if item["type"] == "followup" else [item]:
            found[item["lang"]].append(_recall(engine, turn["question"], history, turn["gold"])[0])
            history.append(Turn(turn["question"], turn["gold"], item["lang"], []))
    vectors = embedder.encode_queries(QUESTIONS + [c.text for c in index.chunks[:5]])
    np.save(f"/tmp/bench-embedder-{backend}-{dtype}.npy", vectors)
    return {"ready_s": ready, "query_ms": per_question, "index_build_s": build,
            "recall_ar": f"{sum(found['ar'])}/{len(found['ar'])}", "recall_en": f"{sum(found['en'])}/{len(found['en'])}",
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "fingerprint": embedder.fingerprint}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-embedder.md")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # backend,dtype: measure in this process, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*args.one.split(","))))
        return 0

    import numpy as np

    from bench import machine

    rows = []
    for backend, dtype in BACKENDS:
        # a first run makes any missing export or prepared copy, so the timed run starts as users' starts do
        for _ in range(2):
            out = subprocess.run([sys.executable, __file__, "--one", f"{backend},{dtype}"], capture_output=True,
                                 text=True, check=True, cwd=ROOT)
        rows.append((backend, dtype, json.loads(out.stdout.strip().splitlines()[-1])))
    reference = np.load("/tmp/bench-embedder-torch-float32.npy")
    lines = ["# Embedding backends (ARTICLEBOT_EMBED_BACKEND)", "", f"Machine: {machine()}",
             f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             "Each row in a fresh process, the second of two (the first makes any missing export). Query time: "
             f"median of 15, for questions of {', '.join(str(len(q)) for q in QUESTIONS)} characters. Recall: gold "
             "passage in the top 5 (hybrid search), evaluation set's fact and follow-up questions. Cosine: to the "
             "torch float32 vectors of the same 3 questions and 5 passages (minimum).", "",
             "| backend | precision | ready after process start | query embedding (short / medium / long) | "
             "index build | recall@5 ar | recall@5 en | cosine to torch fp32 | peak RSS |",
             "|---|---|---|---|---|---|---|---|---|"]
    for backend, dtype, r in rows:
        vectors = np.load(f"/tmp/bench-embedder-{backend}-{dtype}.npy")
        cosine = float((vectors * reference).sum(axis=1).min())
        precision = r["fingerprint"].rsplit("-", 1)[-1] if backend.startswith("onnx") else \
            ("bfloat16" if r["fingerprint"].endswith("-bf16") else "float32")
        lines.append(f"| {backend} | {precision} | {r['ready_s']:.2f} s | "
                     f"{' / '.join(f'{ms:.0f}' for ms in r['query_ms'])} ms | {r['index_build_s']:.2f} s | "
                     f"{r['recall_ar']} | {r['recall_en']} | {cosine:.4f} | {r['rss_mib']:,.0f} MiB |")
    text = "\n".join(lines) + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
