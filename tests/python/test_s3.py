"""Object storage end to end: `orchard run` against a local S3 s3_server (versitygw, see s3_server.py).

The S3 run must give the same rows and features as the local run of the same images; credentials come from
the AWS chain (environment or a shared credentials file with a profile) and never show up in output or
errors; failures (wrong keys, missing bucket) are clear, exit non-zero and leave no _SUCCESS.
"""

import hashlib
import json
import os
import shutil
import subprocess

import numpy as np
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from conftest import DEFAULT_MODEL, ORCHARD_BIN, SAMPLE
from fake_imds import CREDENTIALS_PATH, FakeImds
from fault_proxy import FaultProxy
from s3_server import ACCESS_KEY, SECRET_KEY

BUCKET = "data"
PER_LABEL = 3


def orchard(env, *args):
    return subprocess.run([str(ORCHARD_BIN), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=600)


def check(result):
    assert result.returncode == 0, f"orchard exited {result.returncode}:\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def subset_tree(tmp_path_factory):
    """3 Test images of each of the 33 labels, as <tmp>/Test/<Label>/<file>."""
    root = tmp_path_factory.mktemp("subset-tree")
    for label_dir in sorted((SAMPLE / "Test").iterdir()):
        for image in sorted(label_dir.glob("*.jpg"))[:PER_LABEL]:
            target = root / "Test" / label_dir.name / image.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image, target)
    return root


@pytest.fixture(scope="module")
def bucket(s3_server, subset_tree):
    """s3://data with the subset under Test/ and the default model under models/."""
    s3_server.create_bucket(BUCKET)
    s3_server.upload_tree(subset_tree / "Test", BUCKET, "Test")
    s3_server.upload_file(DEFAULT_MODEL, f"{BUCKET}/models/{DEFAULT_MODEL.name}")
    return BUCKET


@pytest.fixture(scope="module")
def profile_env(s3_server, tmp_path_factory):
    """Credentials only from a shared credentials file and AWS_PROFILE: no key variables, no endpoint
    variable (the endpoint comes from --s3-endpoint)."""
    home = tmp_path_factory.mktemp("aws")
    credentials = home / "credentials"
    credentials.write_text(f"[orchard-test]\naws_access_key_id = {ACCESS_KEY}\n"
                           f"aws_secret_access_key = {SECRET_KEY}\n")
    env = s3_server.client_env(use_endpoint_env=False)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    env.update({"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": str(home / "config"),
                "AWS_PROFILE": "orchard-test"})
    return env


def read_features(table):
    return {
        "label": table.column("label").to_pylist(),
        "features": np.array(table.column("features").to_pylist(), dtype=np.float32),
        "pca": np.array(table.column("pca").to_pylist(), dtype=np.float32),
    }


def sorted_by(table, keys):
    order = np.argsort(keys, kind="stable")
    return table.take(order), [keys[i] for i in order]


@pytest.fixture(scope="module")
def s3_run(s3_server, bucket, profile_env):
    model = f"s3://{bucket}/models/{DEFAULT_MODEL.name}"
    result = check(orchard(profile_env, "run", "--input", f"s3://{bucket}/Test/", "--output", f"s3://{bucket}/out",
                           "--model", model, "--s3-endpoint", s3_server.endpoint, "--precision", "f32",
                           "--batch", "16"))
    return result


@pytest.fixture(scope="module")
def local_run(subset_tree, tmp_path_factory):
    output = tmp_path_factory.mktemp("local-run") / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    check(orchard(env, "run", "--input", subset_tree / "Test", "--output", output, "--model", DEFAULT_MODEL,
                  "--precision", "f32", "--batch", "16"))
    return output


def test_s3_to_s3_matches_local_run(s3_server, bucket, subset_tree, s3_run, local_run):
    fs = s3_server.filesystem()
    s3_table = pq.read_table(f"{bucket}/out/features", filesystem=fs)
    local_table = pq.read_table(local_run / "features")
    assert s3_table.num_rows == local_table.num_rows == 33 * PER_LABEL

    s3_prefix = f"s3://{bucket}/Test/"
    local_prefix = f"{subset_tree / 'Test'}/"
    s3_paths = s3_table.column("path").to_pylist()
    local_paths = local_table.column("path").to_pylist()
    assert all(p.startswith(s3_prefix) for p in s3_paths)
    s3_table, s3_keys = sorted_by(s3_table, [p[len(s3_prefix):] for p in s3_paths])
    local_table, local_keys = sorted_by(local_table, [p[len(local_prefix):] for p in local_paths])
    assert s3_keys == local_keys

    s3_rows, local_rows = read_features(s3_table), read_features(local_table)
    assert s3_rows["label"] == local_rows["label"]
    assert s3_rows["label"] == [key.split("/")[0] for key in s3_keys]  # label = the key's parent "folder"
    np.testing.assert_allclose(s3_rows["features"], local_rows["features"], rtol=0, atol=1e-6)
    assert s3_rows["pca"].shape == local_rows["pca"].shape
    np.testing.assert_allclose(s3_rows["pca"], local_rows["pca"], rtol=0, atol=1e-4)


def test_s3_output_is_complete_and_holds_no_secret(s3_server, bucket, s3_run):
    fs = s3_server.filesystem()
    text = fs.open_input_stream(f"{bucket}/out/_SUCCESS").read().decode()
    manifest = json.loads(text)
    assert manifest["counts"] == {"seen": 33 * PER_LABEL, "written": 33 * PER_LABEL, "failed": 0}
    assert manifest["input"] == f"s3://{bucket}/Test"
    assert manifest["model"]["file"] == f"s3://{bucket}/models/{DEFAULT_MODEL.name}"
    assert manifest["model"]["sha256"] == hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest()
    listed = [*manifest["files"]["features"], *manifest["files"]["errors"], manifest["files"]["pca"]]
    for name in listed:
        assert fs.get_file_info(f"{bucket}/out/{name}").type == pafs.FileType.File, name
    assert fs.get_file_info(f"{bucket}/out/_staging").type == pafs.FileType.NotFound
    for secret in (SECRET_KEY, ACCESS_KEY):
        assert secret not in text
        assert secret not in s3_run.stderr and secret not in s3_run.stdout


def test_inspect_reads_an_s3_output(s3_server, bucket, s3_run):
    result = check(orchard(s3_server.client_env(), "inspect", f"s3://{bucket}/out", "--rows", "2"))
    assert str(33 * PER_LABEL) in result.stdout


def test_s3_output_needs_overwrite_then_replaces(s3_server, bucket, profile_env, s3_run):
    args = ["run", "--input", f"s3://{bucket}/Test/Apple Red 1", "--output", f"s3://{bucket}/out", "--model",
            f"s3://{bucket}/models/{DEFAULT_MODEL.name}", "--s3-endpoint", s3_server.endpoint]
    refused = orchard(profile_env, *args)
    assert refused.returncode == 2 and "--overwrite" in refused.stderr
    check(orchard(profile_env, *args, "--overwrite", "--pca-k", "2"))
    manifest = json.loads(s3_server.filesystem().open_input_stream(f"{bucket}/out/_SUCCESS").read())
    assert manifest["counts"]["seen"] == PER_LABEL


def test_s3_manifest_input_with_environment_credentials(s3_server, bucket, tmp_path):
    """A manifest object with relative keys (resolved next to it), an explicit label and an absolute URI;
    keys and endpoint from the standard environment variables; output on local disk."""
    fs = s3_server.filesystem()
    labels = sorted(i.base_name for i in fs.get_file_info(pafs.FileSelector(f"{bucket}/Test")))[:4]
    keys = [sorted(i.path for i in fs.get_file_info(pafs.FileSelector(f"{bucket}/Test/{label}")))[0]
            for label in labels]
    relative = [key[len(f"{bucket}/Test/"):] for key in keys]
    lines = ["# three relative entries, one absolute URI", relative[0], f"{relative[1]}\tcustom label", relative[2],
             f"s3://{keys[3]}"]
    with fs.open_output_stream(f"{bucket}/Test/manifest.txt") as out:
        out.write(("\n".join(lines) + "\n").encode())
    output = tmp_path / "out"
    check(orchard(s3_server.client_env(), "run", "--input", f"s3://{bucket}/Test/manifest.txt", "--output", output,
                  "--pca-k", "2"))
    table = pq.read_table(output / "features")
    rows = dict(zip(table.column("path").to_pylist(), table.column("label").to_pylist()))
    assert rows == {f"s3://{keys[0]}": labels[0], f"s3://{keys[1]}": "custom label",
                    f"s3://{keys[2]}": labels[2], f"s3://{keys[3]}": labels[3]}


def test_instance_role_credentials_from_imdsv2(s3_server, bucket, tmp_path):
    """The IAM-role case: no keys in the environment or in files, only an instance profile served by a fake
    IMDSv2 endpoint. orchard must take a session token first (IMDSv2), then the role's credentials."""
    imds = FakeImds("orchard-test-role", ACCESS_KEY, SECRET_KEY)
    try:
        env = s3_server.client_env()
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_EC2_METADATA_DISABLED"]
        env.update({"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint,
                    "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
                    "AWS_CONFIG_FILE": str(tmp_path / "no-config")})
        output = tmp_path / "out"
        result = check(orchard(env, "run", "--input", f"s3://{bucket}/Test/Apple Red 1", "--output", output,
                               "--pca-k", "2"))
    finally:
        imds.stop()
    assert json.loads((output / "_SUCCESS").read_text())["counts"]["written"] == PER_LABEL
    assert ("PUT", "/latest/api/token", False) in imds.requests
    assert ("GET", f"{CREDENTIALS_PATH}/orchard-test-role", True) in imds.requests
    assert not [r for r in imds.requests if r[0] == "GET" and not r[2]], "a metadata GET without the token"
    for secret in (SECRET_KEY, imds.token):
        assert secret not in result.stderr and secret not in result.stdout


def test_a_listed_object_is_read_with_one_request(s3_server, bucket, tmp_path):
    """The listing already gave each object's size: reading it needs a GET, not a HEAD first."""
    proxy = FaultProxy(s3_server.port)
    try:
        check(orchard(s3_server.client_env(use_endpoint_env=False), "run", "--input", f"s3://{bucket}/Test/Kiwi",
                      "--output", tmp_path / "out", "--s3-endpoint", proxy.endpoint, "--pca-k", "2"))
    finally:
        proxy.stop()
    image_requests = [(method, path) for method, path in proxy.log if path.endswith(".jpg")]
    assert sorted(method for method, _ in image_requests) == ["GET"] * PER_LABEL, image_requests


def test_wrong_credentials_fail_clearly_without_leaking_the_secret(s3_server, bucket):
    env = s3_server.client_env()
    wrong_secret = "wrong-secret-9f8e7d6c5b4a"
    env["AWS_SECRET_ACCESS_KEY"] = wrong_secret
    result = orchard(env, "run", "--input", f"s3://{bucket}/Test/", "--output", f"s3://{bucket}/out-wrong")
    assert result.returncode == 3, result.stderr
    assert "ACCESS_DENIED" in result.stderr and "credentials" in result.stderr
    for secret in (wrong_secret, SECRET_KEY):
        assert secret not in result.stderr and secret not in result.stdout
    fs = s3_server.filesystem()
    assert fs.get_file_info(f"{bucket}/out-wrong/_SUCCESS").type == pafs.FileType.NotFound


def test_missing_bucket_fails_clearly(s3_server, bucket, tmp_path):
    env = s3_server.client_env()
    result = orchard(env, "run", "--input", "s3://no-such-bucket/Test/", "--output", tmp_path / "out")
    assert result.returncode == 3
    assert "no-such-bucket" in result.stderr and "does not exist" in result.stderr
    result = orchard(env, "run", "--input", f"s3://{bucket}/Test/", "--output", "s3://no-such-bucket/out")
    assert result.returncode == 3
    assert "no-such-bucket" in result.stderr and "not found" in result.stderr


def test_keys_in_uri_are_refused_without_echoing_them(s3_server, bucket, tmp_path):
    result = orchard(s3_server.client_env(), "run", "--input", f"s3://{ACCESS_KEY}:{SECRET_KEY}@{bucket}/Test/",
                     "--output", tmp_path / "out")
    assert result.returncode == 2
    assert "credential" in result.stderr
    assert SECRET_KEY not in result.stderr and ACCESS_KEY not in result.stderr


def test_listing_more_than_1000_keys_is_paginated(s3_server, bucket, tmp_path):
    """1,100 objects under one prefix (S3 lists at most 1,000 per request): every one is processed. The
    objects are written straight into the server's posix folder, copies of 11 real images over 11 labels."""
    sources = [sorted(d.glob("*.jpg"))[0] for d in sorted((SAMPLE / "Test").iterdir())[:11]]
    expected = set()
    for n in range(1100):
        label = f"L{n % 11:02d}"
        target = s3_server.root / bucket / "many" / label / f"img-{n:04d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sources[n % 11], target)
        expected.add(f"s3://{bucket}/many/{label}/img-{n:04d}.jpg")
    output = tmp_path / "out"
    check(orchard(s3_server.client_env(), "run", "--input", f"s3://{bucket}/many/", "--output", output,
                  "--batch", "64", "--pca-k", "4"))
    table = pq.read_table(output / "features", columns=["path", "label"])
    assert set(table.column("path").to_pylist()) == expected
    assert table.num_rows == 1100
    manifest = json.loads((output / "_SUCCESS").read_text())
    assert manifest["counts"] == {"seen": 1100, "written": 1100, "failed": 0}
