"""orchard.spark.featurise on Spark's own image reader (issue 15, item 7): `spark.read.format("image")` gives a
struct `image` (origin, height, width, nChannels, mode, data: decoded gray / B,G,R / B,G,R,A pixels), which the
seed converted by hand and got a "blue image". orchard takes it as it is: the same folder read with the image
source and with binaryFile must give the same features (PNG: the same pixels, so equal within float tolerance;
JPEG: Java ImageIO's decoder against libjpeg-turbo, within a measured cosine), and what the image source could
not decode is an error row, the job going on.
"""

import shutil
import sys

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from conftest import DEFAULT_MODEL, REPO, SAMPLE, SHARED

sys.path.insert(0, str(REPO / "python"))
import orchard  # noqa: E402
import orchard.spark  # noqa: E402

# Two photos of each of the sample's 33 Test labels (100x100) and of the 3 labels of the original-size
# photos' Validation split (about 400 x 530).
PHOTOS_PER_LABEL = 2
ORIGINAL_SIZE = SHARED / "data" / "fruits-360-original-size"


def _solid(rgb, size=(48, 64)):
    pixels = np.zeros((*size, 3), dtype=np.uint8)
    pixels[...] = rgb
    return pixels


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """<root>/<Label>/<file>: pure red and pure blue PNGs, a gray PNG (1 channel for Spark), an RGBA PNG with
    varying alpha (4 channels), a corrupt PNG, and Test photos (JPEG)."""
    root = tmp_path_factory.mktemp("spark_image_in")
    for label in ("Red", "Blue", "Gray", "Rgba", "Corrupt"):
        (root / label).mkdir()
    Image.fromarray(_solid((255, 0, 0)), mode="RGB").save(root / "Red" / "red.png")
    Image.fromarray(_solid((0, 0, 255)), mode="RGB").save(root / "Blue" / "blue.png")
    photo = np.asarray(Image.open(sorted((SAMPLE / "Test" / "Kiwi").glob("*.jpg"))[0]).convert("RGB"))
    Image.fromarray(photo).convert("L").save(root / "Gray" / "gray.png")
    alpha = np.linspace(1, 255, photo.shape[0] * photo.shape[1]).astype(np.uint8).reshape(photo.shape[:2])
    Image.fromarray(np.dstack([photo, alpha]), mode="RGBA").save(root / "Rgba" / "rgba.png")
    (root / "Corrupt" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a PNG")
    for label_dir in [*sorted((SAMPLE / "Test").iterdir()), *sorted((ORIGINAL_SIZE / "Validation").iterdir())]:
        (root / label_dir.name).mkdir()
        for image in sorted(label_dir.glob("*.jpg"))[:PHOTOS_PER_LABEL]:
            shutil.copy(image, root / label_dir.name / image.name)
    return root


def _rows(featurised):
    """{path: (label, features or None, stage, message)} of a featurise() DataFrame."""
    table = featurised.toArrow()
    return {path: (label, None if features is None else np.asarray(features, dtype=np.float64), stage, message)
            for path, label, features, stage, message in zip(*(table.column(c).to_pylist() for c in
                                                                table.column_names))}


@pytest.fixture(scope="module")
def both_readers(spark, image_folder):
    """(rows from Spark's image source, rows from binaryFile, the image source's {path: nChannels}) for the
    same folder, the image source read as a seed notebook reads it (dropInvalid false is its default; stated
    here because the corrupt file's row depends on it)."""
    images = (spark.read.format("image").option("dropInvalid", False).option("recursiveFileLookup", "true")
              .load(str(image_folder)))
    channels = {orchard.spark.local_path(row.origin): row.nChannels
                for row in images.select("image.origin", "image.nChannels").collect()}
    files = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(str(image_folder))
    return (_rows(orchard.spark.featurise(images, model=DEFAULT_MODEL, batch=8)),
            _rows(orchard.spark.featurise(files, model=DEFAULT_MODEL, batch=8)), channels)


def _assert_same_features(ours, reference):
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5 * np.abs(reference).max())


def test_image_source_red_stays_red_and_blue_stays_blue(both_readers, image_folder):
    """The seed's "blue image" bug: pure red and pure blue PNGs (3 channels, B,G,R in Spark's struct) give the
    features of the same files read by binaryFile, and red is not blue."""
    from_images, from_files, channels = both_readers
    red, blue = str(image_folder / "Red" / "red.png"), str(image_folder / "Blue" / "blue.png")
    assert channels[red] == channels[blue] == 3
    assert from_images[red][0] == "Red" and from_images[blue][0] == "Blue"
    _assert_same_features(from_images[red][1], from_files[red][1])
    _assert_same_features(from_images[blue][1], from_files[blue][1])
    assert not np.allclose(from_images[red][1], from_files[blue][1], rtol=1e-2, atol=1e-2)


def test_image_source_gray_and_rgba_pngs_equal_binary_file(both_readers, image_folder):
    """A gray PNG (Spark: 1 channel) and an RGBA PNG with varying alpha (Spark: 4 channels, B,G,R,A): the
    features of the same files read by binaryFile (gray replicated, alpha ignored, as orchard decodes files)."""
    from_images, from_files, channels = both_readers
    gray, rgba = str(image_folder / "Gray" / "gray.png"), str(image_folder / "Rgba" / "rgba.png")
    assert (channels[gray], channels[rgba]) == (1, 4)
    for path in (gray, rgba):
        assert from_images[path][2] is None, from_images[path]
        _assert_same_features(from_images[path][1], from_files[path][1])


def _cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_image_source_jpeg_photos_match_binary_file(both_readers):
    """JPEG photos: Java ImageIO's decoder (the image source) against libjpeg-turbo (binaryFile).
    Measured (mobilenetv2-12-int8, f32): the 66 sample photos (100x100) give the same features bit for bit
    (cosine min = mean = 1.000000, max abs difference 0: both decoders are IJG's integer IDCT with fancy
    upsampling). So do the original-size photos (~410x480) since 2026-12-03: binaryFile's path decoded them at a
    reduced DCT scale (5/8 for 413x526, never below the model's 224x224) while the image source's pixels come at
    full size, and the two were at cosine 0.97553 min (a newcomer measured the same gap against PIL's full decode
    and resize: 0.9969 on DenseNet121). The DCT scaling now stops at twice the input, so these photos decode
    whole. Bound: 0.9999."""
    from_images, from_files, _ = both_readers
    photos = [path for path in from_files if path.endswith(".jpg")]
    assert len(photos) == 36 * PHOTOS_PER_LABEL
    for path in photos:
        assert from_images[path][0] == from_files[path][0]  # label: the parent folder, both ways
    small = [path for path in photos if (SAMPLE / "Test" / from_files[path][0]).is_dir()]
    assert len(small) == 33 * PHOTOS_PER_LABEL
    for path in small:
        _assert_same_features(from_images[path][1], from_files[path][1])
    cosines = [_cosine(from_images[path][1], from_files[path][1]) for path in photos]
    print(f"image source vs binaryFile, JPEG: cosine min {min(cosines):.5f} mean {np.mean(cosines):.5f}")
    assert min(cosines) >= 0.9999


def test_image_source_corrupt_file_is_an_error_row(both_readers, image_folder):
    """dropInvalid false: Spark's row for a file it could not decode (height/width -1, no data) is a decode
    error row naming the file and the reason; every other image still has features."""
    from_images, _, _ = both_readers
    corrupt = str(image_folder / "Corrupt" / "corrupt.png")
    label, features, stage, message = from_images[corrupt]
    assert (label, features, stage) == ("Corrupt", None, "decode")
    assert message == "no decoded picture (height -1, width -1, 0 bytes of data): the reader could not decode " \
                      "the image"
    assert [path for path, row in from_images.items() if row[2] is not None] == [corrupt]
    assert len(from_images) == 4 + 36 * PHOTOS_PER_LABEL + 1


def _image_struct(rows):
    """A record batch with Spark's image struct (ImageSchema) from (origin, height, width, nChannels, mode,
    data) tuples."""
    fields = [("origin", pa.string()), ("height", pa.int32()), ("width", pa.int32()), ("nChannels", pa.int32()),
              ("mode", pa.int32()), ("data", pa.binary())]
    columns = [pa.array([row[i] for row in rows], type=t) for i, (_, t) in enumerate(fields)]
    return pa.record_batch([pa.StructArray.from_arrays(columns, names=[n for n, _ in fields])], names=["image"])


def test_binding_image_struct_checks_every_size_and_max_pixels():
    """No Spark: pixels that do not fill height x width x nChannels, a type that is not 8-bit 1/3/4 channels,
    null fields and more pixels than max_pixels are decode error rows naming the reason; a good row in the same
    batch has the features of its pixels stored as a PNG."""
    import io
    red = _solid((255, 0, 0), size=(4, 5))
    bgr = red[..., ::-1].tobytes()
    png = io.BytesIO()
    Image.fromarray(red).save(png, format="PNG")
    featurizer = orchard.Featurizer(str(DEFAULT_MODEL), max_pixels=100)
    # Spark's origins are URIs (java.net.URI: %XX escapes), written as binaryFile's paths for the same file.
    batch = _image_struct([("file:///d/Red/o%20k%2541+.png", 4, 5, 3, 16, bgr),
                           ("file:/d/Red/short.png", 4, 5, 3, 16, bgr[:-1]),
                           ("/d/Red/mode.png", 4, 5, 3, 0, bgr),
                           ("/d/Red/nulls.png", None, None, None, None, None),
                           ("/d/Big/big.png", 20, 20, 1, 0, bytes(400)),
                           ("/d/Big/fits.png", 10, 10, 1, 0, bytes(100))])
    out = pa.record_batch(featurizer.featurize_arrow(batch, batch=4))
    assert out.column("path").to_pylist() == ["/d/Red/o k%41+.png", "/d/Red/short.png", "/d/Red/mode.png",
                                              "/d/Red/nulls.png", "/d/Big/big.png", "/d/Big/fits.png"]
    assert out.column("label").to_pylist() == ["Red"] * 4 + ["Big"] * 2
    assert out.column("stage").to_pylist() == [None, "decode", "decode", "decode", "decode", None]
    assert out.column("message").to_pylist()[1:5] == [
        "pixel data holds 59 bytes, height 4 x width 5 x 3 channels need 60",
        "unsupported OpenCV type 0 for 3 channels (expected 16, 8-bit unsigned)",
        "no decoded picture (height 0, width 0, 0 bytes of data): the reader could not decode the image",
        "image too large: 20x20 exceeds the limit of 100 pixels"]
    expected, errors = featurizer.featurize(["red.png"], [png.getvalue()])
    assert errors == []
    _assert_same_features(np.asarray(out.column("features")[0].as_py()), expected[0])
    with pytest.raises(ValueError, match="row 1 has no origin"):
        featurizer.featurize_arrow(_image_struct([("/d/a.png", 4, 5, 3, 16, bgr), (None, 4, 5, 3, 16, bgr)]))
    with pytest.raises(ValueError, match="no field 'data'"):
        featurizer.featurize_arrow(pa.record_batch([pa.StructArray.from_arrays(
            [pa.array(["/d/a.png"]), pa.array([4], pa.int32())], names=["origin", "height"])], names=["image"]))
