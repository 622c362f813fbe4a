"""Resume: a job killed with SIGKILL at several points, then run again, equals an uninterrupted run.

The kills come from orchard's failpoints (ORCHARD_FAILPOINT=<name>:<n>): the process SIGKILLs itself the n-th
time it passes that point, as a power cut or the OOM killer would, at a moment a test can name.
"""

import os
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import (ORCHARD_BIN, assert_same_rows_and_pca_as_fresh_run, labels_by_path, read_manifest, rows_by_path,
                      run_orchard, sample_images, write_manifest)

OPTIONS = ["--rows-per-part", "16", "--batch", "8", "--pca-k", "6", "--precision", "f32"]


@pytest.fixture(scope="module")
def images_manifest(tmp_path_factory):
    images = [p for p in sample_images("Test", per_label=20) if p.parent.name in ("Cherry", "Kiwi", "Plum")]
    return write_manifest(tmp_path_factory.mktemp("resume") / "images.txt", images), images


@pytest.fixture(scope="module")
def uninterrupted(images_manifest, tmp_path_factory):
    manifest, _ = images_manifest
    output = tmp_path_factory.mktemp("uninterrupted") / "out"
    run_orchard("run", "--input", manifest, "--output", output, *OPTIONS)
    return rows_by_path(output)


def run_killed_at(failpoint, source, output):
    env = dict(os.environ, ORCHARD_FAILPOINT=failpoint)
    result = subprocess.run([str(ORCHARD_BIN), "run", "--input", str(source), "--output", str(output), *OPTIONS],
                            env=env, capture_output=True, text=True)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert not (output / "_SUCCESS").exists()


@pytest.mark.parametrize("failpoint", ["listing:30", "staged-part:2", "pca-fit:1", "final-part:1"])
def test_resumed_job_equals_uninterrupted_run(failpoint, images_manifest, uninterrupted, tmp_path):
    manifest, images = images_manifest
    output = tmp_path / "out"
    run_killed_at(failpoint, manifest, output)
    result = run_orchard("run", "--input", manifest, "--output", output, *OPTIONS)
    assert "resuming" in result.stderr

    resumed = rows_by_path(output)
    assert sorted(resumed) == sorted(uninterrupted) == sorted(map(str, images))  # every input exactly once
    for path, (features, pca) in resumed.items():
        np.testing.assert_allclose(features, uninterrupted[path][0], rtol=0, atol=1e-5)
        np.testing.assert_allclose(pca, uninterrupted[path][1], rtol=0, atol=1e-3)
    manifest_json = read_manifest(output)
    assert manifest_json["counts"] == {"seen": len(images), "written": len(images), "failed": 0}
    assert not (output / "_staging").exists()


def test_work_of_complete_parts_is_not_redone(images_manifest, tmp_path):
    manifest, images = images_manifest
    output = tmp_path / "out"
    run_killed_at("staged-part:2", manifest, output)
    result = run_orchard("run", "--input", manifest, "--output", output, *OPTIONS)
    assert "32 inputs done by earlier attempts are kept" in result.stderr
    assert f"features {len(images) - 32}/{len(images) - 32} images" in result.stderr


def test_images_per_second_after_a_resume_counts_only_this_attempt(images_manifest, tmp_path):
    """Issue 14: after a resume, images/s divided every row of the job by this attempt's time only."""
    manifest, images = images_manifest
    output = tmp_path / "out"
    run_killed_at("staged-part:2", manifest, output)
    run_orchard("run", "--input", manifest, "--output", output, *OPTIONS)
    summary = read_manifest(output)
    assert summary["counts"]["seen"] == len(images)
    assert summary["attempt"] == {"number": 1, "images": len(images) - 32}
    assert summary["images_per_second"] == pytest.approx((len(images) - 32) / summary["wall_seconds"], rel=1e-9)


@pytest.mark.parametrize("other", [("--precision", "bf16"), ("--max-file-bytes", "1000")])
def test_an_unfinished_job_with_other_settings_is_not_mixed(images_manifest, tmp_path, other):
    """A file-size limit decides which inputs become error rows, as the pixel limit does: part of the identity."""
    manifest, _ = images_manifest
    output = tmp_path / "out"
    run_killed_at("staged-part:1", manifest, output)
    result = run_orchard("run", "--input", manifest, "--output", output, *OPTIONS[:-2], *other, check=False)
    assert result.returncode == 2 and "unfinished job with other settings" in result.stderr


def test_a_finished_job_is_not_overwritten(images_manifest, tmp_path):
    manifest, _ = images_manifest
    output = tmp_path / "out"
    run_orchard("run", "--input", manifest, "--output", output, *OPTIONS)
    result = run_orchard("run", "--input", manifest, "--output", output, *OPTIONS, check=False)
    assert result.returncode == 2 and "finished job" in result.stderr


# ---- inputs changed while the job was interrupted

@pytest.fixture
def input_folder(images_manifest, tmp_path):
    """A folder of copies of the 60 images (Label/name.jpg), so a test can replace and delete inputs."""
    _, images = images_manifest
    for image in images:
        (tmp_path / "in" / image.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(image, tmp_path / "in" / image.parent.name / image.name)
    return tmp_path / "in"


def replace_bytes(path, source):
    """Replaces a file's bytes as a copy would, with a modification time of its own (one second later)."""
    before = path.stat().st_mtime
    path.write_bytes(source.read_bytes())
    os.utime(path, (before + 1, before + 1))


def staged_paths(output):
    return sorted(p for part in sorted((output / "_staging").glob("part-*.parquet"))
                  for p in pq.read_table(part).column("path").to_pylist())


def test_inputs_replaced_or_deleted_while_interrupted_are_redone_or_dropped(input_folder, tmp_path):
    """Before: the resume kept the rows staged for a replaced input (the old bytes' features) and for a deleted one,
    and the inventory recorded the new keys, so no later --incremental repaired them."""
    output = tmp_path / "out"
    run_killed_at("staged-part:2", input_folder, output)
    staged = staged_paths(output)
    assert len(staged) == 32
    replaced, deleted = staged[0], staged[-1]
    other = next(p for p in sample_images("Test", per_label=1) if p.parent.name == "Lemon")
    replace_bytes(Path(replaced), other)
    os.remove(deleted)

    result = run_orchard("run", "--input", input_folder, "--output", output, *OPTIONS)
    fresh = tmp_path / "fresh"
    run_orchard("run", "--input", input_folder, "--output", fresh, *OPTIONS)
    assert deleted not in rows_by_path(output)
    assert_same_rows_and_pca_as_fresh_run(output, fresh, features_atol=1e-6)
    assert "2 inputs were replaced or deleted since an earlier attempt" in result.stderr
    # and the inventory is true: an update finds nothing to do
    update = run_orchard("run", "--input", input_folder, "--output", output, "--incremental", *OPTIONS)
    assert read_manifest(output)["incremental"]["unchanged"] == 59, update.stderr


def test_an_input_that_failed_and_was_fixed_while_interrupted_is_featurised(input_folder, tmp_path):
    """Before: the error row of the earlier attempt was kept, and the fixed file never featurised."""
    bad = input_folder / "Kiwi" / "broken.jpg"
    bad.write_bytes(b"not an image")
    output = tmp_path / "out"
    run_killed_at("pca-fit:1", input_folder, output)  # after every input was done, the error part complete
    replace_bytes(bad, next((input_folder / "Kiwi").glob("*_100.jpg")))

    run_orchard("run", "--input", input_folder, "--output", output, *OPTIONS)
    assert read_manifest(output)["counts"] == {"seen": 61, "written": 61, "failed": 0}
    assert str(bad) in rows_by_path(output)


def test_an_input_relabelled_while_interrupted_gets_its_new_label(images_manifest, tmp_path):
    """Before: the rows staged under the manifest's old labels were kept, with those labels."""
    _, images = images_manifest
    manifest = tmp_path / "labels.txt"
    manifest.write_text("".join(f"{image}\t{image.parent.name}\n" for image in images))
    output = tmp_path / "out"
    run_killed_at("pca-fit:1", manifest, output)  # every input staged under its first label
    relabelled = {str(images[0]): "Pear", str(images[-1]): "Apple"}
    manifest.write_text("".join(f"{image}\t{relabelled.get(str(image), image.parent.name)}\n" for image in images))

    result = run_orchard("run", "--input", manifest, "--output", output, *OPTIONS)
    assert "2 inputs were replaced or deleted since an earlier attempt" in result.stderr
    assert {path: labels_by_path(output)[path] for path in relabelled} == relabelled
    # the two were featurised again (the count was this attempt's images minus the dropped rows: 0)
    assert read_manifest(output)["attempt"]["images"] == 2
    fresh = tmp_path / "fresh"
    run_orchard("run", "--input", manifest, "--output", fresh, *OPTIONS)
    assert_same_rows_and_pca_as_fresh_run(output, fresh, features_atol=1e-6)


def test_a_label_that_is_not_utf8_is_kept_across_a_resume(images_manifest, tmp_path):
    """Staged rows hold such a label escaped, the listing compared it raw: a resume with nothing changed took
    every staged input for relabelled and featurised it again, and inputs.parquet held the raw bytes in a
    string column, which pyarrow (and so the Spark job) cannot read (2026-12-03)."""
    _, images = images_manifest
    manifest = tmp_path / "labels.txt"
    manifest.write_bytes(b"".join(f"{image}\t".encode() + image.parent.name.encode() + b"\xe9\n" for image in images))
    output = tmp_path / "out"
    run_killed_at("staged-part:2", manifest, output)
    result = run_orchard("run", "--input", manifest, "--output", output, *OPTIONS)
    assert "replaced or deleted since an earlier attempt" not in result.stderr
    assert read_manifest(output)["attempt"]["images"] == len(images) - 32  # two parts of 16 were kept
    inventory = pq.read_table(output / "inputs.parquet").to_pylist()
    assert {row["label"] for row in inventory} == {f"{label}\\xe9" for label in ("Cherry", "Kiwi", "Plum")}


def test_a_file_listed_twice_is_one_row_and_survives_a_resume(images_manifest, tmp_path):
    """Before: a manifest naming a file three times gave three rows (and the PCA counted it thrice); after a kill and
    a resume the file had no row at all (its rows, staged twice in one attempt, were dropped as superseded)."""
    _, images = images_manifest
    repeated = write_manifest(tmp_path / "repeated.txt", [images[0], *images, images[0]])
    for output, failpoint in ((tmp_path / "fresh", None), (tmp_path / "resumed", "staged-part:1")):
        if failpoint:
            run_killed_at(failpoint, repeated, output)
        result = run_orchard("run", "--input", repeated, "--output", output, *OPTIONS)
        rows = pq.read_table(output / "features").column("path").to_pylist()
        assert sorted(rows) == sorted(map(str, images)), output
        assert read_manifest(output)["counts"] == {"seen": len(images), "written": len(images), "failed": 0}
        assert "2 inputs were listed more than once; each is featurised once" in result.stderr
