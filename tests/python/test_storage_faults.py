"""Storage faults between orchard and the S3 server: versitygw behind fault_proxy.FaultProxy on loopback.

Passing faults (503 SlowDown, dropped connections, a stalled server) are absorbed by the retries and the job's
output equals a run without faults. A server that goes away mid-job stops the job with a clear error, not a
flood of error rows; the finished parts are kept and, once the server is back, the same command resumes.
"""

import json
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import DEFAULT_MODEL, ORCHARD_BIN, REPO, read_manifest, rows_by_path, sample_images
from fault_proxy import FaultPlan, FaultProxy

BUCKET = "faults"
PER_LABEL = 3
OPTIONS = ["--rows-per-part", "10", "--batch", "8", "--pca-k", "6", "--precision", "f32"]


@pytest.fixture(scope="module")
def images(s3_server):
    """3 Test images of each of the 33 labels in s3://faults/Test/<Label>/, by URI."""
    s3_server.create_bucket(BUCKET)
    uris = []
    for image in sample_images("Test", per_label=PER_LABEL):
        key = f"{BUCKET}/Test/{image.parent.name}/{image.name}"
        s3_server.upload_file(image, key)
        uris.append(f"s3://{key}")
    return uris


def run_through(endpoint, s3_server, output):
    env = s3_server.client_env(use_endpoint_env=False)
    return subprocess.run([str(ORCHARD_BIN), "run", "--input", f"s3://{BUCKET}/Test/", "--output", str(output),
                           "--s3-endpoint", endpoint, *OPTIONS], capture_output=True, text=True, env=env,
                          timeout=600)


def assert_same_rows(rows, reference):
    assert sorted(rows) == sorted(reference)
    for path, (features, pca) in rows.items():
        np.testing.assert_allclose(features, reference[path][0], rtol=0, atol=1e-6)
        np.testing.assert_allclose(pca, reference[path][1], rtol=0, atol=1e-4)


@pytest.fixture(scope="module")
def reference(s3_server, images, tmp_path_factory):
    output = tmp_path_factory.mktemp("faults-reference") / "out"
    result = run_through(s3_server.endpoint, s3_server, output)
    assert result.returncode == 0, result.stderr
    rows = rows_by_path(output)
    assert sorted(rows) == sorted(images)
    return rows


def test_passing_faults_are_absorbed_by_retries(s3_server, images, reference):
    # A stall costs its 4 s (beyond the SDK's 3 s request timeout), so it is the rarest fault.
    plan = FaultPlan(every=5, kinds=("slowdown", "drop", "slowdown", "drop", "stall"), stall_seconds=4)
    proxy = FaultProxy(s3_server.port, plan)
    try:
        result = run_through(proxy.endpoint, s3_server, f"s3://{BUCKET}/out-faults")
    finally:
        proxy.stop()
    assert result.returncode == 0, result.stderr
    assert min(plan.injected.values()) >= 3, plan.injected  # reads, listing and writes all met faults
    assert_same_rows(rows_by_path(f"{BUCKET}/out-faults", s3_server.filesystem()), reference)
    manifest = json.loads(s3_server.filesystem().open_input_stream(f"{BUCKET}/out-faults/_SUCCESS").read())
    assert manifest["counts"] == {"seen": len(images), "written": len(images), "failed": 0}


class StopServerOnce:
    """Stops the S3 server at the `at`-th request through the proxy, once the job has staged a part, so the
    outage falls mid-job with finished work to keep. Requests that arrive meanwhile wait for the outage."""

    def __init__(self, s3_server, staging, at):
        self.s3_server, self.staging, self.at = s3_server, staging, at
        self.stopped = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, request_number):
        if request_number < self.at or self.stopped.is_set():
            return
        with self._lock:
            if self.stopped.is_set():
                return
            deadline = time.monotonic() + 120
            while not list(self.staging.glob("part-*.parquet")) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.s3_server.stop()
            self.stopped.set()


def test_server_restart_mid_job_stops_clearly_then_resumes(s3_server, images, reference, tmp_path):
    output = tmp_path / "out"
    outage = StopServerOnce(s3_server, output / "_staging", at=60)
    proxy = FaultProxy(s3_server.port, on_request=outage)
    try:
        failed = run_through(proxy.endpoint, s3_server, output)
        assert outage.stopped.is_set()
        assert failed.returncode == 3, failed.stderr
        assert f"s3://{BUCKET}/Test/" in failed.stderr and "storage unavailable" in failed.stderr
        assert "run again to resume" in failed.stderr
        assert failed.stderr.count("\n") < 20, "one clear error, not one per image"
        assert not (output / "_SUCCESS").exists()
        assert pq.read_table(output / "errors").num_rows == 0
        kept = sorted(p.name for p in (output / "_staging").glob("part-*.parquet"))
        assert kept

        s3_server.start()
        resumed = run_through(proxy.endpoint, s3_server, output)
    finally:
        proxy.stop()
        if not s3_server.running():
            s3_server.start()
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    assert_same_rows(rows_by_path(output), reference)
    assert read_manifest(output)["counts"] == {"seen": len(images), "written": len(images), "failed": 0}


# The Python binding in its own process (Arrow's S3 layer reads the endpoint once per process): featurize the
# given URIs, print the error entries or the exception's type.
FEATURIZE = """
import sys
import orchard
try:
    _, errors = orchard.Featurizer(sys.argv[1]).featurize(sys.argv[2:])
    print("errors", [(index, stage) for index, stage, _ in errors])
except OSError as error:
    print("OSError", error)
"""


def featurize_in_subprocess(env, uris):
    env = dict(env, PYTHONPATH=str(REPO / "python"))
    result = subprocess.run([sys.executable, "-c", FEATURIZE, str(DEFAULT_MODEL), *uris], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def unused_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_binding_keeps_a_missing_object_as_an_error_entry(s3_server, images):
    out = featurize_in_subprocess(s3_server.client_env(), [images[0], f"s3://{BUCKET}/Test/missing.jpg"])
    assert out == "errors [(1, 'read')]"


def test_binding_raises_when_storage_is_unreachable(s3_server, images):
    # Like `orchard run`, which stops: in Spark the task fails and is retried, instead of rows lost as errors.
    env = dict(s3_server.client_env(), AWS_ENDPOINT_URL=f"http://127.0.0.1:{unused_port()}")
    out = featurize_in_subprocess(env, images[:1])
    assert out.startswith(f"OSError {images[0]}: ") and "storage unavailable" in out, out
