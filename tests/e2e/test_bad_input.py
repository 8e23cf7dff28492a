"""Every bad input gets its status (INVALID_ARGUMENT naming the field, RESOURCE_EXHAUSTED when
the queue is full) and leaves the server serving."""
import threading
import time
import unittest

import grpc

from sy_e2e import Server, generate_tokens, pb

S = pb.SamplingParams


def ids(n, first=1):
    return pb.TokenIds(ids=[(first + i) % 300 for i in range(n)])


# (description, request, field that the message must start with)
BAD_GENERATE = [
    ("no prompt", pb.GenerateRequest(), "prompt"),
    ("empty text", pb.GenerateRequest(text=""), "text"),
    ("empty token list", pb.GenerateRequest(token_ids=pb.TokenIds(ids=[])), "token_ids.ids"),
    ("id past the vocabulary", pb.GenerateRequest(token_ids=pb.TokenIds(ids=[1, 320])), "token_ids.ids[1]"),
    ("negative id", pb.GenerateRequest(token_ids=pb.TokenIds(ids=[-1])), "token_ids.ids[0]"),
    ("prompt beyond the context", pb.GenerateRequest(token_ids=ids(300)), "prompt"),
    ("prompt + max_tokens beyond the context", pb.GenerateRequest(token_ids=ids(200), sampling=S(max_tokens=100)),
     "sampling.max_tokens"),
    ("max_tokens 0", pb.GenerateRequest(text="hi", sampling=S(max_tokens=0)), "sampling.max_tokens"),
    ("max_tokens < 0", pb.GenerateRequest(text="hi", sampling=S(max_tokens=-3)), "sampling.max_tokens"),
    ("absurd max_tokens", pb.GenerateRequest(text="hi", sampling=S(max_tokens=1_000_000_000)), "sampling.max_tokens"),
    ("temperature < 0", pb.GenerateRequest(text="hi", sampling=S(temperature=-0.5)), "sampling.temperature"),
    ("temperature NaN", pb.GenerateRequest(text="hi", sampling=S(temperature=float("nan"))), "sampling.temperature"),
    ("top_p 0", pb.GenerateRequest(text="hi", sampling=S(top_p=0.0)), "sampling.top_p"),
    ("top_p > 1", pb.GenerateRequest(text="hi", sampling=S(top_p=1.5)), "sampling.top_p"),
    ("top_k < -1", pb.GenerateRequest(text="hi", sampling=S(top_k=-2)), "sampling.top_k"),
    ("min_p < 0", pb.GenerateRequest(text="hi", sampling=S(min_p=-0.1)), "sampling.min_p"),
    ("min_p > 1", pb.GenerateRequest(text="hi", sampling=S(min_p=1.5)), "sampling.min_p"),
    ("repetition_penalty 0", pb.GenerateRequest(text="hi", sampling=S(repetition_penalty=0)),
     "sampling.repetition_penalty"),
    ("presence_penalty 3", pb.GenerateRequest(text="hi", sampling=S(presence_penalty=3)), "sampling.presence_penalty"),
    ("frequency_penalty -3", pb.GenerateRequest(text="hi", sampling=S(frequency_penalty=-3)),
     "sampling.frequency_penalty"),
    ("n 0", pb.GenerateRequest(text="hi", sampling=S(n=0)), "sampling.n"),
    ("n past the limit", pb.GenerateRequest(text="hi", sampling=S(n=17)), "sampling.n"),
    ("logprobs past the limit", pb.GenerateRequest(text="hi", sampling=S(logprobs=21)), "sampling.logprobs"),
    ("too many stop strings", pb.GenerateRequest(text="hi", sampling=S(stop=["x"] * 17)), "sampling.stop"),
    ("stop string too long", pb.GenerateRequest(text="hi", sampling=S(stop=["y" * 257])), "sampling.stop[0]"),
    ("empty stop string", pb.GenerateRequest(text="hi", sampling=S(stop=["ok", ""])), "sampling.stop[1]"),
    ("stop token past the vocabulary", pb.GenerateRequest(text="hi", sampling=S(stop_token_ids=[5000])),
     "sampling.stop_token_ids[0]"),
    ("unknown model", pb.GenerateRequest(model="gpt-17", text="hi"), "model"),
]

BAD_CHAT = [
    ("no messages", pb.ChatRequest(), "messages"),
    ("empty role", pb.ChatRequest(messages=[pb.ChatMessage(content="hi")]), "messages[0].role"),
    ("tools not JSON", pb.ChatRequest(messages=[pb.ChatMessage(role="user", content="hi")], tools_json="{"),
     "tools_json"),
    ("template kwargs not an object",
     pb.ChatRequest(messages=[pb.ChatMessage(role="user", content="hi")], template_kwargs_json="[1]"),
     "template_kwargs_json"),
    ("unknown model", pb.ChatRequest(model="nope", messages=[pb.ChatMessage(role="user", content="hi")]), "model"),
]


class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # One sequence at a time and a 2-request queue: easy to fill.
        cls.server = Server("--max-num-seqs", "1", "--max-num-batched-tokens", "1", "--max-queued-requests", "2")

    @classmethod
    def tearDownClass(cls):
        assert cls.server.stop() == 0

    def assert_status(self, call, code, field=None):
        with self.assertRaises(grpc.RpcError) as ctx:
            call()
        self.assertEqual(ctx.exception.code(), code, ctx.exception.details())
        if field is not None:
            self.assertTrue(ctx.exception.details().startswith(field + ":"), ctx.exception.details())

    def test_generate_fields(self):
        for what, req, field in BAD_GENERATE:
            with self.subTest(what):
                self.assert_status(lambda: list(self.server.stub.Generate(req, timeout=10)),
                                   grpc.StatusCode.INVALID_ARGUMENT, field)
        self.assert_serving()

    def test_chat_fields(self):
        for what, req, field in BAD_CHAT:
            with self.subTest(what):
                self.assert_status(lambda: list(self.server.stub.Chat(req, timeout=10)),
                                   grpc.StatusCode.INVALID_ARGUMENT, field)
        self.assert_serving()

    def test_tokenize_and_detokenize_fields(self):
        self.assert_status(lambda: self.server.stub.Tokenize(pb.TokenizeRequest(model="x", text="a")),
                           grpc.StatusCode.INVALID_ARGUMENT, "model")
        self.assert_status(lambda: self.server.stub.Detokenize(pb.DetokenizeRequest(token_ids=[1, 9999])),
                           grpc.StatusCode.INVALID_ARGUMENT, "token_ids[1]")

    def test_invalid_utf8_is_invalid_argument(self):
        # No generated client can send it; hand-encode the requests with text b"\xff\xfe".
        for method, raw_request in [("Generate", b"\x12\x02\xff\xfe"),                       # text
                                    ("Chat", b"\x12\x0b\x0a\x04user\x12\x03a\xffb")]:  # messages[0].content
            with self.subTest(method):
                raw = self.server.channel.unary_stream(f"/switchyard.v1.Inference/{method}",
                                                       request_serializer=lambda x: x,
                                                       response_deserializer=lambda x: x)
                self.assert_status(lambda: list(raw(raw_request, timeout=10)), grpc.StatusCode.INVALID_ARGUMENT,
                                   "request")
        self.assert_serving()

    def test_full_queue_is_resource_exhausted(self):
        # 8 sequences x 240 tokens, one sequence at a time: runs for thousands of steps.
        long_req = pb.GenerateRequest(token_ids=ids(10), sampling=S(n=8, max_tokens=240, ignore_eos=True))
        running = self.server.stub.Generate(long_req, timeout=60)
        first = next(running)  # admitted and decoding: holds the only sequence slot
        self.assertTrue(first.outputs)
        queued = [self.server.stub.Generate(long_req, timeout=60) for _ in range(2)]
        deadline = time.time() + 10
        while self.server.model_info().requests_queued < 2 and time.time() < deadline:
            time.sleep(0.005)
        self.assertEqual(self.server.model_info().requests_queued, 2)
        self.assert_status(lambda: list(self.server.stub.Generate(pb.GenerateRequest(text="hi"), timeout=10)),
                           grpc.StatusCode.RESOURCE_EXHAUSTED)
        for call in [running] + queued:
            call.cancel()
        self.server.wait_idle()
        self.assert_serving()

    def assert_serving(self):
        tokens, _, last = generate_tokens(self.server.stub, pb.GenerateRequest(
            text="hello", sampling=S(max_tokens=3, ignore_eos=True)))
        self.assertEqual(len(tokens[0]), 3)
        self.assertTrue(last.finished)


if __name__ == "__main__":
    unittest.main()
