"""The Spark job's incremental runs (issue 15, item 4, "The Spark job does the same") and its one manifest writer
(item 3): `orchard.spark.run(..., incremental=True)` updates an output of either engine, featurising only new and
replaced inputs (counted by the workers: the images their model was given), dropping deleted ones and refitting
the PCA exactly from the stored moments; the result equals a fresh run over the inputs as they are. Its _SUCCESS
is built by `orchard run`'s C++ manifest writer, so both engines' manifests have the same keys.

Inputs are small (1 to 3 Test images of 10 labels); the Spark session is conftest's.
"""

import json
import os
import shutil
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import (DEFAULT_MODEL, REPO, SAMPLE, assert_same_rows_and_pca_as_fresh_run, read_manifest,
                      rows_by_path, run_orchard)

sys.path.insert(0, str(REPO / "python"))
import orchard  # noqa: E402
import orchard.spark  # noqa: E402

PCA_K = 8
LABELS = [label.name for label in sorted((SAMPLE / "Test").iterdir())[:10]]
SPARK_OPTIONS = {"model": DEFAULT_MODEL, "batch": 8, "pca_k": PCA_K}
CLI_OPTIONS = ["--precision", "f32", "--batch", "8", "--pca-k", PCA_K]
# Keys only one engine's _SUCCESS has: Spark's engine, master and workers; `orchard run`'s threads and its
# compiled model's batch and streams; and the stage names under timings (each engine names its own stages).
SPARK_ONLY = {"engine", "master", "workers"}
CLI_ONLY = {"io_threads", "decode_threads", "model.streams"}


def images(per_label, skip=0):
    return [image for label in LABELS
            for image in sorted((SAMPLE / "Test" / label).glob("*.jpg"))[skip:skip + per_label]]


def copy_into(folder, chosen):
    for image in chosen:
        (folder / image.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(image, folder / image.parent.name / image.name)


def spark_run(spark, input_folder, output, **extra):
    return orchard.spark.run(spark, input_folder, output, **SPARK_OPTIONS, **extra)


def images_featurised(summary):
    """The images the workers' models were given (each task adds its count to the workers accumulator)."""
    return sum(worker["images"] for worker in summary["workers"].values())


def listed_and_present(output, manifest):
    """(files _SUCCESS lists, the parts and commit files present) in features/, errors/ and the root."""
    listed = sorted([*manifest["files"]["features"], *manifest["files"]["errors"], manifest["files"]["pca"],
                     manifest["files"]["pca_moments"], manifest["files"]["inputs"]])
    parts = [f"{folder}/{p.name}" for folder in ("features", "errors") for p in (output / folder).iterdir()
             if p.name.startswith("part-") and p.name.endswith(".parquet")]
    present = sorted(parts + [p.name for p in output.glob("*.parquet")])
    return listed, present


def assert_pca_fits_its_rows(output):
    """The output's PCA is the exact PCA of the rows it holds (within 1e-6): the stored moments, minus the dropped
    rows', plus the new rows', equal the moments of the rows there."""
    manifest = read_manifest(output)
    features = np.stack([f for f, _ in rows_by_path(output).values()]).astype(np.float32)
    expected = orchard.fit_pca([orchard.covariance_partial(features)], k=PCA_K)
    stored = pq.read_table(output / manifest["files"]["pca"])
    np.testing.assert_allclose(stored.column("explained_variance").to_numpy(), expected["explained_variance"],
                               rtol=1e-6)


def assert_same_output(ours, fresh):
    """Same rows (paths, features) and PCA (explained variances, components, pca column) as a fresh Spark run,
    and exactly the files _SUCCESS lists are there (the finished job's are deleted)."""
    assert_same_rows_and_pca_as_fresh_run(ours, fresh, features_atol=1e-6)
    manifest = read_manifest(ours)
    listed, present = listed_and_present(ours, manifest)
    assert listed == present


@pytest.fixture
def grown(spark, tmp_path):
    """A finished Spark output over 2 images of each of 10 labels, then 1 more per label put into its input."""
    input_folder, output = tmp_path / "in", tmp_path / "out"
    copy_into(input_folder, images(2))
    first = spark_run(spark, input_folder, output)
    assert first["files"]["inputs"] == "inputs.parquet" and first["files"]["pca_moments"] == "pca_moments.parquet"
    copy_into(input_folder, images(1, skip=2))
    return input_folder, output


def test_spark_update_featurises_only_added_images_and_equals_fresh_run(spark, grown, tmp_path):
    input_folder, output = grown
    before = read_manifest(output)
    summary = spark_run(spark, input_folder, output, incremental=True)
    assert images_featurised(summary) == summary["attempt"]["images"] == 10  # only the added ones
    assert summary["incremental"] == {"previous_attempt": 0, "unchanged": 20, "new": 10, "replaced": 0,
                                      "retried": 0, "removed": 0}
    assert summary["attempt"]["number"] == 1
    assert summary["files"]["pca"] == "pca-a001.parquet" and summary["files"]["inputs"] == "inputs-a001.parquet"
    assert not set(before["files"]["features"]) & set(summary["files"]["features"])  # rewritten under new names
    assert not (output / "pca.parquet").exists() and not (output / "inputs.parquet").exists()
    spark_run(spark, input_folder, tmp_path / "fresh")
    assert_same_output(output, tmp_path / "fresh")

    again = spark_run(spark, input_folder, output, incremental=True)  # nothing changed: nothing featurised
    assert again["attempt"]["images"] == 0 and images_featurised(again) == 0
    assert_same_output(output, tmp_path / "fresh")


def test_spark_update_recomputes_a_replaced_image_once_and_drops_a_deleted_one(spark, grown, tmp_path):
    input_folder, output = grown
    target = sorted((input_folder / LABELS[0]).iterdir())[0]
    shutil.copyfile(sorted((SAMPLE / "Test" / LABELS[0]).glob("*.jpg"))[-1], target)  # other bytes, same path
    deleted = sorted((input_folder / LABELS[1]).iterdir())[1]
    deleted.unlink()
    summary = spark_run(spark, input_folder, output, incremental=True)
    assert images_featurised(summary) == summary["attempt"]["images"] == 10 + 1  # the added ones and the replaced one
    assert summary["incremental"] == {"previous_attempt": 0, "unchanged": 18, "new": 10, "replaced": 1,
                                      "retried": 0, "removed": 1}
    assert str(deleted) not in rows_by_path(output)
    spark_run(spark, input_folder, tmp_path / "fresh")
    assert_same_output(output, tmp_path / "fresh")
    assert images_featurised(spark_run(spark, input_folder, output, incremental=True)) == 0  # once


def test_spark_update_tries_an_input_that_failed_again_even_with_its_key_unchanged(spark, grown, tmp_path):
    """As `orchard run --incremental` (test_incremental.py): an error row is not kept because its input's size and
    modification time did not change."""
    input_folder, output = grown
    target = sorted((input_folder / LABELS[0]).iterdir())[0]
    good = target.read_bytes()
    target.write_bytes(good[:200] + bytes(len(good) - 200))
    stat = target.stat()
    spark_run(spark, input_folder, output, incremental=True)
    assert str(target) in pq.read_table(output / "errors").column("path").to_pylist()
    target.write_bytes(good)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    summary = spark_run(spark, input_folder, output, incremental=True)
    assert images_featurised(summary) == 1 and summary["incremental"]["retried"] == 1
    assert summary["counts"]["failed"] == 0 and str(target) in rows_by_path(output)


def test_engines_update_each_others_output(spark, tmp_path):
    """`orchard run`'s output updated by the Spark job, then that output updated by `orchard run --incremental`:
    each featurises only what is new, keeps the other's rows as they were, and fits the exact PCA of all rows."""
    input_folder, output = tmp_path / "in", tmp_path / "out"
    copy_into(input_folder, images(2))
    run_orchard("run", "--input", input_folder, "--output", output, *CLI_OPTIONS)
    cli_rows = rows_by_path(output)
    copy_into(input_folder, images(1, skip=2))
    summary = spark_run(spark, input_folder, output, incremental=True)
    assert images_featurised(summary) == 10
    assert summary["incremental"]["unchanged"] == 20 and summary["incremental"]["new"] == 10
    rows = rows_by_path(output)
    assert len(rows) == 30
    for path, (features, _) in cli_rows.items():
        np.testing.assert_array_equal(rows[path][0], features)  # carried, not featurised again
    assert_pca_fits_its_rows(output)

    deleted = sorted((input_folder / LABELS[2]).iterdir())[0]
    deleted.unlink()
    copy_into(input_folder, images(1, skip=3))
    result = run_orchard("run", "--input", input_folder, "--output", output, *CLI_OPTIONS, "--incremental")
    assert "updating" in result.stderr
    manifest = read_manifest(output)
    assert manifest["attempt"]["images"] == 10 and manifest["attempt"]["number"] == 2
    assert manifest["incremental"] == {"previous_attempt": 1, "unchanged": 29, "new": 10, "replaced": 0,
                                       "retried": 0, "removed": 1}
    updated = rows_by_path(output)
    assert len(updated) == 39 and str(deleted) not in updated
    for path, (features, _) in rows.items():
        if path != str(deleted):
            np.testing.assert_array_equal(updated[path][0], features)
    assert_pca_fits_its_rows(output)
    listed, present = listed_and_present(output, manifest)
    assert listed == present


def key_paths(value, prefix=""):
    """Every key of a JSON object and of the objects in it, as dotted paths (timings' stage names left out)."""
    if not isinstance(value, dict) or prefix == "timings.":
        return set()
    paths = set()
    for key, item in value.items():
        paths |= {prefix + key} | key_paths(item, f"{prefix}{key}.")
    return paths


def test_spark_success_has_the_keys_of_orchard_runs(spark, tmp_path):
    """The Spark job's _SUCCESS was a Python twin of `orchard run`'s and lacked the attempt, the moments and the
    input inventory; both are now built by one C++ function and differ only by the engine-specific keys named
    above."""
    input_folder = tmp_path / "in"
    copy_into(input_folder, images(1))
    spark_keys = key_paths(spark_run(spark, input_folder, tmp_path / "spark"))
    run_orchard("run", "--input", input_folder, "--output", tmp_path / "cli", *CLI_OPTIONS)
    cli_keys = key_paths(read_manifest(tmp_path / "cli"))
    spark_only = {key for key in spark_keys if key.split(".")[0] in SPARK_ONLY}
    assert spark_only >= SPARK_ONLY and CLI_ONLY <= cli_keys
    assert spark_keys - spark_only == cli_keys - CLI_ONLY
    # And the same job record, so that either engine updates the other's output.
    assert json.loads((tmp_path / "spark" / "_job.json").read_text()) == \
        json.loads((tmp_path / "cli" / "_job.json").read_text())


def test_spark_update_refuses_a_success_naming_files_outside_the_output(spark, tmp_path):
    """The Spark job's update deletes the files the finished job listed and no longer does: with "../x" in an
    edited _SUCCESS it would delete a file beside the output (as `orchard run --incremental` did, 2026-12-03)."""
    input_folder, output = tmp_path / "in", tmp_path / "out"
    copy_into(input_folder, images(1))
    run_orchard("run", "--input", input_folder, "--output", output, *CLI_OPTIONS)
    victim = tmp_path / "victim.parquet"
    shutil.copy(output / "pca.parquet", victim)
    manifest = read_manifest(output)
    manifest["files"]["pca"] = "../victim.parquet"
    (output / "_SUCCESS").write_text(json.dumps(manifest))
    with pytest.raises(orchard.spark.OutputRefused, match=r"files\.pca lists \"\.\./victim\.parquet\""):
        spark_run(spark, input_folder, output, incremental=True)
    assert victim.read_bytes() == (output / "pca.parquet").read_bytes()
