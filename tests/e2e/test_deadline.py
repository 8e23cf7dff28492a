"""Deadlines: DEADLINE_EXCEEDED, resources freed, server still serving."""
import unittest

import grpc

from sy_e2e import Server, generate_tokens, pb


class Deadline(unittest.TestCase):
    def test_deadline_frees_the_request(self):
        # One sequence and one token per step: 8 x 150 tokens run far past the deadline.
        server = Server("--max-num-seqs", "1", "--max-num-batched-tokens", "1")
        try:
            req = pb.GenerateRequest(token_ids=pb.TokenIds(ids=list(range(1, 100))),
                                     sampling=pb.SamplingParams(n=8, max_tokens=150, ignore_eos=True))
            with self.assertRaises(grpc.RpcError) as ctx:
                list(server.stub.Generate(req, timeout=0.05))
            self.assertEqual(ctx.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
            server.wait_idle()
            tokens, _, _ = generate_tokens(server.stub, pb.GenerateRequest(
                text="hi", sampling=pb.SamplingParams(max_tokens=2, ignore_eos=True)))
            self.assertEqual(len(tokens[0]), 2)
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
