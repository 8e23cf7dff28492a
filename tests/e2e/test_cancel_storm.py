"""Cancel storm: 200 requests cancelled at random phases (queued, mid chunked prefill,
decoding, n > 1) under preemption pressure; afterwards no KV block is held and nothing runs."""
import random
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import grpc

from sy_e2e import Server, pb


class CancelStorm(unittest.TestCase):
    def test_200_cancels_free_everything(self):
        # A small cache and token budget: long prompts take several chunked steps and sequences
        # get preempted, so cancels land in every phase.
        server = Server("--max-num-seqs", "16", "--max-num-batched-tokens", "32", "--block-size", "4",
                        "--num-kv-blocks", "96")
        try:
            start = server.wait_idle()
            rng = random.Random(1234)
            plans = []
            for i in range(200):
                plans.append({
                    "prompt": [rng.randrange(0, 300) for _ in range(rng.randint(1, 150))],
                    "n": rng.choice([1, 1, 1, 2, 3]),
                    "phase": rng.choice(["at_once", "after_delay", "after_tokens", "after_tokens"]),
                    "delay": rng.uniform(0.0, 0.05),
                    "tokens": rng.randint(1, 20),
                })
            outcomes = {"cancelled": 0, "finished": 0}
            lock = threading.Lock()

            def one(plan):
                call = server.stub.Generate(pb.GenerateRequest(
                    token_ids=pb.TokenIds(ids=plan["prompt"]),
                    sampling=pb.SamplingParams(n=plan["n"], max_tokens=60, ignore_eos=True, temperature=0.7,
                                               seed=7)), timeout=60)
                if plan["phase"] == "at_once":
                    call.cancel()
                elif plan["phase"] == "after_delay":
                    time.sleep(plan["delay"])
                    call.cancel()
                seen = 0
                try:
                    for msg in call:
                        seen += sum(len(o.token_ids) for o in msg.outputs)
                        if plan["phase"] == "after_tokens" and seen >= plan["tokens"]:
                            call.cancel()
                    with lock:
                        outcomes["finished"] += 1
                except grpc.RpcError as e:
                    self.assertEqual(e.code(), grpc.StatusCode.CANCELLED, e.details())
                    with lock:
                        outcomes["cancelled"] += 1

            with ThreadPoolExecutor(max_workers=40) as pool:
                list(pool.map(one, plans))
            self.assertGreater(outcomes["cancelled"], 150)
            end = server.wait_idle(blocks_used=start.kv_blocks_used)
            self.assertEqual(end.requests_queued, 0)
            metrics = server.metrics()
            self.assertEqual(metrics["switchyard_sequences_running"], 0)
            self.assertEqual(metrics["switchyard_kv_blocks_used"], start.kv_blocks_used)
            self.assertGreater(metrics['switchyard_requests_finished_total{reason="abort"}'], 0)
            # Still serving after the storm.
            msgs = list(server.stub.Generate(pb.GenerateRequest(
                text="hello", sampling=pb.SamplingParams(max_tokens=4, ignore_eos=True))))
            self.assertTrue(msgs[-1].finished)
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
