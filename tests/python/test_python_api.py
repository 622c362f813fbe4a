"""The Python API (orchard.run / read / train / evaluate / Bundle.predict, python/orchard/api.py) over the same C++
functions as the CLI: the same output as `orchard run`, the same metrics as `orchard eval`, RGB channel order for
pixel inputs, Ctrl-C, and the one mapping of C++ errors to Python exceptions. Uses the in-tree module
(build/python/orchard)."""

import json
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from conftest import (REPO, assert_same_pca_model, read_manifest, rows_by_path, run_orchard, sample_images,
                      write_manifest)

sys.path.insert(0, str(REPO / "python"))
import orchard  # noqa: E402

LABELS = 4  # labels of the small subset, 8 Training + 8 Test images each


@pytest.fixture(scope="module")
def small_manifest(tmp_path_factory):
    """8 Training and 8 Test images of 4 labels, and one corrupt file (an error row)."""
    root = tmp_path_factory.mktemp("api")
    corrupt = root / "Test" / "Broken" / "corrupt.jpg"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    images = []
    for split in ("Training", "Test"):
        by_label = {}
        for image in sample_images(split, per_label=8):
            by_label.setdefault(image.parent.name, []).append(image)
        images += [i for label in sorted(by_label)[:LABELS] for i in by_label[label]]
    return write_manifest(root / "images.txt", images + [corrupt])


@pytest.fixture(scope="module")
def api_run(small_manifest, tmp_path_factory):
    """(summary, output) of orchard.run on the small subset."""
    output = tmp_path_factory.mktemp("py") / "out"
    summary = orchard.run(small_manifest, output, pca_k=8, batch=16, progress=False)
    return summary, output


@pytest.fixture(scope="module")
def cli_run(small_manifest, tmp_path_factory):
    output = tmp_path_factory.mktemp("cli") / "out"
    run_orchard("run", "--input", small_manifest, "--output", output, "--pca-k", "8", "--batch", "16",
                check=False)
    return output


@pytest.fixture(scope="module")
def bundle(api_run, tmp_path_factory):
    directory = tmp_path_factory.mktemp("bundle") / "b"
    training = orchard.train(api_run[1], directory)
    return directory, training


def test_run_writes_the_same_rows_as_the_cli(api_run, cli_run):
    summary, output = api_run
    ours, theirs = rows_by_path(output), rows_by_path(cli_run)
    assert sorted(ours) == sorted(theirs)
    assert len(ours) == 2 * 8 * LABELS
    for path, (features, pca) in ours.items():
        np.testing.assert_array_equal(features, theirs[path][0])
        np.testing.assert_allclose(pca, theirs[path][1], atol=1e-6)
    cli_manifest = json.loads((cli_run / "_SUCCESS").read_text())
    assert summary.manifest["counts"] == cli_manifest["counts"] == {"seen": 65, "written": 64, "failed": 1}
    assert summary.manifest["model"] == cli_manifest["model"]
    # The covariance is summed in the order the parts finish: the same PCA up to rounding.
    ours_pca, cli_pca = summary.manifest["pca"], cli_manifest["pca"]
    assert ours_pca.keys() == cli_pca.keys() and ours_pca["k"] == cli_pca["k"] == 8
    for key, value in ours_pca.items():
        assert value == (pytest.approx(cli_pca[key], rel=1e-9) if isinstance(value, float) else cli_pca[key]), key


def test_run_with_defaults_on_a_folder_writes_the_cli_output(tmp_path):
    """The issue's `orchard.run('<sample>/Test', 'out/py')`: a folder input and every default (k chosen for 95% of
    the variance) on a subset folder: the CLI's rows, k, and PCA (explained variances within 1e-6 relative)."""
    folder = tmp_path / "Test"
    for image in sample_images("Test", per_label=4)[:4 * 6]:
        (folder / image.parent.name).mkdir(parents=True, exist_ok=True)
        (folder / image.parent.name / image.name).symlink_to(image)
    orchard.run(folder, tmp_path / "py", progress=False)
    run_orchard("run", "--input", folder, "--output", tmp_path / "cli")
    ours, theirs = rows_by_path(tmp_path / "py"), rows_by_path(tmp_path / "cli")
    assert sorted(ours) == sorted(theirs) and len(ours) == 24
    for path, (features, pca) in ours.items():
        np.testing.assert_array_equal(features, theirs[path][0])
        np.testing.assert_allclose(pca, theirs[path][1], atol=1e-6)
    k = read_manifest(tmp_path / "cli")["pca"]["k"]
    assert read_manifest(tmp_path / "py")["pca"]["k"] == k
    assert_same_pca_model(pq.read_table(tmp_path / "py" / "pca.parquet"),
                          pq.read_table(tmp_path / "cli" / "pca.parquet"), k)


def test_run_summary_matches_its_success_file(api_run):
    summary, output = api_run
    assert (summary.seen, summary.written, summary.failed) == (65, 64, 1)
    assert summary.wall_seconds > 0
    assert summary.attempt_images == 65
    assert summary.images_per_second == pytest.approx(summary.attempt_images / summary.wall_seconds)
    assert summary.manifest == json.loads((output / "_SUCCESS").read_text())


def test_read_returns_the_rows_listed_in_success(api_run):
    summary, output = api_run
    paths = sorted(rows_by_path(output))
    # A stray part that _SUCCESS does not list (a half-written file of another writer) is not read.
    stray = pq.read_table(output / summary.manifest["files"]["features"][0]).slice(0, 1)
    pq.write_table(stray, output / "features" / "stray.parquet")
    table = orchard.read(output)
    assert table.num_rows == summary.written == 64
    assert sorted(table.column("path").to_pylist()) == paths
    frame = orchard.read(output, columns=["path", "pca"]).to_pandas()
    assert list(frame.columns) == ["path", "pca"]
    assert len(frame.pca.iloc[0]) == 8
    errors = orchard.read(output, errors=True)
    assert errors.num_rows == 1
    assert errors.column("path")[0].as_py().endswith("corrupt.jpg")
    assert errors.column("stage")[0].as_py() == "decode"


def test_read_small_jobs_without_pca(small_manifest, tmp_path):
    """Fewer than 2 good images: no PCA, no pca column; no good image at all: an empty features table."""
    lines = small_manifest.read_text().splitlines()
    one = write_manifest(tmp_path / "one.txt", [lines[0], lines[-1]])  # one image and the corrupt file
    orchard.run(one, tmp_path / "one", progress=False)
    table = orchard.read(tmp_path / "one")
    assert table.column_names == ["path", "label", "features"] and table.num_rows == 1
    none = write_manifest(tmp_path / "none.txt", [lines[-1]])
    orchard.run(none, tmp_path / "none", progress=False)
    assert orchard.read(tmp_path / "none").num_rows == 0
    assert orchard.read(tmp_path / "none", errors=True).num_rows == 1


def test_read_refuses_an_output_without_success(tmp_path):
    (tmp_path / "features").mkdir()
    with pytest.raises(OSError, match="no _SUCCESS"):
        orchard.read(tmp_path)


def test_train_and_evaluate_give_the_cli_figures(api_run, bundle, tmp_path):
    directory, training = bundle
    assert training["split"] == "Training"
    assert training["rows"] == 8 * LABELS
    assert sorted(training["rows_per_label"].values()) == [8] * LABELS
    assert 0.0 <= training["training_accuracy"] <= 1.0
    metrics = orchard.evaluate(api_run[1], directory, report=tmp_path / "py-report")
    assert metrics["n"] == 8 * LABELS
    assert 0.5 <= metrics["top1"] <= metrics["top5"] <= 1.0
    assert len(metrics["confusion"]) == LABELS
    assert metrics == json.loads((tmp_path / "py-report" / "metrics.json").read_text())
    assert (tmp_path / "py-report" / "report.html").stat().st_size > 0
    run_orchard("eval", api_run[1], "--bundle", directory, "--report", tmp_path / "cli-report")
    assert metrics == json.loads((tmp_path / "cli-report" / "metrics.json").read_text())
    assert orchard.evaluate(api_run[1], directory) == metrics  # no report: nothing written, same figures


def test_predict_path_bytes_and_pil_agree(api_run, bundle):
    model = orchard.Bundle.load(bundle[0])
    image = sample_images("Test", per_label=1)[0]
    by_path = model.predict(image, top_k=3)
    assert len(by_path.top_k) == 3
    assert by_path.label == by_path.top_k[0][0] == image.parent.name
    assert by_path.unknown is False and isinstance(by_path.unknown_score, float) and by_path.unknown_score > 0
    assert by_path.top_k[0][1] >= by_path.top_k[1][1] >= by_path.top_k[2][1]
    assert by_path.features.dtype == np.float32 and by_path.features.shape == (1280,)
    assert by_path.pca.shape == (8,)
    # The same image's features as `orchard run` wrote them, and its PCA projection by the bundle's PCA.
    features, pca = rows_by_path(api_run[1])[str(image)]
    np.testing.assert_array_equal(by_path.features, features)
    np.testing.assert_allclose(by_path.pca, pca, atol=1e-5)
    by_bytes = model.predict(image.read_bytes())
    np.testing.assert_array_equal(by_bytes.features, by_path.features)
    assert model.labels == sorted(model.labels) and len(model.labels) == LABELS


def _solid(rgb, path=None):
    pixels = np.zeros((64, 48, 3), dtype=np.uint8)
    pixels[...] = rgb
    if path is not None:
        Image.fromarray(pixels, mode="RGB").save(path)
    return pixels


def test_predict_takes_numpy_and_pil_pixels_in_rgb_order(bundle, tmp_path):
    """Pure red / pure blue: a numpy array and a PIL image are R, G, B, exactly as the same pixels in a PNG."""
    model = orchard.Bundle.load(bundle[0])
    red = _solid((255, 0, 0), tmp_path / "red.png")
    blue = _solid((0, 0, 255), tmp_path / "blue.png")
    red_from_file = model.predict(tmp_path / "red.png").features
    blue_from_file = model.predict(tmp_path / "blue.png").features
    assert not np.array_equal(red_from_file, blue_from_file)
    np.testing.assert_array_equal(model.predict(red).features, red_from_file)
    np.testing.assert_array_equal(model.predict(blue).features, blue_from_file)
    np.testing.assert_array_equal(model.predict(Image.fromarray(red)).features, red_from_file)
    # A PIL image in another mode is converted to RGB first (BGR is not a PIL mode: red stays red).
    np.testing.assert_array_equal(model.predict(Image.fromarray(red).convert("RGBA")).features, red_from_file)
    gray = np.full((64, 48), 128, dtype=np.uint8)
    np.testing.assert_array_equal(model.predict(Image.fromarray(gray)).features,
                                  model.predict(np.stack([gray] * 3, axis=-1)).features)
    # Pixels in OpenCV's B, G, R order are not converted: red read as BGR is blue.
    np.testing.assert_array_equal(model.predict(red[..., ::-1]).features, blue_from_file)


def test_errors_map_to_python_exceptions(api_run, bundle, small_manifest, tmp_path):
    model = orchard.Bundle.load(bundle[0])
    with pytest.raises(ValueError, match="precision"):  # UsageError
        orchard.run(small_manifest, tmp_path / "o1", precision="f16", progress=False)
    with pytest.raises(OSError, match="missing-input"):  # IoError
        orchard.run(tmp_path / "missing-input", tmp_path / "o2", progress=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not orchard's")
    with pytest.raises(ValueError, match="notes.txt"):  # UsageError: the overwrite guard
        orchard.run(small_manifest, foreign, overwrite=True, progress=False)
    assert (foreign / "notes.txt").exists()
    bad_model = tmp_path / "bad.onnx"
    bad_model.write_bytes(b"not an onnx model")
    with pytest.raises(RuntimeError):  # ModelError
        orchard.run(small_manifest, tmp_path / "o3", model=bad_model, progress=False)
    with pytest.raises(ValueError):  # InputError: one image that cannot be decoded
        model.predict(b"not an image")
    with pytest.raises(ValueError, match="missing.jpg: cannot read"):  # InputError naming the input
        model.predict(tmp_path / "missing.jpg")
    with pytest.raises(ValueError, match="uint8"):
        model.predict(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="RGB"):
        model.predict(np.zeros((4, 4, 4), dtype=np.uint8))
    with pytest.raises(TypeError):
        model.predict(42)
    with pytest.raises(ValueError, match="exceeds the limit of 100 pixels"):  # the decoders' own limit check
        orchard.Bundle.load(bundle[0], max_pixels=100).predict(_solid((255, 0, 0)))
    with pytest.raises(OSError):
        orchard.Bundle.load(tmp_path / "no-bundle")
    with pytest.raises(ValueError, match="Nowhere"):  # UsageError: no rows of that split
        orchard.evaluate(api_run[1], bundle[0], split="Nowhere")
    assert not (tmp_path / "o1").exists()


INTERRUPTED = 42
_INTERRUPT_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[3])
    import orchard, orchard.api
    announced = []
    def update(self, processed, total, failed, known_total):
        if processed > 0 and not announced:  # the job is under way: the test may send SIGINT now
            announced.append(1)
            print("started", flush=True)
    orchard.api._ProgressBar.update = update
    try:
        orchard.run(sys.argv[1], sys.argv[2], batch=8)
    except KeyboardInterrupt:
        sys.exit({code})
    print("finished", flush=True)
""").format(code=INTERRUPTED)


def test_keyboard_interrupt_stops_run_without_success(tmp_path):
    manifest = write_manifest(tmp_path / "images.txt", sample_images("Test", per_label=20))
    output = tmp_path / "out"
    script = tmp_path / "interrupt.py"
    script.write_text(_INTERRUPT_SCRIPT)
    process = subprocess.Popen([sys.executable, script, manifest, output, REPO / "python"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if process.stdout.readline().strip() != "started":
        pytest.fail("orchard.run ended before its first progress report:\n" + "".join(process.communicate()))
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == INTERRUPTED, stdout + stderr
    assert not (output / "_SUCCESS").exists()
    assert (output / "_job.json").exists()
    # The interrupted output resumes to the complete job, like the CLI's.
    summary = orchard.run(manifest, output, batch=8, progress=False)
    assert summary.seen == 33 * 20
    assert 0 < summary.attempt_images < 33 * 20  # the interrupted attempt's parts were kept
    assert orchard.read(output).num_rows == 33 * 20


def test_public_api_is_documented():
    for item in (orchard.run, orchard.read, orchard.train, orchard.evaluate, orchard.Bundle.load,
                 orchard.Bundle.predict, orchard.RunSummary):
        doc = item.__doc__ or ""
        assert len(doc) > 200, item
    for word in ("ValueError", "OSError", "RuntimeError", "KeyboardInterrupt", "default"):
        assert word in orchard.run.__doc__
    assert "R, G, B" in orchard.Bundle.predict.__doc__


_S3_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import orchard
    summary = orchard.run("s3://api/Test", "s3://api/out", pca_k=3, progress=False)
    table = orchard.read("s3://api/out")
    print(json.dumps({"written": summary.written, "paths": sorted(table.column("path").to_pylist())}))
""")


def test_run_and_read_s3_uris(s3_server, tmp_path):
    """orchard.run reads and writes s3:// URIs as `orchard run` does; read() finds _SUCCESS there (the endpoint
    from AWS_ENDPOINT_URL, for the C++ core and pyarrow alike). In a subprocess: S3 is set up once per process."""
    tree = tmp_path / "tree"
    for image in sample_images("Test", per_label=3)[:6]:
        (tree / image.parent.name).mkdir(parents=True, exist_ok=True)
        (tree / image.parent.name / image.name).write_bytes(image.read_bytes())
    s3_server.create_bucket("api")
    s3_server.upload_tree(tree, "api", "Test")
    script = tmp_path / "s3.py"
    script.write_text(_S3_SCRIPT)
    result = subprocess.run([sys.executable, script, REPO / "python"], capture_output=True, text=True,
                            env=s3_server.client_env(), timeout=300)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["written"] == 6
    assert found["paths"] == sorted(f"s3://api/Test/{p.relative_to(tree).as_posix()}" for p in tree.rglob("*.jpg"))
