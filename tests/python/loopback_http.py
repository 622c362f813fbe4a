"""The scaffolding of the tests' fake HTTP services (fake_imds.py, fault_proxy.py): a threaded HTTP server on
127.0.0.1, on a free port, serving on a thread of its own until stop()."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass  # pytest shows the test's own output; a line per request would bury it


class LoopbackHttpServer:
    def __init__(self, handler_class):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
