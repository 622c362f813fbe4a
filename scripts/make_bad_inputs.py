#!/usr/bin/env python3
"""Writes a corpus of awkward and broken inputs in the Fruits-360 layout, <root>/<Label>/<file>, and a JSON sidecar
(outside the corpus, so it is not an input) recording what `orchard run` is expected to do with each file.

    .venv/bin/python scripts/make_bad_inputs.py --output /tmp/bad/corpus --sidecar /tmp/bad/expected.json

Each sidecar entry: kind, path (relative to the corpus root; a file name that is not valid UTF-8 is kept with
Python's surrogateescape, so os.fsencode(path) gives the bytes on disk), label, expect ("processed", "error" or "skipped": no row),
stage and message (a substring of the error message) for errors, and a note. Everything is seeded: two runs
write the same bytes. Where a library cannot produce a case (bombs, corruption, non-UTF-8 names, symlinks) the
bytes are written by hand.
"""

import argparse
import io
import json
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ORCHARD_SHARED", REPO.parent / "shared"))
SAMPLE = SHARED / "data" / "fruits-360-sample" / "Test"
ORIGINAL = SHARED / "data" / "fruits-360-original-size" / "Validation"

# Three labels, each with a good control image, so a label never consists of failures only.
LABELS = ["Apple Red 1", "Banana split", "Pear"]
SOURCE_LABELS = {"Apple Red 1": "Apple Red 1", "Banana split": "Kiwi", "Pear": "Pear"}


def first_image(folder):
    return sorted(Path(folder).glob("*.jpg"))[0]


def encode(image, fmt, **params):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width, height):
    """A well-formed PNG header announcing width x height; the IDAT holds a few rows only."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def jpeg_bomb(good_jpeg, width, height):
    """A real baseline JPEG whose SOF0 frame header is rewritten to announce width x height."""
    data = bytearray(good_jpeg)
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)  # FFC0, length(2), precision(1), then Y, X
    return bytes(data)


def with_exif_orientation(jpeg, orientation):
    """Inserts an APP1 Exif segment holding only the Orientation tag right after SOI."""
    tiff = b"MM\0\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    app1 = b"Exif\0\0" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def corrupt_jpeg_scan(jpeg, seed):
    """Overwrites 512 bytes in the middle of the entropy-coded scan with seeded noise."""
    data = bytearray(jpeg)
    scan = data.index(b"\xff\xda")
    middle = (scan + len(data)) // 2
    data[middle : middle + 512] = np.random.default_rng(seed).integers(0, 256, 512, dtype=np.uint8).tobytes()
    return bytes(data)


def with_extraneous_bytes(jpeg):
    """Bytes that are no segment, before a header marker (DQT) and before EOI: libjpeg warns "Corrupt JPEG data: N
    extraneous bytes before marker 0x..", a warning that loses nothing (PIL and OpenCV decode the same pixels)."""
    dqt = jpeg.index(b"\xff\xdb")
    junk = b"\x00" * 64
    return jpeg[:dqt] + junk + jpeg[dqt:-2] + junk + jpeg[-2:]


def corrupt_png_idat(png):
    """Flips bytes in the middle of the first IDAT chunk (its CRC no longer matches)."""
    data = bytearray(png)
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    for i in range(start + length // 2, start + length // 2 + 16):
        data[i] ^= 0x5A
    return bytes(data)


def minimal_gif():
    """A 1x1 GIF87a, written by hand so the corpus does not depend on a GIF encoder."""
    return (b"GIF87a\x01\x00\x01\x00\x80\x00\x00\xff\x00\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00"
            b"\x00\x02\x02D\x01\x00;")


def kinds(control):
    """(kind, label, file name, bytes or a symlink target, expect, stage, message, note) for every case."""
    rgb = control.convert("RGB")
    rng = np.random.default_rng(5)
    jpeg = encode(rgb, "JPEG", quality=92)
    png = encode(rgb, "PNG")
    rows = []

    def ok(kind, name, data, note, label=LABELS[0]):
        rows.append((kind, label, name, data, "processed", None, None, note))

    def bad(kind, name, data, stage, message, note, label=LABELS[1]):
        rows.append((kind, label, name, data, "error", stage, message, note))

    def skipped(kind, name, data, note, label=LABELS[0]):
        rows.append((kind, label, name, data, "skipped", None, None, note))

    # Decodable, possibly unusual: every one must come out as a feature row.
    ok("grayscale_jpeg", "gray.jpg", encode(rgb.convert("L"), "JPEG"), "gray replicated to 3 channels")
    ok("cmyk_jpeg", "cmyk.jpg", encode(rgb.convert("CMYK"), "JPEG"), "Adobe-inverted CMYK converted to RGB")
    ok("progressive_jpeg", "progressive.jpg", encode(rgb, "JPEG", progressive=True), "multi-scan JPEG")
    ok("exif_rotated_jpeg", "exif-rotate-90.jpg", with_exif_orientation(jpeg, 6),
       "EXIF orientation 6 is ignored: pixels as stored")
    ok("gray_png", "gray.png", encode(rgb.convert("L"), "PNG"), "gray replicated")
    rgb16 = (np.asarray(rgb).astype(np.uint16) * 257)[:, :, ::-1]  # cv2 writes BGR
    ok("png_16bit", "rgb16.png", cv2.imencode(".png", rgb16)[1].tobytes(), "16-bit reduced to 8 (as sRGB)")
    gray16 = np.asarray(rgb.convert("L")).astype(np.uint16) * 257
    ok("png_16bit_gray", "gray16.png", cv2.imencode(".png", gray16)[1].tobytes(), "16-bit gray")
    rgba = rgb.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(rgb.size))
    ok("png_alpha", "alpha.png", encode(rgba, "PNG"), "alpha dropped, colour as stored")
    ok("png_gray_alpha", "gray-alpha.png", encode(rgba.convert("LA"), "PNG"), "gray+alpha")
    ok("png_palette", "palette.png", encode(rgb.quantize(64), "PNG"), "palette expanded")
    palette_trns = rgb.quantize(16)
    ok("png_palette_transparency", "palette-trns.png", encode(palette_trns, "PNG", transparency=0),
       "palette with tRNS: expanded, transparency dropped")
    ok("png_interlaced", "interlaced.png", adam7_png(rgb), "Adam7 interlacing")
    ok("tiny_1x1", "one-pixel.jpg", encode(rgb.resize((1, 1)), "JPEG"), "upsampled to 224x224")
    ok("thin_2000x3", "thin-2000x3.png", encode(rgb.resize((2000, 3)), "PNG"), "extreme aspect ratio")
    ok("png_named_jpg", "really-a-png.jpg", png, "sniffed by content, not name")
    ok("jpeg_named_png", "really-a-jpeg.png", jpeg, "sniffed by content, not name", label=LABELS[2])
    ok("jpeg_trailing_bytes", "trailing.jpg", jpeg + b"TRAILER" * 100, "bytes after EOI ignored",
       label=LABELS[2])
    ok("jpeg_extraneous_bytes", "extraneous-bytes.jpg", with_extraneous_bytes(jpeg),
       "libjpeg's harmless warning: decoded", label=LABELS[2])
    ok("png_trailing_bytes", "trailing.png", png + b"TRAILER" * 100, "bytes after IEND ignored",
       label=LABELS[2])
    ok("webp_lossy", "lossy.webp", encode(rgb, "WEBP", quality=80), "WebP", label=LABELS[2])
    ok("webp_lossless_alpha", "lossless-alpha.webp", encode(rgba, "WEBP", lossless=True), "alpha dropped",
       label=LABELS[2])
    ok("name_with_spaces", "a name with  spaces .jpg", jpeg, "", label=LABELS[2])
    ok("name_with_quotes", "it's \"quoted\" & $HOME;.jpg", jpeg, "", label=LABELS[2])
    ok("name_non_ascii", "pomme-à-Ünïcödé-苹果-🍎.jpg", jpeg, "UTF-8 kept as is", label=LABELS[2])
    ok("name_not_utf8", os.fsdecode(b"latin1-\xe9t\xe9-\xff.jpg"), jpeg,
       "invalid bytes written as \\xHH in the path column", label=LABELS[2])

    # Not decodable: every one must be an error row naming the file and the reason.
    bad("zero_byte", "empty.jpg", b"", "decode", "empty file", "")
    bad("truncated_jpeg", "truncated.jpg", jpeg[: len(jpeg) // 2], "decode", "corrupt JPEG", "cut at half")
    bad("jpeg_header_only", "header-only.jpg", jpeg[: jpeg.index(b"\xff\xda")], "decode", "corrupt JPEG",
        "headers but no scan")
    bad("truncated_png", "truncated.png", png[: len(png) // 2], "decode", "corrupt PNG", "cut at half")
    bad("truncated_webp", "truncated.webp", encode(rgb, "WEBP", quality=80)[:600], "decode", "corrupt",
        "cut after 600 bytes")
    bad("random_bytes", "random.jpg", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(), "decode",
        "unsupported image format", "")
    bad("text_named_jpg", "notes.jpg", b"these are my notes, not a photo\n", "decode",
        "unsupported image format", "")
    bad("html_named_png", "page.png", b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n", "decode",
        "unsupported image format", "an error page saved as an image")
    bad("gif", "image.gif", minimal_gif(), "decode", "unsupported image format", "")
    bad("bmp", "bitmap.bmp", encode(rgb, "BMP"), "decode", "unsupported image format", "")
    bad("tiff", "scan.tiff", encode(rgb, "TIFF"), "decode", "unsupported image format", "")
    bad("jpeg_bomb", "bomb-60000x60000.jpg", jpeg_bomb(jpeg, 60000, 60000), "decode", "image too large",
        "refused from the header", label=LABELS[2])
    bad("png_bomb", "bomb-60000x60000.png", png_bomb(60000, 60000), "decode", "image too large",
        "refused from the header", label=LABELS[2])
    bad("corrupt_middle_jpeg", "corrupt-middle.jpg", corrupt_jpeg_scan(jpeg, 7), "decode", "corrupt JPEG",
        "noise in the scan", label=LABELS[2])
    bad("corrupt_middle_png", "corrupt-middle.png", corrupt_png_idat(png), "decode", "corrupt PNG",
        "bytes flipped inside IDAT (filter, zlib or CRC check)", label=LABELS[2])
    frames = [rgb, rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    bad("webp_animated", "animated.webp", encode(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
        "decode", "animated WebP is not supported", "which frame would be the picture?", label=LABELS[2])
    rows.append(("dangling_symlink", LABELS[1], "dangling-link.jpg", Path("../no-such-target.jpg"), "error",
                 "read", "cannot open", "a symlink whose target does not exist"))

    # Not inputs: listed by neither engine, no row at all.
    skipped("hidden_dot", ".hidden.jpg", jpeg, "Hadoop's hidden-file rule, as Spark")
    skipped("hidden_underscore", "_x.jpg", jpeg, "Hadoop's hidden-file rule, as Spark")
    skipped("symlink_loop", "loop", Path(".."), "a folder symlink to the root: each folder is walked once")
    return rows


def adam7_png(image):
    """Neither Pillow nor cv2 writes interlaced PNG: 8-bit RGB, filter 0, the seven Adam7 passes, by hand."""
    pixels = np.asarray(image.convert("RGB"))
    height, width, _ = pixels.shape
    raw = b""
    for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                           (0, 1, 1, 2)]:
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\0" + row.tobytes() for row in sub)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw)) +
            png_chunk(b"IEND", b""))


def large_photo():
    """A real photo upscaled to 6000x4000 (24 Mpx): under the default pixel limit, so it must be processed."""
    photo = cv2.imread(str(first_image(ORIGINAL / "apple_red_1")))
    large = cv2.resize(photo, (6000, 4000), interpolation=cv2.INTER_CUBIC)
    return cv2.imencode(".jpg", large, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def plan():
    """Every file of the corpus as (sidecar entry, content): bytes, a symlink target (Path) or a function that
    makes the bytes (for the large photo, so that listing the entries stays cheap)."""
    files = []

    def add(kind, label, name, content, expect, stage=None, message=None, note=""):
        entry = {"kind": kind, "path": f"{label}/{name}", "label": label, "expect": expect, "stage": stage,
                 "message": message, "note": note}
        files.append((entry, content))

    for label in LABELS:
        add("control", label, "control.jpg", first_image(SAMPLE / SOURCE_LABELS[label]).read_bytes(), "processed",
            note="a good Fruits-360 image")
    for kind, label, name, content, expect, stage, message, note in kinds(
            Image.open(first_image(SAMPLE / SOURCE_LABELS[LABELS[0]]))):
        add(kind, label, name, content, expect, stage, message, note)
    add("large_photo", LABELS[0], "large-6000x4000.jpg", large_photo, "processed",
        note="24 Mpx real photo, decoded at a reduced JPEG scale")
    return files


def entries():
    return [entry for entry, _ in plan()]


def generate(root, sidecar=None):
    """Writes the corpus under `root` (which must not exist yet) and returns the sidecar entries."""
    root = Path(root)
    root.mkdir(parents=True)
    for label in LABELS:
        (root / label).mkdir()
    files = plan()
    for entry, content in files:
        target = root / entry["path"]
        if isinstance(content, Path):
            os.symlink(content, target)
        else:
            target.write_bytes(content() if callable(content) else content)
    result = [entry for entry, _ in files]
    if sidecar:
        # ensure_ascii escapes surrogates, so the non-UTF-8 name survives a round trip through json.
        Path(sidecar).write_text(json.dumps(result, indent=1, ensure_ascii=True) + "\n")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True, type=Path, help="corpus folder to create (must not exist)")
    parser.add_argument("--sidecar", required=True, type=Path, help="JSON file of expected outcomes")
    args = parser.parse_args()
    if args.sidecar.resolve().is_relative_to(args.output.resolve()):
        parser.error("the sidecar must be outside the corpus, or it would be an input")
    entries = generate(args.output, args.sidecar)
    errors = sum(e["expect"] == "error" for e in entries)
    print(f"{len(entries)} files, {len({e['kind'] for e in entries})} kinds "
          f"({len(entries) - errors} to process, {errors} error rows) in {args.output}")


if __name__ == "__main__":
    main()
