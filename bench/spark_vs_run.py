"""Benchmark (not a test; `make bench-spark`): the same job, same images, same model at f32, in one run on this
machine, by
  - `orchard run --threads N` (N = the cores given to the Spark paths),
  - `python -m orchard.spark run` on Spark local[N] (one JVM),
  - the same job through spark-submit on a Spark standalone cluster of N one-core workers, each its own JVM on
    loopback (tests/python/spark_cluster.py), the workers' Python from the checkout (PYTHONPATH).
Prints images/s, images/s per core and the ratio to `orchard run` per core, then each Spark path's stage times
(JVM start, model compile per worker, input listing, featurise, PCA fit, transform + write), whole-command wall
time included (JVM start and cluster submission count), and the CPU-seconds each engine's processes took, by
role (cpu_by_role.py): the Python workers against orchard run, and the JVMs' share with their JIT compilers
apart. --copies N runs every engine on N copies of the input (N x the images), to tell per-image costs from fixed
ones.

    .venv/bin/python bench/spark_vs_run.py [--input DIR] [--cores 2] [--per-label 0] [--copies 1]
"""

import argparse
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from commands import run
from cpu_by_role import CpuByRole

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ORCHARD_SHARED", REPO.parent / "shared"))
SAMPLE = SHARED / "data" / "fruits-360-sample"
sys.path.insert(0, str(REPO / "tests" / "python"))
from spark_cluster import SparkCluster  # noqa: E402

STAGE = re.compile(r"^orchard\.spark: (jvm_start|list_inputs|featurise|pca_fit|transform_and_write) ([0-9.]+) s$", re.M)
COMPILE = re.compile(r"^orchard\.spark: model compile on (\S+) ([0-9.]+) s, (\d+) threads$", re.M)


def subset(source, per_label, folder):
    """The first `per_label` images of every label of every split of `source`, copied below `folder`."""
    for label in sorted(source.glob("*/*")):
        target = folder / label.relative_to(source)
        target.mkdir(parents=True)
        for image in sorted(label.glob("*.jpg"))[:per_label]:
            shutil.copy(image, target / image.name)
    return folder


def copies(source, count, folder):
    """`count` copies of the tree `source` below `folder` (copy-<i>/<split>/<Label>/<file>: labels are kept)."""
    for index in range(count):
        shutil.copytree(source, folder / f"copy-{index}")
    return folder


def stages(stderr):
    found = {name: float(seconds) for name, seconds in STAGE.findall(stderr)}
    compiles = [f"{float(seconds):.1f}s/{threads}t" for _, seconds, threads in COMPILE.findall(stderr)]
    return (" ".join(f"{name} {seconds:.1f}s" for name, seconds in found.items())
            + f" | model compile per worker: {', '.join(compiles) or '-'}")


def _standalone(cores, tmp, python, job):
    """The job through spark-submit on a standalone cluster of `cores` 1-core workers: (seconds, output, CPU by
    role while it ran; the cluster's start not counted, as in its seconds)."""
    cluster = SparkCluster(tmp / "cluster", workers=cores, cores=1, memory="2g")
    try:
        conf = {"spark.pyspark.python": python, "spark.pyspark.driver.python": python,
                "spark.executorEnv.PYTHONPATH": REPO / "python", "spark.ui.enabled": "false"}
        # spark-submit's PythonRunner merges the driver's stderr into its stdout.
        with CpuByRole() as usage:
            stdout, stderr, _, seconds = run(
                [cluster.spark_submit(), "--master", cluster.url,
                 *[a for k, v in conf.items() for a in ("--conf", f"{k}={v}")],
                 REPO / "python" / "orchard" / "spark.py", *job, "--output", tmp / "cluster-out"],
                env={**cluster.env, "PYTHONPATH": str(REPO / "python")})
    finally:
        cluster.stop()
    return seconds, stdout + stderr, usage


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=SAMPLE, help="default: the whole sample (both splits)")
    parser.add_argument("--cores", type=int, default=2, help="orchard run's threads, local[N], N workers")
    parser.add_argument("--per-label", type=int, default=0, help="0 = every image")
    parser.add_argument("--copies", type=int, default=1, help="run on this many copies of the input")
    args = parser.parse_args()
    python = Path(sys.executable)
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = subset(args.input, args.per_label, tmp / "in") if args.per_label else args.input.resolve()
        if args.copies > 1:
            source = copies(source, args.copies, tmp / "copies")
        n = sum(1 for p in source.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
        job = ["run", "--input", str(source), "--precision", "f32"]
        results, cpu = {}, {}
        with CpuByRole() as cpu["orchard run"]:
            results["orchard run"] = run([REPO / "build" / "orchard", *job, "--output", tmp / "native",
                                          "--threads", args.cores])[-1], ""
        local = f"spark local[{args.cores}]"
        with CpuByRole() as cpu[local]:
            _, stderr, _, seconds = run([python, "-m", "orchard.spark", *job, "--output", tmp / "local",
                                         "--master", f"local[{args.cores}]"], env=env)
        results[local] = seconds, stderr
        standalone = f"standalone {args.cores} x 1 core"
        seconds, output, cpu[standalone] = _standalone(args.cores, tmp, python, job)
        results[standalone] = seconds, output
    native_per_core = n / results["orchard run"][0] / args.cores
    print(f"{n} images of {source}, f32, {args.cores} cores for every engine")
    print(f"{'engine':<24} {'wall s':>8} {'images/s':>9} {'per core':>9} {'vs run':>7}")
    for name, (seconds, _) in results.items():
        per_core = n / seconds / args.cores
        print(f"{name:<24} {seconds:8.1f} {n / seconds:9.1f} {per_core:9.1f} {per_core / native_per_core:7.2f}")
    for name, (_, stderr) in results.items():
        if stderr:
            print(f"{name}: {stages(stderr)}")
    for name, usage in cpu.items():
        print(f"{name}, CPU by process (JVMs: their JIT compiler, GC and task threads apart):\n{usage.table()}")


if __name__ == "__main__":
    main()
