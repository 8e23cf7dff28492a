#!/usr/bin/env python3
"""Encode throughput: sy::Tokenizer (tools/bench_tokenizer.cpp) vs HF `tokenizers`, single thread.

Builds a deterministic ~1 MB mixed corpus (Python standard-library source: English prose and code;
the conformance texts in many scripts, emoji and whitespace/digit runs; seeded random Unicode),
cut into 1-4 KB documents, and encodes every document with both tokenizers (no special tokens),
checking they produce the same ids. HF runs with TOKENIZERS_PARALLELISM=false and
RAYON_NUM_THREADS=1. Prints MB/s per tokenizer, the ratio ours/HF, and the command.

    python3 tools/bench_tokenizer.py [--bin build/bin/bench_tokenizer] [--tokenizers NAME ...]
Tokenizers come from tests/data/tokenizers/.cache (tests/data/tokenizers/setup.sh builds them).
"""
import os

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["RAYON_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import sysconfig  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
from make_tokenizer_data import FIXED_TEXTS, random_text  # noqa: E402

CORPUS_BYTES = 1_000_000


def build_corpus(seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources = sorted(p for p in stdlib.glob("*.py"))
    parts, size = [], 0
    # ~60% English prose and code, ~25% multilingual text, ~15% random Unicode.
    for path in sources:
        if size >= 0.6 * CORPUS_BYTES:
            break
        text = path.read_text(encoding="utf-8", errors="replace")
        parts.append(text[: 20_000])
        size += len(parts[-1].encode())
    while size < 0.85 * CORPUS_BYTES:
        parts.append(" ".join(rng.sample(FIXED_TEXTS, 6)))
        size += len(parts[-1].encode())
    while size < CORPUS_BYTES:
        parts.append(random_text(rng, []))
        size += len(parts[-1].encode())
    blob = "\n".join(parts)
    docs, pos = [], 0
    while pos < len(blob):
        n = rng.randint(1000, 4000)
        docs.append(blob[pos:pos + n])
        pos += n
    rng.shuffle(docs)
    return docs


def hf_mb_per_s(tokenizer_json: Path, docs: list[str], min_seconds: float):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    ids = [tok.encode(d, add_special_tokens=False).ids for d in docs]  # warm-up pass (and reference ids)
    nbytes = sum(len(d.encode()) for d in docs)
    passes, start = 0, time.perf_counter()
    while True:
        for d in docs:
            tok.encode(d, add_special_tokens=False)
        passes += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return nbytes * passes / elapsed / 1e6, ids


def fnv1a_ids(all_ids) -> str:
    h = 0xCBF29CE484222325
    for ids in all_ids:
        for i in ids:
            for b in i.to_bytes(4, "little"):
                h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", type=Path, default=REPO / "build/bin/bench_tokenizer")
    parser.add_argument("--cache", type=Path, default=REPO / "tests/data/tokenizers/.cache")
    parser.add_argument("--tokenizers", nargs="*", default=["qwen", "o200k-harmony", "mistral-v3", "mixtral"])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    import tokenizers

    docs = build_corpus()
    nbytes = sum(len(d.encode()) for d in docs)
    print(f"corpus: {len(docs)} documents, {nbytes / 1e6:.2f} MB; machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; HF tokenizers {tokenizers.__version__} (single thread)")
    print(f"command: {' '.join([Path(sys.executable).name] + sys.argv)}")
    print(f"{'tokenizer':<16}{'ours MB/s':>11}{'HF MB/s':>10}{'ratio':>8}  ids")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("\x1e".join(docs), encoding="utf-8")
        for name in args.tokenizers:
            tokenizer_json = args.cache / name / "tokenizer.json"
            hf, hf_ids = hf_mb_per_s(tokenizer_json, docs, args.seconds)
            run = subprocess.run([str(args.bin), "--tokenizer", str(tokenizer_json), "--corpus", str(corpus),
                                  "--seconds", str(args.seconds)], check=True, capture_output=True, text=True)
            ours = json.loads(run.stdout)
            same = ours["ids_fnv1a"] == fnv1a_ids(hf_ids)
            print(f"{name:<16}{ours['mb_per_s']:>11.2f}{hf:>10.2f}{ours['mb_per_s'] / hf:>7.2f}x  "
                  f"{'identical' if same else 'DIFFER'} ({ours['tokens']} tokens)")


if __name__ == "__main__":
    main()
