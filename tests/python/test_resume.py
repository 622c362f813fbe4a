"""Resume: a job killed with SIGKILL at several points, then run again, equals an uninterrupted run.

The kills come from orchard's failpoints (ORCHARD_FAILPOINT=<name>:<n>): the process SIGKILLs itself the n-th
time it passes that point, as a power cut or the OOM killer would, at a moment a test can name.
"""

import os
import signal
import subprocess

import numpy as np
import pytest

from conftest import ORCHARD_BIN, read_manifest, rows_by_path, run_orchard, sample_images, write_manifest

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


def run_killed_at(failpoint, manifest, output):
    env = dict(os.environ, ORCHARD_FAILPOINT=failpoint)
    result = subprocess.run([str(ORCHARD_BIN), "run", "--input", str(manifest), "--output", str(output), *OPTIONS],
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
