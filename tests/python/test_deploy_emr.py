"""deploy/emr (issue 4): the EMR recipe cannot run here, so it is checked for what can go wrong without AWS.

Every JSON file parses; every shell script passes `bash -n` and shellcheck; the IAM policy names only the buckets
of deploy/emr/settings.json, reads (never writes) the input prefix, writes only the output and log prefixes and
lists only under those prefixes; every s3:// URI in the recipe lies under a configured location; the managed
scaling bounds fit the fleets; the step runs the orchard/spark.py and the interpreter of the venv bootstrap.sh
installs the wheel into, without PYTHONPATH; the bootstrap's wheel is tagged for that interpreter; the step's
arguments are accepted by orchard.spark's own command line.
"""

import json
import re
import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "python"))
import orchard.spark  # noqa: E402

EMR = REPO / "deploy" / "emr"
SETTINGS = json.loads((EMR / "settings.json").read_text())
LOCATIONS = {name: SETTINGS[name] for name in ("input", "output", "artifacts", "logs")}
SHELL_SCRIPTS = sorted(EMR.rglob("*.sh")) + [REPO / "scripts" / "fetch_spark_jars.sh"]
S3_WRITES = {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}


def _bucket_and_prefix(uri):
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix.rstrip("/")


def _load(name):
    return json.loads((EMR / name).read_text())


def _script_setting(script, name):
    """A NAME=value line of deploy/emr/SCRIPT, with $OTHER expanded from the lines before it (and
    ${OVERRIDE:-default} as its default)."""
    settings = {}
    for key, value in re.findall(r"^([A-Z_]+)=(\S+)$", (EMR / script).read_text(), re.MULTILINE):
        value = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)  # ${OVERRIDE:-default}: the default
        settings[key] = re.sub(r"\$(\w+)", lambda m: settings[m.group(1)], value)
    return settings[name]


def _statements():
    return _load("iam-policy.json")["Statement"]


def _actions(statement):
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def _resources(statement):
    resources = statement["Resource"]
    return [resources] if isinstance(resources, str) else resources


def test_every_json_file_parses():
    files = sorted(EMR.rglob("*.json"))
    assert len(files) >= 7
    for path in files:
        json.loads(path.read_text())


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda path: path.name)
def test_shell_script_passes_bash_n_and_shellcheck(script):
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    lint = subprocess.run(["shellcheck", "-x", str(script.relative_to(REPO))], capture_output=True, text=True,
                          cwd=REPO)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_policy_names_only_the_configured_buckets():
    buckets = {_bucket_and_prefix(uri)[0] for uri in LOCATIONS.values()}
    named = set()
    for statement in _statements():
        assert statement["Effect"] == "Allow"
        assert not any(action in ("*", "s3:*") for action in _actions(statement))
        for resource in _resources(statement):
            assert resource.startswith("arn:aws:s3:::"), resource  # no "*" resource for S3 actions
            named.add(resource.removeprefix("arn:aws:s3:::").split("/")[0])
    assert named == buckets


def test_policy_reads_input_and_writes_only_output_and_logs():
    input_bucket, input_prefix = _bucket_and_prefix(LOCATIONS["input"])
    writable = {f"arn:aws:s3:::{bucket}/{prefix}/*"
                for bucket, prefix in map(_bucket_and_prefix, (LOCATIONS["output"], LOCATIONS["logs"]))}
    for statement in _statements():
        if _actions(statement) & S3_WRITES:
            assert set(_resources(statement)) <= writable, statement["Sid"]
    readable = [r for s in _statements() if "s3:GetObject" in _actions(s) for r in _resources(s)]
    assert f"arn:aws:s3:::{input_bucket}/{input_prefix}/*" in readable


def test_listing_is_limited_to_the_configured_prefixes():
    prefixes = {}
    for bucket, prefix in map(_bucket_and_prefix, (LOCATIONS["input"], LOCATIONS["output"])):
        prefixes[f"arn:aws:s3:::{bucket}"] = {prefix, f"{prefix}/", f"{prefix}/*"}
    listing = [s for s in _statements() if "s3:ListBucket" in _actions(s)]
    assert {r for s in listing for r in _resources(s)} == set(prefixes)
    for statement in listing:
        (resource,) = _resources(statement)
        assert set(statement["Condition"]["StringLike"]["s3:prefix"]) == prefixes[resource]


def test_every_s3_uri_of_the_recipe_is_a_configured_location():
    files = sorted(EMR.rglob("*.json")) + sorted(EMR.rglob("*.sh"))
    uris = {uri for path in files if path.name != "settings.json"
            for uri in re.findall(r"s3://[^\s\"']+", path.read_text())}
    assert uris
    for uri in uris:
        assert any(uri.startswith(location) for location in LOCATIONS.values()), uri


def test_managed_scaling_bounds_fit_the_fleets():
    limits = _load("cluster/managed-scaling.json")["ComputeLimits"]
    fleets = {fleet["InstanceFleetType"]: fleet for fleet in _load("cluster/instance-fleets.json")}
    assert limits["UnitType"] == "InstanceFleetUnits"
    assert 0 < limits["MinimumCapacityUnits"] <= limits["MaximumCapacityUnits"]
    assert limits["MaximumOnDemandCapacityUnits"] <= limits["MaximumCapacityUnits"]
    # The on-demand core fleet is the floor; everything above it is task-fleet spot capacity.
    assert fleets["CORE"]["TargetOnDemandCapacity"] == limits["MinimumCapacityUnits"] == \
        limits["MaximumCoreCapacityUnits"] == limits["MaximumOnDemandCapacityUnits"]
    assert fleets["TASK"]["LaunchSpecifications"]["SpotSpecification"]["AllocationStrategy"] == \
        "price-capacity-optimized"


def _spark_conf(args):
    return dict(args[i + 1].split("=", 1) for i, arg in enumerate(args) if arg == "--conf")


def test_step_runs_the_installed_orchard_with_the_bootstrap_venv():
    (step,) = _load("step.json")
    args = step["Args"]
    venv, python = _script_setting("bootstrap.sh", "VENV"), _script_setting("bootstrap.sh", "PYTHON")
    script = next(a for a in args if a.endswith(".py"))
    assert script == f"{venv}/lib/{python}/site-packages/orchard/spark.py"  # where pip installs the wheel
    conf = _spark_conf(args)
    assert conf["spark.pyspark.python"] == conf["spark.pyspark.driver.python"] == f"{venv}/bin/python"
    # Installed, orchard is found in site-packages: a PYTHONPATH anywhere would shadow or hide it.
    assert not [path for path in EMR.rglob("*.json") if "PYTHONPATH" in path.read_text()]


def test_bootstrap_installs_a_wheel_built_for_its_python():
    (action,) = _load("cluster/bootstrap-actions.json")
    wheel_uri, _ = action["Args"]
    assert wheel_uri.startswith(LOCATIONS["artifacts"]) and action["Path"].startswith(LOCATIONS["artifacts"])
    python = _script_setting("bootstrap.sh", "PYTHON")
    assert _script_setting("package.sh", "PYTHON") == python  # the wheel is built by the nodes' interpreter
    tag = "cp" + python.removeprefix("python").replace(".", "")
    assert re.fullmatch(rf"orchard-[0-9.]+-{tag}-{tag}-manylinux_2_34_x86_64\.whl", wheel_uri.rsplit("/", 1)[1]), wheel_uri


def test_step_runs_orchard_spark_with_arguments_it_accepts():
    (step,) = _load("step.json")
    args = step["Args"]
    script = next(a for a in args if a.endswith(".py"))
    parsed = orchard.spark.argument_parser().parse_args(args[args.index(script) + 1:])
    assert parsed.input == LOCATIONS["input"] and parsed.output.startswith(LOCATIONS["output"])
    assert parsed.model.startswith(LOCATIONS["artifacts"])
    # 0: as many threads as the task's cores (spark.task.cpus of cluster/configurations.json), one orchard per task.
    assert parsed.threads == 0
