"""Know your data (issue 18): `orchard index`, `orchard audit` on a copy of a sample subset with faults planted
by the test (planted_faults.py), `orchard similar`, POST /v1/similar and eval's leakage-free top-1."""

import fcntl
import json
import os
import re

import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, run_orchard
from planted_faults import copy_subset, plant
from serve_process import ServeProcess
from test_recognition import chromium_dom

LABELS = ["Avocado", "Golden 1", "Kiwi", "Lemon", "Pomegranate", "Strawberry"]
TRAIN_PER_LABEL, TEST_PER_LABEL = 25, 10
MIN_RECALL = 0.9


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit")
    images = root / "images"
    copy_subset(SAMPLE, images, LABELS, TRAIN_PER_LABEL, TEST_PER_LABEL)
    planted = plant(images)
    output = root / "out"
    run_orchard("run", "--input", images, "--output", output)
    return {"root": root, "images": images, "output": output, "planted": planted}


@pytest.fixture(scope="module")
def audit(planted_run):
    report = planted_run["root"] / "report"
    run_orchard("audit", planted_run["output"], "--report", report)
    return json.loads((report / "audit.json").read_text()), report


def recall(found, planted):
    return sum(found(*fault) if isinstance(fault, tuple) else found(fault) for fault in planted) / len(planted)


def test_audit_finds_planted_near_duplicates(planted_run, audit):
    audit, _ = audit
    group_of = {str(m["path"]): g["id"] for g in audit["near_duplicates"] for m in g["members"]}
    found = lambda copy, original: group_of.get(str(copy)) is not None and \
        group_of.get(str(copy)) == group_of.get(str(original))
    assert recall(found, planted_run["planted"].duplicates) >= MIN_RECALL


def test_audit_finds_planted_label_errors_with_the_true_label(planted_run, audit):
    audit, _ = audit
    issues = {i["path"]: i for i in audit["label_issues"]}
    found = lambda copy, true_label, given: str(copy) in issues and \
        issues[str(copy)]["suggested_label"] == true_label and issues[str(copy)]["label"] == given
    assert recall(found, planted_run["planted"].mislabelled) >= MIN_RECALL


def test_audit_finds_planted_test_images_leaked_into_training(planted_run, audit):
    audit, _ = audit
    leaked_to = {p["match_path"] for p in audit["cross_split"]["pairs"]}
    found = lambda copy, true_label, given: str(copy) in leaked_to
    assert recall(found, planted_run["planted"].mislabelled) >= MIN_RECALL
    per_class = audit["cross_split"]["per_class"]
    assert sum(c["leaked"] for c in per_class.values()) == audit["cross_split"]["leaked"] >= 6
    assert sum(c["test_images"] for c in per_class.values()) == len(LABELS) * TEST_PER_LABEL


def test_audit_finds_planted_non_fruit_images_as_outliers(planted_run, audit):
    audit, _ = audit
    outliers = {o["path"] for o in audit["outliers"]}
    assert recall(lambda path: str(path) in outliers, planted_run["planted"].non_fruit) >= MIN_RECALL


@pytest.mark.parametrize("options, says", [
    (["--near-duplicate-cosine", "nan"], "--near-duplicate-cosine must be in (0, 1]"),
    (["--outlier-z", "nan"], "--outlier-z must be a positive number"),
    (["--outlier-z", "inf"], "--outlier-z must be a positive number"),
    (["--k", "-3"], "--k must be from 1 to 1000"),
    (["--train-split", "Test"], "--train-split and --test-split are both 'Test'"),
])
def test_audit_refuses_settings_that_mean_nothing(planted_run, tmp_path, options, says):
    """NaN thresholds passed the range checks (0 near-duplicates, or every image an outlier), -3 neighbours
    wrapped to 2^64 - 3, and one split for both sides made every test image leak into itself (newcomer)."""
    result = run_orchard("audit", planted_run["output"], "--report", tmp_path / "r", *options, check=False)
    assert result.returncode == 2 and says in result.stderr
    assert not (tmp_path / "r").exists()


def test_a_split_with_no_image_is_said_not_reported_as_no_leak(planted_run, tmp_path):
    result = run_orchard("audit", planted_run["output"], "--report", tmp_path / "r", "--train-split", "Trainig")
    says = "no train/test leakage check: no image in split 'Trainig' (splits found: 'Test', 'Training')"
    assert says in result.stderr
    assert json.loads((tmp_path / "r" / "audit.json").read_text())["cross_split"]["skipped"] == says


def test_inputs_that_are_error_rows_are_said_not_audited(tmp_path):
    """The audit reads features; an input that became an error row has none, and the report said nothing of it
    (newcomer), so "nothing found" read as covering it."""
    for label in ("Kiwi", "Lemon"):
        (tmp_path / "in" / label).mkdir(parents=True)
        for image in sorted((SAMPLE / "Test" / label).glob("*.jpg"))[:3]:
            (tmp_path / "in" / label / image.name).write_bytes(image.read_bytes())
    (tmp_path / "in" / "Kiwi" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    assert run_orchard("run", "--input", tmp_path / "in", "--output", tmp_path / "out", check=False).returncode == 4
    result = run_orchard("audit", tmp_path / "out", "--report", tmp_path / "report")
    assert "1 inputs are error rows (errors/) with no features, not audited" in result.stderr
    assert json.loads((tmp_path / "report" / "audit.json").read_text())["summary"]["not_audited_error_rows"] == 1


def test_an_output_with_no_features_is_audited_as_empty_not_an_internal_error(tmp_path):
    """A run of an empty folder made `orchard audit` exit 1: "internal error: FindLabelIssues: probabilities
    must be n x classes for n labels"."""
    (tmp_path / "in").mkdir()
    run_orchard("run", "--input", tmp_path / "in", "--output", tmp_path / "out")
    result = run_orchard("audit", tmp_path / "out", "--report", tmp_path / "report")
    assert "splits found: none" in result.stderr
    audit = json.loads((tmp_path / "report" / "audit.json").read_text())
    assert audit["rows"] == 0 and audit["label_issues"] == [] and audit["near_duplicates"] == []


def test_audit_entries_carry_path_label_score_and_the_page_is_self_contained(audit):
    audit, report = audit
    entries = audit["cross_split"]["pairs"] + audit["outliers"] + audit["label_issues"] + \
        [m for g in audit["near_duplicates"] for m in g["members"]]
    assert entries and all({"path", "label", "score"} <= set(e) for e in entries)
    assert [o["rank"] for o in audit["outliers"]] == list(range(1, len(audit["outliers"]) + 1))
    html = (report / "audit.html").read_text()
    assert not re.search(r"""<script[^>]+src=|<link[^>]+href=["']?https?:""", html)
    assert "data:image/jpeg;base64," in html and "data:image/png;base64," in html


def test_audit_page_figures_render_in_chromium(audit, tmp_path):
    _, report = audit
    dom = chromium_dom((report / "audit.html").as_uri(), tmp_path)
    for figure in ["fig-nearest", "fig-leakage"]:
        match = re.search(rf'<div[^>]*id="{figure}"[^>]*>(.*?)</div>', dom, re.S)
        assert match and 'data-rendered="true"' in match.group(0) and "<svg" in match.group(1), figure
    assert dom.count('class="thumb"') >= 10


def test_index_is_recorded_in_success_and_similar_finds_the_image_itself(planted_run, tmp_path):
    output = planted_run["output"]
    run_orchard("index", output)
    manifest = json.loads((output / "_SUCCESS").read_text())
    assert manifest["index"]["rows"] == pq.read_table(output / "features").num_rows
    assert manifest["files"]["index"] == ["index.faiss", "index_keys.parquet"]
    query = sorted((planted_run["images"] / "Test" / "Kiwi").glob("*.jpg"))[0]
    result = run_orchard("similar", "--index", output, "--k", "3", query, tmp_path / "missing.jpg", check=False)
    assert result.returncode == 4
    hit, missing = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(hit["similar"]) == 3 and "error" in missing
    assert hit["similar"][0]["path"] == str(query) and hit["similar"][0]["label"] == "Kiwi"
    assert hit["similar"][0]["distance"] < 1e-4 <= hit["similar"][1]["distance"] + 1e-4


def test_index_waits_for_no_one_and_refuses_an_output_in_use(planted_run):
    """`orchard index` took no lock: run beside an update (or another index) it rewrote _SUCCESS from the copy it
    had read, naming deleted parts or the other index's column, and the output read as finished."""
    folder = os.open(planted_run["output"], os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running `orchard run` holds it
        result = run_orchard("index", planted_run["output"], check=False)
    finally:
        os.close(folder)
    assert result.returncode == 2 and "in use by another orchard process" in result.stderr


def test_eval_reports_top1_on_the_leakage_free_test_images(planted_run):
    root = planted_run["root"]
    run_orchard("train", planted_run["output"], "--bundle", root / "bundle")
    result = run_orchard("eval", planted_run["output"], "--bundle", root / "bundle", "--report", root / "eval")
    metrics = json.loads((root / "eval" / "metrics.json").read_text())
    free = metrics["leakage_free"]
    assert free["n"] + free["leaked"] == metrics["n"] == len(LABELS) * TEST_PER_LABEL
    assert free["leaked"] >= len(planted_run["planted"].mislabelled)  # each has its exact copy in Training
    assert free["reference_split"] == "Training" and 0.0 <= free["top1"] <= 1.0
    assert "leakage-free top-1" in result.stdout
    assert "top-1 leakage-free" in (root / "eval" / "report.html").read_text()


def test_serve_similar_answers_the_nearest_indexed_images(planted_run):
    output, root = planted_run["output"], planted_run["root"]
    run_orchard("index", output)
    if not (root / "bundle").exists():
        run_orchard("train", output, "--bundle", root / "bundle")
    server = ServeProcess("--bundle", root / "bundle", "--index", output)
    try:
        query = sorted((planted_run["images"] / "Test" / "Lemon").glob("*.jpg"))[0]
        status, answer = server.json("POST", "/v1/similar?k=2", query.read_bytes())
        assert status == 200 and len(answer["similar"]) == 2
        assert answer["similar"][0] == {"path": str(query), "label": "Lemon", "distance": pytest.approx(0, abs=1e-4)}
        assert server.json("POST", "/v1/similar?k=0", query.read_bytes())[0] == 400
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("command, options", [
    ("index", ["--column"]),
    ("audit", ["--report", "--near-duplicate-cosine", "--k", "--outlier-k", "--outlier-z", "--train-split",
               "--test-split"]),
    ("similar", ["--index", "--k"]),
    ("serve", ["--index"]),
])
def test_help_documents_every_option(command, options):
    result = run_orchard(command, "--help")
    for option in options:
        assert option in result.stdout, option
