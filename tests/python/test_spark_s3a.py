"""orchard.spark on object storage (issue 4): `python -m orchard.spark run` from s3a:// to s3a:// against a local
S3 server (versitygw, see s3_server.py), on pyspark local[2] with the hadoop-aws and AWS SDK jars of
scripts/fetch_spark_jars.sh.

The job reads 3 labels x 20 Test images from the bucket and writes features/, errors/, pca.parquet and _SUCCESS
back into it; the rows must be those of `orchard run` on the same images on local disk (paths as a set, features
cosine >= 0.999 per image, PCA explained variances within 1e-6 relative, the same subspace), and the keys must
appear nowhere in the job's output.
"""

import json
import shutil
import subprocess
import sys

import numpy as np
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from conftest import DEFAULT_MODEL, REPO, SAMPLE, assert_same_pca_model, run_orchard
from s3_server import ACCESS_KEY, SECRET_KEY

sys.path.insert(0, str(REPO / "python"))
import orchard.spark  # noqa: E402

BUCKET = "images"
LABELS = 3
PER_LABEL = 20
PCA_K = 8

@pytest.fixture(scope="module")
def local_tree(tmp_path_factory):
    """PER_LABEL Test images of each of the first LABELS labels, as <tmp>/Test/<Label>/<file>."""
    root = tmp_path_factory.mktemp("s3a-subset") / "Test"
    for label_dir in sorted((SAMPLE / "Test").iterdir())[:LABELS]:
        (root / label_dir.name).mkdir(parents=True)
        for image in sorted(label_dir.glob("*.jpg"))[:PER_LABEL]:
            shutil.copyfile(image, root / label_dir.name / image.name)
    return root


@pytest.fixture(scope="module")
def server(s3_server, local_tree):
    s3_server.create_bucket(BUCKET)
    s3_server.upload_tree(local_tree, BUCKET, "Test")
    return s3_server


def spark_run(server, *args):
    """`python -m orchard.spark run ARGS` in its own process (its own JVM, started with the s3a jars): keys and
    endpoint only in the standard AWS variables, as a user would set them."""
    assert orchard.spark.s3a_jars(), "no hadoop-aws jars in .tools/jars: run scripts/fetch_spark_jars.sh"
    env = server.client_env()
    env["PYTHONPATH"] = str(REPO / "python")
    return subprocess.run([sys.executable, "-m", "orchard.spark", "run", "--model", str(DEFAULT_MODEL), *args],
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def spark_job(server):
    result = spark_run(server, "--input", f"s3a://{BUCKET}/Test", "--output", f"s3a://{BUCKET}/out",
                       "--pca-k", str(PCA_K), "--batch", "16")
    assert result.returncode == 0, result.stderr[-4000:]
    return result


@pytest.fixture(scope="module")
def cli_output(local_tree, tmp_path_factory):
    output = tmp_path_factory.mktemp("s3a-cli") / "out"
    run_orchard("run", "--input", local_tree, "--output", output, "--precision", "f32", "--pca-k", PCA_K)
    return output


def _rows_by_key(table, column, prefix):
    """{path relative to `prefix`: column value as float64}; every path must start with `prefix`."""
    paths = table.column("path").to_pylist()
    assert all(path.startswith(prefix) for path in paths), paths[:3]
    values = np.array(table.column(column).to_pylist(), dtype=np.float64)
    return {path[len(prefix):]: value for path, value in zip(paths, values)}


def _read(server, key):
    return pq.read_table(f"{BUCKET}/out/{key}", filesystem=server.filesystem())


def test_features_equal_orchard_run_on_local_copies(server, spark_job, cli_output, local_tree):
    ours_table = _read(server, "features")
    assert ours_table.column_names == ["path", "label", "features", "pca"]
    ours = _rows_by_key(ours_table, "features", f"s3a://{BUCKET}/Test/")
    cli = _rows_by_key(pq.read_table(cli_output / "features"), "features", f"{local_tree}/")
    assert len(ours) == ours_table.num_rows == LABELS * PER_LABEL
    assert set(ours) == set(cli)
    for key, expected in cli.items():
        cosine = ours[key] @ expected / (np.linalg.norm(ours[key]) * np.linalg.norm(expected))
        assert cosine >= 0.999, key
    labels = dict(zip(ours_table.column("path").to_pylist(), ours_table.column("label").to_pylist()))
    assert all(label == path.split("/")[-2] for path, label in labels.items())


def test_pca_equals_orchard_run(server, spark_job, cli_output, local_tree):
    assert_same_pca_model(_read(server, "pca.parquet"), pq.read_table(cli_output / "pca.parquet"), PCA_K)
    ours_pca = _rows_by_key(_read(server, "features"), "pca", f"s3a://{BUCKET}/Test/")
    cli_pca = _rows_by_key(pq.read_table(cli_output / "features"), "pca", f"{local_tree}/")
    for key, expected in cli_pca.items():
        np.testing.assert_allclose(ours_pca[key], expected, atol=1e-3 * np.abs(expected).max())


def test_success_manifest_is_written_last_and_holds_no_secret(server, spark_job):
    filesystem = server.filesystem()
    text = filesystem.open_input_stream(f"{BUCKET}/out/_SUCCESS").read().decode()
    summary = json.loads(text)
    assert summary["counts"] == {"seen": LABELS * PER_LABEL, "written": LABELS * PER_LABEL, "failed": 0}
    assert summary["input"] == f"s3a://{BUCKET}/Test" and summary["pca"]["k"] == PCA_K
    assert _read(server, "errors").num_rows == 0
    for secret in (SECRET_KEY, ACCESS_KEY):
        assert secret not in text and secret not in spark_job.stderr and secret not in spark_job.stdout


def test_a_failed_run_leaves_no_success(server):
    """An output holding an earlier _SUCCESS, then a run into it (--overwrite) that fails (its input does not exist): the
    stale _SUCCESS must be gone, so no reader takes the output for a finished job."""
    with server.filesystem().open_output_stream(f"{BUCKET}/rerun/_SUCCESS") as out:
        out.write(b"{}")
    result = spark_run(server, "--input", f"s3a://{BUCKET}/no-such-prefix", "--output", f"s3a://{BUCKET}/rerun",
                       "--overwrite")
    assert result.returncode != 0
    assert "no-such-prefix" in result.stderr
    assert server.filesystem().get_file_info(f"{BUCKET}/rerun/_SUCCESS").type == pafs.FileType.NotFound


def test_s3a_output_is_committed_by_the_magic_committer(server, spark_job):
    """Spark's default commit renames (copies, on S3) every file at job commit; the S3A magic committer completes
    the committed task attempts' multipart uploads instead. Its features/_SUCCESS is its JSON summary (Hadoop's
    SuccessData), naming the committer and exactly the part files in place; FileOutputCommitter's is empty."""
    filesystem = server.filesystem()
    success = json.loads(filesystem.open_input_stream(f"{BUCKET}/out/features/_SUCCESS").read())
    assert success["committer"] == "magic"
    parts = {info.path.split("/", 1)[1] for info in filesystem.get_file_info(
        pafs.FileSelector(f"{BUCKET}/out/features")) if info.path.endswith(".parquet")}
    assert {name.lstrip("/") for name in success["filenames"]} == parts
    leftovers = filesystem.get_file_info(pafs.FileSelector(f"{BUCKET}/out", recursive=True))
    assert not [info.path for info in leftovers if "__magic" in info.path or "_temporary" in info.path]
