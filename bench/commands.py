"""Running the measured commands of the benchmarks (stdlib only)."""

import os
import subprocess
import tempfile
import time
from pathlib import Path


class RunFailed(Exception):
    pass


def run(cmd, ok_codes=(0, 4), **kwargs):
    """Runs cmd; returns (stdout, stderr, peak RSS in MiB of that process alone, seconds). An exit code outside
    ok_codes raises RunFailed (orchard's 4: some inputs became error rows, the run itself finished)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=err, text=True, **kwargs)
        _, status, usage = os.wait4(proc.pid, 0)  # per-child rusage, unlike RUSAGE_CHILDREN's running max
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode not in ok_codes:
        raise RunFailed(f"{Path(str(cmd[0])).name} {cmd[1]} exited {proc.returncode}: {stderr.strip()[-300:]}")
    return stdout, stderr, usage.ru_maxrss / 1024, seconds
