#!/usr/bin/env python3
"""Serving end to end with expert parallelism (CTest label mpi).

Starts `mpirun -np 2 switchyard-server --expert-parallel 2` and a single-rank switchyard-server
on the same bundled model, sends the same greedy requests (several at once, so the engine
batches them and both ranks own sequences) to both over gRPC, and requires identical tokens.
Also: each rank holds its own partition of the KV cache (the job has N times the blocks);
routing statistics cover every routed token; with live EPLB (--eplb-interval-steps) the expert
map changes under load while the tokens stay identical and GetModelInfo / /metrics report the
rebalances; the --eplb-* flags are validated; SIGTERM shuts every rank down cleanly; a hung
worker makes the job exit non-zero within 30 s, naming the rank.
"""
import argparse
import concurrent.futures
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import grpc
from grpc_tools import protoc


def compile_stubs(proto_root, out_dir):
    rc = protoc.main(["protoc", f"-I{proto_root}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
                      os.path.join(proto_root, "switchyard/v1/inference.proto")])
    if rc != 0:
        raise RuntimeError("protoc failed")
    sys.path.insert(0, out_dir)
    from switchyard.v1 import inference_pb2, inference_pb2_grpc  # noqa: E402
    return inference_pb2, inference_pb2_grpc


class Server:
    def __init__(self, cmd, env):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     start_new_session=True)
        self.lines, self.port = [], None
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(180):
            self.kill()
            raise RuntimeError("server did not start:\n" + "".join(self.lines[-40:]))

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            m = re.search(r"listening grpc_port=(\d+)", line)
            if m:
                self.port = int(m.group(1))
                self.ready.set()

    def output(self):
        return "".join(self.lines)

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def greedy(pb2, stub, prompt_ids, max_tokens):
    req = pb2.GenerateRequest(token_ids=pb2.TokenIds(ids=prompt_ids),
                              sampling=pb2.SamplingParams(temperature=0.0, max_tokens=max_tokens, ignore_eos=True))
    out = []
    for msg in stub.Generate(req, timeout=120):
        for o in msg.outputs:
            out.extend(o.token_ids)
    return out


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check_flag_errors(server, failures):
    """Bad --eplb-* combinations stop the server before it loads anything, naming the flag."""
    cases = [(["--eplb-interval-steps", "5"], "--eplb-interval-steps needs --expert-parallel > 1"),
             (["--eplb-redundant-experts", "2"], "--eplb-redundant-experts needs --expert-parallel > 1"),
             (["--expert-parallel", "2", "--eplb-redundant-experts", "2"],
              "--eplb-redundant-experts needs --eplb-interval-steps > 0"),
             (["--eplb-interval-steps", "-1"], "--eplb-interval-steps: must be >= 0")]
    for flags, message in cases:
        r = subprocess.run([server] + flags, capture_output=True, text=True, timeout=60)
        if r.returncode != 2 or message not in r.stderr:
            failures.append(f"{flags}: expected exit 2 naming '{message}', got rc {r.returncode}: {r.stderr.strip()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--server", required=True)
    ap.add_argument("--proto-root", required=True)
    args = ap.parse_args()
    pb2, pb2_grpc = compile_stubs(args.proto_root, tempfile.mkdtemp(prefix="sy-ep-stubs-"))
    env = dict(os.environ)
    common = ["--port", "0", "--admin-port", "0", "--max-num-seqs", "8", "--max-num-batched-tokens", "64"]
    prompts = [[(7 * i + 3 * j) % 300 + 1 for j in range(n)] for i, n in enumerate([1, 5, 12, 30, 7, 19])]
    failures = []

    def run_all(port):
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = pb2_grpc.InferenceStub(ch)
            with concurrent.futures.ThreadPoolExecutor(len(prompts)) as pool:
                results = list(pool.map(lambda p: greedy(pb2, stub, p, 12), prompts))
            stats = stub.GetRoutingStats(pb2.GetRoutingStatsRequest())
            info = stub.GetModelInfo(pb2.GetModelInfoRequest())
            return results, (stats, info)

    check_flag_errors(args.server, failures)

    single = Server([args.server] + common, env)
    try:
        want, (_, single_info) = run_all(single.port)
    finally:
        single.proc.send_signal(signal.SIGTERM)
        single.proc.wait(60)

    ep_cmd = [args.mpirun, "-np", "2", "--oversubscribe", args.server, "--expert-parallel", "2",
              "--collective-timeout-s", "4"] + common
    ep = Server(ep_cmd, env)
    try:
        got, (stats, info) = run_all(ep.port)
        for i, (g, w) in enumerate(zip(got, want)):
            if len(w) != 12:
                failures.append(f"prompt {i}: single-rank server returned {len(w)} tokens, expected 12")
            if g != w:
                failures.append(f"prompt {i}: expert-parallel tokens {g} != single-rank {w}")
        print(f"{len(prompts)} concurrent greedy requests: {'identical' if not failures else 'DIFFERENT'} tokens")
        if not stats.layers:
            failures.append("GetRoutingStats returned no layers")
        # Per-rank load: every routed row computed on some rank, shares summing to 1.
        routed = sum(sum(l.total_counts) for l in stats.layers)
        if len(stats.ranks) != 2 or sum(r.rows_computed for r in stats.ranks) != routed:
            failures.append(f"GetRoutingStats ranks {list(stats.ranks)} do not account for {routed} routed rows")
        if abs(sum(r.load_share for r in stats.ranks) - 1.0) > 1e-9:
            failures.append("GetRoutingStats rank load shares do not sum to 1")
        # Expert map: each MoE layer's experts all placed, memory reported per rank.
        epi = info.expert_parallel
        if epi.num_ranks != 2 or len(epi.weight_bytes_per_rank) != 2 or not epi.layers:
            failures.append(f"GetModelInfo expert_parallel incomplete: {epi}")
        for lp in epi.layers:
            held = sorted(e for r in lp.ranks for e in r.experts)
            if sorted(set(held)) != list(range(info.num_experts)):
                failures.append(f"layer {lp.layer}: experts placed {held}, expected all of 0..{info.num_experts - 1}")
        print(f"routing rows per rank {[r.rows_computed for r in stats.ranks]}, "
              f"weight bytes per rank {list(epi.weight_bytes_per_rank)}")
        if "expert parallelism: rank 1 of 2" not in ep.output():
            failures.append("rank 1 did not report its share of the experts")
        # Data-parallel attention: each rank allocates the KV blocks one device would (same
        # flags as the single server), and the engine schedules over both partitions.
        per_rank = epi.kv_blocks_per_rank
        if per_rank != single_info.kv_blocks_total or info.kv_blocks_total != 2 * per_rank:
            failures.append(f"KV blocks: {per_rank} per rank, {info.kv_blocks_total} in all; the single server has "
                            f"{single_info.kv_blocks_total} (expected the same per rank, twice that in all)")
        for rank in (0, 1):
            if f"expert parallelism: rank {rank} of 2" not in ep.output() or \
                    not re.search(rf"rank {rank} of 2;.*; {per_rank} KV blocks on this rank", ep.output()):
                failures.append(f"rank {rank} did not allocate its share of {per_rank} KV blocks")
        print(f"KV blocks: {per_rank} per rank, {info.kv_blocks_total} in all")
        t0 = time.monotonic()
        ep.proc.send_signal(signal.SIGTERM)
        rc = ep.proc.wait(60)
        out = ep.output()
        # mpirun returns 1 after forwarding SIGTERM whatever its ranks do; the ranks must not fail.
        if rc not in (0, 1) or "non-zero" in out:
            failures.append(f"SIGTERM: a rank failed (mpirun rc {rc}):\n{out[-2000:]}")
        print(f"SIGTERM: job ended in {time.monotonic() - t0:.1f} s, rc {rc}")
    finally:
        ep.kill()

    # Live EPLB: rebalance every 4 engine steps with 2 replica slots per layer. The prompts'
    # routing is uneven, so the hot experts get replicas and the map moves; tokens do not.
    admin_port = free_port()
    eplb_cmd = [args.mpirun, "-np", "2", "--oversubscribe", args.server, "--expert-parallel", "2",
                "--eplb-interval-steps", "4", "--eplb-redundant-experts", "2"] + common
    eplb_cmd[eplb_cmd.index("--admin-port") + 1] = str(admin_port)
    ep = Server(eplb_cmd, env)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{ep.port}") as ch:
            initial = pb2_grpc.InferenceStub(ch).GetModelInfo(pb2.GetModelInfoRequest()).expert_parallel
        # gRPC threads read the map while the engine thread rebalances.
        stop_polling = threading.Event()
        poll_errors = []

        def poll():
            with grpc.insecure_channel(f"127.0.0.1:{ep.port}") as ch:
                stub = pb2_grpc.InferenceStub(ch)
                while not stop_polling.is_set():
                    try:
                        snapshot = stub.GetModelInfo(pb2.GetModelInfoRequest())
                        for lp in snapshot.expert_parallel.layers:  # every map complete, none half-applied
                            held = sorted({e for r in lp.ranks for e in r.experts})
                            if held != list(range(snapshot.num_experts)):
                                poll_errors.append(f"layer {lp.layer}: map holds experts {held}")
                        stub.GetRoutingStats(pb2.GetRoutingStatsRequest())
                    except grpc.RpcError as e:
                        poll_errors.append(str(e))
                        return

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        rounds = [run_all(ep.port) for _ in range(2)]
        stop_polling.set()
        poller.join(30)
        failures.extend(f"GetModelInfo during rebalancing: {e}" for e in poll_errors[:3])
        for round_no, (got, _) in enumerate(rounds):
            for i, (g, w) in enumerate(zip(got, want)):
                if g != w:
                    failures.append(f"EPLB round {round_no} prompt {i}: tokens {g} != single-rank {w}")
        info = rounds[-1][1][1]
        eplb = info.expert_parallel.eplb
        moved = [lp.layer for lp, before in zip(info.expert_parallel.layers, initial.layers)
                 if [list(r.experts) for r in lp.ranks] != [list(r.experts) for r in before.ranks]]
        replicated = sum(1 for lp in info.expert_parallel.layers
                         for e in {e for r in lp.ranks for e in r.experts}
                         if sum(e in r.experts for r in lp.ranks) > 1)
        print(f"EPLB: {eplb.rebalances} rebalances, last from steps {eplb.window_first_step}..{eplb.window_last_step} "
              f"({eplb.window_routed_rows} routed rows, imbalance {eplb.imbalance_before:.2f} -> "
              f"{eplb.imbalance_after:.2f}); {len(moved)} layers moved, {replicated} replicated experts")
        if eplb.interval_steps != 4 or eplb.redundant_experts != 2 or eplb.rebalances < 3:
            failures.append(f"GetModelInfo eplb: expected >= 3 rebalances every 4 steps with 2 replicas, got {eplb}")
        if not moved or replicated == 0:
            failures.append("EPLB: the expert map did not change under load")
        if eplb.window_last_step - eplb.window_first_step + 1 != 4 or eplb.window_routed_rows == 0:
            failures.append(f"EPLB: the last window is not 4 steps with routed rows: {eplb}")
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10).read().decode()
        m = re.search(r"^switchyard_eplb_rebalances_total (\d+)", metrics, re.M)
        if not m or int(m.group(1)) < eplb.rebalances:
            failures.append(f"/metrics: switchyard_eplb_rebalances_total missing or behind GetModelInfo ({eplb.rebalances})")
        m = re.search(r"^switchyard_kv_blocks_per_rank (\d+)", metrics, re.M)
        if not m or int(m.group(1)) != info.expert_parallel.kv_blocks_per_rank:
            failures.append("/metrics: switchyard_kv_blocks_per_rank missing or wrong")
        if not re.search(r"EPLB rebalance 1 before step \d+: placement from the routing of steps 1\.\.4 ", ep.output()):
            failures.append("EPLB: no log line naming the routing window of the first rebalance:\n" + ep.output()[-2000:])
        ep.proc.send_signal(signal.SIGTERM)
        ep.proc.wait(60)
    finally:
        ep.kill()

    # A hung worker: rank 0 notices within the collective timeout (plus a heartbeat interval).
    ep = Server(ep_cmd, env)
    try:
        run_all(ep.port)
        workers = subprocess.run(["pgrep", "-P", str(ep.proc.pid)], capture_output=True, text=True).stdout.split()
        pids = {}
        for pid in workers:
            environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            rank = [e for e in environ if e.startswith(b"OMPI_COMM_WORLD_RANK=")]
            if rank:
                pids[int(rank[0].split(b"=")[1])] = int(pid)
        if 1 not in pids:
            failures.append(f"could not find rank 1 among mpirun's children {workers}")
        else:
            t0 = time.monotonic()
            os.kill(pids[1], signal.SIGSTOP)
            rc = ep.proc.wait(45)
            elapsed = time.monotonic() - t0
            print(f"hung rank 1: job ended in {elapsed:.1f} s, rc {rc}")
            if rc == 0 or elapsed > 30:
                failures.append(f"hung worker: rc {rc} after {elapsed:.1f} s")
            if not re.search(r"rank\(s\) 1 \(dead or hung\)", ep.output()):
                failures.append("hung worker: no message names rank 1:\n" + ep.output()[-2000:])
    finally:
        ep.kill()

    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
