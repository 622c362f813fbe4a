"""`orchard run` end to end: the output folder, read back with pyarrow and pandas."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from conftest import DEFAULT_MODEL, read_manifest


def test_rows_labels_and_schema(subset_run, subset_images):
    output, _ = subset_run
    table = pq.read_table(output / "features")
    assert table.num_rows == len(subset_images)
    assert set(table.column("path").to_pylist()) == {str(p) for p in subset_images}
    assert set(table.column("label").to_pylist()) == {p.parent.name for p in subset_images}
    assert len(set(table.column("label").to_pylist())) == 33
    assert table.schema.field("features").type == pa.list_(pa.field("element", pa.float32(), False), 1280)
    pca_type = table.schema.field("pca").type
    assert pa.types.is_fixed_size_list(pca_type) and pca_type.value_type == pa.float32()


def test_labels_follow_parent_folder(subset_run):
    output, _ = subset_run
    table = pq.read_table(output / "features").to_pandas()
    for path, label in zip(table["path"], table["label"]):
        assert path.split("/")[-2] == label


def test_features_are_finite_and_informative(subset_run):
    output, _ = subset_run
    table = pq.read_table(output / "features")
    features = np.stack(table.column("features").to_numpy(zero_copy_only=False))
    pca = np.stack(table.column("pca").to_numpy(zero_copy_only=False))
    assert np.isfinite(features).all() and np.isfinite(pca).all()
    # Pooled post-ReLU6 activations: non-negative, bounded by 6, and different from image to image.
    assert features.min() >= 0.0 and features.max() <= 6.0
    assert features.std(axis=0).mean() > 0.01


def test_manifest(subset_run, subset_images):
    output, _ = subset_run
    manifest = read_manifest(output)
    assert manifest["counts"] == {"seen": len(subset_images), "written": len(subset_images), "failed": 0}
    assert manifest["model"]["file"] == str(DEFAULT_MODEL)
    assert len(manifest["model"]["sha256"]) == 64
    assert manifest["model"]["feature_tensor"] == "627"
    assert manifest["model"]["feature_dim"] == 1280
    assert manifest["model"]["precision"] == "f32"
    assert manifest["preprocess"]["preset"] == "imagenet"
    assert manifest["preprocess"]["channel_order"] == "rgb"
    assert manifest["pca"]["explained_variance_ratio"] >= 0.95
    assert manifest["images_per_second"] > 0
    for part in manifest["files"]["features"]:
        assert (output / part).is_file()
    assert not (output / "_staging").exists()


def test_pandas_reads_the_dataset(subset_run, subset_images):
    output, _ = subset_run
    frame = pq.read_table(output / "features").to_pandas()
    assert list(frame.columns) == ["path", "label", "features", "pca"]
    assert len(frame) == len(subset_images)
    assert len(frame["features"].iloc[0]) == 1280
    errors = pq.read_table(output / "errors").to_pandas()
    assert list(errors.columns) == ["path", "stage", "message"] and len(errors) == 0


def test_summary_line_reports_throughput(subset_run):
    _, result = subset_run
    assert "images/s" in result.stdout
    assert "-> " in result.stdout
