"""Inputs that real datasets contain (issue 14): manifests written by Windows editors or with empty fields, a
symlink loop in the input tree, a file too large to read. Each test is named after the fault it guards."""

import os

import pyarrow.parquet as pq

from conftest import SAMPLE, run_orchard

EXIT_OK, EXIT_PARTIAL = 0, 4


def kiwis(n):
    return sorted((SAMPLE / "Test" / "Kiwi").glob("*.jpg"))[:n]


def run(input, output, *extra, expect=EXIT_OK):
    result = run_orchard("run", "--input", input, "--output", output, "--pca-k", "1", *extra, check=False)
    assert result.returncode == expect, result.stderr
    return result


def paths(output, folder):
    return sorted(pq.read_table(output / folder).column("path").to_pylist())


def test_manifest_with_byte_order_mark_and_crlf_reads_every_path(tmp_path):
    images = kiwis(3)
    manifest = tmp_path / "list.txt"  # as Notepad saves it: a UTF-8 BOM, CRLF line ends
    manifest.write_bytes(b"\xef\xbb\xbf" + b"".join(f"{image}\tKiwi fruit\r\n".encode() for image in images))
    run(manifest, tmp_path / "out")
    features = pq.read_table(tmp_path / "out" / "features")
    assert sorted(features.column("path").to_pylist()) == sorted(map(str, images))
    assert set(features.column("label").to_pylist()) == {"Kiwi fruit"}


def test_manifest_line_with_empty_path_or_label_is_an_error_row_naming_the_line(tmp_path):
    images = kiwis(3)
    manifest = tmp_path / "list.txt"
    manifest.write_text(f"\tKiwi\n{images[0]}\n{images[1]}\t\n{images[2]}\n")
    run(manifest, tmp_path / "out", expect=EXIT_PARTIAL)
    assert paths(tmp_path / "out", "features") == sorted(map(str, [images[0], images[2]]))
    errors = sorted(pq.read_table(tmp_path / "out" / "errors").to_pylist(), key=lambda row: row["path"])
    assert errors == [
        {"path": f"{manifest}:1", "stage": "read", "message": "manifest line 1: empty path before the TAB"},
        {"path": f"{manifest}:3", "stage": "read", "message": "manifest line 3: empty label after the TAB"},
    ]


def test_symlink_loop_lists_every_image_once_and_is_reported_once(tmp_path):
    folder = tmp_path / "in" / "Kiwi"
    folder.mkdir(parents=True)
    images = kiwis(3)
    for image in images:
        (folder / image.name).write_bytes(image.read_bytes())
    os.symlink("..", folder / "loop")  # Kiwi/loop -> the input root
    result = run(tmp_path / "in", tmp_path / "out")
    assert paths(tmp_path / "out", "features") == sorted(str(folder / image.name) for image in images)
    assert result.stderr.count("symlink loop") == 1, result.stderr
    assert str(folder / "loop") in result.stderr


def test_file_over_max_file_bytes_is_a_read_error_row(tmp_path):
    folder = tmp_path / "in" / "Kiwi"
    folder.mkdir(parents=True)
    for image in kiwis(2):
        (folder / image.name).write_bytes(image.read_bytes())
    big = folder / "big.jpg"  # a good JPEG with 300 kB after EOI: decodable, but over the limit
    big.write_bytes(kiwis(1)[0].read_bytes() + b"\0" * 300_000)
    size = big.stat().st_size
    run(tmp_path / "in", tmp_path / "out", "--max-file-bytes", "100000", expect=EXIT_PARTIAL)
    assert paths(tmp_path / "out", "features") == sorted(str(folder / image.name) for image in kiwis(2))
    [error] = pq.read_table(tmp_path / "out" / "errors").to_pylist()
    assert error == {"path": str(big), "stage": "read",
                     "message": f"file too large: {size} bytes, over the limit of 100000 bytes"}
