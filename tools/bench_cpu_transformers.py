#!/usr/bin/env python3
"""Baseline for tools/bench_cpu: transformers on CPU, same checkpoint, same shapes.

Prefill tok/s of one 512-token prompt and decode tok/s at batch 1 (greedy, KV cache, 16-token
prompt), in the checkpoint's dtype, with torch using every core it is given.

    python3 tools/bench_cpu_transformers.py --model /work/bench-models/qwen3moe-bench-bf16 [--decode 16]
"""

import argparse
import os
import time

import torch
from transformers import AutoModelForCausalLM


def load_average() -> str:
    return open("/proc/loadavg").read().split()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--prefill", type=int, default=512)
    ap.add_argument("--decode", type=int, default=16)
    args = ap.parse_args()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype="auto")
    model.eval()
    print(f"# transformers {__import__('transformers').__version__}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, dtype {model.dtype}")
    with torch.inference_mode():
        ids = torch.randint(0, 320, (1, args.prefill))
        t0 = time.perf_counter()
        model(ids, use_cache=False)
        dt = time.perf_counter() - t0
        print(f"prefill {args.prefill} tokens   {args.prefill / dt:9.2f} tok/s   (load {load_average()})")

        prompt = torch.randint(0, 320, (1, 16))
        out = model(prompt, use_cache=True)
        past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
        t0 = time.perf_counter()
        for _ in range(args.decode):
            out = model(tok, past_key_values=past, use_cache=True)
            past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
        dt = time.perf_counter() - t0
        print(f"decode batch 1       {args.decode / dt:9.2f} tok/s   (load {load_average()})")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
