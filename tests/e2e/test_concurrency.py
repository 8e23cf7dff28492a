"""64 concurrent streams: each equals its golden continuation; nothing is left running."""
import unittest
from concurrent.futures import ThreadPoolExecutor

from sy_e2e import Server, generate_tokens, goldens, golden_sampling, pb


class Concurrency(unittest.TestCase):
    def test_64_concurrent_requests(self):
        server = Server("--max-num-seqs", "32", "--max-num-batched-tokens", "64")
        try:
            g = goldens()

            def one(i):
                k = i % len(g["prompts"])
                tokens, _, last = generate_tokens(server.stub, pb.GenerateRequest(
                    token_ids=pb.TokenIds(ids=g["prompts"][k]), sampling=golden_sampling()))
                return k, tokens[0], last.usage.completion_tokens

            with ThreadPoolExecutor(max_workers=64) as pool:
                results = list(pool.map(one, range(64)))
            for k, tokens, completion in results:
                self.assertEqual(tokens, g["greedy"][k])
                self.assertEqual(completion, 16)
            server.wait_idle()
            metrics = server.metrics()
            self.assertGreaterEqual(metrics['switchyard_requests_finished_total{reason="length"}'], 64)
            self.assertGreater(metrics["switchyard_prefix_cache_hit_tokens_total"], 0)
        finally:
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
