"""A Spark standalone cluster for tests and benchmarks: a master and workers, each its own JVM on loopback,
started with pyspark's own `bin/spark-class` (org.apache.spark.deploy.master.Master / worker.Worker), the way a
cluster's nodes run them. Jobs are submitted with pyspark's `bin/spark-submit` to `spark://127.0.0.1:PORT`.

Each worker runs in a process group of its own, so kill_worker() ends it together with its executor JVM and
that executor's Python workers, as a lost node would; start_worker() brings it back.
"""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pyspark

SPARK_HOME = Path(pyspark.__file__).resolve().parent
JAVA_HOME = os.environ.get("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spark_env(extra=None):
    """Environment of every JVM of the cluster: pyspark's Spark, Java 17, loopback only, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "SPARK_HOME", "VIRTUAL_ENV")}
    env.update({"SPARK_HOME": str(SPARK_HOME), "JAVA_HOME": JAVA_HOME, "SPARK_LOCAL_IP": "127.0.0.1",
                "SPARK_LOCAL_HOSTNAME": "localhost", **(extra or {})})
    return env


class SparkCluster:
    """A master and `workers` workers of `cores` cores each; `url` is spark://127.0.0.1:PORT. `env` (e.g. AWS
    keys) is every JVM's, and so the executors' (a node's instance role, on EMR). stop() ends them all."""

    def __init__(self, root, workers=2, cores=1, memory="1g", env=None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.cores, self.memory = cores, memory
        # The executors' scratch (a copy of every shipped jar, ~0.5 GB a job) under root too: in /tmp, Spark's
        # default, it outlived every killed worker and filled the disk after some 15 test runs.
        self.env = spark_env({**(env or {}), "SPARK_CONF_DIR": str(self.root / "conf"),
                              "SPARK_LOG_DIR": str(self.root / "logs"), "SPARK_LOCAL_DIRS": str(self.root / "local")})
        (self.root / "conf").mkdir(exist_ok=True)
        self.port = _free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self._workers = {}
        self._master = None
        started = time.monotonic()
        try:
            self._master = self._launch("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                        "--port", str(self.port), "--webui-port", str(_free_port()))
            self._wait_for_log("master", "I have been elected leader")
            for index in range(workers):
                self.start_worker(index)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started

    def _launch(self, name, main_class, *args):
        log = open(self.root / f"{name}.log", "ab")
        process = subprocess.Popen([str(SPARK_HOME / "bin" / "spark-class"), main_class, *args], env=self.env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        process.log_file = log
        return process

    def _wait_for_log(self, name, pattern, process=None, timeout=120, count=1):
        process = process or self._master
        log = self.root / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(re.findall(pattern, log.read_text(errors="replace"))) >= count:
                return
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {log}")
            time.sleep(0.2)
        raise RuntimeError(f"{name}: no '{pattern}' in {log} within {timeout} s")

    def start_worker(self, index):
        """Starts worker `index` (again, after kill_worker) and waits until the master has registered it."""
        name = f"worker-{index}"
        registered = len(re.findall("Successfully registered with master",
                                    (self.root / f"{name}.log").read_text(errors="replace")
                                    if (self.root / f"{name}.log").exists() else ""))
        work_dir = self.root / name
        work_dir.mkdir(exist_ok=True)
        self._workers[index] = self._launch(name, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                                            "--cores", str(self.cores), "--memory", self.memory,
                                            "--webui-port", str(_free_port()), "--work-dir", str(work_dir),
                                            self.url)
        self._wait_for_log(name, "Successfully registered with master", self._workers[index],
                           count=registered + 1)

    def python_workers(self, index):
        """Process ids of the Python workers of worker `index`'s executor (in the worker's process group): a
        Python task has run there."""
        result = subprocess.run(["pgrep", "-g", str(self._workers[index].pid), "-f", "pyspark.daemon"],
                                capture_output=True, text=True)
        return [int(pid) for pid in result.stdout.split()]

    def kill_worker(self, index):
        """SIGKILL to worker `index`'s process group: its JVM, its executor and the executor's Python workers."""
        process = self._workers.pop(index)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
        process.log_file.close()

    @staticmethod
    def spark_submit():
        return SPARK_HOME / "bin" / "spark-submit"

    def _submit_command(self, args, conf):
        command = [str(self.spark_submit()), "--master", self.url]
        for key, value in (conf or {}).items():
            command += ["--conf", f"{key}={value}"]
        return command + [str(a) for a in args]

    def submit(self, args, conf=None, env=None, timeout=900):
        """`spark-submit --master URL [--conf K=V ...] ARGS` (client mode); returns the CompletedProcess."""
        return subprocess.run(self._submit_command(args, conf), capture_output=True, text=True,
                              env={**self.env, **(env or {})}, timeout=timeout)

    def submit_async(self, args, *, log, conf=None, env=None):
        """spark-submit as submit(), without waiting: the Popen, its stdout and stderr going to the file `log`.
        A file, not a pipe: a caller waiting for something else does not drain a pipe, and a driver whose log
        filled one blocked in its logger, holding the lock its scheduler needed to register executors."""
        with open(log, "w") as output:
            return subprocess.Popen(self._submit_command(args, conf), stdout=output, stderr=subprocess.STDOUT,
                                    text=True, env={**self.env, **(env or {})})

    def stop(self):
        for index in list(self._workers):
            self.kill_worker(index)
        if self._master is not None and self._master.poll() is None:
            os.killpg(self._master.pid, signal.SIGTERM)
            try:
                self._master.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self._master.pid, signal.SIGKILL)
                self._master.wait()
            self._master.log_file.close()
