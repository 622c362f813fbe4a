"""`orchard serve` from object storage (issue 17, item 2): a bundle under an s3:// prefix read with the instance
role, and a versioned model repository (<name>/<version>/) polled for new versions, which are swapped in under
load without a failed request; a broken version leaves the served one in place."""

import http.client
import json
import re
import shutil
import threading
import time

import numpy as np
import pytest
import tritonclient.http as triton

from conftest import DEFAULT_MODEL
from fake_imds import FakeImds
from s3_server import ACCESS_KEY, SECRET_KEY
from serve_process import ServeProcess
from test_serve_oip import images_per_label, small_bundle  # noqa: F401 (a fixture)

BUCKET = "models"
ROOT = f"s3://{BUCKET}/repo"
DEADLINE_S = 180  # a bound on waits for the poller, not a timing assertion


@pytest.fixture(scope="module")
def self_contained_bundle(small_bundle, tmp_path_factory):  # noqa: F811
    """The small bundle with its model file beside bundle.json, referenced relatively: a version folder that
    holds everything it needs."""
    folder = tmp_path_factory.mktemp("version") / "bundle"
    shutil.copytree(small_bundle, folder)
    shutil.copy(DEFAULT_MODEL, folder / "model.onnx")
    manifest = json.loads((folder / "bundle.json").read_text())
    manifest["model"]["file"] = "model.onnx"
    (folder / "bundle.json").write_text(json.dumps(manifest))
    return folder


def upload_version(s3_server, bundle, version, broken=False):
    """Uploads a bundle as repo/fruit/<version>/, bundle.json last (as `orchard train` writes it). `broken`
    replaces the classifier with garbage."""
    fs = s3_server.filesystem()
    files = sorted(bundle.iterdir(), key=lambda p: p.name == "bundle.json")
    for path in files:
        data = b"not a liblinear model\n" if broken and path.name == "classifier.liblinear" else path.read_bytes()
        with fs.open_output_stream(f"{BUCKET}/repo/fruit/{version}/{path.name}") as out:
            out.write(data)


@pytest.fixture(scope="module")
def bucket(s3_server):
    return s3_server.create_bucket(BUCKET)


@pytest.fixture(scope="module")
def imds():
    server = FakeImds("orchard-serve-role", ACCESS_KEY, SECRET_KEY)
    yield server
    server.stop()


def role_env(s3_server, imds, tmp_path):
    """Credentials from the instance role only (a fake IMDSv2), as on an EC2 instance with an IAM role."""
    env = s3_server.client_env()
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_EC2_METADATA_DISABLED"]
    env.update({"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint,
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
                "AWS_CONFIG_FILE": str(tmp_path / "no-config")})
    return env


class Service(ServeProcess):
    """`orchard serve` on a free loopback port, ready. A long idle timeout: on this busy machine a client thread
    may be descheduled for seconds between connecting and sending, and a server that closed the idle connection
    meanwhile would make the request fail with a reset (a race of keep-alive itself, not of the service)."""

    def __init__(self, env, *options):
        super().__init__("--model-name", "fruit", "--idle-timeout-s", 60, *options, env=env)
        try:  # a service that never turns ready must not outlive its test
            self.client = self.wait_ready(timeout=DEADLINE_S)
        except BaseException:
            self.kill()
            raise

    def get(self, path):
        status, _, body = self.request("GET", path)
        return status, body.decode()

    def version(self):
        return json.loads(self.get("/healthz")[1])["model_version"]

    def stop(self):
        # The client's keep-alive connections would hold the drain for the long idle timeout.
        self.client.close()
        return super().stop(timeout=120)


def wait_for(condition, message):
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(message)


class Load:
    """A client posting photos to /v1/predict back to back until stopped; counts answers by status."""

    def __init__(self, port, photos):
        self.port, self.photos = port, photos
        self.statuses = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        i = 0
        while not self.stopping.is_set():
            try:
                connection.request("POST", "/v1/predict", body=self.photos[i % len(self.photos)].read_bytes())
                response = connection.getresponse()
                response.read()
                self.statuses.append(response.status)
            except (OSError, http.client.HTTPException) as error:
                self.statuses.append(repr(error))
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            i += 1
        connection.close()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=120)
        return self.statuses


@pytest.fixture(scope="module")
def photos():
    return images_per_label("Test", 1)[::4][:8]


def infer_version(client, photos):
    images = triton.InferInput("images", [1], "BYTES")
    images.set_data_from_numpy(np.array([photos[0].read_bytes()], dtype=object), binary_data=True)
    return client.infer("fruit", [images]).get_response()["model_version"]


def test_serve_bundle_from_s3_with_the_instance_role(s3_server, bucket, imds, self_contained_bundle, photos,
                                                     tmp_path):
    upload_version(s3_server, self_contained_bundle, 1)
    service = Service(role_env(s3_server, imds, tmp_path), "--bundle", f"{ROOT}/fruit/1/")
    try:
        assert service.version() == "1"
        assert infer_version(service.client, photos) == "1"
    finally:
        assert service.stop() == 0
    assert [r for r in imds.requests if r[0] == "GET" and r[2]], "no credentials were taken from the role"


def test_serve_repository_hot_swap_under_load_drops_no_request_and_broken_version_keeps_old(
        s3_server, bucket, imds, self_contained_bundle, photos, tmp_path):
    upload_version(s3_server, self_contained_bundle, 1)
    service = Service(role_env(s3_server, imds, tmp_path), "--model-repository", ROOT, "--poll-seconds", "1")
    try:
        assert service.version() == "1"
        assert service.client.get_model_metadata("fruit")["versions"] == ["1"]
        load = Load(service.port, photos)
        try:
            wait_for(lambda: len(load.statuses) >= 3, "the load client got no answer")
            upload_version(s3_server, self_contained_bundle, 2)
            wait_for(lambda: service.version() == "2", "version 2 was never swapped in")
            answered = len(load.statuses)
            wait_for(lambda: len(load.statuses) >= answered + 3, "no answer after the swap")
        finally:
            statuses = load.stop()
        assert statuses and all(status == 200 for status in statuses), statuses
        assert infer_version(service.client, photos) == "2"
        assert service.client.get_model_metadata("fruit", "2")["versions"] == ["2"]

        upload_version(s3_server, self_contained_bundle, 3, broken=True)
        failed = 'orchard_model_version_failed{model="fruit",version="3"} 1'
        wait_for(lambda: failed in service.get("/metrics")[1], "the broken version 3 was not reported")
        metrics = service.get("/metrics")[1]
        assert 'orchard_model_version{model="fruit"} 2' in metrics
        assert 'orchard_model_loads_total{result="ok"} 1' in metrics
        assert service.version() == "2" and infer_version(service.client, photos) == "2"
        assert service.client.is_server_ready()

        # A broken newest version held back a good one below it until it was deleted, and a deleted broken
        # version stayed in the metrics (newcomer): 5 broken and 4 good appear together, then 3 and 5 go.
        upload_version(s3_server, self_contained_bundle, 4)
        upload_version(s3_server, self_contained_bundle, 5, broken=True)
        wait_for(lambda: service.version() == "4", "the good version 4 below the broken 5 was never served")
        s3_server.filesystem().delete_dir(f"{BUCKET}/repo/fruit/3")
        s3_server.filesystem().delete_dir(f"{BUCKET}/repo/fruit/5")
        wait_for(lambda: "orchard_model_version_failed{" not in service.get("/metrics")[1],
                 "deleted broken versions are still reported")
    finally:
        assert service.stop() == 0
    log = "".join(service.lines)
    assert "now serving fruit version 2" in log
    assert re.search(r"version 3 of fruit cannot be served, keeping version 2: .*classifier", log), log
