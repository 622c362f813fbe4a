"""An HTTP proxy on loopback that injects storage faults between an S3 client and the S3 server.

Faults hit the first attempt of every `every`-th distinct request (method, path and query, Range), cycling
through `kinds`, so the client's retry of that request goes through, as it would after a passing fault:
- "slowdown": answers 503 SlowDown, what S3 says when throttling;
- "drop": closes the connection without an answer;
- "stall": holds the connection silent for `stall_seconds`, then closes it (a hung server).
Requests are forwarded byte for byte, Host header included, so the client's signatures stay valid.
`latency` seconds are added to every request, as the round trip to a remote store would.
`on_request(n)` is called with the running request count before each request is handled; `log` records
(method, path) of every request. `refuse(method, path)`, when it returns true, answers that request 503
SlowDown every time (retries included): a storage outage that outlasts the client's retries, for chosen objects.
"""

import socket
import struct
import threading
import time
from http.client import HTTPConnection

from loopback_http import LoopbackHttpServer, QuietHandler

SLOW_DOWN_BODY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                  b"<Message>Please reduce your request rate.</Message><RequestId>fault-proxy</RequestId></Error>")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding"}


class FaultPlan:
    def __init__(self, every=0, kinds=("slowdown", "drop", "stall"), stall_seconds=5.0):
        self.every = every
        self.kinds = kinds
        self.stall_seconds = stall_seconds
        self.injected = {kind: 0 for kind in kinds}
        self._seen = set()
        self._lock = threading.Lock()

    def fault_for(self, key):
        """The fault for this request, or None; only a request's first attempt can get one."""
        with self._lock:
            if not self.every or key in self._seen:
                return None
            self._seen.add(key)
            if len(self._seen) % self.every:
                return None
            kind = self.kinds[(len(self._seen) // self.every - 1) % len(self.kinds)]
            self.injected[kind] += 1
            return kind


class FaultProxy(LoopbackHttpServer):
    def __init__(self, upstream_port, plan=None, on_request=None, latency=0.0, refuse=None):
        self.upstream_port = upstream_port
        self.latency = latency
        self.plan = plan or FaultPlan()
        self.on_request = on_request
        self.refuse = refuse
        self.requests = 0
        self.log = []
        self._lock = threading.Lock()
        super().__init__(self._handler_class())

    def _count(self):
        with self._lock:
            self.requests += 1
            return self.requests

    def _handler_class(self):
        proxy = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                self.upstream = None  # one upstream connection per client connection, like a real proxy

            def finish(self):
                super().finish()
                if self.upstream is not None:
                    self.upstream.close()

            def _proxy(self):
                number = proxy._count()
                proxy.log.append((self.command, self.path))
                if proxy.on_request:
                    proxy.on_request(number)
                body = self._read_body()
                time.sleep(proxy.latency)
                if proxy.refuse and proxy.refuse(self.command, self.path):
                    return self._answer(503, [("Content-Type", "application/xml")], SLOW_DOWN_BODY)
                fault = proxy.plan.fault_for((self.command, self.path, self.headers.get("Range")))
                if fault == "stall":
                    time.sleep(proxy.plan.stall_seconds)
                if fault in ("drop", "stall"):
                    return self._drop()
                if fault == "slowdown":
                    return self._answer(503, [("Content-Type", "application/xml")], SLOW_DOWN_BODY)
                try:
                    status, headers, data = self._forward(body)
                except OSError:  # the server is down: the client sees what it would see without the proxy
                    return self._drop()
                self._answer(status, headers, data)

            def _read_body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    return self._read_raw_chunks()
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def _read_raw_chunks(self):
                """The chunked body with its framing, to forward unchanged."""
                raw = b""
                while True:
                    size_line = self.rfile.readline()
                    raw += size_line
                    size = int(size_line.split(b";")[0], 16)
                    if size == 0:
                        while True:  # trailers, up to the empty line
                            line = self.rfile.readline()
                            raw += line
                            if line in (b"\r\n", b"\n", b""):
                                return raw
                    raw += self.rfile.read(size + 2)

            def _forward(self, body):
                if self.upstream is None:
                    self.upstream = HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                try:
                    self.upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for name, value in self.headers.items():
                        if name.lower() != "connection":
                            self.upstream.putheader(name, value)
                    self.upstream.endheaders(body or None)
                    response = self.upstream.getresponse()
                    data = response.read()
                except OSError:
                    self.upstream.close()
                    self.upstream = None
                    raise
                headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
                if self.command != "HEAD":
                    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
                    headers.append(("Content-Length", str(len(data))))
                return response.status, headers, data

            def _answer(self, status, headers, data):
                self.send_response_only(status)
                for name, value in headers:
                    self.send_header(name, value)
                if not any(name.lower() == "content-length" for name, _ in headers):
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                self.wfile.flush()

            def _drop(self):
                # SO_LINGER 0: the close resets the connection, as a crashed server or a broken network does.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _proxy

        return Handler
