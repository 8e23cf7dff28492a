#!/usr/bin/env python3
"""bench_serving: gRPC load generator for switchyard-server.

Sends Generate requests from `--concurrency` client threads for `--duration` seconds (closed
loop: each thread sends its next request when the previous one finishes), with prompt and
output lengths drawn from uniform ranges, and prints throughput, TTFT p50/p99 and inter-token
latency (ITL) p50/p99. The same load at concurrency 1 is measured first in the same run, so the
continuous-batching gain is printed as a ratio against it.

  python3 tools/bench_serving.py --server build/bin/switchyard-server --concurrency 32 --duration 20
  python3 tools/bench_serving.py --target localhost:50051 --prompt-len 64:256 --output-len 32:128

Needs grpcio and grpcio-tools (tests/requirements.txt); stubs are generated from proto/ into a
temporary directory at start.
"""
import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_stubs():
    from grpc_tools import protoc
    out = tempfile.mkdtemp(prefix="sy_bench_stubs_")
    rc = protoc.main(["protoc", "-I", os.path.join(ROOT, "proto"), f"--python_out={out}", f"--grpc_python_out={out}",
                      os.path.join(ROOT, "proto", "switchyard", "v1", "inference.proto")])
    if rc != 0:
        sys.exit("bench_serving: protoc failed on proto/switchyard/v1/inference.proto")
    sys.path.insert(0, out)
    from switchyard.v1 import inference_pb2, inference_pb2_grpc
    return inference_pb2, inference_pb2_grpc


def parse_range(text, name):
    try:
        lo, hi = (int(x) for x in text.split(":")) if ":" in text else (int(text), int(text))
    except ValueError:
        sys.exit(f"bench_serving: --{name} must be N or MIN:MAX, got {text!r}")
    if lo < 1 or hi < lo:
        sys.exit(f"bench_serving: --{name} needs 1 <= MIN <= MAX, got {text!r}")
    return lo, hi


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p / 100.0
    f = int(k)
    c = min(f + 1, len(values) - 1)
    return values[f] + (values[c] - values[f]) * (k - f)


def run_load(stub, pb, concurrency, duration, prompt_len, output_len, vocab, seed):
    """Closed-loop load; returns a dict of results."""
    ttfts, itls, lock = [], [], threading.Lock()
    counts = {"requests": 0, "output_tokens": 0, "prompt_tokens": 0, "errors": 0}
    stop_at = time.perf_counter() + duration

    def worker(index):
        rng = random.Random(seed * 1000 + index)
        while time.perf_counter() < stop_at:
            plen, olen = rng.randint(*prompt_len), rng.randint(*output_len)
            prompt = [rng.randrange(vocab) for _ in range(plen)]
            req = pb.GenerateRequest(token_ids=pb.TokenIds(ids=prompt),
                                     sampling=pb.SamplingParams(max_tokens=olen, ignore_eos=True, temperature=0))
            start = last = time.perf_counter()
            first, local_itl, tokens = None, [], 0
            try:
                for msg in stub.Generate(req, timeout=600):
                    now = time.perf_counter()
                    n = sum(len(o.token_ids) for o in msg.outputs)
                    if n == 0:
                        continue
                    if first is None:
                        first = now - start
                    else:
                        # A message may carry several tokens; spread the gap over them.
                        local_itl.extend([(now - last) / n] * n)
                    last = now
                    tokens += n
            except Exception:  # noqa: BLE001 - any failure counts as an error, the load goes on
                with lock:
                    counts["errors"] += 1
                continue
            with lock:
                counts["requests"] += 1
                counts["output_tokens"] += tokens
                counts["prompt_tokens"] += plen
                if first is not None:
                    ttfts.append(first)
                itls.extend(local_itl)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return {
        "concurrency": concurrency, "elapsed": elapsed, **counts,
        "req_per_s": counts["requests"] / elapsed, "out_tok_per_s": counts["output_tokens"] / elapsed,
        "ttft_p50": percentile(ttfts, 50), "ttft_p99": percentile(ttfts, 99),
        "itl_p50": percentile(itls, 50), "itl_p99": percentile(itls, 99),
    }


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", help="host:port of a running server")
    ap.add_argument("--server", help="switchyard-server binary to start for the run (bundled model unless --server-args)")
    ap.add_argument("--server-args", default="", help="extra flags for --server, one string")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--duration", type=float, default=15.0, help="seconds per measured load")
    ap.add_argument("--prompt-len", default="16:128", help="prompt tokens, N or MIN:MAX (uniform)")
    ap.add_argument("--output-len", default="16:64", help="output tokens, N or MIN:MAX (uniform)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-baseline", action="store_true", help="skip the concurrency-1 reference run")
    args = ap.parse_args()
    if bool(args.target) == bool(args.server):
        ap.error("give exactly one of --target and --server")

    import grpc
    pb, rpc = load_stubs()
    proc = None
    target = args.target
    if args.server:
        port = free_port()
        proc = subprocess.Popen([args.server, "--host", "127.0.0.1", "--port", str(port), "--admin-port", "0",
                                 *args.server_args.split()], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in proc.stdout:
            if line.startswith("switchyard-server listening"):
                break
        else:
            sys.exit("bench_serving: the server exited during start")
        # Keep reading its log (one line per request) so a full pipe never blocks it.
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        target = f"127.0.0.1:{port}"
    try:
        stub = rpc.InferenceStub(grpc.insecure_channel(target))
        info = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
        prompt_len = parse_range(args.prompt_len, "prompt-len")
        output_len = parse_range(args.output_len, "output-len")
        if prompt_len[1] + output_len[1] > info.max_context:
            sys.exit(f"bench_serving: prompt + output up to {prompt_len[1] + output_len[1]} tokens exceeds the "
                     f"model's context {info.max_context}")
        print(f"# {' '.join(sys.argv)}")
        print(f"# model {info.id} ({info.architecture}, {info.num_experts} experts top-{info.top_k}, {info.dtype}) "
              f"on {info.device}; prompt {args.prompt_len}, output {args.output_len} tokens; {args.duration:g} s per run")
        runs = []
        if not args.no_baseline and args.concurrency != 1:
            runs.append(run_load(stub, pb, 1, args.duration, prompt_len, output_len, info.vocab_size, args.seed))
        runs.append(run_load(stub, pb, args.concurrency, args.duration, prompt_len, output_len, info.vocab_size,
                             args.seed))
        print(f"{'conc':>5} {'reqs':>6} {'err':>4} {'req/s':>8} {'out tok/s':>10} {'TTFT p50':>9} {'TTFT p99':>9} "
              f"{'ITL p50':>8} {'ITL p99':>8}")
        for r in runs:
            print(f"{r['concurrency']:>5} {r['requests']:>6} {r['errors']:>4} {r['req_per_s']:>8.2f} "
                  f"{r['out_tok_per_s']:>10.1f} {r['ttft_p50'] * 1e3:>7.1f}ms {r['ttft_p99'] * 1e3:>7.1f}ms "
                  f"{r['itl_p50'] * 1e3:>6.2f}ms {r['itl_p99'] * 1e3:>6.2f}ms")
        if len(runs) == 2 and runs[0]["out_tok_per_s"] > 0:
            print(f"# output-token throughput at concurrency {args.concurrency} vs 1: "
                  f"{runs[1]['out_tok_per_s'] / runs[0]['out_tok_per_s']:.2f}x")
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
