#!/usr/bin/env python3
"""orchard end to end vs OpenVINO's benchmark_app on the same graph vs the sgemm roofline.

For each model x precision x dataset: `orchard run` (timings from _SUCCESS, peak RSS from wait4), then
benchmark_app on the IR that `orchard export-model` writes (inference only, same batch, one stream), then
the images/s a machine doing nothing but this model's multiply-adds at numpy's sgemm rate would reach.
Prints a table and writes every number to bench/results/latest.json. Not a test: `make test` never runs it.
"""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import openvino as ov

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ORCHARD_SHARED", ROOT.parent / "shared"))
BENCHMARK_APP = ROOT / ".venv/bin/benchmark_app"
BATCH = 32

MODELS = {
    "mobilenetv2-int8": dict(path=SHARED / "models/mobilenetv2-12-int8.onnx", preprocess="imagenet",
                             precisions=["f32", "bf16", "int8"]),
    "resnet50": dict(path=ROOT / "models-generated/resnet50-notop.onnx", preprocess="caffe",
                     precisions=["f32", "bf16", "int8"]),
}
DATASETS = {
    "sample-test": SHARED / "data/fruits-360-sample/Test",  # 5,195 images of 100x100
    "original-validation": SHARED / "data/fruits-360-original-size/Validation",  # 367 large JPEGs
}
SLOW_RUNS = {("resnet50", "f32"): 2048}  # image cap: ~40 img/s, keeps `make bench` within ~15 min
NOT_AVAILABLE = {("resnet50", "int8"): "no quantised ResNet50 file (needs NNCF + calibration data)"}


class RunFailed(Exception):
    pass


def run(cmd, **kwargs):
    """Runs cmd; returns (stdout, stderr, peak RSS in MiB of that process alone, seconds)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=err, text=True, **kwargs)
        _, status, usage = os.wait4(proc.pid, 0)  # per-child rusage, unlike RUSAGE_CHILDREN's running max
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode not in (0, 4):  # 4: some inputs became error rows, the run itself finished
        raise RunFailed(f"{Path(cmd[0]).name} {cmd[1]} exited {proc.returncode}: {stderr.strip()[-300:]}")
    return stdout, stderr, usage.ru_maxrss / 1024, seconds


def cpu_busy(seconds=2.0):
    """Fraction of the cores busy over `seconds` while we run nothing: other users' work skews numbers."""
    def sample():
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait
    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def wait_quiet(timeout):
    """Waits up to `timeout` s for the machine to be idle; returns the busy fraction seen last (recorded)."""
    deadline = time.monotonic() + timeout
    while (busy := cpu_busy()) > 0.1 and time.monotonic() < deadline:
        print(f"bench: machine {busy:.0%} busy with other work, waiting", file=sys.stderr)
        time.sleep(10)
    return round(busy, 3)


def image_files(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file())


def orchard_run(orchard, model, precision, files, work, quiet_timeout):
    busy = wait_quiet(quiet_timeout)
    manifest = work / "manifest.txt"
    manifest.write_text("".join(f"{f}\t{f.parent.name}\n" for f in files))
    out = work / "out"
    stdout, _, rss, seconds = run([orchard, "run", "--input", manifest, "--output", out, "--overwrite",
                                   "--model", model["path"], "--preprocess", model["preprocess"],
                                   "--precision", precision, "--batch", BATCH])
    success = json.loads((out / "_SUCCESS").read_text())
    return dict(images=len(files), process_seconds=seconds, peak_rss_mib=rss, other_load_before=busy,
                stdout=stdout.strip(),
                wall_seconds=success["wall_seconds"], images_per_second=success["images_per_second"],
                timings=success["timings"])


def benchmark_app(ir, precision, input_shape, seconds, dynamic, quiet_timeout):
    """Throughput of the IR at batch BATCH, one stream like orchard's single synchronous caller."""
    busy = wait_quiet(quiet_timeout)
    dims = [BATCH if d.is_dynamic else d.get_length() for d in input_shape]
    shape = "[" + ",".join(map(str, dims)) + "]"
    layout = "[NCHW]" if dims[1] == 3 else "[NHWC]"  # without a layout benchmark_app counts batch 1
    # -shape makes the model static; -data_shape keeps orchard's dynamic batch and only feeds that shape.
    cmd = [BENCHMARK_APP, "-m", ir, "-d", "CPU", "-hint", "latency", "-api", "sync",
           "-layout", layout, "-data_shape" if dynamic else "-shape", shape, "-t", seconds]
    if precision != "int8":  # int8 runs where the graph is quantised; there is no such inference precision
        cmd += ["-infer_precision", precision]
    stdout, _, rss, _ = run(cmd)
    fps = re.search(r"Throughput:\s+([\d.]+) FPS", stdout)
    return dict(fps=float(fps.group(1)), peak_rss_mib=rss, other_load_before=busy)


def model_gflop(ir):
    """Multiply-adds x 2 per 224x224 image, counted over the IR's convolutions and matmuls."""
    model = ov.Core().read_model(ir)
    shape = [1 if d.is_dynamic else d.get_length() for d in model.input().get_partial_shape()]
    model.reshape({model.input().get_any_name(): shape})
    macs = 0
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind in ("Convolution", "GroupConvolution"):
            weights = list(op.input(1).get_shape())  # [Cout, Cin, kh, kw] or [G, Cout/G, Cin/G, kh, kw]
            per_output = int(np.prod(weights[-3:]))
            macs += int(np.prod(op.output(0).get_shape())) * per_output
        elif kind == "MatMul":
            a = list(op.input(0).get_shape())
            macs += int(np.prod(op.output(0).get_shape())) * a[-2 if op.get_transpose_a() else -1]
    return 2 * macs / 1e9


def sgemm_gflops(n=2048, reps=10):
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.T.copy()
    a @ b  # warm-up: threads started, pages touched
    best = min(timed(lambda: a @ b) for _ in range(reps))
    return 2 * n**3 / best / 1e9


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def machine():
    cpuinfo = Path("/proc/cpuinfo").read_text()
    flags = re.search(r"^flags\s*:(.*)$", cpuinfo, re.M).group(1).split()
    return dict(cpu=re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M).group(1), cores=os.cpu_count(),
                isa=[f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16") if f in flags],
                memory_gib=round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                os=platform.platform(), python=platform.python_version(), openvino=ov.__version__,
                numpy=np.__version__)


def ratio(a, b):
    return round(a / b, 3) if a and b else None


def print_table(rows, sgemm):
    """A Markdown table, pasted as it is into docs/benchmarks.md."""
    head = ["model", "precision", "dataset", "images", "orchard img/s", "features-stage img/s",
            "benchmark_app static", "benchmark_app dynamic", "roofline img/s", "orchard ÷ benchmark_app",
            "÷ roofline", "peak RSS MiB", "other load"]
    print(f"\nsgemm (numpy float32, 2048²): {sgemm:.0f} GFLOP/s\n")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        if "skipped" in r:
            cells = [r["model"], r["precision"], f"n/a: {r['skipped']}"] + [""] * (len(head) - 3)
        elif "failed" in r:
            b = r["benchmark_app"]
            cells = [r["model"], r["precision"], r["dataset"], r["images"], "**failed** (see JSON)", "",
                     f"{b['static']['fps']:.1f}", f"{b['dynamic']['fps']:.1f}"] + [""] * (len(head) - 8)
        else:
            o, b = r["orchard"], r["benchmark_app"]
            cells = [r["model"], r["precision"], r["dataset"], o["images"], f"{o['images_per_second']:.1f}",
                     f"{o['features_images_per_second']:.1f}", f"{b['static']['fps']:.1f}",
                     f"{b['dynamic']['fps']:.1f}", f"{r['roofline_images_per_second']:.1f}",
                     r["e2e_over_benchmark_app"], r["e2e_over_roofline"], f"{o['peak_rss_mib']:.0f}",
                     f"{max(o['other_load_before'], b['static']['other_load_before']):.0%}"]
        print("| " + " | ".join(map(str, cells)) + " |")


def row(name, precision, dataset, gflop, sgemm, o, bench):
    o["features_images_per_second"] = o["images"] / o["timings"]["features_seconds"]
    ceiling, roofline = bench["static"]["fps"], sgemm / gflop
    return dict(model=name, precision=precision, dataset=dataset, model_gflop=gflop, orchard=o,
                benchmark_app=bench, roofline_images_per_second=roofline,
                e2e_over_benchmark_app=ratio(o["images_per_second"], ceiling),
                features_over_benchmark_app=ratio(o["features_images_per_second"], ceiling),
                benchmark_app_over_roofline=ratio(ceiling, roofline),
                e2e_over_roofline=ratio(o["images_per_second"], roofline))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orchard", type=Path, default=ROOT / "build/orchard")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--bench-seconds", type=int, default=15, help="benchmark_app -t")
    parser.add_argument("--max-images", type=int, default=0, help="cap every dataset (0: all images)")
    parser.add_argument("--quiet-timeout", type=int, default=120,
                        help="wait up to this many s before each measurement for other work to finish")
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/latest.json")
    args = parser.parse_args()

    wait_quiet(args.quiet_timeout)
    sgemm = sgemm_gflops()
    rows = []
    with tempfile.TemporaryDirectory(prefix="orchard-bench-") as tmp:
        work = Path(tmp)
        for name in args.models:
            model, ir = MODELS[name], work / f"{name}.xml"
            run([args.orchard, "export-model", "--model", model["path"], "--output", ir])
            gflop = model_gflop(ir)
            input_shape = ov.Core().read_model(ir).input().get_partial_shape()
            for precision in model["precisions"]:
                if (name, precision) in NOT_AVAILABLE:
                    rows.append(dict(model=name, precision=precision, skipped=NOT_AVAILABLE[name, precision]))
                    continue
                bench = {kind: benchmark_app(ir, precision, input_shape, args.bench_seconds,
                                             kind == "dynamic", args.quiet_timeout)
                         for kind in ("static", "dynamic")}
                for dataset, folder in DATASETS.items():
                    files = image_files(folder)
                    cap = min(filter(None, [args.max_images, SLOW_RUNS.get((name, precision))]), default=0)
                    if cap:
                        files = files[:: -(-len(files) // cap)]  # every k-th file: all labels stay
                    try:
                        o = orchard_run(args.orchard, model, precision, files, work, args.quiet_timeout)
                    except RunFailed as failure:  # recorded, not fatal: the other configurations still run
                        rows.append(dict(model=name, precision=precision, dataset=dataset, images=len(files),
                                         benchmark_app=bench, failed=str(failure)))
                        print(f"bench: {name} {precision} {dataset}: {failure}", file=sys.stderr)
                        continue
                    rows.append(row(name, precision, dataset, gflop, sgemm, o, bench))
                    print(f"bench: {name} {precision} {dataset}: {o['stdout']}", file=sys.stderr)

    print_table(rows, sgemm)
    result = dict(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"), machine=machine(),
        orchard_version=run([args.orchard, "--version"])[0].strip(), batch=BATCH, sgemm_gflops=sgemm,
        notes=["benchmark_app reloads the exported IR: for the int8 model OpenVINO then runs real int8 "
               "kernels where orchard's in-memory graph may dequantise, so those rows are a ceiling, not a "
               "twin.",
               "roofline = sgemm GFLOP/s / (2 x multiply-adds per image, counted from the IR).",
               "other_load_before: fraction of the cores busy with other work just before a measurement."],
        rows=rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\n-> {args.output}")


if __name__ == "__main__":
    main()
