"""deploy/vm (issue 17, item 5): the one-VM recipe, checked for what can run without a cloud account.

The unit passes `systemd-analyze verify` and carries the hardening; the IAM policy and the cloud-init user data
parse and name only the places of deploy/vm/settings.json; the policy only reads the model repository; the load
balancer checks /v2/health/ready and the only inbound port is the service's; and the cloud-init's runcmd
commands, run as they are (paths moved into a temporary folder, `systemctl` replaced by a stand-in that starts
the unit's ExecStart), install a release tarball and bring up a service that answers ready from a model
repository in a local versitygw, read with the instance role of a fake metadata service.
"""

import hashlib
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import yaml

from conftest import ORCHARD_BIN, REPO
from fake_imds import FakeImds
from s3_server import ACCESS_KEY, SECRET_KEY
from test_serve_oip import small_bundle  # noqa: F401 (a fixture)
from test_serve_repository import upload_version, self_contained_bundle  # noqa: F401

VM = REPO / "deploy" / "vm"
SETTINGS = json.loads((VM / "settings.json").read_text())
UNIT = (VM / "orchard.service").read_text()
CLOUD_INIT_TEXT = (VM / "cloud-init.yaml").read_text()
CLOUD_INIT = yaml.safe_load(CLOUD_INIT_TEXT)


def unit_settings(text):
    """[Service] KEY=value lines as {key: [values]}."""
    settings = {}
    for key, value in re.findall(r"^(\w+)=(.*)$", text, re.MULTILINE):
        settings.setdefault(key, []).append(value)
    return settings


def serve_env_file():
    (entry,) = [f for f in CLOUD_INIT["write_files"] if f["path"] == "/etc/orchard/serve.env"]
    return dict(line.split("=", 1) for line in entry["content"].splitlines() if line)


def test_unit_passes_systemd_analyze_verify(tmp_path):
    # verify checks that ExecStart's binary exists: point it at this build.
    unit = tmp_path / "orchard.service"
    unit.write_text(UNIT.replace("/opt/orchard/bin/orchard", str(ORCHARD_BIN)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    problems = [line for line in result.stderr.splitlines() if "orchard.service" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_unit_is_hardened():
    settings = unit_settings(UNIT)
    for key, value in {"DynamicUser": "yes", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
                       "ProtectHome": "yes", "PrivateTmp": "yes", "CapabilityBoundingSet": "",
                       "MemoryMax": SETTINGS["memory_max"]}.items():
        assert settings.get(key) == [value], key
    exec_start = shlex.split(settings["ExecStart"][0])
    assert exec_start[:2] == ["/opt/orchard/bin/orchard", "serve"]
    for option in ("--max-connections", "--max-requests", "--decode-threads", "--max-body-bytes", "--max-pixels"):
        assert option in exec_start, f"the memory bound needs {option}"


def test_iam_policy_only_reads_the_model_repository():
    policy = json.loads((VM / "iam-policy.json").read_text())
    bucket, _, prefix = SETTINGS["model_repository"].removeprefix("s3://").partition("/")
    actions = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        statement_actions = {statement["Action"]} if isinstance(statement["Action"], str) else set(statement["Action"])
        actions |= statement_actions
        resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        for resource in resources:
            if statement_actions == {"s3:ListBucket"}:
                assert resource == f"arn:aws:s3:::{bucket}"
                assert all(p.startswith(prefix) for p in statement["Condition"]["StringLike"]["s3:prefix"])
            else:
                assert resource == f"arn:aws:s3:::{bucket}/{prefix}*"
    assert actions == {"s3:ListBucket", "s3:GetObject"}


def test_cloud_init_names_only_the_configured_places():
    assert CLOUD_INIT_TEXT.startswith("#cloud-config\n")
    env = serve_env_file()
    assert env["ORCHARD_MODEL_REPOSITORY"] == SETTINGS["model_repository"]
    assert env["ORCHARD_MODEL_NAME"] == SETTINGS["model_name"]
    assert int(env["ORCHARD_PORT"]) == SETTINGS["port"]
    commands = "\n".join(CLOUD_INIT["runcmd"])
    urls = set(re.findall(r"\b(?:https?|s3)://\S+", CLOUD_INIT_TEXT))
    assert urls == {SETTINGS["release"], SETTINGS["model_repository"]}
    assert f'echo "{SETTINGS["release_sha256"]}  /tmp/orchard.tar.gz" | sha256sum --check' in commands


def test_only_the_service_port_is_open_and_the_load_balancer_checks_readiness():
    group = json.loads((VM / "security-group.json").read_text())
    assert [(p["FromPort"], p["ToPort"]) for p in group["IpPermissions"]] == [(SETTINGS["port"], SETTINGS["port"])]
    assert all("IpRanges" not in p for p in group["IpPermissions"]), "open to the load balancer only"
    target = json.loads((VM / "target-group.json").read_text())
    assert target["HealthCheckPath"] == "/v2/health/ready" and target["Port"] == SETTINGS["port"]
    assert "TLS" in (VM / "README.md").read_text()


def test_package_script_passes_shellcheck():
    subprocess.run(["shellcheck", str(VM / "package.sh")], check=True)


FAKE_SYSTEMCTL = r'''#!PYTHON
"""systemctl as the cloud-init's runcmd uses it: daemon-reload does nothing; enable --now starts the unit's
ExecStart with its EnvironmentFile and Environment, in the background, its pid in ROOT/orchard.pid."""
import os, re, shlex, subprocess, sys
root = os.environ["FAKE_ROOT"]
if sys.argv[1:] == ["daemon-reload"]:
    sys.exit(0)
assert sys.argv[1:] == ["enable", "--now", "orchard.service"], sys.argv
unit = open(os.path.join(root, "etc/systemd/system/orchard.service")).read()
env = dict(os.environ)
for path in re.findall(r"^EnvironmentFile=(.*)$", unit, re.M):
    env.update(line.split("=", 1) for line in open(path).read().splitlines() if line)
for value in re.findall(r"^Environment=(.*)$", unit, re.M):
    key, _, v = value.partition("=")
    env[key] = v
command = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1)
command = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], command)
log = open(os.path.join(root, "orchard.log"), "w")
process = subprocess.Popen(shlex.split(command), env=env, stdout=log, stderr=log, start_new_session=True)
open(os.path.join(root, "orchard.pid"), "w").write(str(process.pid))
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def localised(text, root):
    """The recipe's absolute paths moved under `root`; the service on loopback."""
    for path in ("/opt/orchard", "/etc/orchard", "/etc/systemd/system", "/tmp/orchard.tar.gz"):
        text = text.replace(path, f"{root}{path}")
    return text.replace("--host 0.0.0.0", "--host 127.0.0.1")


def test_cloud_init_runcmd_brings_up_a_ready_service(s3_server, self_contained_bundle, tmp_path):  # noqa: F811
    root = tmp_path / "vm"
    # The release tarball (what package.sh makes; the binary here finds its libraries where it was built).
    release = tmp_path / "orchard.tar.gz"
    stage = tmp_path / "stage"
    (stage / "bin").mkdir(parents=True)
    (stage / "share").mkdir()
    shutil.copy(ORCHARD_BIN, stage / "bin" / "orchard")
    (stage / "share" / "orchard.service").write_text(localised(UNIT, root))
    with tarfile.open(release, "w:gz") as tar:
        tar.add(stage, arcname=".")
    sha256 = hashlib.sha256(release.read_bytes()).hexdigest()

    s3_server.create_bucket("models")
    upload_version(s3_server, self_contained_bundle, 1)  # into s3://models/repo/fruit/1/
    port = free_port()
    text = localised(CLOUD_INIT_TEXT, root).replace(SETTINGS["release"], release.as_uri())
    text = text.replace(SETTINGS["release_sha256"], sha256)
    user_data = yaml.safe_load(text)
    for entry in user_data["write_files"]:  # cloud-init writes these before runcmd
        path = Path(entry["path"])
        path.parent.mkdir(parents=True, exist_ok=True)
        content = entry["content"].replace(SETTINGS["model_repository"], "s3://models/repo")
        path.write_text(content.replace(f"ORCHARD_PORT={SETTINGS['port']}", f"ORCHARD_PORT={port}"))
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "tmp").mkdir()
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(FAKE_SYSTEMCTL.replace("PYTHON", sys.executable))
    (bin_dir / "systemctl").chmod(0o755)

    imds = FakeImds("orchard-vm-role", ACCESS_KEY, SECRET_KEY)
    env = s3_server.client_env()
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_EC2_METADATA_DISABLED"]
    env.update({"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint, "FAKE_ROOT": str(root),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none"),
                "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    script = "\n".join(user_data["runcmd"]) + "\n"
    pid = None
    try:
        subprocess.run(["sh", "-c", script], env=env, check=True, cwd=tmp_path)  # as cloud-init runs it
        assert (root / "opt/orchard/bin/orchard").exists() and not (root / "tmp/orchard.tar.gz").exists()
        pid = int((root / "orchard.pid").read_text())
        deadline = time.monotonic() + 180
        status = None
        while time.monotonic() < deadline and status != 200:
            status = http_status(port, "/v2/health/ready")
            time.sleep(0.2)
        assert status == 200, (root / "orchard.log").read_text()
    finally:
        if pid:
            stop(pid)
        imds.stop()


def stop(pid):
    """SIGTERM, then waits until the process is gone (it is not our child: the stand-in systemctl started it)."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def http_status(port, path):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None
