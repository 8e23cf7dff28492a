"""Streaming: greedy continuations equal transformers' goldens; chat, tokenize, reflection."""
import unittest

from sy_e2e import Server, generate_tokens, goldens, golden_sampling, pb


class Streaming(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        cls.goldens = goldens()

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0

    def test_greedy_equals_goldens(self):
        for prompt, golden in zip(self.goldens["prompts"], self.goldens["greedy"]):
            messages = list(self.server.stub.Generate(
                pb.GenerateRequest(token_ids=pb.TokenIds(ids=prompt), sampling=golden_sampling())))
            tokens = [t for m in messages for o in m.outputs for t in o.token_ids]
            self.assertEqual(tokens, golden)
            self.assertGreater(len(messages), 1, "tokens must stream, not arrive in one message")
            last = messages[-1]
            self.assertTrue(last.finished)
            self.assertEqual(last.outputs[-1].finish_reason, pb.FINISH_REASON_LENGTH)
            self.assertEqual(last.usage.prompt_tokens, len(prompt))
            self.assertEqual(last.usage.completion_tokens, 16)
            text = "".join(o.text for m in messages for o in m.outputs)
            detok = self.server.stub.Detokenize(pb.DetokenizeRequest(token_ids=golden, skip_special_tokens=True))
            self.assertEqual(text, detok.text)

    def test_text_prompt_logprobs_and_seed(self):
        req = pb.GenerateRequest(text="the quick brown fox", request_id="seeded",
                                 sampling=pb.SamplingParams(max_tokens=8, seed=42, temperature=0.8, logprobs=2,
                                                            ignore_eos=True))
        a, _, last = generate_tokens(self.server.stub, req)
        b, _, _ = generate_tokens(self.server.stub, req)
        self.assertEqual(a, b)
        self.assertEqual(last.request_id, "seeded")
        msgs = list(self.server.stub.Generate(req))
        lps = [lp for m in msgs for o in m.outputs for lp in o.logprobs]
        self.assertEqual(len(lps), 8)
        for lp in lps:
            self.assertLessEqual(lp.logprob, 0.0)
            self.assertEqual(len(lp.top_logprobs), 2)

    def test_n_sequences(self):
        req = pb.GenerateRequest(text="hello", sampling=pb.SamplingParams(n=3, max_tokens=6, seed=1, temperature=1.5,
                                                                          ignore_eos=True))
        tokens, _, last = generate_tokens(self.server.stub, req)
        self.assertEqual(sorted(tokens), [0, 1, 2])
        self.assertTrue(all(len(t) == 6 for t in tokens.values()))
        self.assertEqual(last.usage.completion_tokens, 18)

    def test_chat_and_special_tokens_in_content_are_plain_text(self):
        def prompt_tokens(content):
            req = pb.ChatRequest(messages=[pb.ChatMessage(role="user", content=content)],
                                 template_kwargs_json='{"enable_thinking": false}',
                                 sampling=pb.SamplingParams(max_tokens=2, ignore_eos=True))
            _, _, last = generate_tokens(self.server.stub, req)
            return last.usage.prompt_tokens

        injected = "<|im_end|>"
        special = self.server.stub.Tokenize(pb.TokenizeRequest(text=injected)).token_ids
        plain = self.server.stub.Tokenize(pb.TokenizeRequest(text=injected, special_tokens_as_text=True)).token_ids
        self.assertEqual(len(special), 1)
        self.assertGreater(len(plain), 1)
        self.assertEqual(prompt_tokens(injected) - prompt_tokens(""), len(plain))

    def test_list_models_info_and_routing(self):
        models = self.server.stub.ListModels(pb.ListModelsRequest()).models
        self.assertEqual([m.id for m in models], ["qwen3moe-bf16"])
        info = self.server.model_info()
        self.assertEqual(info.num_experts, 8)
        self.assertEqual(info.top_k, 3)
        self.assertGreater(info.total_params, info.active_params)
        self.assertEqual(info.dtype, "BF16")
        self.assertEqual(info.max_context, 256)
        stats = self.server.stub.GetRoutingStats(pb.GetRoutingStatsRequest())
        self.assertEqual(len(stats.layers), info.num_moe_layers)
        for layer in stats.layers:
            self.assertEqual(len(layer.total_counts), 8)
            self.assertGreaterEqual(layer.total.max_over_mean, 1.0)

    def test_health_and_reflection(self):
        self.assertEqual(self.server.health(), 1)
        reflect = self.server.channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=lambda x: x, response_deserializer=lambda x: x)
        reply = b"".join(reflect(iter([b"\x3a\x01*"]), timeout=5))  # list_services: "*"
        self.assertIn(b"switchyard.v1.Inference", reply)
        self.assertIn(b"grpc.health.v1.Health", reply)


if __name__ == "__main__":
    unittest.main()
