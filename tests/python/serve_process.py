"""`orchard serve` as the tests drive it: one class for every test that starts the service (recognition, the Open
Inference Protocol and hardening tests, the versioned repository, the similar endpoint)."""

import http.client
import json
import re
import signal
import subprocess
import threading
import time

import pytest
import tritonclient.http as triton

from conftest import ORCHARD_BIN


def serving_port(stderr):
    """The port of `orchard serve --port 0`, from the "serving on http://127.0.0.1:PORT" line of its stderr (a
    text stream); the model's notes (e.g. the int8 one) come before it."""
    lines = []
    for line in stderr:
        match = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
        if match:
            return int(match.group(1))
        lines.append(line)
    pytest.fail(f"orchard serve ended without a serving line: {''.join(lines)!r}")


class ServeProcess:
    """`orchard serve --port 0 *options` on a free loopback port. Its stderr (the access log, a line per request)
    is collected into `lines` by a thread, so that the pipe never fills. A process that never serves is killed
    before the error goes on, so that it cannot outlive its test."""

    def __init__(self, *options, env=None):
        self.process = subprocess.Popen([str(ORCHARD_BIN), "serve", "--port", "0", *map(str, options)],
                                        stderr=subprocess.PIPE, text=True, env=env)
        try:
            self.port = serving_port(self.process.stderr)
        except BaseException:
            self.kill()
            raise
        self.url = f"127.0.0.1:{self.port}"
        self.lines = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stderr), daemon=True)
        self.reader.start()

    def wait_ready(self, timeout=30):
        """Polls /v2/health/ready with the protocol's own client (tritonclient) until it answers 200 (the warm-up
        inference has run), at most `timeout` seconds; no fixed sleep. Returns the client."""
        client = triton.InferenceServerClient(self.url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if client.is_server_ready():
                return client
            time.sleep(0.05)
        pytest.fail("the server never became ready")

    def request(self, method, path, body=None, headers=None):
        """One request on a new connection: (status, Content-Type, body bytes)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type"), response.read()
        finally:
            connection.close()

    def json(self, method, path, body=None, headers=None):
        """`request`, whose answer must be JSON: (status, the decoded body)."""
        status, content_type, data = self.request(method, path, body, headers)
        assert content_type.startswith("application/json"), (status, content_type, data[:200])
        return status, json.loads(data)

    def stop(self, timeout=60):
        """SIGTERM (the service drains and exits), then its exit status once its log is read to the end."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return self.process.returncode

    def kill(self):
        self.process.kill()
        self.process.wait()
