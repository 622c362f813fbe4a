"""deploy/emr/bootstrap.sh run on this machine as on an EMR node: the wheel and the script are fetched from an S3
bucket (versitygw), the venv goes to ORCHARD_PREFIX/.venv instead of /opt/orchard/.venv, and three commands of
an Amazon Linux node are stand-ins on PATH:

- `sudo`: runs the command (the tests run as the user who owns the prefix);
- `dnf`: records its arguments and installs nothing (this Debian has the libraries the wheel links);
- `aws s3 cp SRC DST`: copies one object from the bucket with pyarrow (keys and endpoint from AWS_*).

pip resolves offline from a wheelhouse of the pinned dependencies (PIP_NO_INDEX, PIP_FIND_LINKS), filled once
from pip's cache.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP = REPO / "deploy" / "emr" / "bootstrap.sh"

AWS_STAND_IN = """#!{python}
# aws s3 cp [--only-show-errors] s3://BUCKET/KEY DEST: one object from the S3 server of AWS_ENDPOINT_URL.
import os, sys
from urllib.parse import urlparse
import pyarrow.fs as pafs
args = [a for a in sys.argv[1:] if not a.startswith("--")]
if args[:2] != ["s3", "cp"] or len(args) != 4 or not args[2].startswith("s3://"):
    sys.exit("aws stand-in: only `aws s3 cp s3://bucket/key dest`, got " + " ".join(sys.argv[1:]))
endpoint = urlparse(os.environ["AWS_ENDPOINT_URL"])
fs = pafs.S3FileSystem(access_key=os.environ["AWS_ACCESS_KEY_ID"], secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                       region=os.environ["AWS_REGION"], endpoint_override=endpoint.netloc, scheme=endpoint.scheme)
with fs.open_input_stream(args[2][len("s3://"):]) as source, open(args[3], "wb") as target:
    target.write(source.read())
"""


def _stand_ins(folder):
    folder.mkdir(parents=True, exist_ok=True)
    scripts = {"sudo": '#!/usr/bin/env bash\nexec "$@"\n',
               "dnf": f'#!/usr/bin/env bash\necho "dnf $*" >> "{folder}/dnf.log"\n',
               "aws": AWS_STAND_IN.format(python=sys.executable)}
    for name, text in scripts.items():
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    return folder


def wheelhouse(wheel, folder, requirements):
    """The wheel's pinned dependencies and bootstrap.sh's pandas, downloaded (from pip's cache) into `folder`."""
    constraints = folder / "constraints.txt"
    folder.mkdir(parents=True, exist_ok=True)
    constraints.write_text(re.sub(r"\[[^\]]*\]", "", Path(requirements).read_text()))
    pandas = re.search(r"^PANDAS=(\S+)$", BOOTSTRAP.read_text(), re.MULTILINE).group(1)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(folder), "-c", str(constraints),
                    str(wheel), pandas], check=True, capture_output=True, timeout=1200)
    return folder


def bootstrap(prefix, wheel_uri, sha256, env, wheels, work):
    """Runs deploy/emr/bootstrap.sh WHEEL_URI SHA256 with ORCHARD_PREFIX=prefix; returns the CompletedProcess."""
    stand_ins = _stand_ins(Path(work) / "bin")
    env = {**env, "ORCHARD_PREFIX": str(prefix), "PATH": f"{stand_ins}{os.pathsep}{os.environ['PATH']}",
           "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(["bash", str(BOOTSTRAP), wheel_uri, sha256], capture_output=True, text=True, env=env,
                          timeout=1200)
