"""orchard.spark on a real multi-process cluster (issue 15): a Spark standalone master and two 1-core workers,
each its own JVM on loopback (conftest.spark_cluster); orchard installed from the built wheel by
deploy/emr/bootstrap.sh into a fresh venv (conftest.emr_node_venv), used by the driver and the workers through
spark.pyspark.python, with no PYTHONPATH into the checkout; the s3a jars shipped with spark.jars; input, output
and model on versitygw with deploy/emr/settings.json's buckets; the job is deploy/emr/step.json's spark-submit
arguments, changed only where this machine differs from an EMR node (below, _step_args).

The rows must equal `orchard run`'s on local copies of the same images (features cosine >= 0.999, the same path
and label sets, PCA explained variances within 1e-6); killing a worker's JVMs mid-job must still give every image
exactly once, and the _SUCCESS manifest has `orchard run`'s model, preprocessing and files.
"""

import json
import re
import shutil
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import DEFAULT_MODEL, EMR_SETTINGS, REPO, SAMPLE, assert_same_pca_model, read_manifest, run_orchard
from s3_server import ACCESS_KEY, SECRET_KEY

sys.path.insert(0, str(REPO / "python"))
import orchard.spark  # noqa: E402

EMR = REPO / "deploy" / "emr"
LABELS = 4
PER_LABEL = 12
JARS = sorted((REPO / ".tools" / "jars").glob("*.jar"))


@pytest.fixture(scope="module")
def local_tree(tmp_path_factory):
    """PER_LABEL Test images of each of the first LABELS labels, as <tmp>/Test/<Label>/<file>."""
    root = tmp_path_factory.mktemp("cluster-subset")
    for label_dir in sorted((SAMPLE / "Test").iterdir())[:LABELS]:
        (root / "Test" / label_dir.name).mkdir(parents=True)
        for image in sorted(label_dir.glob("*.jpg"))[:PER_LABEL]:
            shutil.copyfile(image, root / "Test" / label_dir.name / image.name)
    return root


def _bucket_key(uri):
    return uri.removeprefix("s3://").removeprefix("s3a://")


@pytest.fixture(scope="module")
def uploaded(cluster_s3, local_tree):
    """The images under settings.json's input location, the model at step.json's --model URI."""
    cluster_s3.upload_tree(local_tree, *_bucket_key(EMR_SETTINGS["input"]).rstrip("/").split("/", 1))
    step_model = _step()["Args"][_step()["Args"].index("--model") + 1]
    cluster_s3.upload_file(DEFAULT_MODEL, _bucket_key(step_model))
    return cluster_s3


def _step():
    (step,) = json.loads((EMR / "step.json").read_text())
    return step


def _step_args(venv_python, output):
    """step.json's spark-submit arguments where this machine differs from an EMR node: the venv under the test's
    prefix instead of /opt/orchard, s3a:// (hadoop-aws) for Spark's URIs where EMR has its own s3:// (EMRFS; the
    model stays s3://, read by orchard's C++ core), and OUTPUT. Plus what EMR's spark-defaults give a step:
    the s3a jars (spark.jars ships them to the executors) and the S3 server's endpoint."""
    prefix = str(venv_python.parents[2])
    args = [arg.replace("/opt/orchard", prefix) for arg in _step()["Args"]]
    for flag in ("--input", "--output"):
        args[args.index(flag) + 1] = args[args.index(flag) + 1].replace("s3://", "s3a://")
    args[args.index("--output") + 1] = output
    script = next(i for i, arg in enumerate(args) if arg.endswith("/orchard/spark.py"))
    return args[:script], args[script:]


def _conf(server):
    """EMR's spark-defaults for this machine: the s3a jars and S3 server, the S3A magic committer (EMR's own
    S3-optimised committer does the same for s3://), small input splits (several tasks per worker, so a lost
    worker loses some), no UI."""
    return {"spark.jars": ",".join(map(str, JARS)),
            "spark.hadoop.fs.s3a.endpoint": server.endpoint, "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
            "spark.hadoop.fs.s3a.aws.credentials.provider":
                "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider",
            "spark.sql.files.maxPartitionBytes": "262144", "spark.sql.files.openCostInBytes": "65536",
            "spark.ui.enabled": "false", **orchard.spark.s3a_committer_conf()}


def _submit(cluster, server, venv_python, output):
    options, script = _step_args(venv_python, output)
    return cluster.submit(options + script, conf=_conf(server), env=server.client_env())


@pytest.fixture(scope="module")
def cli_output(local_tree, tmp_path_factory):
    output = tmp_path_factory.mktemp("cluster-cli") / "out"
    run_orchard("run", "--input", local_tree / "Test", "--output", output, "--precision", "f32")
    return output


@pytest.fixture(scope="module")
def step_job(spark_cluster, uploaded, emr_node_venv):
    venv_python, _, _ = emr_node_venv
    output = "s3a://" + _bucket_key(EMR_SETTINGS["output"]) + "cluster-step/"
    started = time.monotonic()
    result = _submit(spark_cluster, uploaded, venv_python, output)
    # spark-submit's PythonRunner merges the driver's stderr into its stdout.
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    print(f"step job on the standalone cluster: {time.monotonic() - started:.1f} s")
    return output, result


def _read(server, output, name):
    return pq.read_table(f"{_bucket_key(output).rstrip('/')}/{name}", filesystem=server.filesystem())


def _manifest(server, output):
    with server.filesystem().open_input_stream(f"{_bucket_key(output).rstrip('/')}/_SUCCESS") as stream:
        return json.loads(stream.read())


def _by_relative_path(table, column):
    """{<Label>/<file>: value as float64} (input roots differ between the engines)."""
    paths = table.column("path").to_pylist()
    values = np.array(table.column(column).to_pylist(), dtype=np.float64)
    return {"/".join(path.split("/")[-2:]): value for path, value in zip(paths, values)}


def test_bootstrap_installs_the_wheel_into_the_node_venv(emr_node_venv, wheel):
    venv_python, result, work = emr_node_venv
    assert re.search(rf"^orchard \S+ {re.escape(str(venv_python.parents[1]))}/lib/python3\.11/site-packages/"
                     r"orchard/__init__\.py$", result.stdout, re.MULTILINE), result.stdout
    assert "dnf install -y -q python3.11" in (work / "bin" / "dnf.log").read_text()
    installed = (venv_python.parents[2] / ".installed-sha256").read_text().split()
    assert len(installed) == 1 and len(installed[0]) == 64
    # The workers' interpreter imports no checkout: pandas (PySpark's Arrow path) and orchard from the venv.
    assert not list((venv_python.parents[1] / "lib").glob("python3.11/site-packages/pyspark"))
    assert list((venv_python.parents[1] / "lib").glob("python3.11/site-packages/pandas"))


def test_step_on_the_cluster_equals_orchard_run(step_job, uploaded, cli_output):
    output, _ = step_job
    ours_table = _read(uploaded, output, "features")
    cli_table = pq.read_table(cli_output / "features")
    assert ours_table.column_names == ["path", "label", "features", "pca"]
    ours, cli = _by_relative_path(ours_table, "features"), _by_relative_path(cli_table, "features")
    assert len(ours) == ours_table.num_rows == LABELS * PER_LABEL and set(ours) == set(cli)
    for key, expected in cli.items():
        assert ours[key] @ expected / (np.linalg.norm(ours[key]) * np.linalg.norm(expected)) >= 0.999, key
    assert sorted(ours_table.column("label").to_pylist()) == sorted(cli_table.column("label").to_pylist())
    reference = pq.read_table(cli_output / "pca.parquet")
    assert_same_pca_model(_read(uploaded, output, "pca.parquet"), reference, reference.num_rows)


def test_step_runs_on_both_workers_with_the_task_cores(step_job, uploaded, cli_output):
    """Each worker's Python compiled the model once, with 1 thread (spark.task.cpus), never every core."""
    output, result = step_job
    manifest = _manifest(uploaded, output)
    assert len(manifest["workers"]) == 2, manifest["workers"]
    assert {w["threads"] for w in manifest["workers"].values()} == {1}
    # spark-submit's PythonRunner merges the driver's stderr into its stdout.
    printed = result.stdout + result.stderr
    for stage in ("jvm_start", "featurise", "pca_fit", "transform_and_write"):
        assert f"orchard.spark: {stage} " in printed
    assert printed.count("orchard.spark: model compile on ") == 2
    cli = read_manifest(cli_output)
    assert manifest["model"]["sha256"] == cli["model"]["sha256"]
    assert manifest["preprocess"] == cli["preprocess"]
    assert manifest["counts"] == {"seen": LABELS * PER_LABEL, "written": LABELS * PER_LABEL, "failed": 0}
    for secret in (ACCESS_KEY, SECRET_KEY):
        assert secret not in json.dumps(manifest) and secret not in printed


def test_killed_worker_still_gives_every_image_exactly_once(spark_cluster, uploaded, emr_node_venv):
    """Worker 1's JVM, its executor and Python workers are killed (SIGKILL) while its tasks run: Spark reruns
    them on worker 0 and the S3A magic committer (through s3a on versitygw) completes only the committed
    attempts' uploads."""
    venv_python, _, _ = emr_node_venv
    output = "s3a://" + _bucket_key(EMR_SETTINGS["output"]) + "cluster-killed/"
    options, script = _step_args(venv_python, output)
    log = spark_cluster.root / "killed-worker-job.log"
    job = spark_cluster.submit_async(options + script, conf=_conf(uploaded), env=uploaded.client_env(), log=log)
    try:
        deadline = time.monotonic() + 600
        while not spark_cluster.python_workers(1) and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert job.poll() is None, "the job ended before worker 1 ran a Python task"
        spark_cluster.kill_worker(1)
        job.wait(timeout=900)
    finally:
        if job.poll() is None:
            job.kill()
        spark_cluster.start_worker(1)
    stderr = log.read_text()
    assert job.returncode == 0, stderr[-5000:]
    assert re.search(r"Lost executor|ExecutorLostFailure|Executor lost|worker.*(lost|removed)", stderr, re.I), \
        stderr[-3000:]
    paths = _read(uploaded, output, "features").column("path").to_pylist()
    assert len(paths) == len(set(paths)) == LABELS * PER_LABEL
    manifest = _manifest(uploaded, output)
    assert manifest["counts"]["written"] == LABELS * PER_LABEL
    listed = sum(_read(uploaded, output, name).num_rows for name in manifest["files"]["features"])
    assert listed == LABELS * PER_LABEL
    with uploaded.filesystem().open_input_stream(f"{_bucket_key(output).rstrip('/')}/features/_SUCCESS") as stream:
        assert json.loads(stream.read())["committer"] == "magic"

