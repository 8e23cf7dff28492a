"""Helpers for the e2e tests: start a real switchyard-server, talk to it with grpcio.

Each test module starts its own server on free ports (its flags depend on what it tests) and
stops it with SIGTERM, checking the exit status.
"""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request

import grpc

from switchyard.v1 import inference_pb2 as pb  # noqa: F401  (re-exported for the tests)
from switchyard.v1 import inference_pb2_grpc as rpc

DATA_DIR = os.environ.get("SY_TEST_DATA_DIR", os.path.join(os.path.dirname(__file__), "..", "data"))
GOLDENS = os.path.join(DATA_DIR, "models", "qwen3moe-bf16", "goldens", "goldens.json")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def goldens():
    with open(GOLDENS) as f:
        return json.load(f)


def golden_sampling(**kw):
    """The goldens' decoding: greedy, 16 tokens, EOS masked (min_new_tokens=16)."""
    return pb.SamplingParams(temperature=0, max_tokens=16, min_tokens=16, **kw)


class Server:
    """A switchyard-server process serving the bundled model on 127.0.0.1."""

    def __init__(self, *flags):
        self.port = free_port()
        self.admin_port = free_port()
        env = dict(os.environ)
        # One OpenMP thread: the CI machine has 2 cores shared by the server and its clients.
        env.setdefault("OMP_NUM_THREADS", "1")
        self.proc = subprocess.Popen(
            [os.environ["SWITCHYARD_SERVER"], "--host", "127.0.0.1", "--port", str(self.port),
             "--admin-port", str(self.admin_port), *flags],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.log = []
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("server exited during start:\n" + "".join(self.log))
            self.log.append(line)
            if line.startswith("switchyard-server listening"):
                break
        else:
            raise RuntimeError("server did not start in 60 s:\n" + "".join(self.log))
        # Keep reading the log (one line per finished request) so a full pipe never blocks it.
        self.reader = threading.Thread(target=lambda: self.log.extend(self.proc.stdout), daemon=True)
        self.reader.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.stub = rpc.InferenceStub(self.channel)

    def health(self):
        """grpc.health.v1 Check for the whole server: 1 SERVING, 2 NOT_SERVING (raw proto bytes)."""
        check = self.channel.unary_unary("/grpc.health.v1.Health/Check",
                                         request_serializer=lambda x: x, response_deserializer=lambda x: x)
        reply = check(b"", timeout=5)
        return reply[1] if len(reply) >= 2 else 0

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def model_info(self):
        return self.stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=5)

    def wait_idle(self, blocks_used=0, timeout=20):
        """Waits until nothing runs or waits and the KV blocks in use are back to blocks_used."""
        deadline = time.time() + timeout
        info = None
        while time.time() < deadline:
            info = self.model_info()
            if (info.requests_active == 0 and info.sequences_running == 0 and info.sequences_waiting == 0
                    and info.kv_blocks_used == blocks_used):
                return info
            time.sleep(0.02)
        raise AssertionError(f"server not idle after {timeout} s: {info}")

    def stop(self, timeout=30):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=5)
        self.channel.close()
        return self.proc.returncode


def generate_tokens(stub, request, timeout=60):
    """Runs a Generate (or Chat) stream; returns ({index: token ids}, {index: text}, last message)."""
    tokens, texts, last = {}, {}, None
    call = stub.Chat if isinstance(request, pb.ChatRequest) else stub.Generate
    for msg in call(request, timeout=timeout):
        for out in msg.outputs:
            tokens.setdefault(out.index, []).extend(out.token_ids)
            texts[out.index] = texts.get(out.index, "") + out.text
        last = msg
    return tokens, texts, last
