"""Real switchyard-server and switchyard-gateway processes for the OpenAI e2e tests.

Each process gets free loopback ports, its output in a log file that is printed when it fails
to come up, and is terminated (then killed) at the end. Binaries come from $SY_BIN_DIR (set by
CTest) or build/bin; a missing binary fails the suite with the path it looked for.
"""
import contextlib
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN_DIR = os.environ.get("SY_BIN_DIR", os.path.join(REPO, "build", "bin"))
MODEL_DIR = os.environ.get("SY_MODEL_DIR",
                           os.path.join(REPO, "tests", "data", "models", "qwen3moe-bf16"))
STARTUP_TIMEOUT_S = 120


def binary(name):
    path = os.path.join(BIN_DIR, name)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{name} not found at {path}: build it first "
                           f"(cmake --build <build> --target {name}) or set SY_BIN_DIR")
    return path


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, headers=None, timeout=5):
    """(status, body bytes) of a GET; HTTP errors are answers too, not exceptions."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Process:
    def __init__(self, name, args, env=None):
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"sy-{name}-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.args = args

    def log_text(self):
        with open(self.log.name, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def fail(self, why):
        raise RuntimeError(f"{self.name} ({' '.join(self.args)}): {why}\n--- log ---\n"
                           f"{self.log_text()[-4000:]}")

    def check_alive(self):
        if self.proc.poll() is not None:
            self.fail(f"exited with status {self.proc.returncode}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


class Server(Process):
    """switchyard-server on the bundled tiny model (CPU)."""

    def __init__(self, *extra):
        self.port = free_port()
        self.admin_port = free_port()
        super().__init__("switchyard-server", [
            binary("switchyard-server"), "--model", MODEL_DIR, "--device", "cpu",
            "--host", "127.0.0.1", "--port", str(self.port), "--admin-port", str(self.admin_port),
            *extra])
        self.address = f"127.0.0.1:{self.port}"

    def metrics(self):
        """Prometheus samples without labels: {name: value}."""
        status, body = http_get(f"http://127.0.0.1:{self.admin_port}/metrics")
        if status != 200:
            self.fail(f"/metrics answered {status}")
        samples = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, value = line.split()[:2]
                samples[name] = float(value)
        return samples


class Gateway(Process):
    def __init__(self, upstream, *extra, env=None):
        self.port = free_port()
        self.admin_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        process_env = dict(os.environ)
        process_env.pop("SWITCHYARD_API_KEY", None)
        process_env.update(env or {})
        super().__init__("switchyard-gateway", [
            binary("switchyard-gateway"), "--listen", f"127.0.0.1:{self.port}",
            "--upstream", upstream, "--admin-listen", f"127.0.0.1:{self.admin_port}",
            "--keepalive-interval", "0.5", *extra], env=process_env)

    def wait_health(self, want=200, processes=()):
        """Until GET /health answers `want` (200: the server behind is SERVING)."""
        deadline = time.time() + STARTUP_TIMEOUT_S
        while time.time() < deadline:
            for p in (self, *processes):
                p.check_alive()
            try:
                status, _ = http_get(self.url + "/health", timeout=2)
                if status == want:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.fail(f"/health did not answer {want} within {STARTUP_TIMEOUT_S} s")

    def metrics_text(self):
        return http_get(f"http://127.0.0.1:{self.admin_port}/metrics")[1].decode()


def post_raw(url, body, headers=None, timeout=30):
    """(status, headers, body bytes) of a POST with a raw body."""
    data = body if isinstance(body, bytes) else body.encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def sse_frames(raw):
    """Splits an SSE body into frames; returns (data payload strings, comment count).
    Raises UnicodeDecodeError on invalid UTF-8."""
    text = raw.decode("utf-8")  # strict: every byte of the stream must be UTF-8
    payloads, comments = [], 0
    for frame in text.split("\n\n"):
        if not frame:
            continue
        for line in frame.split("\n"):
            if line.startswith(":"):
                comments += 1
            elif line.startswith("data: "):
                payloads.append(line[len("data: "):])
            else:
                raise ValueError(f"not an SSE line: {line!r}")
    return payloads, comments


def error_body(raw):
    body = json.loads(raw)
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    return error
