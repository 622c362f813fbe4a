"""Small jobs finish (issue 14): with fewer rows than a PCA needs (2), `orchard run` still writes the features,
without the `pca` column and without pca.parquet, says why in _SUCCESS, and exits 0 (4 when some inputs failed).
Before, such a job ended with exit 2 "PCA needs at least 2 rows" after the work was done, and every rerun the same.
"""

import shutil

import pyarrow.parquet as pq

from conftest import read_manifest, run_orchard, sample_images

EXIT_PARTIAL = 4


def image_folder(root, good, bad):
    """<root>/Test/Apple/: `good` sample images and `bad` files that are not images."""
    folder = root / "in" / "Test" / "Apple"
    folder.mkdir(parents=True)
    for i, image in enumerate(sample_images("Test", per_label=1)[:good]):
        shutil.copy(image, folder / f"good{i}.jpg")
    for i in range(bad):
        (folder / f"bad{i}.jpg").write_bytes(b"not an image " * (i + 1))
    return root / "in"


def assert_features_without_pca(output, rows):
    table = pq.read_table(output / "features")
    assert table.num_rows == rows
    assert "pca" not in table.column_names and table.schema.field("features").type.list_size == 1280
    assert not (output / "pca.parquet").exists()
    manifest = read_manifest(output)
    assert "PCA needs at least 2" in manifest["pca"]["skipped"] and manifest["files"]["pca"] is None
    return manifest


def test_one_image_finishes_with_exit_0(tmp_path):
    output = tmp_path / "out"
    result = run_orchard("run", "--input", image_folder(tmp_path, 1, 0), "--output", output, check=False)
    assert result.returncode == 0, result.stderr
    manifest = assert_features_without_pca(output, 1)
    assert manifest["counts"] == {"seen": 1, "written": 1, "failed": 0}
    assert run_orchard("inspect", output).returncode == 0
    # A classifier needs the PCA: train says so, instead of failing on a missing column or file.
    result = run_orchard("train", output, "--bundle", tmp_path / "bundle", "--split", "Test", check=False)
    assert result.returncode == 2 and "has no PCA" in result.stderr


def test_one_good_image_among_bad_ones_finishes_with_exit_4(tmp_path):
    output = tmp_path / "out"
    result = run_orchard("run", "--input", image_folder(tmp_path, 1, 3), "--output", output, check=False)
    assert result.returncode == EXIT_PARTIAL, result.stderr
    manifest = assert_features_without_pca(output, 1)
    assert manifest["counts"] == {"seen": 4, "written": 1, "failed": 3}
    assert pq.read_table(output / "errors").num_rows == 3


def test_all_bad_input_finishes_with_exit_4_and_its_errors(tmp_path):
    output = tmp_path / "out"
    result = run_orchard("run", "--input", image_folder(tmp_path, 0, 3), "--output", output, check=False)
    assert result.returncode == EXIT_PARTIAL, result.stderr
    manifest = read_manifest(output)
    assert manifest["counts"] == {"seen": 3, "written": 0, "failed": 3}
    assert "skipped" in manifest["pca"] and manifest["files"]["features"] == []
    errors = pq.read_table(output / "errors")
    names = sorted(p.rsplit("/", 1)[1] for p in errors.column("path").to_pylist())
    assert names == ["bad0.jpg", "bad1.jpg", "bad2.jpg"]


def test_more_pca_components_than_the_images_span_are_kept_and_said(tmp_path):
    """3 images span 2 directions: --pca-k 5 kept 3 components of pure noise (variance ~1e-15) without a word."""
    output = tmp_path / "out"
    result = run_orchard("run", "--input", image_folder(tmp_path, 3, 0), "--output", output, "--pca-k", "5")
    assert ("--pca-k 5 asks for more components than the 3 images with features span (2); the last 3 carry "
            "no variance") in result.stderr
    assert pq.read_table(output / "features").schema.field("pca").type.list_size == 5
