"""orchard's exact streaming PCA against numpy on the same features."""

import json

import numpy as np
import pyarrow.parquet as pq

from pca_reference import assert_same_subspace, numpy_pca


def load(output):
    table = pq.read_table(output / "features")
    features = np.stack(table.column("features").to_numpy(zero_copy_only=False)).astype(np.float64)
    pca = np.stack(table.column("pca").to_numpy(zero_copy_only=False)).astype(np.float64)
    model = pq.read_table(output / "pca.parquet")
    meta = json.loads(model.schema.metadata[b"orchard.pca"])
    components = np.stack(model.column("vector").to_numpy(zero_copy_only=False))
    variances = np.asarray(model.column("explained_variance").to_pylist())
    return features, pca, np.asarray(meta["mean"]), components, variances


def test_explained_variances_match_numpy(subset_run):
    features, _, _, components, variances = load(subset_run[0])
    ref_variances, _ = numpy_pca(features)
    k = len(variances)
    np.testing.assert_allclose(variances, ref_variances[:k], rtol=1e-6)


def test_same_subspace_as_numpy(subset_run):
    features, _, _, components, _ = load(subset_run[0])
    _, ref_components = numpy_pca(features)
    assert_same_subspace(components, ref_components[: len(components)], 1e-6)


def test_pca_column_is_centred_projection(subset_run):
    features, pca, mean, components, _ = load(subset_run[0])
    np.testing.assert_allclose(mean, features.mean(axis=0), rtol=0, atol=1e-6)
    np.testing.assert_allclose(pca, (features - mean) @ components.T, rtol=0, atol=1e-3)
    # Centred: the projected columns average to zero.
    np.testing.assert_allclose(pca.mean(axis=0), 0.0, atol=1e-3)


def test_k_reaches_the_default_95_percent(subset_run):
    output = subset_run[0]
    model = pq.read_table(output / "pca.parquet")
    ratios = np.asarray(model.column("explained_variance_ratio").to_pylist())
    assert ratios.sum() >= 0.95 and ratios[:-1].sum() < 0.95
