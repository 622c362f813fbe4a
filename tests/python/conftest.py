"""Shared fixtures: the orchard binary, the sample data, and one end-to-end run on a subset of the sample."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import emr_node
from s3_server import S3Server
from spark_cluster import SparkCluster

REPO = Path(__file__).resolve().parents[2]
ORCHARD_BIN = Path(os.environ.get("ORCHARD_BIN", REPO / "build" / "orchard"))
SHARED = Path(os.environ.get("ORCHARD_SHARED", REPO.parent / "shared"))
SAMPLE = SHARED / "data" / "fruits-360-sample"
DEFAULT_MODEL = SHARED / "models" / "mobilenetv2-12-int8.onnx"
# OpenVINO's int8 convolutions saturate on CPUs without VNNI, where orchard runs the default model's quantised
# operators dequantised in f32 instead (embedding_model.cpp, CpuHasInt8DotProducts).
CPU_HAS_VNNI = bool({"avx512_vnni", "avx_vnni"} & set(
    next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
          if line.startswith("flags")), [])))
RESNET50 = Path(os.environ.get("ORCHARD_RESNET50", REPO / "models-generated" / "resnet50-notop.onnx"))


def run_orchard(*args, check=True):
    """Runs the CLI and returns the CompletedProcess; with check, a non-zero exit fails the test with stderr."""
    result = subprocess.run([str(ORCHARD_BIN), *map(str, args)], capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(f"orchard {' '.join(map(str, args))} exited {result.returncode}:\n{result.stderr}")
    return result


def sample_images(split="Test", per_label=10):
    """The first `per_label` images of every label of a split, in path order."""
    images = []
    for label_dir in sorted((SAMPLE / split).iterdir()):
        images.extend(sorted(label_dir.glob("*.jpg"))[:per_label])
    return images


def write_manifest(path, images):
    path.write_text("".join(f"{image}\n" for image in images))
    return path


def rows_by_path(output, filesystem=None):
    """{path: (features, pca)} of a run's output (a folder, or a path in `filesystem`): the pipeline does not
    promise row order."""
    table = pq.read_table(f"{output}/features", filesystem=filesystem)
    return {path: (np.asarray(f), np.asarray(p)) for path, f, p in
            zip(table.column("path").to_pylist(), table.column("features").to_pylist(),
                table.column("pca").to_pylist())}


def labels_by_path(output):
    """{path: label} of a run's feature rows."""
    table = pq.read_table(f"{output}/features", columns=["path", "label"])
    return dict(zip(table.column("path").to_pylist(), table.column("label").to_pylist()))


def assert_same_rows_and_pca_as_fresh_run(ours, fresh, features_atol=0.0):
    """An updated output against a fresh run over the same inputs: the same paths, labels, features (equal, or
    within features_atol), pca column (1e-6 relative), explained variances and components of the PCA _SUCCESS
    lists, and counts."""
    ours_rows, fresh_rows = rows_by_path(ours), rows_by_path(fresh)
    assert sorted(ours_rows) == sorted(fresh_rows)
    assert labels_by_path(ours) == labels_by_path(fresh)
    for path, (features, pca) in ours_rows.items():
        np.testing.assert_allclose(features, fresh_rows[path][0], rtol=features_atol, atol=features_atol)
        np.testing.assert_allclose(pca, fresh_rows[path][1], rtol=1e-6, atol=1e-5)
    manifest, fresh_manifest = read_manifest(ours), read_manifest(fresh)
    ours_pca, fresh_pca = pq.read_table(ours / manifest["files"]["pca"]), pq.read_table(fresh / "pca.parquet")
    np.testing.assert_allclose(ours_pca.column("explained_variance").to_numpy(),
                               fresh_pca.column("explained_variance").to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.array(ours_pca.column("vector").to_pylist()),
                               np.array(fresh_pca.column("vector").to_pylist()), atol=1e-6)
    assert manifest["counts"] == fresh_manifest["counts"]


def assert_same_pca_model(ours, reference, k):
    """Two pca.parquet tables: k components, explained variances within 1e-6 relative, the same subspace (each
    of our components keeps its norm when projected onto the span of the reference's)."""
    ours_variance = np.array(ours.column("explained_variance").to_pylist())
    reference_variance = np.array(reference.column("explained_variance").to_pylist())
    assert len(ours_variance) == len(reference_variance) == k
    np.testing.assert_allclose(ours_variance, reference_variance, rtol=1e-6)
    ours_components = np.array(ours.column("vector").to_pylist())
    reference_components = np.array(reference.column("vector").to_pylist())
    np.testing.assert_allclose(np.linalg.norm(ours_components @ reference_components.T, axis=1), 1.0, atol=1e-4)


def read_manifest(output):
    return json.loads((Path(output) / "_SUCCESS").read_text())


@pytest.fixture(scope="session")
def subset_images():
    return sample_images("Test", per_label=10)


@pytest.fixture(scope="session")
def subset_run(tmp_path_factory, subset_images):
    """`orchard run` at f32 on 10 Test images of each of the 33 labels."""
    root = tmp_path_factory.mktemp("subset")
    manifest = write_manifest(root / "images.txt", subset_images)
    output = root / "out"
    result = run_orchard("run", "--input", manifest, "--output", output, "--precision", "f32", "--batch", "16")
    return output, result


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """A versitygw server of the test module's own (see s3_server.py), stopped after the module."""
    server = S3Server(tmp_path_factory.mktemp("s3") / "root")
    yield server
    server.stop()


def run_checked(command, **kwargs):
    """Runs a command (text output captured); a non-zero exit fails the test with the end of its output."""
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, command))} exited {result.returncode}:\n{result.stdout[-3000:]}\n"
                    f"{result.stderr[-3000:]}")
    return result


def clean_env():
    """No PYTHONPATH, ORCHARD_CORE_DIR or report asset variables: a venv must find orchard and its files on its
    own."""
    unset = ("PYTHONPATH", "ORCHARD_CORE_DIR", "VIRTUAL_ENV", "ORCHARD_REPORT_TEMPLATE", "ORCHARD_NODE_MODULES")
    return {k: v for k, v in os.environ.items() if k not in unset}


# The policy scripts/build_wheel.sh tags the wheel with (auditwheel repair; README, "The wheel").
WHEEL_POLICY = "manylinux_2_34_x86_64"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """The orchard wheel, built once per session from the checkout by scripts/build_wheel.sh (pip wheel without
    build isolation: the project .venv holds the pinned build requirements; then auditwheel repair);
    ORCHARD_WHEEL names one built already instead."""
    if os.environ.get("ORCHARD_WHEEL"):
        return Path(os.environ["ORCHARD_WHEEL"])
    out = tmp_path_factory.mktemp("wheel")
    result = run_checked(["bash", REPO / "scripts" / "build_wheel.sh", out, sys.executable], env=clean_env(),
                         cwd=out, timeout=1800)
    wheel = Path(result.stdout.strip().splitlines()[-1])
    assert wheel.parent == out and wheel.name.endswith(f"-{WHEEL_POLICY}.whl"), wheel
    return wheel


# The buckets of deploy/emr/settings.json, created on the cluster's S3 server: the recipe runs unchanged.
EMR_SETTINGS = json.loads((REPO / "deploy" / "emr" / "settings.json").read_text())


@pytest.fixture(scope="session")
def cluster_s3(tmp_path_factory):
    """The S3 server (versitygw) of the standalone cluster's jobs, with deploy/emr/settings.json's buckets."""
    server = S3Server(tmp_path_factory.mktemp("cluster-s3") / "root")
    for location in ("input", "output", "artifacts"):
        server.create_bucket(EMR_SETTINGS[location].removeprefix("s3://").split("/")[0])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def emr_node_venv(wheel, cluster_s3, tmp_path_factory):
    """deploy/emr/bootstrap.sh run as on an EMR node (emr_node.py): the wheel and its sha256 as
    cluster/bootstrap-actions.json passes them, from the artifacts bucket. Returns (venv python, the bootstrap's
    CompletedProcess, its work folder)."""
    import hashlib
    work = tmp_path_factory.mktemp("emr-node")
    artifacts = EMR_SETTINGS["artifacts"]
    wheel_uri = f"{artifacts}{wheel.name}"
    cluster_s3.upload_file(wheel, wheel_uri.removeprefix("s3://"))
    sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
    wheels = emr_node.wheelhouse(wheel, work / "wheelhouse", REPO / "scripts" / "requirements.txt")
    prefix = work / "opt-orchard"
    result = emr_node.bootstrap(prefix, wheel_uri, sha256, cluster_s3.client_env(), wheels, work)
    if result.returncode != 0:
        pytest.fail(f"bootstrap.sh exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return prefix / ".venv" / "bin" / "python", result, work


@pytest.fixture(scope="session")
def spark():
    """One local[2] Spark session for every in-process Spark test (a session takes seconds to start), stopped at
    the end of the test session."""
    sys.path.insert(0, str(REPO / "python"))
    import orchard.spark
    session = orchard.spark.session("local[2]", app_name="orchard-test")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_cluster(cluster_s3, tmp_path_factory):
    """A Spark standalone master and two 1-core workers, each its own JVM on loopback (spark_cluster.py); the
    workers' environment has the S3 server's keys and endpoint, as an EMR node has its instance role."""
    cluster = SparkCluster(tmp_path_factory.mktemp("spark-cluster"), workers=2, cores=1,
                           env=cluster_s3.client_env())
    print(f"spark standalone cluster started in {cluster.start_seconds:.1f} s")
    yield cluster
    cluster.stop()
