"""Batching that pays (issue 17, item 4): the service's model is compiled for the batcher's batch where the
precision makes the batch static (as `orchard run` does), and /metrics reports the average batch, which is above
1 when clients post concurrently; a lone request runs on the model compiled at batch 1, not on a padded full
batch."""

import http.client
import json
import os
import re
import shutil
import threading

import numpy as np
import pytest
import tritonclient.http as triton

from test_serve_oip import images_per_label, small_bundle  # noqa: F401 (a fixture)
from test_serve_repository import Service

CLIENTS = 16


def metric(server, name):
    status, body = server.get("/metrics")
    assert status == 200
    match = re.search(rf"^{re.escape(name)} (\S+)$", body, re.MULTILINE)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


def post_concurrently(server, photos, rounds=3):
    """CLIENTS threads, released together, each posting `rounds` photos; returns the statuses."""
    statuses, lock = [], threading.Lock()
    barrier = threading.Barrier(CLIENTS)

    def client(index):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        barrier.wait()
        for r in range(rounds):
            connection.request("POST", "/v1/predict", body=photos[(index + r) % len(photos)].read_bytes())
            response = connection.getresponse()
            response.read()
            with lock:
                statuses.append(response.status)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.fixture(scope="module")
def photos():
    return images_per_label("Test", 1)[:CLIENTS]


@pytest.fixture(scope="module")
def int8_bundle(small_bundle, tmp_path_factory):  # noqa: F811
    """The small bundle with its model run at int8."""
    folder = tmp_path_factory.mktemp("int8") / "bundle"
    shutil.copytree(small_bundle, folder)
    manifest = json.loads((folder / "bundle.json").read_text())
    manifest["model"]["precision"] = "int8"
    (folder / "bundle.json").write_text(json.dumps(manifest))
    return folder


@pytest.mark.parametrize("precision", ["f32", "int8"])
def test_serve_average_batch_above_one_under_concurrent_load(small_bundle, int8_bundle, photos,  # noqa: F811
                                                             precision):
    bundle = small_bundle if precision == "f32" else int8_bundle
    server = Service(dict(os.environ), "--bundle", str(bundle), "--max-batch", "8", "--max-wait-ms", "20")
    try:
        assert metric(server, "orchard_model_compiled_batch") == 8
        assert post_concurrently(server, photos) == [200] * (3 * CLIENTS)
        assert metric(server, "orchard_inference_batch_size_average") > 1.0
    finally:
        assert server.stop() == 0


def compiled_batch_calls(server):
    """orchard_inference_compiled_batch_calls_total by compiled batch, from /metrics."""
    status, body = server.get("/metrics")
    assert status == 200
    pattern = r'^orchard_inference_compiled_batch_calls_total\{compiled_batch="(\w+)"\} (\S+)$'
    return {batch: float(calls) for batch, calls in re.findall(pattern, body, re.MULTILINE)}


def test_serve_lone_request_runs_on_the_batch_one_model_not_a_padded_full_batch(int8_bundle, photos):
    """A static-batch service also compiles the powers of two under --max-batch: a lone request runs at batch 1
    instead of paying a whole padded batch (before: one compiled batch, every call padded to 8), a request of 3
    images at batch 4, one of 8 at 8, all with the same features."""
    server = Service(dict(os.environ), "--bundle", str(int8_bundle), "--max-batch", "8")
    try:
        assert compiled_batch_calls(server) == {"1": 0, "2": 0, "4": 0, "8": 0}  # the warm-up's are not counted
        photo = photos[0].read_bytes()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        connection.request("POST", "/v1/embed", body=photo)
        response = connection.getresponse()
        assert response.status == 200
        lone = np.array(json.loads(response.read())["features"], dtype=np.float32)
        connection.close()
        assert compiled_batch_calls(server) == {"1": 1, "2": 0, "4": 0, "8": 0}
        # The images of one /v2 request are queued together: one batch, on the smallest compiled batch holding it.
        batched = []
        for count, calls in ((3, {"1": 1, "2": 0, "4": 1, "8": 0}), (8, {"1": 1, "2": 0, "4": 1, "8": 1})):
            images = triton.InferInput("images", [count], "BYTES")
            images.set_data_from_numpy(np.array([photo] * count, dtype=object), binary_data=True)
            result = server.client.infer("fruit", [images], outputs=[triton.InferRequestedOutput("features")])
            assert compiled_batch_calls(server) == calls
            assert result.as_numpy("features").shape == (count, lone.size)
            batched.extend(result.as_numpy("features"))
        for row in batched:
            cosine = float(row @ lone / (np.linalg.norm(row) * np.linalg.norm(lone)))
            assert cosine > 0.9999, cosine
            np.testing.assert_allclose(row, lone, rtol=1e-3, atol=1e-3)
    finally:
        assert server.stop() == 0
