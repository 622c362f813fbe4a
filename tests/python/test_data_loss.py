"""The data-loss matrix (issue 14): every destructive path of orchard, with the input files and every finished
part checked byte for byte (sha256 of every file) before and after.

- `--overwrite` onto the input, its parent, inside it, through a symbolic link, onto a folder holding files
  orchard did not write, onto a bucket root (versitygw): refused with exit 2, nothing touched;
- resume after each failpoint (ORCHARD_FAILPOINT): the input untouched, every finished feature part kept and
  used (error rows are tried again);
- a torn _job.json (exit 3, naming the file) and a torn _SUCCESS (exit 2 / 3): nothing touched;
- a storage outage while a resume checks the earlier parts: exit 3 naming the part, nothing deleted;
- the Spark job applies the same guard before it replaces anything.
"""

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import ORCHARD_BIN, REPO, read_manifest, run_orchard, sample_images, write_manifest
from fault_proxy import FaultProxy

EXIT_USAGE, EXIT_IO = 2, 3
LABELS = ("Cherry", "Kiwi", "Plum")
OPTIONS = ["--rows-per-part", "16", "--batch", "8", "--pca-k", "4", "--precision", "f32"]


def snapshot(*roots):
    """{path: sha256} of every file below the roots (or of the files themselves)."""
    digests = {}
    for root in map(str, roots):
        paths = [root] if os.path.isfile(root) else [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
        for path in paths:
            with open(path, "rb") as file:
                digests[path] = hashlib.sha256(file.read()).hexdigest()
    return digests


def images(per_label):
    return [p for p in sample_images("Test", per_label=per_label) if p.parent.name in LABELS]


@pytest.fixture
def work(tmp_path):
    """tmp/work/data/Test/<Label>/*.jpg: 2 images of 3 labels, copies the tests may lose."""
    for image in images(2):
        target = tmp_path / "work" / "data" / "Test" / image.parent.name / image.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(image, target)
    return tmp_path / "work"


@pytest.fixture(scope="module")
def finished_output(tmp_path_factory):
    """A finished `orchard run` output of 6 images, to copy."""
    root = tmp_path_factory.mktemp("finished")
    output = root / "out"
    run_orchard("run", "--input", write_manifest(root / "images.txt", images(2)), "--output", output, *OPTIONS)
    return output


def overwrite(input, output, *extra):
    return run_orchard("run", "--input", input, "--output", output, "--overwrite", *OPTIONS, *extra, check=False)


# ---- --overwrite, local

@pytest.mark.parametrize("where", ["input's parent", "input", "parent through a symlink", "input through a symlink",
                                   "inside the input"])
def test_overwrite_never_deletes_the_input(where, work, finished_output, tmp_path):
    """Issue 14: `--input work/data --output work --overwrite` emptied `work`, images included."""
    data = work / "data"
    output = {"input's parent": work, "input": data, "parent through a symlink": tmp_path / "link",
              "input through a symlink": tmp_path / "link", "inside the input": data / "out"}[where]
    if "symlink" in where:
        output.symlink_to(work if "parent" in where else data)
    if where == "inside the input":
        shutil.copytree(finished_output, output)
    before = snapshot(work)
    result = overwrite(data, output)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "the input" in result.stderr
    assert snapshot(work) == before


def test_overwrite_refuses_a_folder_holding_files_orchard_did_not_write(work, finished_output, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(finished_output, output)
    for foreign in ("notes.txt", "features/mine.parquet"):
        (output / foreign).write_text("the user's own file")
        before = snapshot(output, work)
        result = overwrite(work / "data", output)
        assert result.returncode == EXIT_USAGE, result.stderr
        assert f"'{foreign}'" in result.stderr
        assert snapshot(output, work) == before
        (output / foreign).unlink()
    # Only orchard's files left: they are replaced, and the input is untouched.
    before = snapshot(work)
    result = overwrite(work / "data", output)
    assert result.returncode == 0, result.stderr
    assert read_manifest(output)["counts"]["seen"] == 6 and snapshot(work) == before


def test_overwrite_refuses_files_with_orchards_names_but_no_job_record(work, tmp_path):
    """Before: a notebook's own pca.parquet and another tool's features/part-*.parquet, in a folder no orchard job
    wrote to, were deleted by --overwrite: the names alone were taken as proof that orchard wrote them."""
    output = tmp_path / "results"
    (output / "features").mkdir(parents=True)
    (output / "pca.parquet").write_text("the notebook's PCA")
    (output / "features" / "part-00000.parquet").write_text("another tool's rows")
    before = snapshot(output, work)
    result = overwrite(work / "data", output)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "no job record" in result.stderr
    assert snapshot(output, work) == before


# ---- --overwrite, S3 bucket roots

@pytest.fixture(scope="module")
def buckets(s3_server):
    """s3://lossin/Test/<Label>/ with 6 images; s3://lossout holding a finished orchard output at its root."""
    s3_server.create_bucket("lossin")
    for image in images(2):
        s3_server.upload_file(image, f"lossin/Test/{image.parent.name}/{image.name}")
    s3_server.create_bucket("lossout")
    return s3_server


def s3_overwrite(server, input, output, *extra):
    return subprocess.run([str(ORCHARD_BIN), "run", "--input", input, "--output", output, "--overwrite",
                           "--s3-endpoint", server.endpoint, *OPTIONS, *extra],
                          capture_output=True, text=True, env=server.client_env(use_endpoint_env=False),
                          timeout=600)


def test_overwrite_refuses_a_bucket_root_without_its_own_flag(buckets):
    """Issue 14: `--output s3://bucket --overwrite` emptied the whole bucket."""
    (buckets.root / "lossout" / "_SUCCESS").write_text("{}")
    (buckets.root / "lossout" / "backups").mkdir(exist_ok=True)
    (buckets.root / "lossout" / "backups" / "db.dump").write_text("someone else's data")
    before = snapshot(buckets.root / "lossin", buckets.root / "lossout")
    result = s3_overwrite(buckets, "s3://lossin/Test/", "s3://lossout")
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "whole bucket" in result.stderr and "--overwrite-bucket-root" in result.stderr
    # Even with the flag, what orchard did not write stays.
    result = s3_overwrite(buckets, "s3://lossin/Test/", "s3://lossout", "--overwrite-bucket-root")
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "'backups" in result.stderr
    # A bucket holding the input is refused whatever the flags.
    result = s3_overwrite(buckets, "s3://lossin/Test/", "s3://lossin", "--overwrite-bucket-root")
    assert result.returncode == EXIT_USAGE and "contains the input" in result.stderr, result.stderr
    assert snapshot(buckets.root / "lossin", buckets.root / "lossout") == before


def test_overwrite_of_a_bucket_root_with_the_flag_replaces_only_orchard_files(buckets):
    shutil.rmtree(buckets.root / "lossout" / "backups", ignore_errors=True)
    (buckets.root / "lossout" / "_SUCCESS").write_text("{}")
    before = snapshot(buckets.root / "lossin")
    result = s3_overwrite(buckets, "s3://lossin/Test/", "s3://lossout", "--overwrite-bucket-root")
    assert result.returncode == 0, result.stderr
    assert snapshot(buckets.root / "lossin") == before
    assert read_manifest(buckets.root / "lossout")["counts"]["written"] == 6


# ---- resume

@pytest.fixture(scope="module")
def resume_input(tmp_path_factory):
    """A manifest of 60 sample images and one bad file (so that error parts exist), and its files."""
    root = tmp_path_factory.mktemp("resume-loss")
    bad = root / "bad.jpg"
    bad.write_bytes(b"not an image")
    files = [*images(20), bad]
    return write_manifest(root / "images.txt", files), [root / "images.txt", *files]


def killed_at(failpoint, manifest, output):
    env = dict(os.environ, ORCHARD_FAILPOINT=failpoint)
    result = subprocess.run([str(ORCHARD_BIN), "run", "--input", str(manifest), "--output", str(output), *OPTIONS],
                            env=env, capture_output=True, text=True)
    assert result.returncode == -signal.SIGKILL, result.stderr


def finished_parts(folder):
    """{name: table} of the complete Parquet parts in a folder (a torn one does not read)."""
    parts = {}
    for path in sorted(folder.glob("part-*.parquet")):
        try:
            parts[path.name] = pq.read_table(path)
        except pa.ArrowException:
            pass
    return parts


@pytest.mark.parametrize("failpoint", ["listing:30", "staged-part:2", "pca-fit:1", "final-part:1"])
def test_resume_after_a_kill_keeps_the_input_and_every_finished_part(failpoint, resume_input, tmp_path):
    manifest, files = resume_input
    output = tmp_path / "out"
    inputs_before = snapshot(*files)
    killed_at(failpoint, manifest, output)
    staged = finished_parts(output / "_staging")

    result = run_orchard("run", "--input", manifest, "--output", output, *OPTIONS, check=False)
    assert result.returncode == 4, result.stderr  # the bad file
    assert snapshot(*files) == inputs_before
    for name, table in staged.items():  # each finished part is used as it is, not redone
        final = pq.read_table(output / "features" / name)
        assert final.column("path").equals(table.column("path")), name
        assert final.column("features").equals(table.column("features")), name
    # error rows carry no input key: an earlier attempt's are tried again (the file may have been fixed), once
    assert pq.read_table(output / "errors").column("path").to_pylist() == [str(files[-1])]
    assert read_manifest(output)["counts"] == {"seen": 61, "written": 60, "failed": 1}


@pytest.mark.parametrize("deletions", [1, 2, 3])
def test_an_overwrite_cut_short_can_be_run_again(deletions, finished_output, tmp_path):
    """--overwrite deleted _SUCCESS, then _job.json, then the rest: cut after the job record (a kill, or a part it
    could not delete) it left files with no record, which every later --overwrite refused ("no job record")."""
    output = tmp_path / "out"
    shutil.copytree(finished_output, output)
    manifest = write_manifest(tmp_path / "images.txt", images(1))
    command = [str(ORCHARD_BIN), "run", "--input", str(manifest), "--output", str(output), "--overwrite", *OPTIONS]
    killed = subprocess.run(command, env=dict(os.environ, ORCHARD_FAILPOINT=f"clear-output:{deletions}"),
                            capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (output / "_job.json").exists() and not (output / "_SUCCESS").exists()
    run_orchard("run", "--input", manifest, "--output", output, "--overwrite", *OPTIONS)
    assert read_manifest(output)["counts"]["written"] == 3


def test_a_torn_job_record_is_exit_3_and_touches_nothing(resume_input, tmp_path):
    """Issue 14: a torn _job.json made its JSON parse error escape as an internal error (exit 1)."""
    manifest, files = resume_input
    output = tmp_path / "out"
    killed_at("staged-part:2", manifest, output)
    job = output / "_job.json"
    job.write_bytes(job.read_bytes()[: len(job.read_bytes()) // 2])
    before = snapshot(output, *files)
    result = run_orchard("run", "--input", manifest, "--output", output, *OPTIONS, check=False)
    assert result.returncode == EXIT_IO, result.stderr
    assert str(job) in result.stderr and "--overwrite" in result.stderr
    assert snapshot(output, *files) == before
    assert run_orchard("run", "--input", manifest, "--output", output, "--overwrite", *OPTIONS,
                       check=False).returncode == 4


def test_a_torn_success_manifest_touches_nothing(finished_output, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(finished_output, output)
    success = output / "_SUCCESS"
    success.write_bytes(success.read_bytes()[:40])
    before = snapshot(output)
    (tmp_path / "in").mkdir()  # beside the output: one inside its input is refused first, whatever it holds
    result = run_orchard("run", "--input", tmp_path / "in", "--output", output, *OPTIONS, check=False)
    assert result.returncode == EXIT_USAGE and "finished job" in result.stderr, result.stderr
    result = run_orchard("inspect", output, check=False)
    assert result.returncode == EXIT_IO and "_SUCCESS" in result.stderr, result.stderr
    assert snapshot(output) == before


@pytest.mark.parametrize("kind", ["pca", "features"])
def test_a_success_naming_files_outside_the_output_deletes_and_reads_nothing(kind, finished_output, tmp_path):
    """A newcomer's finding (2026-12-03): with "../victim.parquet" in an edited _SUCCESS, `--incremental` deleted
    that file beside the output (the update deletes the files the finished job listed and it no longer does),
    and `inspect`, `train` and `eval` read whatever such a path named."""
    output = tmp_path / "out"
    shutil.copytree(finished_output, output)
    victim = tmp_path / "victim.parquet"
    shutil.copy(output / "pca.parquet", victim)
    manifest = read_manifest(output)
    manifest["files"][kind] = "../victim.parquet" if kind == "pca" else [*manifest["files"][kind], "../victim.parquet"]
    (output / "_SUCCESS").write_text(json.dumps(manifest))
    before = snapshot(output, victim)
    for command in (["run", "--input", finished_output.parent / "images.txt", "--output", output, *OPTIONS,
                     "--incremental"], ["inspect", output]):
        result = run_orchard(*command, check=False)
        assert result.returncode == EXIT_IO, result.stderr
        assert "_SUCCESS" in result.stderr and "../victim.parquet" in result.stderr, result.stderr
        assert snapshot(output, victim) == before


def test_a_part_damaged_after_it_was_written_is_an_error_naming_it(finished_output, tmp_path):
    """64 bytes flipped inside a finished features part were decoded into features up to 2.6e38, which inspect,
    train and eval used (a newcomer's finding, 2026-12-03). Parts now carry page checksums, verified on read."""
    output = tmp_path / "out"
    shutil.copytree(finished_output, output)
    part = output / read_manifest(output)["files"]["features"][0]
    damaged = bytearray(part.read_bytes())
    middle = len(damaged) // 2
    damaged[middle:middle + 64] = bytes(b ^ 0x5A for b in damaged[middle:middle + 64])
    part.write_bytes(damaged)
    for command in (["inspect", output], ["train", output, "--bundle", tmp_path / "bundle"]):
        result = run_orchard(*command, check=False)
        assert result.returncode == EXIT_IO, result.stderr
        assert str(part) in result.stderr and "checksum" in result.stderr, result.stderr


def test_reports_and_exports_replace_only_what_orchard_wrote(finished_output, tmp_path):
    """eval and audit replaced a user's report.html / metrics.json / audit.html / audit.json in their --report
    folder, and wrote into a run's own output (its features/ then did not read as Parquet, and --incremental
    refused it); export-model replaced a .bin the user never named."""
    before = snapshot(finished_output)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    for name in ("audit.html", "report.html", "model.bin"):
        (theirs / name).write_text("mine")
    bundle = tmp_path / "bundle"
    run_orchard("train", finished_output, "--bundle", bundle, "--split", "Test")
    for command in (["audit", finished_output], ["eval", finished_output, "--bundle", bundle, "--split", "Test"]):
        refused = run_orchard(*command, "--report", theirs, check=False)
        assert refused.returncode == EXIT_USAGE and "is not a file of an earlier report" in refused.stderr
        inside = run_orchard(*command, "--report", finished_output / "features", check=False)
        assert inside.returncode == EXIT_USAGE and "lies inside the output" in inside.stderr
        for _ in range(2):  # a report of its own is replaced
            run_orchard(*command, "--report", tmp_path / "reports")
    exported = run_orchard("export-model", "--output", theirs / "model.xml", check=False)
    assert exported.returncode == EXIT_USAGE and "model.bin exists without model.xml" in exported.stderr
    # A user's own IR, and a .bin that is a symbolic link to a file of theirs, were replaced (fourth newcomer).
    (theirs / "own.xml").write_text("<mine/>")
    (theirs / "linked.bin").symlink_to(theirs / "report.html")
    for name, says in (("own.xml", "is no export of orchard's"), ("linked.xml", "linked.bin is a symbolic link")):
        exported = run_orchard("export-model", "--output", theirs / name, check=False)
        assert exported.returncode == EXIT_USAGE and says in exported.stderr
    assert (theirs / "own.xml").read_text() == "<mine/>"
    assert all((theirs / name).read_text() == "mine" for name in ("audit.html", "report.html", "model.bin"))
    assert snapshot(finished_output) == before
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["audit.html", "audit.json", "metrics.json",
                                                                        "report.html"]


def test_a_new_output_inside_the_input_is_refused(work):
    """A new output inside the input was written there (only an existing one was refused); the next run over the
    input then read orchard's own Parquet files as images."""
    before = snapshot(work)
    output = work / "data" / "Test" / "Kiwi" / "features-out"
    result = run_orchard("run", "--input", work / "data", "--output", output, *OPTIONS, check=False)
    assert result.returncode == EXIT_USAGE and "lies inside the input" in result.stderr, result.stderr
    assert snapshot(work) == before and not output.exists()


def test_a_missing_input_file_says_why(tmp_path):
    """A read error gave "cannot open: Failed to open local file '…'" without the reason Arrow keeps aside."""
    missing = tmp_path / "gone.jpg"
    manifest = write_manifest(tmp_path / "images.txt", [*images(1), missing])
    result = run_orchard("run", "--input", manifest, "--output", tmp_path / "out", *OPTIONS, check=False)
    assert result.returncode == 4, result.stderr
    errors = pq.read_table(tmp_path / "out" / "errors").to_pylist()
    assert [(row["path"], row["stage"]) for row in errors] == [(str(missing), "read")], errors
    assert "No such file or directory" in errors[0]["message"], errors


def test_a_storage_outage_during_resume_deletes_no_part(s3_server, resume_input):
    """Issue 14: a part that could not be read because the storage was down was taken for a torn one and
    deleted. The outage here answers 503 to every read of the staged parts, past the client's retries."""
    manifest, files = resume_input
    s3_server.create_bucket("outage")
    env = dict(s3_server.client_env(use_endpoint_env=False), ORCHARD_FAILPOINT="staged-part:2")
    command = [str(ORCHARD_BIN), "run", "--input", str(manifest), "--output", "s3://outage/job", *OPTIONS]
    killed = subprocess.run([*command, "--s3-endpoint", s3_server.endpoint], env=env, capture_output=True,
                            text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    staging = s3_server.root / "outage" / "job" / "_staging"
    before = snapshot(staging, *files)
    assert len([p for p in before if "part-a000" in p]) == 2

    def staged_part_read(method, path):
        return method in ("GET", "HEAD") and "/_staging/part-" in urlsplit(path).path

    proxy = FaultProxy(s3_server.port, refuse=staged_part_read)
    try:
        env.pop("ORCHARD_FAILPOINT")
        result = subprocess.run([*command, "--s3-endpoint", proxy.endpoint], env=env, capture_output=True,
                                text=True, timeout=600)
    finally:
        proxy.stop()
    assert result.returncode == EXIT_IO, result.stderr
    assert "_staging/part-a000-0000" in result.stderr and "nothing was deleted" in result.stderr
    assert snapshot(staging, *files) == before
    resumed = subprocess.run([*command, "--s3-endpoint", s3_server.endpoint], env=env, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 4 and "32 inputs done by earlier attempts" in resumed.stderr, resumed.stderr


# ---- the same guard in the binding and the Spark job

def test_binding_applies_the_same_guard():
    sys.path.insert(0, str(REPO / "python"))
    import orchard
    with pytest.raises(ValueError, match="contains the input"):
        orchard.check_overwrite("/w/data", "/w", [])
    with pytest.raises(ValueError, match="whole bucket"):
        orchard.check_overwrite("s3a://in/data", "s3a://out", ["_SUCCESS"])
    with pytest.raises(ValueError, match="'notes.txt'"):
        orchard.check_overwrite("/in", "/out", ["features/part-00000-x.parquet", "notes.txt"])
    orchard.check_overwrite("s3a://in/data", "s3a://out", ["_SUCCESS"], overwrite_bucket_root=True)


def test_spark_job_refuses_what_orchard_run_refuses(spark, work, tmp_path):
    """The Spark job replaces features/ and errors/ whole (Spark's overwrite mode): onto the input's parent, or a
    folder whose features/ holds someone else's file, it must refuse before deleting anything."""
    sys.path.insert(0, str(REPO / "python"))
    import orchard.spark
    other = tmp_path / "other"
    (other / "features").mkdir(parents=True)
    (other / "features" / "theirs.parquet").write_text("someone else's features")
    named = tmp_path / "named"  # orchard's names, but no job record
    (named / "features").mkdir(parents=True)
    (named / "features" / "part-00000.parquet").write_text("another tool's rows")
    before = snapshot(work, other, named)
    for output, reason in ((work, "contains the input"), (work / "data" / "Test", "is the input"),
                           (other, "'features/theirs.parquet'"), (named, "no job record")):
        input = work / "data" / "Test" if output != work else work / "data"
        with pytest.raises(orchard.spark.OutputRefused, match=reason):
            orchard.spark.run(spark, input, output, overwrite=True)
    assert snapshot(work, other, named) == before


def test_spark_job_takes_orchards_lock_and_trusts_no_stale_success(spark, work, tmp_path):
    """The Spark job ignored the lock of a local output: beside an `orchard run --incremental` each deleted or
    listed the other's parts (a _SUCCESS naming deleted parts, or another writer's error rows). And like
    `orchard run`, its update deleted every file a stale _SUCCESS did not list before finding a listed one gone."""
    sys.path.insert(0, str(REPO / "python"))
    import orchard.spark
    output = tmp_path / "out"
    run_orchard("run", "--input", work / "data", "--output", output, *OPTIONS)
    folder = os.open(output, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running `orchard run` holds it
        with pytest.raises(orchard.spark.OutputRefused, match="in use by another orchard process"):
            orchard.spark.run(spark, work / "data", output, incremental=True, pca_k=4)
    finally:
        os.close(folder)
    stale = (output / "_SUCCESS").read_bytes()
    shutil.copy(images(3)[2], work / "data" / "Test" / "Kiwi" / "new.jpg")
    run_orchard("run", "--input", work / "data", "--output", output, "--incremental", *OPTIONS)
    (output / "_SUCCESS").write_bytes(stale)
    before = snapshot(output)
    with pytest.raises(orchard.spark.OutputRefused, match="part-a000.*which is missing; nothing was deleted"):
        orchard.spark.run(spark, work / "data", output, incremental=True, pca_k=4)
    assert snapshot(output) == before


def test_spark_overwrite_removes_an_interrupted_orchard_runs_staged_rows(spark, resume_input, tmp_path):
    """Before: the Spark job's --overwrite deleted _SUCCESS, features/ and errors/ but left an interrupted `orchard
    run`'s _staging/; the next `orchard run` with the Spark job's settings resumed from those rows of other settings
    (caffe features under an imagenet _job.json)."""
    sys.path.insert(0, str(REPO / "python"))
    import orchard.spark
    manifest, files = resume_input
    output = tmp_path / "out"
    killed_at("staged-part:2", manifest, output)
    assert list((output / "_staging").glob("part-*.parquet"))
    data = tmp_path / "data" / "Kiwi"
    data.mkdir(parents=True)
    shutil.copy(files[1], data / "a.jpg")
    shutil.copy(files[2], data / "b.jpg")
    orchard.spark.run(spark, tmp_path / "data", output, overwrite=True)
    assert not (output / "_staging").exists()
    assert read_manifest(output)["counts"]["written"] == 2


def test_a_second_run_on_an_output_in_use_is_refused_and_the_first_finishes_whole(resume_input, tmp_path):
    """Before: a second `orchard run` took the running job for an unfinished one, deleted its parts while resuming,
    and the first then wrote a _SUCCESS naming a deleted error part (its rows lost, inspect exit 3)."""
    manifest, _ = resume_input
    output = tmp_path / "out"
    command = [str(ORCHARD_BIN), "run", "--input", str(manifest), "--output", str(output), *OPTIONS]
    first = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        while not (output / "_job.json").exists():
            assert first.poll() is None, first.stderr.read()
        os.kill(first.pid, signal.SIGSTOP)  # the first job holds the output, mid-way
        second = subprocess.run(command, capture_output=True, text=True)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert second.returncode == EXIT_USAGE and "in use by another orchard process" in second.stderr, second.stderr
    assert first.wait(timeout=600) == 4, first.stderr.read()  # the bad file's error row
    assert read_manifest(output)["counts"] == {"seen": 61, "written": 60, "failed": 1}
    assert run_orchard("inspect", output).returncode == 0


def fsync_and_rename_events(log):
    """[(syscall, path)] in the order strace logged them: fsync's file (strace -y names the descriptor's path)
    and rename's new name. An interrupted call's "<unfinished ...>" line carries the arguments."""
    events = []
    for line in log.splitlines():
        if "fsync(" in line and "<" in line.split("fsync(", 1)[1]:
            events.append(("fsync", line.split("fsync(", 1)[1].split("<", 1)[1].split(">", 1)[0]))
        elif "rename(" in line and "resumed>" not in line:
            events.append(("rename", line.split('", "', 1)[1].split('"', 1)[0]))
    return events


def test_every_committed_file_is_on_disk_before_success_names_it(tmp_path):
    """A rename or close alone is not durable: after a power loss a _SUCCESS could survive that lists parts whose
    blocks were never written (orchard never called fsync, 2026-12-03). Every file _SUCCESS lists, and _SUCCESS
    itself, is now fsynced, with its folder, before the _SUCCESS is renamed into place or the job ends."""
    strace = shutil.which("strace")
    if strace is None:
        (pytest.fail if os.environ.get("CI") else pytest.skip)("strace is missing: scripts/setup.sh installs it")
    images = [p for p in sample_images("Test", per_label=12) if p.parent.name in LABELS]
    manifest = write_manifest(tmp_path / "images.txt", [*images, tmp_path / "missing.jpg"])  # and one error row
    output, log = tmp_path / "out", tmp_path / "strace.log"
    result = subprocess.run([strace, "-f", "-y", "-qq", "-e", "trace=fsync,rename", "-o", str(log), str(ORCHARD_BIN),
                             "run", "--input", str(manifest), "--output", str(output), *OPTIONS],
                            capture_output=True, text=True)
    assert result.returncode == 4, result.stderr  # finished, with the missing file's error row
    events = fsync_and_rename_events(log.read_text())
    success = events.index(("rename", str(output / "_SUCCESS")))
    synced_before = {path for call, path in events[:success] if call == "fsync"}
    files = read_manifest(output)["files"]
    committed = [*files["features"], *files["errors"], files["pca"], files["pca_moments"], files["inputs"]]
    assert len(files["features"]) >= 2 and files["errors"]
    for name in committed:
        path = output / name
        assert {str(path), f"{path}.tmp"} & synced_before, f"{name} was not fsynced before _SUCCESS named it"
        assert str(path.parent) in synced_before, f"the folder of {name} was not fsynced before _SUCCESS"
    assert ("fsync", str(output / "_SUCCESS.tmp")) in events[:success]
    assert ("fsync", str(output)) in events[success:]
