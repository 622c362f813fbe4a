#!/usr/bin/env python3
"""Load benchmark of `orchard serve`: requests/s and latency percentiles of POST /v1/predict at several
concurrency levels. Starts its own server on a free loopback port; the client shares the machine's cores with
the server, so on a small machine the figures are a lower bound.

    .venv/bin/python bench/serve_load.py --bundle out/bundle [--seconds 15] [--concurrency 1 4 16]
"""

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ORCHARD_SHARED", REPO.parent / "shared"))


def start_server(binary, bundle, max_batch):
    process = subprocess.Popen([str(binary), "serve", "--bundle", str(bundle), "--port", "0",
                                "--max-batch", str(max_batch)], stderr=subprocess.PIPE, text=True)
    line = process.stderr.readline()
    match = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
    if not match:
        process.kill()
        sys.exit(f"orchard serve did not start: {line}")
    return process, int(match.group(1))


def post(connection, body):
    connection.request("POST", "/v1/predict", body=body, headers={"Content-Type": "application/octet-stream"})
    response = connection.getresponse()
    response.read()
    return response.status


def load(port, images, concurrency, seconds):
    """`concurrency` clients, each with one keep-alive connection, posting back to back for `seconds`."""
    latencies, failures, lock = [], [0], threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(index):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, i = [], index
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                status = post(connection, images[i % len(images)])
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status = None
            if status == 200:
                mine.append(time.perf_counter() - start)
            else:
                with lock:
                    failures[0] += 1
            i += concurrency
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def percentile(p):
        return 1000 * latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] if latencies else float("nan")

    return {"concurrency": concurrency, "requests": len(latencies), "failures": failures[0],
            "requests_per_second": len(latencies) / elapsed, "p50_ms": percentile(50), "p90_ms": percentile(90),
            "p99_ms": percentile(99), "mean_batch": None}


def batch_figures(port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    count = float(re.search(r"orchard_inference_batch_size_count (\S+)", text).group(1))
    total = float(re.search(r"orchard_inference_batch_size_sum (\S+)", text).group(1))
    return count, total


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", required=True, type=Path)
    parser.add_argument("--binary", type=Path, default=REPO / "build" / "orchard")
    parser.add_argument("--images", type=Path, default=SHARED / "data" / "fruits-360-sample" / "Test")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()

    images = [p.read_bytes() for p in sorted(args.images.rglob("*.jpg"))[::50][:64]]
    process, port = start_server(args.binary, args.bundle, args.max_batch)
    try:
        load(port, images, 2, 3.0)  # warm-up: first inferences compile kernels for new batch sizes
        results = []
        for concurrency in args.concurrency:
            before = batch_figures(port)
            result = load(port, images, concurrency, args.seconds)
            after = batch_figures(port)
            result["mean_batch"] = (after[1] - before[1]) / max(1.0, after[0] - before[0])
            results.append(result)
    finally:
        process.terminate()
        process.wait(timeout=30)

    print(f"orchard serve, POST /v1/predict, {len(images)} Fruits-360 JPEGs (100x100), {os.cpu_count()} cores, "
          f"{args.seconds:.0f} s per level")
    print(f"{'clients':>8} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'batch':>6} {'failed':>7}")
    for r in results:
        print(f"{r['concurrency']:>8} {r['requests_per_second']:>8.1f} {r['p50_ms']:>8.1f} {r['p90_ms']:>8.1f} "
              f"{r['p99_ms']:>8.1f} {r['mean_batch']:>6.1f} {r['failures']:>7}")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps({"cpu_count": os.cpu_count(), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
