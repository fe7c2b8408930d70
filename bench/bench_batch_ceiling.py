"""What llama.cpp itself gives when several sequences decode together: the cost of one `llama_decode` step
that advances k sequences by one token each, 2,947 tokens deep (the article prefix copied into each), with no
scheduler, sampler or reader around it. The ceiling for bench/bench_batching.py and the Telegram benchmark.

Usage: python bench/bench_batch_ceiling.py [--flash-attn] [--no-repack] [--model PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench import commit, machine  # noqa: E402

DEPTH = 2947
STEPS = 24


def main() -> int:
    import llama_cpp as low

    from bot.llm import load_llama

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    parser.add_argument("--flash-attn", action="store_true")
    parser.add_argument("--no-repack", action="store_true")
    args = parser.parse_args()
    llama = load_llama(args.model, not args.no_repack, 9, n_ctx=8192, n_threads=2, n_threads_batch=2, n_batch=512,
                       use_mmap=False, verbose=False, flash_attn=args.flash_attn)
    tokens = llama.tokenize((ROOT / "index" / "article-ar.txt").read_text(encoding="utf-8").encode(), add_bos=False) * 2
    llama.eval(tokens[:DEPTH])
    memory = low.llama_get_memory(llama._ctx.ctx)
    for seq in range(1, 9):
        low.llama_memory_seq_cp(memory, 0, seq, -1, -1)
    batch = low.llama_batch_init(512, 0, 1)
    position = {seq: DEPTH for seq in range(1, 9)}
    print(f"Machine: {machine()} · commit {commit()} · flash attention {args.flash_attn} · repack {not args.no_repack}")
    single = None
    for k in (1, 2, 4, 8):
        times = []
        for _ in range(STEPS):
            batch.n_tokens = k
            for j in range(k):
                seq = j + 1
                batch.token[j], batch.pos[j] = tokens[position[seq]], position[seq]
                batch.n_seq_id[j], batch.seq_id[j][0], batch.logits[j] = 1, seq, 1
                position[seq] += 1
            started = time.perf_counter()
            if low.llama_decode(llama._ctx.ctx, batch) != 0:
                raise SystemExit("llama_decode failed")
            times.append(time.perf_counter() - started)
        step = sorted(times)[STEPS // 2]
        single = single or step
        print(f"k={k}: step {step * 1000:.1f} ms ({step / single:.2f}x one), {k / step:.1f} tokens/s aggregate "
              f"({single / step * k:.2f}x one sequence)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
