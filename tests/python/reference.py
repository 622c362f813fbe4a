"""Independent reference for orchard's preprocessing, written with OpenCV + numpy only.

It shares no code with the C++ engine: if both agree, the channel order, normalisation, layout and resize
conventions are right. Presets are restated here from their documentation, on purpose not read from orchard.
"""

from __future__ import annotations

import cv2
import numpy as np

PRESETS: dict[str, dict] = {
    "imagenet": {
        "width": 224,
        "height": 224,
        "channel_order": "rgb",
        "scale": 1.0 / 255.0,
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
    },
    "caffe": {
        "width": 224,
        "height": 224,
        "channel_order": "bgr",
        "scale": 1.0,
        "mean": [103.939, 116.779, 123.68],
        "std": [1.0, 1.0, 1.0],
    },
    "tf": {
        "width": 224,
        "height": 224,
        "channel_order": "rgb",
        "scale": 1.0 / 127.5,
        "mean": [1.0, 1.0, 1.0],
        "std": [1.0, 1.0, 1.0],
    },
}


def reference_pixels(path: str, spec: dict) -> np.ndarray:
    """The resized uint8 image, H x W x 3, in the spec's channel order."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)  # OpenCV decodes to BGR
    if bgr is None:
        raise ValueError(f"cv2 cannot read {path}")
    image = bgr if spec["channel_order"] == "bgr" else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return cv2.resize(image, (spec["width"], spec["height"]), interpolation=cv2.INTER_LINEAR)


def reference_preprocess(path: str, spec: dict) -> np.ndarray:
    """The network input for one image: float32, 1 x 3 x H x W (NCHW)."""
    pixels = reference_pixels(path, spec).astype(np.float64)
    mean = np.asarray(spec["mean"], dtype=np.float64)
    std = np.asarray(spec["std"], dtype=np.float64)
    normalised = (pixels * spec["scale"] - mean) / std
    return normalised.transpose(2, 0, 1)[np.newaxis].astype(np.float32)


def _triangle_weights(n_in: int, n_out: int) -> np.ndarray:
    """n_out x n_in resampling matrix of a triangle (tent) filter with half-pixel centres and clamped edges.

    The tent is widened by the scale factor when shrinking, so every source pixel contributes (antialiasing,
    like PIL's BILINEAR); when enlarging it is plain bilinear interpolation (like OpenCV's INTER_LINEAR).
    """
    scale = n_in / n_out
    support = max(scale, 1.0)
    weights = np.zeros((n_out, n_in))
    for out in range(n_out):
        centre = (out + 0.5) * scale
        taps = np.arange(int(np.floor(centre - support)), int(np.ceil(centre + support)) + 1)
        tent = np.maximum(0.0, 1.0 - np.abs((taps + 0.5 - centre) / support))
        np.add.at(weights[out], np.clip(taps, 0, n_in - 1), tent)
    return weights / weights.sum(axis=1, keepdims=True)


def triangle_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Exact (float64, unrounded) separable triangle-filter resize of an H x W x C image."""
    rows = np.einsum("oi,iwc->owc", _triangle_weights(image.shape[0], height), image.astype(np.float64))
    return np.einsum("oi,hic->hoc", _triangle_weights(image.shape[1], width), rows)


def exact_pixels(path: str, spec: dict) -> np.ndarray:
    """Like reference_pixels, but resized exactly in float64 and not rounded: H x W x 3 float."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cv2 cannot read {path}")
    image = bgr if spec["channel_order"] == "bgr" else bgr[:, :, ::-1]
    return triangle_resize(image, spec["width"], spec["height"])


def to_pixel_units(tensor: np.ndarray, spec: dict) -> np.ndarray:
    """Undoes the normalisation of an NCHW tensor, back to 0-255 pixel values (float)."""
    mean = np.asarray(spec["mean"], dtype=np.float64).reshape(1, 3, 1, 1)
    std = np.asarray(spec["std"], dtype=np.float64).reshape(1, 3, 1, 1)
    return (tensor.astype(np.float64) * std + mean) / spec["scale"]
