#!/usr/bin/env python3
"""Fault tests of expert parallelism (CTest label mpi).

Starts `mpirun -np N ep_fault_runner`, waits until rank 0 has run a few steps, then:
  kill   SIGKILL a worker          -> the job ends non-zero within 30 s, naming the rank
  hang   SIGSTOP a worker          -> rank 0's collective times out naming it; non-zero within 30 s
  hang0  SIGSTOP rank 0            -> the workers' plan wait times out naming rank 0
  term   SIGTERM to mpirun         -> every rank shuts down cleanly and exits 0 (mpirun itself
                                     returns 1 after forwarding SIGTERM, whatever its ranks do:
                                     that is Open MPI's convention, so the ranks' own reports are
                                     what is checked)
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time

LIMIT_S = 30.0


def run_case(args, np_, case, target_rank):
    cmd = [args.mpirun, "-np", str(np_), "--oversubscribe", args.runner, "--model", args.model,
           "--timeout-ms", "3000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines, pids, steps = [], {}, [0]
    ready = threading.Event()

    def reader():
        for line in proc.stdout:
            lines.append(line)
            m = re.match(r"rank (\d+) pid (\d+)", line)
            if m:
                pids[int(m.group(1))] = int(m.group(2))
            m = re.match(r"step (\d+)", line)
            if m:
                steps[0] = int(m.group(1))
                if steps[0] >= 5 and len(pids) == np_:
                    ready.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    ok = ready.wait(120)
    if not ok:
        proc.kill()
        return f"{case}: the job never reached step 5:\n" + "".join(lines[-40:])
    t0 = time.monotonic()
    if case == "term":
        proc.send_signal(signal.SIGTERM)
    else:
        os.kill(pids[target_rank], signal.SIGKILL if case == "kill" else signal.SIGSTOP)
    try:
        rc = proc.wait(timeout=LIMIT_S + 15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return f"{case}: job still running {LIMIT_S + 15:.0f} s after the fault:\n" + "".join(lines[-40:])
    elapsed = time.monotonic() - t0
    t.join(5)
    out = "".join(lines)
    if case != "term":
        # A stopped process is killed with the job; make sure nothing is left behind.
        for pid in pids.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    print(f"--- {case} np={np_} target={target_rank}: rc={rc} after {elapsed:.1f} s")
    print("".join(l for l in lines if not l.startswith("step "))[-3000:])
    if case == "term":
        if rc not in (0, 1) or "non-zero" in out:
            return f"term: a rank failed after SIGTERM (mpirun rc {rc})"
        if elapsed > LIMIT_S:
            return f"term: shutdown took {elapsed:.1f} s"
        if "rank 0: clean shutdown" not in out:
            return "term: rank 0 did not report a clean shutdown"
        for r in range(1, np_):
            if f"rank {r}: stopped by rank 0" not in out:
                return f"term: rank {r} did not stop through rank 0's plan"
        return None
    if rc == 0:
        return f"{case}: job exited 0 after rank {target_rank} failed"
    if elapsed > LIMIT_S:
        return f"{case}: job took {elapsed:.1f} s to end (limit {LIMIT_S:.0f} s)"
    if not re.search(rf"rank\D{{0,12}}{target_rank}\b", out.replace("rank(s) ", "rank ")):
        return f"{case}: no message names rank {target_rank}"
    if case.startswith("hang") and "(dead or hung)" not in out:
        return f"{case}: the survivors did not report the timeout"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--runner", required=True)
    ap.add_argument("--model", required=True)
    args = ap.parse_args()
    cases = [("kill", 2, 1), ("hang", 2, 1), ("hang0", 2, 0), ("term", 2, 0), ("hang", 4, 2)]
    failures = [f for f in (run_case(args, np_, c, r) for c, np_, r in cases) if f]
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
