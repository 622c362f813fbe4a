#!/usr/bin/env python3
"""orchard end to end vs OpenVINO's benchmark_app on the same graph vs the sgemm roofline vs two peers.

For each model x precision x dataset: `orchard run` (timings from _SUCCESS, peak RSS from wait4), then
benchmark_app on the IR that `orchard export-model` writes (inference only, same batch, one stream), then
the images/s a machine doing nothing but this model's multiply-adds at numpy's sgemm rate would reach.
Peers, on one subset of the sample's Test split (the same images for every compared row): the seed-style
PySpark + pandas UDF + tf.keras job (bench/seed_reference.py, .venv-bench) and Debian's OpenCV-DNN
(bench/opencv_dnn_reference.py). For the NNCF-quantised ResNet50 (bench/quantize_resnet50.py): how far its
features are from f32's and the recognition top-1 of each (`orchard train`/`eval`).
Prints the tables and writes every number to bench/results/latest.json. Not a test: `make test` never runs it.
"""

import argparse
import datetime
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import openvino as ov
import pyarrow.parquet as pq

from commands import RunFailed, run

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ORCHARD_SHARED", ROOT.parent / "shared"))
BENCHMARK_APP = ROOT / ".venv/bin/benchmark_app"
BENCH_PYTHON = ROOT / ".venv-bench/bin/python"  # TensorFlow, PySpark, NNCF: scripts/setup_bench.sh
DEBIAN_PYTHON = Path("/usr/bin/python3")  # Debian's python3-opencv (OpenCV 4.6)
BATCH = 8  # orchard run's default

# int8_path: the quantised file that precision int8 runs, when `path` itself is a float model.
# keras: the seed-style job's tf.keras.applications twin (same architecture, its own random weights).
# opencv_output: the layer OpenCV-DNN names for the feature tensor orchard cuts at.
MODELS = {
    "mobilenetv2-int8": dict(path=SHARED / "models/mobilenetv2-12-int8.onnx", preprocess="imagenet",
                             precisions=["f32", "bf16", "int8"], keras="mobilenetv2",
                             opencv_output="onnx_node!627_DequantizeLinear"),
    "resnet50": dict(path=ROOT / "models-generated/resnet50-notop.onnx", preprocess="caffe",
                     precisions=["f32", "bf16", "int8"], keras="resnet50", opencv_output="features",
                     int8_path=ROOT / "models-generated/resnet50-notop-int8.onnx"),
}
DATASETS = {
    "sample-test": SHARED / "data/fruits-360-sample/Test",  # 5,195 images of 100x100
    "original-validation": SHARED / "data/fruits-360-original-size/Validation",  # 367 large JPEGs
}
SLOW_RUNS = {("resnet50", "f32"): 2048}  # image cap: ~40 img/s, keeps `make bench` within ~30 min
PEER_IMAGES = 1000  # the seed-style job runs ResNet50 at ~12 img/s: a subset, the same one for every peer row
TRAINING_IMAGES = 1000  # int8 vs f32 recognition: classifier trained on this many Training images


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


def every_kth(files, cap):
    """At most `cap` files, every k-th of the sorted list, so every label keeps its share (0: all)."""
    return files[:: -(-len(files) // cap)] if cap else files


def write_manifest(files, path):
    """orchard run's manifest format (path TAB label), read by the peers too: one list of images for all."""
    path.write_text("".join(f"{f}\t{f.parent.name}\n" for f in files))
    return path


def model_file(model, precision):
    """The file a precision runs: int8 needs a quantised model, which a float model names in int8_path."""
    return model.get("int8_path", model["path"]) if precision == "int8" else model["path"]


def orchard_run(orchard, model, precision, files, work, quiet_timeout, name="out"):
    """`orchard run` on `files` into work/name (kept: the int8 agreement reads its features)."""
    busy = wait_quiet(quiet_timeout)
    manifest = write_manifest(files, work / f"{name}.txt")
    out = work / name
    stdout, _, rss, seconds = run([orchard, "run", "--input", manifest, "--output", out, "--overwrite",
                                   "--model", model_file(model, precision), "--preprocess", model["preprocess"],
                                   "--precision", precision, "--batch", BATCH])
    success = json.loads((out / "_SUCCESS").read_text())
    return dict(images=len(files), process_seconds=seconds, peak_rss_mib=rss, other_load_before=busy,
                stdout=stdout.strip(), output=str(out),
                wall_seconds=success["wall_seconds"], images_per_second=success["images_per_second"],
                streams=success["model"]["streams"],
                # decode + preprocess + inference, overlapped; without model load, PCA and the final write
                features_images_per_second=len(files) / success["timings"]["features_seconds"],
                timings=success["timings"])


def benchmark_app(ir, precision, input_shape, seconds, quiet_timeout, streams=False):
    """Throughput of the IR at the static batch BATCH, as orchard compiles it: one stream across the cores
    (-hint latency, synchronous), or with `streams` OpenVINO's throughput streams (-hint throughput,
    asynchronous), as `orchard run` uses them."""
    busy = wait_quiet(quiet_timeout)
    dims = [BATCH if d.is_dynamic else d.get_length() for d in input_shape]
    shape = "[" + ",".join(map(str, dims)) + "]"
    layout = "[NCHW]" if dims[1] == 3 else "[NHWC]"  # without a layout benchmark_app counts batch 1
    mode = ["-hint", "throughput", "-api", "async"] if streams else ["-hint", "latency", "-api", "sync"]
    cmd = [BENCHMARK_APP, "-m", ir, "-d", "CPU", *mode,
           "-layout", layout, "-shape", shape, "-t", seconds]
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
            "benchmark_app static", "static, streams", "roofline img/s",
            "orchard ÷ benchmark_app (same shape)",
            "÷ roofline", "peak RSS MiB", "other load"]
    print(f"\nsgemm (numpy float32, 2048²): {sgemm:.0f} GFLOP/s\n")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        if "skipped" in r:
            cells = [r["model"], r["precision"], f"n/a: {r['skipped']}"] + [""] * (len(head) - 3)
        elif "failed" in r:
            b = r["benchmark_app"]
            cells = [r["model"], r["precision"], r["dataset"], r["images"], "**failed** (see JSON)", "",
                     f"{b['static']['fps']:.1f}", f"{b['static-streams']['fps']:.1f}"] + [""] * (len(head) - 8)
        else:
            o, b = r["orchard"], r["benchmark_app"]
            cells = [r["model"], r["precision"], r["dataset"], o["images"], f"{o['images_per_second']:.1f}",
                     f"{o['features_images_per_second']:.1f}", f"{b['static']['fps']:.1f}",
                     f"{b['static-streams']['fps']:.1f}", f"{r['roofline_images_per_second']:.1f}",
                     r["e2e_over_benchmark_app"], r["e2e_over_roofline"], f"{o['peak_rss_mib']:.0f}",
                     f"{max(o['other_load_before'], b['static']['other_load_before']):.0%}"]
        print("| " + " | ".join(map(str, cells)) + " |")


def row(name, precision, dataset, gflop, sgemm, o, bench):
    # The ceiling is benchmark_app on the static batch orchard compiled, the better of one stream and
    # throughput streams where orchard ran several.
    kinds = ["static", "static-streams"] if o["streams"] > 1 else ["static"]
    ceiling, roofline = max(bench[kind]["fps"] for kind in kinds), sgemm / gflop
    return dict(model=name, precision=precision, dataset=dataset, model_gflop=gflop, orchard=o,
                benchmark_app=bench, roofline_images_per_second=roofline,
                e2e_over_benchmark_app=ratio(o["images_per_second"], ceiling),
                features_over_benchmark_app=ratio(o["features_images_per_second"], ceiling),
                benchmark_app_over_roofline=ratio(ceiling, roofline),
                e2e_over_roofline=ratio(o["images_per_second"], roofline))


def measure_engine(args, work, sgemm):
    """orchard vs benchmark_app vs roofline, every model x precision x dataset (whole datasets, capped if slow)."""
    rows = []
    for name in args.models:
        model = MODELS[name]
        gflop = None
        for precision in model["precisions"]:
            path = model_file(model, precision)
            if not path.exists():
                rows.append(dict(model=name, precision=precision,
                                 skipped=f"no {path.name} (bench/quantize_resnet50.py writes it)"))
                continue
            ir = work / f"{path.stem}-{precision}.xml"  # int8 translates a QLinear model for int8 kernels
            if not ir.exists():
                run([args.orchard, "export-model", "--model", path, "--precision", precision, "--output", ir])
            gflop = gflop or model_gflop(ir)  # the float model's count; quantising keeps the convolutions
            input_shape = ov.Core().read_model(ir).input().get_partial_shape()
            bench = {kind: benchmark_app(ir, precision, input_shape, args.bench_seconds, args.quiet_timeout,
                                         streams=kind == "static-streams")
                     for kind in ("static", "static-streams")}
            for dataset, folder in DATASETS.items():
                cap = min(filter(None, [args.max_images, SLOW_RUNS.get((name, precision))]), default=0)
                files = every_kth(image_files(folder), cap)
                try:
                    o = orchard_run(args.orchard, model, precision, files, work, args.quiet_timeout)
                except RunFailed as failure:  # recorded, not fatal: the other configurations still run
                    rows.append(dict(model=name, precision=precision, dataset=dataset, images=len(files),
                                     benchmark_app=bench, failed=str(failure)))
                    print(f"bench: {name} {precision} {dataset}: {failure}", file=sys.stderr)
                    continue
                rows.append(row(name, precision, dataset, gflop, sgemm, o, bench))
                print(f"bench: {name} {precision} {dataset}: {o['stdout']}", file=sys.stderr)
    return rows


def peer(cmd, quiet_timeout):
    """A peer script's JSON line (images, seconds, images_per_second, ...), or why it failed."""
    busy = wait_quiet(quiet_timeout)
    try:
        stdout, _, rss, _ = run(cmd)
    except RunFailed as failure:
        print(f"bench: {failure}", file=sys.stderr)
        return dict(failed=str(failure), other_load_before=busy)
    # ru_maxrss of that process alone: for the seed job the driver, not its JVM or Python workers.
    return dict(json.loads(stdout.strip().splitlines()[-1]), peak_rss_mib=rss, other_load_before=busy)


def seed_reference(model, manifest, work, quiet_timeout):
    return peer([BENCH_PYTHON, ROOT / "bench/seed_reference.py", "--manifest", manifest,
                 "--model", model["keras"], "--output", work / f"seed-{model['keras']}"], quiet_timeout)


def opencv_reference(model, manifest, quiet_timeout):
    return peer([DEBIAN_PYTHON, ROOT / "bench/opencv_dnn_reference.py", "--manifest", manifest,
                 "--model", model["path"], "--preset", model["preprocess"],
                 "--feature-tensor", model["opencv_output"]], quiet_timeout)


def measure_peers(args, work):
    """orchard at each precision vs the seed-style job and OpenCV-DNN (f32), all on the same Test subset."""
    files = every_kth(image_files(DATASETS["sample-test"]), args.peer_images)
    manifest = write_manifest(files, work / "peers.txt")
    rows = []
    for name in args.models:
        model = MODELS[name]
        seed = seed_reference(model, manifest, work, args.quiet_timeout)
        print(f"bench: {name} seed-style: {seed}", file=sys.stderr)
        opencv = opencv_reference(model, manifest, args.quiet_timeout)
        print(f"bench: {name} OpenCV-DNN: {opencv}", file=sys.stderr)
        for precision in model["precisions"]:
            if not model_file(model, precision).exists():
                continue  # the engine table already says why
            try:
                o = orchard_run(args.orchard, model, precision, files, work, args.quiet_timeout,
                                name=f"peers-{name}-{precision}")
            except RunFailed as failure:
                rows.append(dict(model=name, precision=precision, images=len(files), failed=str(failure)))
                continue
            rows.append(dict(model=name, precision=precision, images=len(files), orchard=o, seed=seed,
                             opencv=opencv,
                             orchard_over_seed=ratio(o["images_per_second"], seed.get("images_per_second")),
                             orchard_over_opencv=ratio(o["images_per_second"], opencv.get("images_per_second"))))
    return rows


def features_by_path(output):
    table = pq.read_table(Path(output) / "features", columns=["path", "features"])
    return dict(zip(table["path"].to_pylist(), np.asarray(table["features"].to_pylist(), dtype=np.float64)))


def cosines(a, b):
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def feature_agreement(f32_output, int8_output):
    """Per-image cosine of int8 vs f32 features; also after removing the f32 features' mean over the images:
    with random weights every image's vector is nearly the same direction (cosine ~0.9999 between different
    fruits), so only the centred cosine tells whether the image-specific part survives quantisation."""
    f32, int8 = features_by_path(f32_output), features_by_path(int8_output)
    paths = sorted(f32.keys() & int8.keys())
    a, b = np.stack([f32[p] for p in paths]), np.stack([int8[p] for p in paths])
    mean = a.mean(axis=0)
    raw, centred = cosines(a, b), cosines(a - mean, b - mean)
    return dict(images=len(paths), cosine_mean=float(raw.mean()), cosine_min=float(raw.min()),
                centred_cosine_mean=float(centred.mean()), centred_cosine_min=float(centred.min()))


def top1(args, model, precision, test_output, work):
    """Recognition top-1 on the Test subset, classifier trained on a Training subset, one precision."""
    training = every_kth(image_files(SHARED / "data/fruits-360-sample/Training"), args.training_images)
    trained = orchard_run(args.orchard, model, precision, training, work, args.quiet_timeout,
                          name=f"training-{precision}")
    bundle, report = work / f"bundle-{precision}", work / f"report-{precision}"
    run([args.orchard, "train", trained["output"], "--bundle", bundle])
    run([args.orchard, "eval", test_output, "--bundle", bundle, "--report", report])
    return dict(training_images=len(training), **json.loads((report / "metrics.json").read_text()))


def int8_agreement(args, work, peer_rows):
    """int8 (NNCF) vs f32 of each model quantised here, on the peer runs' Test subset."""
    results = []
    for name in args.models:
        outputs = {r["precision"]: r["orchard"]["output"] for r in peer_rows if r["model"] == name and "orchard" in r}
        if "int8_path" not in MODELS[name] or not {"f32", "int8"} <= outputs.keys():
            continue
        result = dict(model=name, int8_model=str(MODELS[name]["int8_path"]),
                      **feature_agreement(outputs["f32"], outputs["int8"]))
        for precision in ("f32", "int8"):
            metrics = top1(args, MODELS[name], precision, outputs[precision], work)
            result[f"top1_{precision}"], result["training_images"] = metrics["top1"], metrics["training_images"]
        results.append(result)
    return results


def print_peer_table(rows):
    head = ["model", "orchard precision", "images", "orchard img/s", "features-stage img/s",
            "seed-style PySpark+TF img/s", "orchard ÷ seed", "OpenCV-DNN img/s", "orchard ÷ OpenCV-DNN",
            "other load"]
    print("\nPeers, same images (sample Test subset); the peers run f32 (OpenCV: the model file as it is)\n")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        if "failed" in r:
            print(f"| {r['model']} | {r['precision']} | {r['images']} | **failed** (see JSON) |")
            continue
        o, seed, opencv = r["orchard"], r["seed"], r["opencv"]
        peer_fps = [f"{p['images_per_second']:.1f}" if "images_per_second" in p else "failed" for p in (seed, opencv)]
        load = max(o["other_load_before"], seed["other_load_before"], opencv["other_load_before"])
        cells = [r["model"], r["precision"], o["images"], f"{o['images_per_second']:.1f}",
                 f"{o['features_images_per_second']:.1f}", peer_fps[0], r["orchard_over_seed"],
                 peer_fps[1], r["orchard_over_opencv"], f"{load:.0%}"]
        print("| " + " | ".join(map(str, cells)) + " |")


def print_agreement(results):
    for a in results:
        print(f"\n{a['model']} int8 (NNCF) vs f32, {a['images']} Test images: cosine mean {a['cosine_mean']:.6f} "
              f"min {a['cosine_min']:.6f}; centred (minus the f32 mean) mean {a['centred_cosine_mean']:.4f} "
              f"min {a['centred_cosine_min']:.4f}; top-1 f32 {a['top1_f32']:.4f} vs int8 {a['top1_int8']:.4f} "
              f"(classifier trained on {a['training_images']} Training images each)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orchard", type=Path, default=ROOT / "build/orchard")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--bench-seconds", type=int, default=15, help="benchmark_app -t")
    parser.add_argument("--max-images", type=int, default=0, help="cap every dataset (0: all images)")
    parser.add_argument("--quiet-timeout", type=int, default=120,
                        help="wait up to this many s before each measurement for other work to finish")
    parser.add_argument("--no-engine", action="store_true", help="skip the orchard/benchmark_app/roofline table")
    parser.add_argument("--no-peers", action="store_true", help="skip the seed-style and OpenCV-DNN peers")
    parser.add_argument("--peer-images", type=int, default=PEER_IMAGES, help="Test subset the peers run on")
    parser.add_argument("--training-images", type=int, default=TRAINING_IMAGES,
                        help="Training subset of the int8 vs f32 recognition check")
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/latest.json")
    args = parser.parse_args()

    load_before = os.getloadavg()
    wait_quiet(args.quiet_timeout)
    sgemm = sgemm_gflops()
    with tempfile.TemporaryDirectory(prefix="orchard-bench-") as tmp:
        work = Path(tmp)
        rows = [] if args.no_engine else measure_engine(args, work, sgemm)
        peers = [] if args.no_peers else measure_peers(args, work)
        agreement = int8_agreement(args, work, peers)

    print_table(rows, sgemm)
    print_peer_table(peers)
    print_agreement(agreement)
    print(f"\nload average (1, 5, 15 min) before: {load_before}, after: {os.getloadavg()}")
    result = dict(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"), machine=machine(),
        orchard_version=run([args.orchard, "--version"])[0].strip(), batch=BATCH, sgemm_gflops=sgemm,
        load_average_before=load_before, load_average_after=os.getloadavg(),
        notes=["orchard / benchmark_app compares with benchmark_app on the static batch orchard compiled.",
               "roofline = sgemm GFLOP/s / (2 x multiply-adds per image, counted from the IR).",
               "other_load_before: fraction of the cores busy with other work just before a measurement.",
               "peers: seed = bench/seed_reference.py (PySpark local[*] + pandas UDF + tf.keras, f32, "
               "SparkSession start to Parquet written); opencv = bench/opencv_dnn_reference.py (Debian "
               "OpenCV 4.6, decode + resize + inference, no PCA or Parquet). Same images as the orchard "
               "peer runs, whose img/s is end to end (PCA and Parquet included)."],
        rows=rows, peers=peers, int8_agreement=agreement)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\n-> {args.output}")


if __name__ == "__main__":
    main()
