#!/usr/bin/env python3
"""Bounded memory: `orchard run` on 1x and 10x the sample's Test split (a manifest repeating its images, each time
through a link of its own) and the peak resident memory of each run. Memory must not grow with the input: the queues are bounded, the PCA streams, and
feature rows go to Parquet parts as they come. Not a test (the 10x run takes ~10 min on 2 cores): `make bench-memory`.

Prints a table and writes bench/results/memory.json.
"""

import argparse
import json
import os
import platform
import subprocess
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ORCHARD_SHARED", REPO.parent / "shared"))
SAMPLE_TEST = SHARED / "data" / "fruits-360-sample" / "Test"


def rss_sampler(pid, samples, stop):
    """VmRSS every half second, to show how memory evolves along the run (the peak alone cannot)."""
    start = time.monotonic()
    while not stop.is_set():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    samples.append((round(time.monotonic() - start, 1), int(line.split()[1]) // 1024))
        except (FileNotFoundError, ProcessLookupError):
            return
        stop.wait(0.5)


def run(binary, manifest, output, extra):
    """Runs orchard to completion; returns wall time, peak RSS (MiB, from wait4 of this child alone), samples."""
    command = [str(binary), "run", "--input", str(manifest), "--output", str(output), "--overwrite", *extra]
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples, stop = [], threading.Event()
    sampler = threading.Thread(target=rss_sampler, args=(process.pid, samples, stop), daemon=True)
    sampler.start()
    # wait4 gives this child's own ru_maxrss; RUSAGE_CHILDREN would be the maximum over every child so far.
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - start
    stop.set()
    sampler.join()
    code = os.waitstatus_to_exitcode(status)
    stdout, stderr = process.stdout.read(), process.stderr.read()
    if code != 0:
        raise SystemExit(f"{' '.join(command)} exited {code}:\n{stdout}\n{stderr}")
    return wall, usage.ru_maxrss / 1024, samples


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orchard", type=Path, default=REPO / "build" / "orchard")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N Test images (0 = all 5,195)")
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "memory.json")
    parser.add_argument("orchard_args", nargs="*", help="extra `orchard run` options, after --")
    args = parser.parse_args()

    images = sorted(SAMPLE_TEST.glob("*/*.jpg"))
    if args.limit:
        images = images[: args.limit]
    runs = []
    with tempfile.TemporaryDirectory(prefix="orchard-memory-") as tmp:
        for factor in args.factors:
            manifest = Path(tmp) / f"x{factor}.txt"
            # Each repetition through a link of its own: orchard featurises a path listed twice once.
            copies = [Path(tmp) / f"copy{i}" for i in range(factor)]
            for copy in copies:
                if not copy.exists():
                    copy.symlink_to(SAMPLE_TEST, target_is_directory=True)
            manifest.write_text("".join(f"{copy / image.relative_to(SAMPLE_TEST)}\n"
                                        for copy in copies for image in images))
            count = len(images) * factor
            print(f"{factor}x: {count} images ...", flush=True)
            wall, peak, samples = run(args.orchard, manifest, Path(tmp) / "out", args.orchard_args)
            # The RSS halfway through and at the last sample: equal when memory is bounded.
            half = samples[len(samples) // 2][1] if samples else None
            runs.append({"factor": factor, "images": count, "wall_s": round(wall, 1),
                         "images_per_s": round(count / wall, 1), "peak_rss_mib": round(peak, 1),
                         "rss_mib_halfway": half, "rss_mib_last_sample": samples[-1][1] if samples else None,
                         "rss_samples": samples[:: max(1, len(samples) // 60)]})

    print(f"\n{'input':>6} {'images':>8} {'wall s':>8} {'img/s':>7} {'peak RSS MiB':>13} {'RSS halfway':>12}")
    for r in runs:
        print(f"{r['factor']:>5}x {r['images']:>8} {r['wall_s']:>8} {r['images_per_s']:>7} {r['peak_rss_mib']:>13}"
              f" {r['rss_mib_halfway']:>12}")
    growth = runs[-1]["peak_rss_mib"] / runs[0]["peak_rss_mib"]
    print(f"peak RSS {runs[-1]['factor']}x / {runs[0]['factor']}x: {growth:.2f}")
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({
        "source": str(SAMPLE_TEST), "test_images": len(images), "orchard_args": args.orchard_args,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "runs": runs, "peak_rss_growth": round(growth, 3)}, indent=1) + "\n")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
