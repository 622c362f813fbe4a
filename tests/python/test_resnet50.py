"""The ResNet50-without-top path (generated, seeded random weights): 2048-d pooled features end to end."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import RESNET50, read_manifest, run_orchard, write_manifest


@pytest.fixture(scope="module")
def resnet_run(tmp_path_factory, subset_images):
    if not RESNET50.is_file():
        pytest.fail(f"{RESNET50} is missing: scripts/test.sh generates it with scripts/make_resnet50.py")
    root = tmp_path_factory.mktemp("resnet")
    images = subset_images[::33][:10]
    manifest = write_manifest(root / "images.txt", images)
    output = root / "out"
    run_orchard("run", "--input", manifest, "--output", output, "--model", RESNET50, "--preprocess", "caffe",
                "--pca-k", "3", "--batch", "4")
    return output, images


def test_resnet50_gives_2048_features(resnet_run):
    output, images = resnet_run
    table = pq.read_table(output / "features")
    assert table.num_rows == len(images)
    features = np.stack(table.column("features").to_numpy(zero_copy_only=False))
    assert features.shape == (len(images), 2048)
    assert np.isfinite(features).all()
    assert features.std(axis=0).max() > 0  # different images give different vectors
    manifest = read_manifest(output)
    assert manifest["model"]["feature_dim"] == 2048
    assert manifest["preprocess"]["channel_order"] == "bgr"
    assert manifest["pca"]["k"] == 3
