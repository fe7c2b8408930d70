"""Probe: memory and speed of the default model under llama.cpp settings that trade one for the other
(context size, batch size, CPU weight repacking), each in a fresh process, raw llama-cpp-python.

Usage: python bench/probe_llm_memory.py [--out bench/results-llm-memory.md]
Not a test: numbers, not assertions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.append(str(ROOT))  # for bot.llm

from bench import machine  # noqa: E402

CONFIGS = [  # (n_ctx, n_batch, repack, mmap, flash attention, KV cache type)
    (8192, 512, True, True, False, "f16"), (8192, 128, True, True, False, "f16"), (6144, 256, True, True, False, "f16"),
    (8192, 512, False, True, False, "f16"), (8192, 512, True, False, False, "f16"), (8192, 512, False, False, False, "f16"),
    (8192, 512, True, False, True, "f16"), (8192, 512, True, False, True, "q8_0")]
KV_TYPES = {"f16": 1, "q8_0": 8}  # ggml type ids
QUESTION_RUNS = 7


def rss_mib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return -1


def measure(model: str, n_ctx: int, n_batch: int, repack: bool, mmap: bool, flash: bool = False,
            kv: str = "f16") -> dict:
    """In this process: load, compute a 3,000-token prefix, a 32-token question, decode 40 tokens."""
    from bot.llm import load_llama

    before = rss_mib()
    llama = load_llama(model, repack, n_ctx=n_ctx, n_threads=2, n_threads_batch=2, n_batch=n_batch, use_mmap=mmap,
                       flash_attn=flash, type_k=KV_TYPES[kv], type_v=KV_TYPES[kv], verbose=False)
    article = (ROOT / "index" / "article-ar.txt").read_text(encoding="utf-8")
    prefix = llama.tokenize(article.encode(), add_bos=False)[:3000]
    question = llama.tokenize(b"Question: Where are Putin and Kim expected to meet?\n"
                              b"Relevant passages: [2], [5], [9], [12]\nAnswer in English.", add_bos=False)
    started = time.perf_counter()
    llama.eval(prefix)
    prefix_tps = len(prefix) / (time.perf_counter() - started)
    question_runs = []
    for _ in range(QUESTION_RUNS):  # the same question again on the same prefix: the median of several
        llama.n_tokens = len(prefix)
        llama._ctx.kv_cache_seq_rm(-1, len(prefix), -1)
        started = time.perf_counter()
        llama.eval(question)
        question_runs.append((time.perf_counter() - started) * 1000)
    question_ms = statistics.median(question_runs)
    started = time.perf_counter()
    for i in range(40):
        llama.eval([question[i % len(question)]])
    decode_tps = 40 / (time.perf_counter() - started)
    return {"rss_mib": rss_mib() - before, "prefix_tps": prefix_tps, "question_ms": question_ms,
            "question_tokens": len(question), "decode_tps": decode_tps}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-llm-memory.md")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # n_ctx,n_batch,repack,mmap,flash,kv: one config, JSON
    args = parser.parse_args()
    model = str(ROOT / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    if args.one:
        n_ctx, n_batch, repack, mmap, flash, kv = args.one.split(",")
        print(json.dumps(measure(model, int(n_ctx), int(n_batch), repack == "1", mmap == "1", flash == "1", kv)))
        return 0
    lines = ["# llama.cpp memory and speed settings (default model, raw llama-cpp-python)", "",
             f"Machine: {machine()}", "", "Each row in a fresh process: RSS added by the model after a 3,000-token "
             "prefix; question = 32 tokens computed after it; decode = 40 single-token steps ~3,000 tokens deep.", "",
             "| n_ctx | n_batch | weight repacking | weights mapped from the file | RSS added | prefix tok/s | "
             "flash attention | KV cache | question | decode tok/s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for n_ctx, n_batch, repack, mmap, flash, kv in CONFIGS:
        config = f"{n_ctx},{n_batch},{int(repack)},{int(mmap)},{int(flash)},{kv}"
        out = subprocess.run([sys.executable, __file__, "--one", config],
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        lines.append(f"| {n_ctx} | {n_batch} | {'on (default)' if repack else 'off'} | "
                     f"{'yes' if mmap else 'no (read into memory, default)'} | {r['rss_mib']:,} MiB | "
                     f"{r['prefix_tps']:.0f} | {'on' if flash else 'off'} | {kv} | {r['question_ms']:.0f} ms | {r['decode_tps']:.1f} |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
