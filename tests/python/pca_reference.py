"""Reference PCA in numpy float64, for comparing orchard's streaming C++ PCA end to end.

orchard fits PCA from the sample covariance (divided by n - 1), orders components by decreasing variance and
makes each component's largest-magnitude entry positive; numpy_pca follows the same conventions so that
variances, ratios and (for well-separated eigenvalues) the components themselves are directly comparable.
Where eigenvalues are close, individual components are ill-defined; compare subspaces with
assert_same_subspace instead.
"""

from __future__ import annotations

import numpy as np


def numpy_pca(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns (explained_variance, components) of the rows of `features` (n x dim, n >= 2).

    explained_variance: all dim eigenvalues of the sample covariance, descending, clamped at 0.
    components: dim x dim, row i the unit eigenvector of explained_variance[i], sign fixed so that its
    largest-magnitude entry is positive. Take the first k of both for a k-component model.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need an (n >= 2) x dim matrix, got shape {x.shape}")
    covariance = np.atleast_2d(np.cov(x, rowvar=False, ddof=1))
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending, columns
    order = np.argsort(eigenvalues)[::-1]
    explained_variance = np.clip(eigenvalues[order], 0.0, None)
    components = eigenvectors[:, order].T.copy()
    largest = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(components.shape[0]), largest])
    components *= np.where(signs == 0, 1.0, signs)[:, None]
    return explained_variance, components


def explained_variance_ratio(explained_variance: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Each variance over the total variance (the covariance's trace), as orchard defines the ratio."""
    total = np.var(np.asarray(features, dtype=np.float64), axis=0, ddof=1).sum()
    return np.asarray(explained_variance, dtype=np.float64) / total if total > 0 else np.zeros_like(
        explained_variance, dtype=np.float64)


def subspace_distance(a: np.ndarray, b: np.ndarray) -> float:
    """sin of the largest principal angle between the row spaces of a and b (k x dim each), in [0, 1].

    Equals the spectral norm of the difference of the orthogonal projectors. Rows are re-orthonormalised
    first, so float32 components written by another program compare fairly.
    """
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))
    if a.shape != b.shape:
        raise AssertionError(f"component matrices differ in shape: {a.shape} vs {b.shape}")
    qa, _ = np.linalg.qr(a.T)
    qb, _ = np.linalg.qr(b.T)
    # The part of b's basis outside a's span: its singular values are the sines of the principal angles.
    # Taken directly rather than as sqrt(1 - cos^2), which cannot resolve angles below ~1e-8.
    residual = qb - qa @ (qa.T @ qb)
    return float(min(1.0, np.linalg.svd(residual, compute_uv=False).max()))

def assert_same_subspace(a: np.ndarray, b: np.ndarray, tol: float) -> None:
    """Asserts the row spaces of a and b (k x dim) agree: sin(largest principal angle) <= tol.

    Insensitive to sign flips and to rotations within the subspace (which ties between eigenvalues allow).
    """
    distance = subspace_distance(a, b)
    if not distance <= tol:
        raise AssertionError(f"subspaces differ: sin(largest principal angle) = {distance:.3g} > {tol:.3g}")
