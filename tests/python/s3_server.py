"""A local S3 server for tests and benchmarks: versitygw with a posix backend in a temporary folder.

Buckets are folders of `root` and objects are files below them, so a test may also write many objects
directly as files (faster than uploading). The root user's keys are passed through the environment, never on
the command line, the way real credentials should be.
"""

import os
import socket
import subprocess
import time
from pathlib import Path

import pyarrow.fs as pafs

REPO = Path(__file__).resolve().parents[2]
VERSITYGW = Path(os.environ.get("ORCHARD_VERSITYGW", REPO / ".tools" / "bin" / "versitygw"))
ACCESS_KEY = "orchardtestaccess"
SECRET_KEY = "orchard-test-secret-Zq8rT1vW3xY5"
REGION = "us-east-1"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """Runs versitygw until stop(); `endpoint` is http://127.0.0.1:PORT. start() after stop() restarts it on
    the same port and folder, as a server restarted mid-job."""

    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self):
        self._log = open(self.root.parent / f"versitygw-{self.port}.log", "ab")
        env = {**os.environ, "ROOT_ACCESS_KEY_ID": ACCESS_KEY, "ROOT_SECRET_ACCESS_KEY": SECRET_KEY}
        self._process = subprocess.Popen(
            [str(VERSITYGW), "--port", f"127.0.0.1:{self.port}", "--region", REGION, "--quiet", "posix",
             str(self.root)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"versitygw exited with {self._process.returncode}; see {self._log.name}")
            try:
                self.filesystem().get_file_info(pafs.FileSelector("", recursive=False))
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"versitygw did not answer on {self.endpoint} within {timeout} s")

    def filesystem(self):
        """A pyarrow S3 file system with the root user's keys, allowed to create buckets."""
        return pafs.S3FileSystem(access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION,
                                 endpoint_override=f"127.0.0.1:{self.port}", scheme="http",
                                 allow_bucket_creation=True, allow_bucket_deletion=True)

    def create_bucket(self, name):
        self.filesystem().create_dir(name)
        return name

    def upload_tree(self, local_dir, bucket, prefix):
        """Copies every file below local_dir to s3://bucket/prefix/<relative path>."""
        fs = self.filesystem()
        for path in sorted(Path(local_dir).rglob("*")):
            if path.is_file():
                key = f"{bucket}/{prefix}/{path.relative_to(local_dir).as_posix()}"
                with fs.open_output_stream(key) as out:
                    out.write(path.read_bytes())

    def upload_file(self, local_path, key):
        with self.filesystem().open_output_stream(key) as out:
            out.write(Path(local_path).read_bytes())

    def client_env(self, use_endpoint_env=True):
        """Environment for an S3 client of this server: the root user's keys in the standard variables, no
        instance metadata lookups (they time out outside EC2), and no stray credentials of the caller."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": REGION,
                    "AWS_EC2_METADATA_DISABLED": "true"})
        if use_endpoint_env:
            env["AWS_ENDPOINT_URL"] = self.endpoint
        return env

    def running(self):
        return self._process.poll() is None

    def stop(self):
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()
