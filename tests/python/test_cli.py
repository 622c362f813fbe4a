"""The CLI contract: help, exit codes, the folder layout, error rows."""

import shutil

import pyarrow.parquet as pq
import pytest

from conftest import DEFAULT_MODEL, SAMPLE, read_manifest, run_orchard

EXIT_USAGE, EXIT_IO, EXIT_PARTIAL = 2, 3, 4


@pytest.mark.parametrize("command, options", [
    ("run", ["--input", "--output", "--model", "--feature-tensor", "--preprocess", "--pca-k", "--pca-variance",
             "--precision", "--batch", "--threads", "--max-pixels", "--max-file-bytes", "--overwrite"]),
    ("inspect", ["--rows"]),
    ("preprocess", ["--preset", "--output"]),
])
def test_help_documents_every_option(command, options):
    result = run_orchard(command, "--help")
    for option in options:
        assert option in result.stdout


def test_top_level_help_documents_exit_codes():
    result = run_orchard("--help")
    assert "Exit codes" in result.stdout and "4 partial failure" in result.stdout


def test_unknown_preset_is_a_usage_error(tmp_path):
    result = run_orchard("run", "--input", SAMPLE / "Test", "--output", tmp_path / "o", "--preprocess", "nope",
                         check=False)
    assert result.returncode == EXIT_USAGE


@pytest.mark.parametrize("command, option, value, message", [
    # Taken before: -1 wrapped to 2^64 - 1 (the decompression-bomb guard off; k = every feature, ratios over 1).
    ("run", "--max-pixels", "-1", "--max-pixels: must be a whole number of at least 1, got -1"),
    ("run", "--pca-k", "-1", "--pca-k: must be a whole number of at least 1, got -1"),
    ("run", "--pca-k", "0", "--pca-k: must be a whole number of at least 1, got 0"),
    ("inspect", "--rows", "-1", "--rows: must be a whole number of at least 0, got -1"),
    # Refused only after featurising every image, its _job.json and _staging/ left behind.
    ("run", "--pca-variance", "0", "--pca-variance: must be a fraction in (0, 1], got 0"),
    # Refused, but as "Value -3 not in range 0.000000 to 1797693134862315708145274237317043567981...".
    ("run", "--threads", "-3", "--threads: must be a whole number of at least 0, got -3"),
    ("train", "--c", "0.1,abc", "--c: must be a number greater than 0, got abc"),
    ("serve", "--max-requests", "-1", "--max-requests: must be a whole number of at least 0, got -1"),
    # Taken before (fourth newcomer): C = inf trained for ever, 1e308 an all-zero classifier; NaN passed Range.
    ("train", "--c", "inf", "--c: must be a number greater than 0, got inf"),
    ("train", "--c", "1e308", "--c: must be a number from 0 to 1e+06, got 1e308"),
    ("train", "--unknown-quantile", "nan", "--unknown-quantile: must be a number from 0.5 to 1, got nan"),
    ("serve", "--max-wait-ms", "nan", "--max-wait-ms: must be a number from 0 to 1000, got nan"),
])
def test_a_bad_option_value_is_a_usage_error_saying_what_is_wanted(tmp_path, command, option, value, message):
    positional = {"run": ["--input", SAMPLE / "Test", "--output", tmp_path / "o"], "inspect": [tmp_path],
                  "train": [tmp_path, "--bundle", tmp_path / "b"], "serve": ["--bundle", tmp_path]}[command]
    result = run_orchard(command, *positional, option, value, check=False)
    assert result.returncode == EXIT_USAGE and message in result.stderr and "00000" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_more_pca_components_than_features_are_refused_before_any_work(tmp_path):
    """--pca-k 5000 ran the whole job and kept 1,280 components (every feature) without a word."""
    result = run_orchard("run", "--input", SAMPLE / "Test", "--output", tmp_path / "o", "--pca-k", "5000",
                         check=False)
    assert result.returncode == EXIT_USAGE and not (tmp_path / "o").exists()
    assert "--pca-k 5000 asks for more PCA components than the 1280 features per image" in result.stderr


def test_an_image_given_as_input_is_refused_as_no_manifest(tmp_path):
    """An image as --input was read as a manifest: 22 error rows named by its bytes, exit 4."""
    image = sorted((SAMPLE / "Test" / "Kiwi").glob("*.jpg"))[0]
    result = run_orchard("run", "--input", image, "--output", tmp_path / "o", check=False)
    assert result.returncode == EXIT_USAGE and not (tmp_path / "o").exists()
    assert f"{image} is not a text manifest (it holds NUL bytes" in result.stderr


def test_a_refusal_never_advises_an_overwrite_that_would_be_refused(tmp_path):
    """An output holding a file of the user's, or the input itself, was refused with "pass --overwrite to replace
    it", and --overwrite was then refused too (newcomer)."""
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "myfile").write_text("mine")
    for output, says in ((theirs, "holds 'myfile', which orchard did not write"), (SAMPLE / "Test", "is the input")):
        result = run_orchard("run", "--input", SAMPLE / "Test", "--output", output, check=False)
        assert result.returncode == EXIT_USAGE and says in result.stderr and "--overwrite" not in result.stderr


def test_preprocess_refuses_settings_the_model_fixes_and_describe_model_names_a_folder(tmp_path):
    """`preprocess --model M --layout nhwc --height 50` wrote the model's [1,3,224,224] tensor, exit 0; and
    `describe-model FOLDER` said "no such file" of a folder that exists (newcomer)."""
    image = sorted((SAMPLE / "Test" / "Kiwi").glob("*.jpg"))[0]
    for option, value in (("--layout", "nhwc"), ("--height", "50"), ("--width", "50")):
        result = run_orchard("preprocess", image, "--model", DEFAULT_MODEL, option, value, "--output",
                             tmp_path / "t.arrow", check=False)
        assert result.returncode == EXIT_USAGE and f"--model excludes {option}" in result.stderr
    assert not (tmp_path / "t.arrow").exists()
    result = run_orchard("describe-model", tmp_path, check=False)
    assert result.returncode == EXIT_IO and f"model {tmp_path}: not a regular file (a folder" in result.stderr


def test_missing_input_is_an_io_error_naming_it(tmp_path):
    missing = tmp_path / "no-such-folder"
    result = run_orchard("run", "--input", missing, "--output", tmp_path / "o", check=False)
    assert result.returncode == EXIT_IO
    assert str(missing) in result.stderr


def test_missing_model_names_the_model(tmp_path):
    model = tmp_path / "missing.onnx"
    result = run_orchard("run", "--input", SAMPLE / "Test", "--output", tmp_path / "o", "--model", model,
                         check=False)
    assert result.returncode == EXIT_IO
    assert str(model) in result.stderr


@pytest.fixture(scope="module")
def folder_with_bad_inputs(tmp_path_factory):
    """A Fruits-360 style folder: 3 labels x 4 good images, plus a text file named .jpg and a truncated JPEG."""
    root = tmp_path_factory.mktemp("bad") / "Training"
    labels = sorted(p.name for p in (SAMPLE / "Test").iterdir())[:3]
    for label in labels:
        (root / label).mkdir(parents=True)
        for image in sorted((SAMPLE / "Test" / label).glob("*.jpg"))[:4]:
            shutil.copy(image, root / label / image.name)
    (root / labels[0] / "notes.jpg").write_text("this is not an image\n")
    good = sorted((SAMPLE / "Test" / labels[1]).glob("*.jpg"))[5].read_bytes()
    (root / labels[1] / "truncated.jpg").write_bytes(good[: len(good) // 2])
    return root, labels


def test_bad_inputs_become_error_rows(tmp_path, folder_with_bad_inputs):
    root, labels = folder_with_bad_inputs
    output = tmp_path / "out"
    result = run_orchard("run", "--input", root, "--output", output, "--pca-k", "4", check=False)
    assert result.returncode == EXIT_PARTIAL, result.stderr
    features = pq.read_table(output / "features")
    assert features.num_rows == 12
    assert sorted(set(features.column("label").to_pylist())) == labels
    errors = pq.read_table(output / "errors").to_pylist()
    assert {e["path"] for e in errors} == {str(root / labels[0] / "notes.jpg"),
                                           str(root / labels[1] / "truncated.jpg")}
    assert all(e["stage"] == "decode" and e["message"] for e in errors)
    assert read_manifest(output)["counts"] == {"seen": 14, "written": 12, "failed": 2}
    assert read_manifest(output)["pca"]["k"] == 4


def test_output_is_not_overwritten_without_permission(tmp_path, folder_with_bad_inputs):
    root, _ = folder_with_bad_inputs
    output = tmp_path / "out"
    output.mkdir()
    (output / "keep.txt").write_text("precious")
    result = run_orchard("run", "--input", root, "--output", output, check=False)
    assert result.returncode == EXIT_USAGE
    assert (output / "keep.txt").read_text() == "precious"
    # --overwrite deletes only orchard's own files: a folder holding anything else is refused (issue 14).
    result = run_orchard("run", "--input", root, "--output", output, "--overwrite", "--pca-k", "2", check=False)
    assert result.returncode == EXIT_USAGE and "'keep.txt'" in result.stderr
    assert (output / "keep.txt").read_text() == "precious"
    (output / "keep.txt").unlink()
    result = run_orchard("run", "--input", root, "--output", output, "--pca-k", "2", check=False)
    assert result.returncode == EXIT_PARTIAL
    result = run_orchard("run", "--input", root, "--output", output, "--overwrite", "--pca-k", "2", check=False)
    assert result.returncode == EXIT_PARTIAL and (output / "_SUCCESS").is_file()


def test_inspect_prints_manifest_schema_and_rows(subset_run):
    output, _ = subset_run
    result = run_orchard("inspect", output, "--rows", "2")
    assert '"feature_dim": 1280' in result.stdout
    assert "features: 330 rows" in result.stdout
    assert "fixed_size_list<element: float not null>[1280]" in result.stdout
    assert "errors: 0 rows" in result.stdout
    # --rows N shows N rows: Arrow's window showed the first and last 3 of any N (newcomer).
    rows = run_orchard("inspect", output, "--rows", "8").stdout.split("== features")[1]
    assert rows.count(".jpg\"") == 8 and "..." in rows  # a vector's middle values are elided, no row is


def test_inspect_refuses_an_unfinished_output(tmp_path):
    result = run_orchard("inspect", tmp_path, check=False)
    assert result.returncode == EXIT_IO and "_SUCCESS" in result.stderr
