"""`orchard serve` as a deployed service: the Open Inference Protocol v2 called by a real client of it
(tritonclient[http]), and the hardening of issue 17 (limits answered before reading, --max-pixels, errors without
internals, bearer token, access log, drain on SIGTERM)."""

import http.client
import io
import json
import re
import select
import signal
import socket
import subprocess
import threading
import time

import numpy as np
import pytest
import tritonclient.http as triton
from PIL import Image
from tritonclient.utils import InferenceServerException

from conftest import ORCHARD_BIN, SAMPLE, run_orchard, write_manifest
from serve_process import ServeProcess

MAX_BODY = 1_000_000
MAX_PIXELS = 1_000_000
TOKEN = "s3cr3t-token"


def images_per_label(split, per_label):
    images = []
    for label_dir in sorted((SAMPLE / split).iterdir()):
        files = sorted(label_dir.glob("*.jpg"))
        images.extend(files[::max(1, len(files) // per_label)][:per_label])
    return images


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory):
    """A bundle trained on 3 images of each label: small and fast, enough to compare with `orchard predict`."""
    root = tmp_path_factory.mktemp("oip")
    manifest = write_manifest(root / "images.txt", images_per_label("Training", 3))
    run_orchard("run", "--input", manifest, "--output", root / "out")
    run_orchard("train", root / "out", "--bundle", root / "bundle")
    return root / "bundle"


class Server(ServeProcess):
    """The service with the protocol tests' limits, and a request of raw bytes."""

    def __init__(self, bundle, *options):
        super().__init__("--bundle", bundle, "--max-body-bytes", MAX_BODY, "--max-pixels", MAX_PIXELS,
                         "--model-name", "fruit", "--max-wait-ms", 5, *options)

    def raw(self, data):
        """Sends raw bytes and returns (status, headers+body text) of the first answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as connection:
            connection.sendall(data)
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
            while len(body) < length:
                body += connection.recv(65536)
        return int(head.split()[1]), head.decode(), body.decode()


@pytest.fixture(scope="module")
def server(small_bundle):
    # A long read timeout: a server that waited for a body it should refuse would make `raw` time out (30 s).
    server = Server(small_bundle, "--read-timeout-s", "600")
    server.client = server.wait_ready()
    yield server
    assert server.stop() == 0


@pytest.fixture(scope="module")
def photos():
    return images_per_label("Test", 1)[::8][:4]


def images_input(photos):
    images = triton.InferInput("images", [len(photos)], "BYTES")
    images.set_data_from_numpy(np.array([p.read_bytes() for p in photos], dtype=object), binary_data=True)
    return images


def text(element):
    """A BYTES element as tritonclient gives it: bytes from binary data, str from JSON."""
    return element.decode() if isinstance(element, bytes) else element


def predict_lines(bundle, photos, *options):
    result = run_orchard("predict", "--bundle", bundle, *options, *photos)
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_oip_health_and_metadata(server):
    client = server.client
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("fruit") and client.is_model_ready("fruit", "1")
    assert not client.is_model_ready("other")
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    metadata = client.get_model_metadata("fruit", "1")
    assert metadata["name"] == "fruit" and metadata["versions"] == ["1"]
    assert metadata["inputs"] == [{"name": "images", "datatype": "BYTES", "shape": [-1]}]
    outputs = {o["name"]: (o["datatype"], o["shape"]) for o in metadata["outputs"]}
    assert outputs == {"label": ("BYTES", [-1]), "top_k_labels": ("BYTES", [-1, -1]),
                       "top_k_probabilities": ("FP32", [-1, -1]), "unknown": ("BOOL", [-1]),
                       "unknown_score": ("FP32", [-1]), "features": ("FP32", [-1, 1280])}
    with pytest.raises(InferenceServerException, match="no such model"):
        client.get_model_metadata("orchard")


@pytest.mark.parametrize("binary", [True, False])
def test_oip_infer_matches_orchard_predict(server, small_bundle, photos, binary):
    outputs = [triton.InferRequestedOutput(name, binary_data=binary)
               for name in ("label", "top_k_labels", "top_k_probabilities", "unknown", "unknown_score")]
    result = server.client.infer("fruit", [images_input(photos)], outputs=outputs, parameters={"top_k": 3})
    expected = predict_lines(small_bundle, photos, "--top-k", "3")
    labels = [text(label) for label in result.as_numpy("label")]
    assert labels == [line["label"] or "" for line in expected]  # "" for an unknown fruit (predict: null)
    assert result.as_numpy("unknown").tolist() == [line["unknown"] for line in expected]
    np.testing.assert_allclose(result.as_numpy("unknown_score"), [line["unknown_score"] for line in expected],
                               rtol=1e-4)
    top_labels = result.as_numpy("top_k_labels")
    assert top_labels.shape == (len(photos), 3)
    assert [[text(t) for t in row] for row in top_labels] == [[t["label"] for t in line["top_k"]]
                                                                   for line in expected]
    probabilities = result.as_numpy("top_k_probabilities")
    assert probabilities.dtype == np.float32 and probabilities.shape == (len(photos), 3)
    np.testing.assert_allclose(probabilities, [[t["probability"] for t in line["top_k"]] for line in expected],
                               atol=1e-4)


def test_oip_infer_returns_features_only_when_asked(server, small_bundle, photos):
    result = server.client.infer("fruit", [images_input(photos[:2])],
                                 outputs=[triton.InferRequestedOutput("features", binary_data=True)])
    features = result.as_numpy("features")
    assert features.shape == (2, 1280) and result.as_numpy("label") is None
    expected = predict_lines(small_bundle, photos[:2], "--features")
    np.testing.assert_allclose(features, [line["features"] for line in expected], rtol=1e-4, atol=1e-4)
    default = server.client.infer("fruit", [images_input(photos[:1])])  # no outputs named: the four defaults
    assert default.as_numpy("features") is None and default.as_numpy("label").shape == (1,)
    assert default.as_numpy("unknown").dtype == np.bool_ and default.as_numpy("unknown_score") is None


def test_oip_bad_requests_get_400_json_naming_the_fault(server, photos):
    status, _, body = server.raw(http_post("/v2/models/fruit/infer", b'{"inputs": []}'))
    assert status == 400 and "one input" in json.loads(body)["error"]
    request = json.dumps({"inputs": [{"name": "images", "datatype": "BYTES", "shape": [1], "data": ["abc"]}]})
    status, _, body = server.raw(http_post("/v2/models/fruit/infer", request.encode()))
    assert status == 415 and "image 0 is not a JPEG" in json.loads(body)["error"]
    status, _, _ = server.raw(http_post("/v2/models/other/infer", request.encode()))
    assert status == 404
    status, _, body = server.raw(http_post("/v2/models/fruit/versions/2/infer", request.encode()))
    assert status == 404 and "version 1" in json.loads(body)["error"]


def http_post(path, body, headers=""):
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{headers}\r\n").encode() + body


def png(width, height):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 160, 60)).save(buffer, "PNG")
    return buffer.getvalue()


def test_serve_max_pixels_refuses_a_decompression_bomb_with_4xx(server):
    bomb = png(1001, 1000)  # compresses to a few KB, decodes to 3 MB
    status, _, body = server.raw(http_post("/v1/predict", bomb))
    assert status == 400 and f"limit of {MAX_PIXELS} pixels" in json.loads(body)["error"]
    status, _, _ = server.raw(http_post("/v1/predict", png(1000, 1000)))
    assert status == 200


def test_serve_over_limit_content_length_is_413_before_the_body_is_sent(server):
    # Only the headers go out: an answer proves the body was not awaited (the old code waited to discard it).
    status, head, body = server.raw(
        f"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY * 100}\r\n\r\n".encode())
    assert status == 413 and "too large" in json.loads(body)["error"] and "Connection: close" in head


def test_serve_post_without_content_length_gets_411_not_a_dropped_connection(server):
    status, _, body = server.raw(b"POST /v2/models/fruit/infer HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 411 and "Content-Length (or chunked transfer encoding) is required" in json.loads(body)["error"]
    status, _, _ = server.raw(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
    assert status == 411


def chunked_post(path, body, chunk=65536):
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + chunk]), body[i:i + chunk])
                      for i in range(0, len(body), chunk))
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").encode() + chunks + b"0\r\n\r\n"


def test_serve_chunked_body_is_read_up_to_the_limit_and_refused_with_413_over_it(server, photos):
    status, _, body = server.raw(chunked_post("/v1/predict", photos[0].read_bytes(), chunk=1000))
    assert status == 200 and json.loads(body)["label"] == photos[0].parent.name
    # Over the limit: the answer comes once the limit is passed, while the client still has chunks to send.
    over = b"\xff\xd8" + b"\x00" * (MAX_BODY * 3)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        request = chunked_post("/v1/predict", over)
        connection.sendall(request[:len(request) // 2])
        answer = b""
        while b"too large" not in answer and (chunk := connection.recv(65536)):  # headers and body may come apart
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b"too large" in answer


def answers_until_closed(port, request):
    """Sends `request` on one connection and reads until the server closes it: every answer's status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return re.findall(rb"^HTTP/1\.1 (\d{3})", received, re.MULTILINE)


def test_serve_closes_the_connection_after_refusing_a_body_it_did_not_read(server):
    """A 411 or 413 given before the body was read said "Connection: close", but the connection stayed open and
    the body's bytes were parsed as the client's next request: here a GET /healthz inside the body was
    answered 200 (and a chunked body's rest was logged as a 414)."""
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    over_limit = f"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY * 100}\r\n\r\n".encode()
    assert answers_until_closed(server.port, over_limit + smuggled) == [b"413"]
    no_length = b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n\r\n"
    assert answers_until_closed(server.port, no_length + smuggled) == [b"411"]
    chunked_over = chunked_post("/v1/predict", b"\xff\xd8" + b"\x00" * (MAX_BODY + 1000))
    assert answers_until_closed(server.port, chunked_over + smuggled) == [b"413"]
    assert answers_until_closed(server.port, smuggled.replace(b"Host", b"Connection: close\r\nHost")) == [b"200"]


def test_serve_refuses_a_port_another_service_listens_on(server, small_bundle):
    """httplib bound with SO_REUSEPORT: a second service on a taken port started too, and the kernel shared the
    connections between the two (and between a bench's old and new servers)."""
    try:
        second = subprocess.run([str(ORCHARD_BIN), "serve", "--bundle", str(small_bundle), "--port", str(server.port)],
                                capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("a second service started on a port the first listens on")
    assert second.returncode == 3 and f"cannot listen on 127.0.0.1:{server.port}" in second.stderr


def test_serve_refuses_an_ambiguous_or_signed_content_length_with_400(server):
    """Two Content-Length headers that differ were accepted (the first used): a request-smuggling vector behind
    a proxy that reads the other; "-1" was 413 (fourth newcomer)."""
    for lengths in ((b"Content-Length: 5", b"Content-Length: 50"), (b"Content-Length: -1",)):
        head = b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n" + b"\r\n".join(lengths) + b"\r\n\r\n"
        assert answers_until_closed(server.port, head + b"12345") == [b"400"], lengths


def test_serve_answers_a_known_path_asked_with_another_method_405(server):
    """GET /v1/predict was 404 "no such endpoint" (newcomer): the endpoint exists, the method is wrong."""
    for request, allowed in ((b"GET /v1/predict HTTP/1.1\r\nHost: x\r\n\r\n", "POST"),
                             (b"GET /v2/models/fruit/infer HTTP/1.1\r\nHost: x\r\n\r\n", "POST"),
                             (b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "GET")):
        status, head, body = server.raw(request)
        assert status == 405 and f"Allow: {allowed}" in head and json.loads(body)["error"] == "method not allowed"
    assert server.raw(b"GET /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 404


def test_serve_healthz_does_not_print_the_model_path(server, small_bundle):
    status, _, body = server.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    manifest = json.loads((small_bundle / "bundle.json").read_text())
    assert status == 200 and json.loads(body)["model_name"] == "fruit"
    assert "model" not in json.loads(body) and ".onnx" not in body and str(small_bundle) not in body
    assert json.dumps(manifest).find(".onnx") >= 0  # the bundle does name a model file


def test_serve_keeps_a_keep_alive_connection_beyond_five_requests(server, photos):
    """httplib closed a keep-alive connection after 5 requests (its default), so every 5th request of a client
    paid a new connection: 20-40 ms with deploy/vm's 1,100 connection threads. 50 requests now share one."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.connect()
    first = connection.sock
    for _ in range(50):
        connection.request("POST", "/v1/predict", body=photos[0].read_bytes(),
                           headers={"Content-Type": "application/octet-stream"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200 and not response.will_close
        assert connection.sock is first
    connection.close()


def test_serve_access_log_has_one_json_line_per_request(server):
    # The server is shared by the module's tests: only the lines of this test's two requests count.
    before = len(server.lines)
    server.raw(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    server.raw(http_post("/v1/predict", b"not an image"))
    for _ in range(200):  # the log line is written after the answer
        entries = [json.loads(line) for line in server.lines[before:] if line.startswith("{")]
        if any(e["status"] == 415 for e in entries):
            break
        threading.Event().wait(0.05)
    live = [e for e in entries if e["endpoint"] == "/v2/health/live"][-1]
    assert live["method"] == "GET" and live["status"] == 200 and live["bytes"] == 3
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", live["time"]) and live["latency_ms"] >= 0
    bad = [e for e in entries if e["status"] == 415][-1]
    assert bad["endpoint"] == "/v1/predict" and bad["method"] == "POST" and bad["request_id"]


def test_serve_auth_token_guards_all_but_health(small_bundle, tmp_path, photos):
    (tmp_path / "token").write_text(TOKEN + "\n")
    server = Server(small_bundle, "--auth-token-file", tmp_path / "token")
    try:
        server.wait_ready()  # the health endpoints answer without a token
        status, head, _ = server.raw(b"GET /v2/models/fruit HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 401 and "WWW-Authenticate: Bearer" in head
        status, _, _ = server.raw(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n\r\n")
        assert status == 401
        client = triton.InferenceServerClient(server.url)
        result = client.infer("fruit", [images_input(photos[:1])], headers={"Authorization": f"Bearer {TOKEN}"})
        assert result.as_numpy("label").shape == (1,)
        # An over-limit body without the token is refused for the token first: nothing is read either way.
        status, _, _ = server.raw(f"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY}0\r\n\r\n"
                                  .encode())
        assert status == 401
    finally:
        assert server.stop() == 0


def test_serve_sigterm_stops_cleanly_and_logs_it(small_bundle):
    server = Server(small_bundle)
    server.wait_ready()
    assert server.stop() == 0
    assert any("stopped" in line for line in server.lines)


def test_serve_sigterm_turns_readiness_false_first_and_keeps_answering_while_draining(small_bundle, photos):
    server = Server(small_bundle, "--drain-seconds", "600")
    client = server.wait_ready()
    server.process.send_signal(signal.SIGTERM)
    for _ in range(600):
        if not client.is_server_ready():
            break
        threading.Event().wait(0.05)
    assert not client.is_server_ready() and not client.is_model_ready("fruit")
    assert client.is_server_live()
    status, _, body = server.raw(http_post("/v1/predict", photos[0].read_bytes()))
    assert status == 200 and json.loads(body)["label"]  # requests still routed here are answered
    server.process.send_signal(signal.SIGTERM)  # a second signal kills it at once
    server.process.wait(timeout=60)
    server.reader.join(timeout=10)


def read_until_closed(connection):
    data = b""
    while chunk := connection.recv(65536):
        data += chunk
    return data


def test_serve_read_and_idle_timeouts_close_slow_and_idle_connections(small_bundle, photos):
    server = Server(small_bundle, "--read-timeout-s", "1", "--idle-timeout-s", "1")
    try:
        server.wait_ready()
        # A slow client: headers announce 100 bytes, 10 come, then nothing. The server gives up on the body
        # (the socket's 30 s timeout would fail the test if it waited for ever).
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
            connection.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
            answer = read_until_closed(connection)
        assert b" 200 " not in answer
        # An idle keep-alive connection: answered once, then closed without a second request.
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
            connection.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = read_until_closed(connection)
        assert answer.startswith(b"HTTP/1.1 200") and answer.count(b"HTTP/1.1") == 1
    finally:
        assert server.stop() == 0


def slowloris(port, drip_seconds):
    """Sends a request line, then one header byte every 0.5 s (far under the read timeout) for at most
    `drip_seconds`. Returns (seconds until the server closed the connection, what it sent), or (None, b"") when
    the connection was still open at the end."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n")
        start = time.monotonic()
        while time.monotonic() - start < drip_seconds:
            if select.select([connection], [], [], 0.5)[0]:
                try:
                    return time.monotonic() - start, read_until_closed(connection)
                except ConnectionResetError:
                    return time.monotonic() - start, b""
            try:
                connection.sendall(b"X")
            except OSError:
                return time.monotonic() - start, b""
    return None, b""


def test_serve_slowloris_is_cut_at_the_header_deadline_and_ready_still_answers(small_bundle):
    """Before, httplib's read timeout bounded each wait for a byte, not the head: a client sending a header byte
    every 0.5 s held its connection thread for ever, and two of them took both threads of --max-connections 2,
    so /v2/health/ready got no answer. --header-timeout-s bounds the whole head."""
    server = Server(small_bundle, "--header-timeout-s", "2", "--read-timeout-s", "30", "--max-connections", "2")
    try:
        wait_for_ready_closing(server.port)
        outcomes = [None, None]
        threads = [threading.Thread(target=lambda i=i: outcomes.__setitem__(i, slowloris(server.port, 40)))
                   for i in range(2)]
        for thread in threads:
            thread.start()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("GET", "/v2/health/ready")
        assert connection.getresponse().status == 200
        connection.close()
        for thread in threads:
            thread.join()
        for cut_after, answer in outcomes:
            assert cut_after is not None, "the slowloris connection was never closed"
            assert answer == b"", answer  # no answer, not even a 400 inviting a next request
    finally:
        assert server.stop() == 0


def wait_for_ready_closing(port):
    """Polls /v2/health/ready on connections closed after each answer (no keep-alive connection is left to hold
    one of the server's connection threads)."""
    for _ in range(1200):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", "/v2/health/ready", headers={"Connection": "close"})
            if connection.getresponse().status == 200:
                connection.close()
                return
            connection.close()
        except OSError:
            pass
        time.sleep(0.05)
    pytest.fail("the server never became ready")
