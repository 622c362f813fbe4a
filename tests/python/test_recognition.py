"""Recognition end to end: run -> train -> eval (metrics + report in headless Chromium) -> predict -> serve over
real HTTP (predict, embed, errors, limits, batching, metrics, the page)."""

import concurrent.futures
import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, read_manifest, run_orchard, write_manifest
from serve_process import ServeProcess

EXIT_USAGE, EXIT_IO, EXIT_PARTIAL = 2, 3, 4
TRAIN_PER_LABEL, TEST_PER_LABEL = 24, 8
# Measured on this subset with the default model: top-1 0.970 (8 errors in 264); the full sample gives 0.994.
MIN_SUBSET_TOP1 = 0.95
# Unknown fruit on the subset (24 training images for each of 30 labels; Cherry, Lemon, Strawberry unseen):
# measured AUROC 0.880, 10 of 24 unseen photos rejected (all 8 Strawberry, 2 Cherry, no Lemon), 0 of 240 known.
MIN_SUBSET_AUROC, MIN_SUBSET_TRUE_REJECT, MAX_SUBSET_FALSE_REJECT = 0.85, 0.35, 0.02
MAX_BODY = 2_000_000


def spread_images(split, per_label):
    """`per_label` images spread evenly over each label's folder: consecutive Fruits-360 frames are near copies."""
    images = []
    for label_dir in sorted((SAMPLE / split).iterdir()):
        files = sorted(label_dir.glob("*.jpg"))
        step = max(1, len(files) // per_label)
        images.extend(files[::step][:per_label])
    return images


@pytest.fixture(scope="session")
def recognition_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("recognition")
    train, test = spread_images("Training", TRAIN_PER_LABEL), spread_images("Test", TEST_PER_LABEL)
    manifest = write_manifest(root / "images.txt", train + test)
    output = root / "out"
    run_orchard("run", "--input", manifest, "--output", output)
    return {"root": root, "output": output, "train": train, "test": test}


@pytest.fixture(scope="session")
def bundle(recognition_run):
    bundle = recognition_run["root"] / "bundle"
    result = run_orchard("train", recognition_run["output"], "--bundle", bundle)
    assert "training accuracy 1.0000" in result.stdout
    return bundle


@pytest.fixture(scope="session")
def report(recognition_run, bundle):
    report = recognition_run["root"] / "report"
    result = run_orchard("eval", recognition_run["output"], "--bundle", bundle, "--report", report)
    assert "top-1" in result.stdout
    return report


def features_by_path(output):
    table = pq.read_table(output / "features", columns=["path", "features", "pca"]).to_pylist()
    return {row["path"]: row for row in table}


@pytest.mark.parametrize("command, options", [
    ("train", ["--bundle", "--split", "--c", "--no-standardize"]),
    ("eval", ["--bundle", "--report", "--split"]),
    ("predict", ["--bundle", "--top-k", "--features", "--batch"]),
    ("serve", ["--bundle", "--port", "--host", "--max-body-bytes", "--max-batch", "--max-wait-ms", "--model-name",
               "--max-pixels", "--read-timeout-s", "--header-timeout-s", "--write-timeout-s", "--idle-timeout-s",
               "--drain-seconds", "--auth-token-file", "--model-repository", "--poll-seconds", "--s3-endpoint",
               "--max-connections", "--max-requests", "--decode-threads"]),
])
def test_help_documents_every_option(command, options):
    result = run_orchard(command, "--help")
    for option in options:
        assert option in result.stdout


# --- train -------------------------------------------------------------------------------------------------------

def test_bundle_pins_the_model_preprocessing_pca_and_labels(recognition_run, bundle):
    run = read_manifest(recognition_run["output"])
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert manifest["model"]["sha256"] == run["model"]["sha256"]
    assert manifest["model"]["file"] == run["model"]["file"]
    assert manifest["model"]["feature_tensor"] == run["model"]["feature_tensor"] == "627"
    assert manifest["preprocess"] == run["preprocess"]
    assert manifest["labels"] == sorted(p.name for p in (SAMPLE / "Training").iterdir())
    assert manifest["training"]["split"] == "Training"
    assert manifest["training"]["rows"] == len(recognition_run["train"])
    assert manifest["classifier"]["description"]["n_classes"] == 33
    assert manifest["classifier"]["input"] == "features"
    assert manifest["classifier"]["description"]["dim"] == run["model"]["feature_dim"] == 1280
    assert (bundle / "classifier.liblinear").read_text().startswith("solver_type L2R_LR")
    # The bundle's PCA is the run's, byte for byte in meaning.
    ours, theirs = pq.read_table(bundle / "pca.parquet"), pq.read_table(recognition_run["output"] / "pca.parquet")
    assert ours.equals(theirs)


def test_train_on_a_missing_split_names_the_splits_found(recognition_run, tmp_path):
    result = run_orchard("train", recognition_run["output"], "--bundle", tmp_path / "b", "--split", "Validation",
                         check=False)
    assert result.returncode == EXIT_USAGE
    assert "'Test'" in result.stderr and "'Training'" in result.stderr


def tree_digest(folder):
    return {path.relative_to(folder): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_a_bundle_onto_a_run_output_or_a_users_folder_is_refused_and_writes_nothing(recognition_run, tmp_path):
    """`train --bundle` replaced a run output's pca.parquet (its `pca` column then no longer matched) and a user's
    own bundle.json / pca.parquet without a word (newcomer, 2026-12-03). Only a new or empty folder, or a bundle,
    takes a bundle."""
    output = tmp_path / "copy-of-a-run"
    shutil.copytree(recognition_run["output"], output)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    (mine / "pca.parquet").write_bytes(b"my own file")
    named_alike = tmp_path / "named-alike"
    named_alike.mkdir()
    (named_alike / "pca.parquet").write_bytes(b"my own file")
    for folder, named in ((output, "_SUCCESS"), (mine, "notes.txt"), (named_alike, "no bundle.json")):
        before = tree_digest(folder)
        result = run_orchard("train", recognition_run["output"], "--bundle", folder, check=False)
        assert result.returncode == EXIT_USAGE and named in result.stderr and str(folder) in result.stderr
        assert tree_digest(folder) == before


def test_a_bundle_folder_with_a_link_at_a_temporary_name_or_a_foreign_bundle_json_is_refused(
        recognition_run, bundle, tmp_path):
    """A second newcomer: a symbolic link at classifier.liblinear.tmp in a bundle had train write the classifier
    through it into the user's thesis.txt; a bundle.json that is not orchard's passed for a bundle; a folder
    named pca.parquet was found only once the rename failed, with bundle.json already rewritten."""
    thesis = tmp_path / "thesis.txt"
    thesis.write_text("my thesis")
    linked, foreign, folder = tmp_path / "linked", tmp_path / "foreign", tmp_path / "folder"
    shutil.copytree(bundle, linked)
    (linked / "classifier.liblinear.tmp").symlink_to(thesis)
    foreign.mkdir()
    (foreign / "bundle.json").write_text('{"name": "x"}')
    shutil.copytree(bundle, folder)
    (folder / "pca.parquet").unlink()
    (folder / "pca.parquet").mkdir()
    for target, says in ((linked, "classifier.liblinear.tmp, which is no file orchard left"),
                         (foreign, "bundle.json, which is not an orchard bundle's"), (folder, "pca.parquet, a folder")):
        before = tree_digest(target)
        result = run_orchard("train", recognition_run["output"], "--bundle", target, check=False)
        assert result.returncode == EXIT_USAGE and says in result.stderr, result.stderr
        assert tree_digest(target) == before
    assert thesis.read_text() == "my thesis"


def test_a_bundle_replaces_a_bundle(recognition_run, bundle, tmp_path):
    again = tmp_path / "bundle"
    shutil.copytree(bundle, again)
    (again / ".DS_Store").write_bytes(b"Finder")  # hidden: never a bundle's, never touched
    run_orchard("train", recognition_run["output"], "--bundle", again, "--c", "0.5")
    assert (again / ".DS_Store").read_bytes() == b"Finder"
    assert json.loads((again / "bundle.json").read_text())["classifier"]["description"]["c"] == 0.5


def test_excluding_a_label_the_split_does_not_have_is_refused(recognition_run, tmp_path):
    result = run_orchard("train", recognition_run["output"], "--bundle", tmp_path / "b", "--exclude-label", "Kiwii",
                         check=False)
    assert result.returncode == EXIT_USAGE and "'Kiwii' is not a label of split 'Training'" in result.stderr
    assert not (tmp_path / "b").exists()


# --- eval --------------------------------------------------------------------------------------------------------

def test_metrics_json_has_the_documented_figures(report):
    metrics = json.loads((report / "metrics.json").read_text())
    n = 33 * TEST_PER_LABEL
    assert metrics["n"] == n
    assert metrics["top1"] >= MIN_SUBSET_TOP1
    assert metrics["top1"] <= metrics["top5"] <= 1.0
    assert metrics["top5"] >= 0.99
    labels = metrics["labels"]
    assert len(labels) == 33 and set(metrics["per_class"]) == set(labels)
    assert sum(f["support"] for f in metrics["per_class"].values()) == n
    for figures in metrics["per_class"].values():
        assert figures["support"] == TEST_PER_LABEL
        assert 0.0 <= figures["precision"] <= 1.0 and 0.0 <= figures["recall"] <= 1.0
    confusion = np.array(metrics["confusion"])
    assert confusion.shape == (33, 33)
    assert confusion.sum() == n
    assert np.trace(confusion) == round(metrics["top1"] * n)
    # Recall is the confusion row's diagonal share.
    for i, label in enumerate(labels):
        assert metrics["per_class"][label]["recall"] == pytest.approx(confusion[i, i] / confusion[i].sum())


def test_eval_refuses_features_of_another_model(recognition_run, bundle, tmp_path):
    other = tmp_path / "bundle"
    shutil.copytree(bundle, other)
    manifest = json.loads((other / "bundle.json").read_text())
    manifest["model"]["sha256"] = "0" * 64
    (other / "bundle.json").write_text(json.dumps(manifest))
    result = run_orchard("eval", recognition_run["output"], "--bundle", other, "--report", tmp_path / "r",
                         check=False)
    assert result.returncode == EXIT_USAGE
    assert "another model" in result.stderr
    # Predicting with it must fail too: the model file on disk is not the one the bundle names.
    result = run_orchard("predict", "--bundle", other, recognition_run["test"][0], check=False)
    assert result.returncode == EXIT_IO
    assert "sha256" in result.stderr


def test_eval_refuses_features_of_another_precision(recognition_run, bundle, tmp_path):
    """Issue 14: eval compared model, cut and preprocessing but not the precision (bf16/int8 features differ
    from f32's), so a bundle trained at f32 scored bf16 features without a word."""
    output = tmp_path / "out"
    shutil.copytree(recognition_run["output"], output)
    success = json.loads((output / "_SUCCESS").read_text())
    assert success["model"]["precision"] == "f32"
    success["model"]["precision"] = "bf16"
    (output / "_SUCCESS").write_text(json.dumps(success))
    result = run_orchard("eval", output, "--bundle", bundle, "--report", tmp_path / "r", check=False)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "precision bf16" in result.stderr and "f32" in result.stderr
    assert not (tmp_path / "r").exists()


def chromium_dom(url, tmp_path):
    """The DOM after scripts ran, from headless Chromium with no network access needed."""
    result = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chrome'}",
         "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_report_is_self_contained_and_its_figures_render(report, tmp_path):
    html = (report / "report.html").read_text()
    assert not re.search(r"""<script[^>]+src=|<link[^>]+href=["']?https?:""", html), "must not load anything"
    dom = chromium_dom((report / "report.html").as_uri(), tmp_path)
    for figure in ["fig-variance", "fig-scatter", "fig-confusion", "fig-throughput"]:
        match = re.search(rf'<div[^>]*id="{figure}"[^>]*>(.*?)</div>', dom, re.S)
        assert match, figure
        assert 'data-rendered="true"' in match.group(0), f"{figure} did not render"
        assert "<svg" in match.group(1), f"{figure} has no SVG"
    # The scatter draws one mark per test image; the confusion matrix one cell per non-zero count.
    scatter = re.search(r'id="fig-scatter".*?</svg>', dom, re.S).group(0)
    assert scatter.count('role="graphics-symbol"') >= 33 * TEST_PER_LABEL
    assert "top-1" in dom


# --- predict -----------------------------------------------------------------------------------------------------

def test_predict_gives_json_lines_with_the_run_features_and_errors_per_input(recognition_run, bundle, tmp_path):
    known = recognition_run["train"][::TRAIN_PER_LABEL][:6]  # six labels, images the classifier was trained on
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(known[0].read_bytes()[:800])
    inputs = [*known[:3], truncated, tmp_path / "missing.jpg", *known[3:]]
    result = run_orchard("predict", "--bundle", bundle, "--features", "--top-k", "3", "--batch", "4", *inputs,
                         check=False)
    assert result.returncode == EXIT_PARTIAL, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["path"] for line in lines] == [str(p) for p in inputs]
    assert "error" in lines[3] and "JPEG" in lines[3]["error"]
    assert "error" in lines[4]
    run_rows = features_by_path(recognition_run["output"])
    for line in lines[:3] + lines[5:]:
        image = Path(line["path"])
        assert line["label"] == image.parent.name
        assert len(line["top_k"]) == 3 and line["top_k"][0]["label"] == line["label"]
        probabilities = [entry["probability"] for entry in line["top_k"]]
        assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.0001
        # Exactly the preprocessing and model of the run: the same features, up to float noise.
        np.testing.assert_allclose(line["features"], run_rows[str(image)]["features"], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(line["pca"], run_rows[str(image)]["pca"], rtol=1e-3, atol=1e-3)


def test_predict_all_good_exits_zero(recognition_run, bundle):
    result = run_orchard("predict", "--bundle", bundle, recognition_run["train"][0])
    line = json.loads(result.stdout)
    assert line["label"] == recognition_run["train"][0].parent.name and len(line["top_k"]) == 5
    assert "features" not in line


# --- unknown fruit ------------------------------------------------------------------------------------------------

HELD_OUT = ("Cherry", "Lemon", "Strawberry")  # every 11th label, as `make open-set`


@pytest.fixture(scope="session")
def open_set(recognition_run):
    """A bundle trained without the HELD_OUT labels, and its eval on the subset's Test images."""
    root = recognition_run["root"]
    excluded = [arg for label in HELD_OUT for arg in ("--exclude-label", label)]
    run_orchard("train", recognition_run["output"], "--bundle", root / "bundle-30", *excluded)
    run_orchard("eval", recognition_run["output"], "--bundle", root / "bundle-30", "--report", root / "report-30")
    return {"bundle": root / "bundle-30", "metrics": json.loads((root / "report-30" / "metrics.json").read_text())}


def test_unknown_fruit_held_out_labels_are_rejected_more_than_known_ones(open_set):
    figures = open_set["metrics"]["open_set"]
    assert figures["known"]["n"] == 30 * TEST_PER_LABEL and figures["unknown"]["n"] == 3 * TEST_PER_LABEL
    assert figures["unknown"]["reject_rate"] >= MIN_SUBSET_TRUE_REJECT
    assert figures["known"]["reject_rate"] <= MAX_SUBSET_FALSE_REJECT
    assert figures["auroc"] >= MIN_SUBSET_AUROC
    bundle = json.loads((open_set["bundle"] / "bundle.json").read_text())
    assert bundle["open_set"]["description"]["threshold"] == figures["threshold"] > 0
    assert bundle["training"]["excluded_labels"] == list(HELD_OUT)
    assert not set(HELD_OUT) & set(bundle["labels"])


def test_predict_answers_label_null_for_an_unknown_fruit_and_a_label_for_a_known_one(recognition_run, open_set):
    known = recognition_run["test"][0]  # Apple Red 1
    unknown = [p for p in recognition_run["test"] if p.parent.name == "Strawberry"][:2]
    result = run_orchard("predict", "--bundle", open_set["bundle"], known, *unknown)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["label"] == known.parent.name and lines[0]["unknown"] is False
    threshold = open_set["metrics"]["open_set"]["threshold"]
    assert 0 < lines[0]["unknown_score"] <= threshold
    for line in lines[1:]:
        assert line["label"] is None and line["unknown"] is True and line["unknown_score"] > threshold, line
        assert len(line["top_k"]) == 5  # still the nearest labels, for whoever wants them


# --- serve -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(bundle):
    server = ServeProcess("--bundle", bundle, "--max-body-bytes", MAX_BODY, "--max-batch", 8, "--max-wait-ms", 20)
    server.wait_ready()
    yield server
    assert server.stop() == 0


def multipart(field, filename, data):
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_serve_health(server):
    status, body = server.json("GET", "/healthz")
    assert status == 200 and body["status"] == "ok" and body["labels"] == 33 and body["feature_dim"] == 1280


def test_serve_predicts_raw_and_multipart_bodies(server, recognition_run):
    image = recognition_run["train"][5 * TRAIN_PER_LABEL]
    status, raw = server.json("POST", "/v1/predict", image.read_bytes())
    assert status == 200 and raw["label"] == image.parent.name
    assert len(raw["top_k"]) == 5 and raw["top_k"][0]["label"] == raw["label"]
    assert list(raw) == ["label", "unknown", "unknown_score", "top_k"]  # predict's fields, from one function
    assert raw["unknown"] is False and raw["unknown_score"] > 0
    status, form = server.json("POST", "/v1/predict?top_k=2", *multipart("image", image.name, image.read_bytes()))
    assert status == 200 and form["label"] == raw["label"] and len(form["top_k"]) == 2
    assert form["top_k"][0]["probability"] == pytest.approx(raw["top_k"][0]["probability"])


def test_serve_embed_returns_the_run_features(server, recognition_run):
    image = recognition_run["test"][0]
    status, body = server.json("POST", "/v1/embed", image.read_bytes())
    run = read_manifest(recognition_run["output"])
    assert status == 200 and len(body["features"]) == 1280 and len(body["pca"]) == run["pca"]["k"]
    row = features_by_path(recognition_run["output"])[str(image)]
    np.testing.assert_allclose(body["features"], row["features"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("body, headers, status, words", [
    (b"", {}, 400, "empty"),
    (b"GIF89a not a supported image", {}, 415, "not a JPEG, PNG or WebP"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 100, {}, 400, "decode"),
    (None, {}, 413, "too large"),  # filled in below: one byte over the limit
    (b"x", {"Content-Type": "multipart/form-data; boundary=zz"}, 400, ""),
])
def test_serve_bad_bodies_get_4xx_json(server, recognition_run, body, headers, status, words):
    if body is None:
        body = b"\xff\xd8" + b"\x00" * (MAX_BODY - 1)
    if words == "decode":
        body = recognition_run["test"][0].read_bytes()[:600]
    got, answer = server.json("POST", "/v1/predict", body, headers)
    assert got == status, answer
    assert words in answer["error"]


def test_serve_unknown_path_is_404_json(server):
    status, answer = server.json("GET", "/v2/nothing")
    assert status == 404 and "error" in answer


def test_serve_batches_concurrent_requests_and_counts_them(server, recognition_run):
    images = recognition_run["test"][::TEST_PER_LABEL][:24]
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda p: server.json("POST", "/v1/predict", p.read_bytes()), images))
    assert all(status == 200 for status, _ in answers)
    correct = sum(answer["label"] == image.parent.name for (_, answer), image in zip(answers, images))
    assert correct >= len(images) - 1
    status, _, text = server.request("GET", "/metrics")
    text = text.decode()
    assert status == 200

    def value(pattern):
        match = re.search(pattern + r" (\S+)\n", text)
        assert match, pattern
        return float(match.group(1))

    assert value(r'orchard_http_requests_total\{endpoint="/v1/predict",code="200"\}') >= len(images)
    assert value(r'orchard_http_request_duration_seconds_count\{endpoint="/v1/predict"\}') >= len(images)
    assert value(r'orchard_http_request_duration_seconds_bucket\{endpoint="/v1/predict",le="\+Inf"\}') >= len(images)
    batches, batched_images = value("orchard_inference_batch_size_count"), value("orchard_inference_batch_size_sum")
    assert batched_images >= len(images)
    assert batches < batched_images, "concurrent requests should share model batches"


def test_requests_answered_during_the_warm_up_are_counted_in_the_batch_metrics(bundle, recognition_run):
    """The service answers while its warm-up runs (before /v2/health/ready); the warm-up used to reset the batch
    counters at its end, dropping those requests from /metrics (CI, 2026-12-03: 16 of 24 images counted)."""
    server = ServeProcess("--bundle", bundle, "--max-batch", 64)  # a warm-up of 1 + 2 + ... + 64 images
    try:
        status, _ = server.json("POST", "/v1/predict", recognition_run["test"][0].read_bytes())
        assert status == 200
        assert server.request("GET", "/v2/health/ready")[0] == 503, "answered after the warm-up: nothing tested"
        server.wait_ready()
        _, _, text = server.request("GET", "/metrics")
        counted = {name: float(value) for name, value in
                   re.findall(r"^(orchard_inference_batch_size_(?:sum|count)) (\S+)$", text.decode(), re.M)}
        assert counted == {"orchard_inference_batch_size_sum": 1, "orchard_inference_batch_size_count": 1}
    finally:
        assert server.stop() == 0


def test_serve_metrics_count_errors(server):
    server.request("POST", "/v1/predict", b"not an image at all")
    _, _, text = server.request("GET", "/metrics")
    text = text.decode()
    assert re.search(r'orchard_http_requests_total\{endpoint="/v1/predict",code="415"\} [1-9]', text)
    assert re.search(r'orchard_http_errors_total\{endpoint="/v1/predict",reason="unsupported_type"\} [1-9]', text)
    assert "# TYPE orchard_http_request_duration_seconds histogram" in text


def test_serve_page_loads_in_chromium(server, tmp_path):
    status, content_type, html = server.request("GET", "/")
    assert status == 200 and content_type.startswith("text/html")
    assert not re.search(rb"(src|href)=[\"']?https?:", html), "the page must not load external resources"
    dom = chromium_dom(f"http://127.0.0.1:{server.port}/", tmp_path)
    assert 'data-ready="true"' in dom and 'id="drop"' in dom
