"""SIGTERM: health NOT_SERVING, new calls UNAVAILABLE, running requests finish, exit 0; past the
drain timeout the rest is aborted with UNAVAILABLE and the exit is still 0."""
import signal
import threading
import time
import unittest

import grpc

from sy_e2e import Server, pb


def start_stream(server, max_tokens, result, n=1):
    def run():
        tokens = 0
        try:
            for msg in server.stub.Generate(pb.GenerateRequest(
                    text="drain", sampling=pb.SamplingParams(n=n, max_tokens=max_tokens, ignore_eos=True)), timeout=60):
                tokens += sum(len(o.token_ids) for o in msg.outputs)
                result["started"] = True
            result["status"] = grpc.StatusCode.OK
        except grpc.RpcError as e:
            result["status"] = e.code()
        result["tokens"] = tokens

    t = threading.Thread(target=run)
    t.start()
    deadline = time.time() + 10
    while not result.get("started") and time.time() < deadline:
        time.sleep(0.001)
    return t


class Drain(unittest.TestCase):
    def test_running_requests_finish(self):
        server = Server("--drain-timeout-s", "20", "--max-num-batched-tokens", "64", "--max-num-seqs", "1")
        result = {}
        t = start_stream(server, 240, result)
        server.proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 5
        while server.health() != 2 and time.time() < deadline:
            time.sleep(0.005)
        self.assertEqual(server.health(), 2)  # NOT_SERVING
        with self.assertRaises(grpc.RpcError) as ctx:
            list(server.stub.Generate(pb.GenerateRequest(text="late"), timeout=5))
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAVAILABLE)
        t.join(60)
        self.assertEqual(result["status"], grpc.StatusCode.OK)
        self.assertEqual(result["tokens"], 240)
        self.assertEqual(server.stop(), 0)

    def test_drain_timeout_aborts_the_rest(self):
        server = Server("--drain-timeout-s", "0.05", "--max-num-batched-tokens", "1", "--max-num-seqs", "1")
        result = {}
        # 8 sequences of 250 tokens, one sequence and one token per step: far past 50 ms.
        t = start_stream(server, 250, result, n=8)
        self.assertEqual(server.stop(), 0)
        t.join(30)
        self.assertEqual(result["status"], grpc.StatusCode.UNAVAILABLE)
        self.assertLess(result["tokens"], 8 * 250)


if __name__ == "__main__":
    unittest.main()
