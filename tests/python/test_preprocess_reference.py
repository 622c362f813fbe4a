"""Compares `orchard preprocess` with independent OpenCV/numpy references on real Fruits-360 photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from conftest import SHARED
from conftest import run_orchard as run_cli
from reference import PRESETS, exact_pixels, reference_pixels, reference_preprocess, to_pixel_units, triangle_resize

DATA = SHARED / "data"
LABELS = ["Apple Red 1", "Cherry", "Granny Smith", "Kiwi", "Lemon", "Orange", "Pear", "Plum", "Pomegranate",
          "Strawberry"]

# All tolerances are in 0-255 pixel units, after undoing the normalisation.
#
# Decoding is bit-identical to cv2.imread on these files (both are libjpeg-turbo, ISLOW IDCT, fancy
# upsampling); every difference comes from the 100 -> 224 resize. Both sides round to uint8 once, but OpenCV's
# uint8 INTER_LINEAR interpolates with 11-bit fixed-point weights and its result is biased low: measured on
# these images, about 10% of values (mean |diff| 0.093-0.114 px) are exactly one step below orchard's, never
# above, and OpenCV is up to 0.76 px away from exact bilinear. stb_image_resize (orchard) filters in float,
# so it is within rounding (0.5 px) of the exact float64 result; that tighter bound is tested separately.
OPENCV_MAX_ABS_DIFF = 1.0
OPENCV_MEAN_ABS_DIFF = 0.15
EXACT_MAX_ABS_DIFF = 0.5 + 2e-3  # rounding to uint8, plus stb's float32 arithmetic


def sample_images() -> list[Path]:
    """The first Test image of each of ten labels of varied colour."""
    return [sorted((DATA / "fruits-360-sample" / "Test" / label).glob("*.jpg"))[0] for label in LABELS]


def run_orchard(image: Path, preset: str, output: Path, *extra: str) -> np.ndarray:
    run_cli("preprocess", image, "--preset", preset, "--output", output, *extra)
    return pa.ipc.read_tensor(pa.memory_map(str(output))).to_numpy()


@pytest.mark.parametrize("preset", ["imagenet", "caffe"])
def test_matches_opencv_reference(preset: str, tmp_path: Path) -> None:
    images = sample_images()
    assert len(images) == 10, "expected ten sample images from distinct labels"
    spec = PRESETS[preset]
    for image in images:
        actual = run_orchard(image, preset, tmp_path / "t.arrow")
        expected = reference_preprocess(image, spec)
        assert actual.shape == expected.shape == (1, 3, 224, 224)
        assert actual.dtype == np.float32
        diff = np.abs(to_pixel_units(actual, spec) - to_pixel_units(expected, spec))
        assert diff.max() <= OPENCV_MAX_ABS_DIFF + 1e-3, f"{image}: max diff {diff.max():.3f} px"
        assert diff.mean() <= OPENCV_MEAN_ABS_DIFF, f"{image}: mean diff {diff.mean():.4f} px"


def test_upsampling_is_exact_bilinear_within_rounding(tmp_path: Path) -> None:
    spec = PRESETS["imagenet"]
    for image in sample_images():
        actual = to_pixel_units(run_orchard(image, "imagenet", tmp_path / "t.arrow"), spec)[0]
        diff = np.abs(actual.transpose(1, 2, 0) - exact_pixels(image, spec))
        assert diff.max() <= EXACT_MAX_ABS_DIFF, f"{image}: max diff {diff.max():.3f} px"


def test_large_photos_are_downsampled_with_antialiasing(tmp_path: Path) -> None:
    # Original-size photos (e.g. 420x452, 185x665) shrink to 224: the reference is a tent filter widened by
    # the scale (PIL's BILINEAR), which plain cv2 INTER_LINEAR is not (it differs by up to ~70 px here).
    folder = DATA / "fruits-360-original-size" / "Training"
    images = [sorted((folder / label).glob("*.jpg"))[0] for label in ("apple_red_1", "carrot_1", "pear_1")]
    spec = PRESETS["caffe"]
    for image in images:
        actual = to_pixel_units(run_orchard(image, "caffe", tmp_path / "t.arrow"), spec)[0]
        diff = np.abs(actual.transpose(1, 2, 0) - exact_pixels(image, spec))
        assert diff.max() <= EXACT_MAX_ABS_DIFF, f"{image}: max diff {diff.max():.3f} px"


def test_nhwc_is_the_transpose_of_nchw(tmp_path: Path) -> None:
    image = sample_images()[0]
    nchw = run_orchard(image, "caffe", tmp_path / "a.arrow")
    nhwc = run_orchard(image, "caffe", tmp_path / "b.arrow", "--layout", "nhwc")
    assert nhwc.shape == (1, 224, 224, 3)
    np.testing.assert_array_equal(nhwc, nchw.transpose(0, 2, 3, 1))


def test_caffe_is_bgr_of_the_same_pixels_as_imagenet(tmp_path: Path) -> None:
    # Both presets see the same resized pixels; caffe's channel 0 must be imagenet's channel 2 (blue).
    image = sample_images()[0]
    rgb = to_pixel_units(run_orchard(image, "imagenet", tmp_path / "a.arrow"), PRESETS["imagenet"])
    bgr = to_pixel_units(run_orchard(image, "caffe", tmp_path / "b.arrow"), PRESETS["caffe"])
    np.testing.assert_allclose(bgr[:, ::-1], rgb, atol=1e-3)
    assert np.abs(bgr[:, 0] - bgr[:, 2]).max() > 10, "a fruit photo should not be grey"


def test_extraneous_bytes_decode_to_the_pixels_pil_and_opencv_see(tmp_path: Path) -> None:
    """libjpeg's harmless warning "Corrupt JPEG data: N extraneous bytes before marker" (bytes that are no segment,
    here before DQT and before EOI) used to make the image an error row; PIL and OpenCV decode it to the clean
    file's pixels, and so does orchard now."""
    from PIL import Image

    clean_path = sample_images()[0]
    clean = clean_path.read_bytes()
    dqt = clean.index(b"\xff\xdb")
    junk = b"\x00" * 64
    dirty_path = tmp_path / "extraneous.jpg"
    dirty_path.write_bytes(clean[:dqt] + junk + clean[dqt:-2] + junk + clean[-2:])
    pil_clean, pil_dirty = (np.asarray(Image.open(p).convert("RGB")) for p in (clean_path, dirty_path))
    np.testing.assert_array_equal(pil_dirty, pil_clean)
    np.testing.assert_array_equal(reference_pixels(dirty_path, PRESETS["imagenet"]),
                                  reference_pixels(clean_path, PRESETS["imagenet"]))
    ours_dirty = run_orchard(dirty_path, "imagenet", tmp_path / "dirty.arrow")
    np.testing.assert_array_equal(ours_dirty, run_orchard(clean_path, "imagenet", tmp_path / "clean.arrow"))
    # ...and those are the pixels the references decode: orchard's resize of PIL's pixels, within rounding.
    exact = triangle_resize(pil_dirty, 224, 224)
    diff = np.abs(to_pixel_units(ours_dirty, PRESETS["imagenet"])[0].transpose(1, 2, 0) - exact)
    assert diff.max() <= EXACT_MAX_ABS_DIFF, f"max diff {diff.max():.3f} px"
