"""orchard.spark (issue 4): the C++ core in Spark's Python workers via mapInArrow, on pyspark local[2].

A small Fruits-360-shaped folder (3 Test images x 10 labels + one corrupt .jpg) is featurised by
`python -m orchard.spark`'s job and by `orchard run`; features (cosine per path), PCA explained variances and
subspace must agree, and the corrupt file must be an error row, not a failed job.
"""

import json
import os
import shutil
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from conftest import DEFAULT_MODEL, REPO, SAMPLE, assert_same_pca_model, run_orchard

sys.path.insert(0, str(REPO / "python"))
import orchard  # noqa: E402
import orchard.spark  # noqa: E402

PCA_K = 8


@pytest.fixture(scope="module")
def spark_input(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_in")
    for label_dir in sorted((SAMPLE / "Test").iterdir())[:10]:
        target = root / "Test" / label_dir.name
        target.mkdir(parents=True)
        for image in sorted(label_dir.glob("*.jpg"))[:3]:
            shutil.copy(image, target / image.name)
    corrupt = root / "Test" / sorted((SAMPLE / "Test").iterdir())[0].name / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    return root


@pytest.fixture(scope="module")
def cli_output(spark_input, tmp_path_factory):
    output = tmp_path_factory.mktemp("cli") / "out"
    result = run_orchard("run", "--input", spark_input, "--output", output, "--precision", "f32",
                         "--pca-k", PCA_K, check=False)
    assert result.returncode == 4, result.stderr  # partial failure: the corrupt file
    return output


@pytest.fixture(scope="module")
def spark_output(spark, spark_input, tmp_path_factory):
    output = tmp_path_factory.mktemp("spark") / "out"
    summary = orchard.spark.run(spark, spark_input, output, model=DEFAULT_MODEL, batch=8, pca_k=PCA_K)
    return output, summary


def _mixed_names_folder(root):
    """Images under any name, a PNG named .jpg, a text file, and Hadoop's hidden names."""
    folder = root / "Kiwi"
    folder.mkdir(parents=True)
    jpegs = sorted((SAMPLE / "Test" / "Kiwi").glob("*.jpg"))
    for name, source in zip(["1.jpg", "2.JPG", "4.Jpg", "5.jfif", "6", "_x.jpg", ".hidden.jpg"], jpegs):
        shutil.copy(source, folder / name)
    Image.open(jpegs[10]).save(folder / "7.jpg", format="PNG")
    (folder / "notes.txt").write_text("not an image\n")
    return folder


def test_both_engines_select_the_same_inputs_by_content(spark, tmp_path):
    """Spark used to pick files with a case-sensitive extension glob (4.Jpg, 5.jfif and extension-less images
    vanished) and `orchard run` kept _x.jpg, which Spark's listing always drops: one rule for both now."""
    folder = _mixed_names_folder(tmp_path / "in")
    spark_out, cli_out = tmp_path / "spark", tmp_path / "cli"
    summary = orchard.spark.run(spark, tmp_path / "in", spark_out, model=DEFAULT_MODEL, batch=8, pca_k=2)
    result = run_orchard("run", "--input", tmp_path / "in", "--output", cli_out, "--pca-k", 2, check=False)
    assert result.returncode == 4, result.stderr
    expected = sorted(str(folder / name) for name in ["1.jpg", "2.JPG", "4.Jpg", "5.jfif", "6", "7.jpg"])
    for output in (spark_out, cli_out):
        assert sorted(pq.read_table(output / "features").column("path").to_pylist()) == expected, output
        errors = pq.read_table(output / "errors").select(["path", "stage"]).to_pylist()
        assert errors == [{"path": str(folder / "notes.txt"), "stage": "decode"}], output
    assert summary["counts"] == {"seen": 7, "written": 6, "failed": 1}


def test_a_name_hadoop_cannot_read_is_said_not_silently_dropped(spark, tmp_path, capfd):
    """A file name that is not valid UTF-8: Hadoop lists it as another name and drops it, and the Spark job wrote
    its other rows with exit 0 and no word (newcomer; `orchard run` featurises it). The job now says so."""
    folder = _mixed_names_folder(tmp_path / "in")
    os.rename(os.fsencode(folder / "1.jpg"), os.fsencode(folder) + b"/u\xff.jpg")
    orchard.spark.run(spark, tmp_path / "in", tmp_path / "out", model=DEFAULT_MODEL, batch=8, pca_k=2)
    assert ("1 input files have names that are not valid UTF-8, which Hadoop cannot read, so they are not in this "
            f"job (rename them, or use `orchard run`): {folder}/u\\xff.jpg") in capfd.readouterr().err


def _by_path(table, column):
    paths = table.column("path").to_pylist()
    values = np.array(table.column(column).to_pylist(), dtype=np.float64)
    return dict(zip(paths, values))


def test_features_equal_orchard_run(spark_output, cli_output):
    output, summary = spark_output
    assert summary["counts"] == {"seen": 31, "written": 30, "failed": 1}
    spark_table = pq.read_table(output / "features")
    cli_table = pq.read_table(cli_output / "features")
    assert spark_table.column_names == ["path", "label", "features", "pca"]
    spark_features, cli_features = _by_path(spark_table, "features"), _by_path(cli_table, "features")
    assert set(spark_features) == set(cli_features) and len(spark_features) == 30
    for path, cli in cli_features.items():
        ours = spark_features[path]
        cosine = ours @ cli / (np.linalg.norm(ours) * np.linalg.norm(cli))
        assert cosine >= 0.999, path
    labels = dict(zip(spark_table.column("path").to_pylist(), spark_table.column("label").to_pylist()))
    assert all(labels[p] == p.split("/")[-2] for p in labels)


def _parquet_layout(folder):
    """The Parquet schema of a folder's first part, column by column, and its compression."""
    part = pq.ParquetFile(sorted(folder.glob("*.parquet"))[0])
    columns = [(c.path, c.physical_type, str(c.logical_type), c.max_definition_level, c.max_repetition_level)
               for c in (part.schema.column(i) for i in range(len(part.schema)))]
    return columns, part.metadata.row_group(0).column(0).compression


def _vector_dictionary_pages(folder):
    """{column: has a dictionary page} of the float columns in a folder's first part's first row group."""
    chunks = pq.ParquetFile(sorted(folder.glob("*.parquet"))[0]).metadata.row_group(0)
    return {chunks.column(i).path_in_schema: chunks.column(i).has_dictionary_page
            for i in range(chunks.num_columns) if chunks.column(i).physical_type == "FLOAT"}


def test_parquet_schema_equals_orchard_run(spark_output, cli_output):
    """Spark cannot take fixed_size_list from mapInArrow, but its Parquet files have `orchard run`'s Parquet schema
    (all columns required, LIST of required float) and compression; only the Arrow schema in the footer differs,
    so pyarrow reads `list<float>` where `orchard run`'s parts give `fixed_size_list<float>[D]` (README, Spark)."""
    output, _ = spark_output
    assert _parquet_layout(output / "features") == _parquet_layout(cli_output / "features")
    # Vectors without a dictionary in both engines: their values are all distinct (dictionary encoding hashed
    # each float, then fell back to PLAIN).
    assert (_vector_dictionary_pages(output / "features") == _vector_dictionary_pages(cli_output / "features")
            == {"features.list.element": False, "pca.list.element": False})
    spark_part = next((output / "features").glob("*.parquet"))
    cli_part = next((cli_output / "features").glob("*.parquet"))
    spark_schema, cli_schema = pq.read_schema(spark_part), pq.read_schema(cli_part)
    assert cli_schema.field("features").type == pa.list_(pa.field("element", pa.float32(), False), 1280)
    assert spark_schema.field("features").type == pa.list_(pa.field("element", pa.float32(), False))
    assert [f.nullable for f in spark_schema] == [f.nullable for f in cli_schema] == [False] * 4
    assert set(pq.read_metadata(cli_part).metadata) == {b"ARROW:schema"}
    assert set(pq.read_metadata(spark_part).metadata) == {b"org.apache.spark.version",
                                                         b"org.apache.spark.sql.parquet.row.metadata"}


def test_pca_equals_single_machine(spark_output, cli_output):
    output, _ = spark_output
    assert_same_pca_model(pq.read_table(output / "pca.parquet"), pq.read_table(cli_output / "pca.parquet"), PCA_K)
    # And the pca column agrees with `orchard run`'s (signs are fixed the same way).
    ours_pca = _by_path(pq.read_table(output / "features"), "pca")
    cli_pca = _by_path(pq.read_table(cli_output / "features"), "pca")
    for path, expected in cli_pca.items():
        np.testing.assert_allclose(ours_pca[path], expected, atol=1e-3 * np.abs(expected).max())


def test_parts_are_written_one_per_task_slot_not_per_scan_partition(spark, spark_output):
    """The image scan makes at least 4 partitions per task slot, which balance the featurising. The job wrote a
    part per scan partition: 44 parts of ~470 rows for the sample and 3x the write time of a task per slot."""
    _, summary = spark_output
    assert 1 <= len(summary["files"]["features"]) <= spark.sparkContext.defaultParallelism
    assert len(summary["files"]["errors"]) == 1


def test_corrupt_file_is_an_error_row(spark_output):
    output, _ = spark_output
    errors = pq.read_table(output / "errors").to_pylist()
    assert len(errors) == 1
    assert errors[0]["path"].endswith("/corrupt.jpg") and errors[0]["stage"] == "decode"


def test_binding_partials_merge_exactly(spark_input):
    """No Spark: featurize reports bad inputs per index, and partials merged equal one accumulator."""
    images = sorted(spark_input.rglob("*_100.jpg"))[:12]
    featurizer = orchard.Featurizer(str(DEFAULT_MODEL))
    paths = [str(p) for p in images] + ["/nonexistent/x.jpg", "bad.jpg"]
    contents = [p.read_bytes() for p in images] + [None, b"not an image"]
    features, errors = featurizer.featurize(paths, contents, batch=5)
    assert features.shape == (14, featurizer.feature_dim) and features.dtype == np.float32
    assert [(i, stage) for i, stage, _ in errors] == [(12, "read"), (13, "decode")]
    assert np.isnan(features[12:]).all() and np.isfinite(features[:12]).all()
    whole = orchard.fit_pca([orchard.covariance_partial(features[:12])], k=4)
    parts = orchard.fit_pca([orchard.covariance_partial(features[:5]), orchard.covariance_partial(features[5:12])], k=4)
    np.testing.assert_allclose(parts["explained_variance"], whole["explained_variance"], rtol=1e-9)
    projected = orchard.pca_transform(features[:12], whole["mean"], whole["components"])
    assert projected.shape == (12, 4) and projected.dtype == np.float32


def test_binding_refuses_a_file_over_the_size_limit(tmp_path):
    """No Spark: a path-only input used to be read whole whatever its size; over 256 MiB it is now an error entry,
    refused from its size before reading (a sparse file here, so the test writes nothing)."""
    huge = tmp_path / "Kiwi" / "huge.jpg"
    huge.parent.mkdir()
    with open(huge, "wb") as file:
        file.truncate(256 * 2**20 + 1)
    good = sorted((SAMPLE / "Test" / "Kiwi").glob("*.jpg"))[0]
    features, errors = orchard.Featurizer(str(DEFAULT_MODEL)).featurize([str(good), str(huge)], batch=2)
    assert [(i, stage) for i, stage, _ in errors] == [(1, "read")]
    assert errors[0][2] == "file too large: 268435457 bytes, over the limit of 268435456 bytes"
    assert np.isfinite(features[0]).all()


def test_binding_arrow_matches_numpy(spark_input):
    """No Spark: the Arrow C data interface functions give the numpy functions' values, keep error rows, and name
    what is wrong with bad input."""
    images = sorted(spark_input.rglob("*_100.jpg"))[:6]
    featurizer = orchard.Featurizer(str(DEFAULT_MODEL))
    expected, _ = featurizer.featurize([str(p) for p in images], batch=4)
    # Spark's binaryFile rows: `file:` + the path as it is; a null content is read from the path.
    batch = pa.record_batch({"path": ["file:" + str(p) for p in images] + ["file:/x/Lab/bad.jpg"],
                             "content": pa.array([p.read_bytes() for p in images[:5]] + [None, b"junk"])})
    out = pa.record_batch(featurizer.featurize_arrow(batch, batch=4))
    assert out.schema.names == ["path", "label", "features", "stage", "message"]
    assert out.column("path").to_pylist() == [str(p) for p in images] + ["/x/Lab/bad.jpg"]
    assert out.column("label").to_pylist() == [p.parent.name for p in images] + ["Lab"]
    assert out.column("stage").to_pylist() == [None] * 6 + ["decode"]
    assert out.column("features")[6].as_py() is None
    features = np.array(out.column("features").to_pylist()[:6], dtype=np.float32)
    np.testing.assert_array_equal(features, expected)

    good = out.slice(0, 6).select(["path", "label", "features"])
    partial = pa.record_batch(orchard.covariance_partial_arrow(good))
    count, mean, scatter = orchard.covariance_partial(expected)
    assert partial.column("count").to_pylist() == [count] == [6]
    np.testing.assert_allclose(partial.column("mean")[0].as_py(), mean, rtol=1e-12)
    merged = pa.table(orchard.merge_partials_arrow(pa.Table.from_batches(
        [pa.record_batch(orchard.covariance_partial_arrow(good.slice(0, 2))),
         pa.record_batch(orchard.covariance_partial_arrow(good.slice(2)))])))
    np.testing.assert_allclose(np.array(merged.column("scatter")[0].as_py()), scatter.reshape(-1), rtol=1e-9,
                               atol=1e-9 * np.abs(scatter).max())
    pca = orchard.fit_pca_arrow(merged, k=3)
    np.testing.assert_allclose(pca["explained_variance"],
                               orchard.fit_pca([(count, mean, scatter)], k=3)["explained_variance"], rtol=1e-9)
    projected = pa.record_batch(orchard.pca_transform_arrow(good, pca["mean"], pca["components"]))
    assert projected.schema.names == ["path", "label", "features", "pca"]
    np.testing.assert_array_equal(np.array(projected.column("pca").to_pylist(), dtype=np.float32),
                                  orchard.pca_transform(expected, pca["mean"], pca["components"]))

    with pytest.raises(ValueError, match="no column 'path'"):
        featurizer.featurize_arrow(pa.record_batch({"file": ["a.jpg"]}))
    with pytest.raises(TypeError, match="__arrow_c_array__"):
        featurizer.featurize_arrow([str(images[0])])
    with pytest.raises(ValueError, match="row 6 is null"):
        orchard.pca_transform_arrow(out, pca["mean"], pca["components"])


def test_module_command_runs_the_job(spark_input, cli_output, tmp_path):
    """`python -m orchard.spark run` (local[2] by default): exit 4 for the corrupt file, all outputs there; its
    default model batch is `orchard run`'s (it was 32 against 8: 6 % slower at f32 on the whole sample)."""
    import json
    import os
    import subprocess
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    result = subprocess.run([sys.executable, "-m", "orchard.spark", "run", "--input", str(spark_input),
                             "--output", str(tmp_path / "out"), "--model", str(DEFAULT_MODEL), "--pca-k", "4"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 4, result.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "_SUCCESS").read_text())
    assert summary["counts"] == {"seen": 31, "written": 30, "failed": 1} and summary["pca"]["k"] == 4
    assert summary["batch_size"] == json.loads((cli_output / "_SUCCESS").read_text())["batch_size"] == 8
    assert pq.read_table(tmp_path / "out" / "features").num_rows == 30
    assert pq.read_table(tmp_path / "out" / "errors").num_rows == 1


@pytest.fixture(scope="module")
def recognition_input(tmp_path_factory):
    """<root>/{Training,Test}/<Label>/: 8 Training and 4 Test images of each of 5 labels."""
    root = tmp_path_factory.mktemp("spark_recognition")
    for split, count in (("Training", 8), ("Test", 4)):
        for label_dir in sorted((SAMPLE / split).iterdir())[:5]:
            (root / split / label_dir.name).mkdir(parents=True)
            for image in sorted(label_dir.glob("*.jpg"))[:count]:
                shutil.copy(image, root / split / label_dir.name / image.name)
    return root


def _train_and_eval(output, folder):
    run_orchard("train", output, "--bundle", folder / "bundle")
    run_orchard("eval", output, "--bundle", folder / "bundle", "--report", folder / "report")
    return json.loads((folder / "report" / "metrics.json").read_text())


def test_train_eval_inspect_read_the_spark_output(spark, recognition_input, tmp_path):
    """`orchard train` / `eval` / `inspect` used to refuse a Spark output (no model sha256 or preprocessing in
    its _SUCCESS, list<float> vectors): trained on the Spark job's output, eval equals training on `orchard run`'s
    within 0.002 top-1. rows_per_part bounds the rows of each part _SUCCESS lists."""
    spark_out, cli_out = tmp_path / "spark", tmp_path / "cli"
    summary = orchard.spark.run(spark, recognition_input, spark_out, model=DEFAULT_MODEL, batch=8, pca_k=8,
                                rows_per_part=7)
    parts = summary["files"]["features"]
    assert sum(pq.read_metadata(spark_out / part).num_rows for part in parts) == 60
    assert max(pq.read_metadata(spark_out / part).num_rows for part in parts) <= 7
    run_orchard("run", "--input", recognition_input, "--output", cli_out, "--precision", "f32", "--pca-k", 8)
    ours, reference = _train_and_eval(spark_out, tmp_path / "s"), _train_and_eval(cli_out, tmp_path / "c")
    assert ours["n"] == reference["n"] == 20
    assert abs(ours["top1"] - reference["top1"]) <= 0.002, (ours["top1"], reference["top1"])
    inspected = run_orchard("inspect", spark_out).stdout
    assert "== _SUCCESS" in inspected and '"engine": "spark"' in inspected


def test_one_image_follows_the_small_job_rule_and_a_rerun_needs_overwrite(spark, tmp_path):
    """fit_pca used to fail the whole job (exit 1) under 2 images; now, as `orchard run`: features without pca, no
    pca.parquet, _SUCCESS says why. A rerun into the finished output needs overwrite (it used to replace it)."""
    folder = tmp_path / "in" / "Kiwi"
    folder.mkdir(parents=True)
    shutil.copy(sorted((SAMPLE / "Test" / "Kiwi").glob("*.jpg"))[0], folder / "1.jpg")
    output = tmp_path / "out"
    summary = orchard.spark.run(spark, tmp_path / "in", output, model=DEFAULT_MODEL, batch=8)
    assert summary["counts"] == {"seen": 1, "written": 1, "failed": 0}
    assert summary["pca"]["k"] == 0 and "at least 2" in summary["pca"]["skipped"]
    assert pq.read_table(output / "features").column_names == ["path", "label", "features"]
    assert not (output / "pca.parquet").exists()
    with pytest.raises(orchard.spark.OutputRefused, match="holds a finished job; pass --overwrite"):
        orchard.spark.run(spark, tmp_path / "in", output, model=DEFAULT_MODEL, batch=8)
    again = orchard.spark.run(spark, tmp_path / "in", output, model=DEFAULT_MODEL, batch=8, overwrite=True,
                              max_pixels=100 * 100 - 1)
    assert again["counts"] == {"seen": 1, "written": 0, "failed": 1}  # 100x100 pixels: over the limit
    errors = pq.read_table(output / "errors").to_pylist()
    assert errors[0]["stage"] == "decode" and "image too large" in errors[0]["message"]


def test_a_file_over_max_file_bytes_is_an_error_row_never_read(spark, tmp_path):
    """Spark's binaryFile source had no size limit (the whole file was read into the task, up to its 2 GiB
    maximum, which fails the task): a file over max_file_bytes is now a read error row, like `orchard run`'s."""
    folder = tmp_path / "in" / "Kiwi"
    folder.mkdir(parents=True)
    images = sorted((SAMPLE / "Test" / "Kiwi").glob("*.jpg"))[:3]
    for image in images:
        shutil.copy(image, folder / image.name)
    limit = max(image.stat().st_size for image in images) - 1
    summary = orchard.spark.run(spark, tmp_path / "in", tmp_path / "out", model=DEFAULT_MODEL, batch=8,
                                max_file_bytes=limit)
    big = [image for image in images if image.stat().st_size > limit]
    errors = pq.read_table(tmp_path / "out" / "errors").to_pylist()
    assert [(e["path"], e["stage"]) for e in errors] == [(str(folder / big[0].name), "read")]
    assert errors[0]["message"] == f"file too large: {big[0].stat().st_size} bytes, over the limit of {limit} bytes"
    assert summary["counts"] == {"seen": 3, "written": 2, "failed": 1}
