"""CPU-seconds of a benchmarked job, by process role and thread kind (stdlib only, Linux /proc).

    with CpuByRole() as cpu:
        run(...)
    print(cpu.table())

A thread samples /proc every `period` seconds and keeps each thread's last utime + stime, less what it had used
when the block began (a process started earlier, such as a cluster's daemons, counts only its CPU during the
block), so a thread that ends loses at most `period` of its CPU time. Roles are told by command line: orchard
(the CLI), the Python workers (pyspark.daemon), the executor JVMs, the driver JVM (SparkSubmit), the driver's
Python, the standalone master and worker daemons. JVM threads are split into JIT (HotSpot's C1/C2 compiler
threads), GC, the executors' task threads and the rest, which is where a Spark job's CPU beyond its Python
workers goes.
"""

import collections
import os
import threading

_ROLES = (("CoarseGrainedExecutorBackend", "executor JVMs"), ("deploy.master.Master", "master daemon"),
          ("deploy.worker.Worker", "worker daemons"), ("SparkSubmit", "driver JVM"),
          ("pyspark.daemon", "Python workers"), ("orchard.spark", "driver Python"),
          ("orchard/spark.py", "driver Python"), ("build/orchard", "orchard run"))
_KINDS = (("CompilerThre", "JIT"), ("GC Thread", "GC"), ("G1 ", "GC"), ("Executor task", "tasks"))
_HZ = os.sysconf("SC_CLK_TCK")


def _role(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    return next((role for key, role in _ROLES if key in command), None)


def _kind(thread_name):
    return next((kind for key, kind in _KINDS if key in thread_name), "")


class CpuByRole:
    """Samples every process of a known role, and their threads, until the `with` block ends."""

    def __init__(self, period=0.5):
        self.period = period
        self._seconds = {}  # (pid, tid) -> (role, kind, CPU-seconds so far)
        self._before = {}  # (pid, tid) -> CPU-seconds it had used when the block began
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._sample()
        self._before = {thread: seconds for thread, (_, _, seconds) in self._seconds.items()}
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()

    def _loop(self):
        while not self._stop.wait(self.period):
            self._sample()

    def _sample(self):
        for pid in filter(str.isdigit, os.listdir("/proc")):
            role = _role(pid)
            if role is None:
                continue
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    with open(f"/proc/{pid}/task/{tid}/comm") as f:
                        name = f.read().strip()
                    with open(f"/proc/{pid}/task/{tid}/stat") as f:
                        stat = f.read()
                except OSError:
                    continue
                fields = stat[stat.rfind(")") + 2:].split()  # the name may hold spaces and ')'
                self._seconds[(pid, tid)] = (role, _kind(name), (int(fields[11]) + int(fields[12])) / _HZ)

    def by_role(self):
        """{role: {kind: CPU-seconds}}, kind "" being threads of no listed kind."""
        totals = collections.defaultdict(collections.Counter)
        for thread, (role, kind, seconds) in self._seconds.items():
            totals[role][kind] += seconds - self._before.get(thread, 0.0)
        return totals

    def table(self):
        """One line per role: its CPU-seconds, and for JVMs those of their JIT, GC and task threads."""
        lines, roles = [], self.by_role()
        for role, kinds in sorted(roles.items(), key=lambda item: -sum(item[1].values())):
            split = ", ".join(f"{kind} {kinds[kind]:.1f}" for kind in ("JIT", "GC", "tasks") if kinds[kind])
            lines.append(f"  {role:<16} {sum(kinds.values()):7.1f} CPU-s" + (f" ({split})" if split else ""))
        total = sum(sum(kinds.values()) for kinds in roles.values())
        return "\n".join([*lines, f"  {'total':<16} {total:7.1f} CPU-s"])

