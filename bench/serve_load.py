#!/usr/bin/env python3
"""Load and abuse benchmark of `orchard serve` (`make serve-bench`; loopback only, bounded in count and time).

1. Load: requests/s and p50/p99 of POST /v1/predict at 1, 4, 16 and 64 clients (one keep-alive connection each,
   driven by wrk), side by side with a peer a user would pick instead, serving the same ONNX file with the same
   photos and clients: FastAPI + onnxruntime on uvicorn (bench/fastapi_peer.py, in .venv-bench); and benchmark_app's
   throughput on the same graph (`orchard export-model`), precision and batch as the service compiles it. Both
   servers run at once, and each level is measured on one right after the other (benchmark_app right after
   orchard's top level), so that the machine's drift between minutes does not enter the ratios.
2. Abuse, each while /v2/health/ready is polled: 1,000 idle connections; a slowloris client (connections sending
   a header byte now and then, cut at --header-timeout-s); 100 decompression-bomb PNGs; 100 POST bodies without
   Content-Length. The service must keep answering ready, and its peak RSS (VmHWM, reset once ready) must stay
   under the README's formula.

    .venv/bin/python bench/serve_load.py --bundle out/bundle [--seconds 10] [--output results.json]

The clients share the machine's cores with the servers, so on a small machine the figures are a lower bound.
"""

import argparse
import contextlib
import http.client
import io
import json
import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ORCHARD_SHARED", REPO.parent / "shared"))
MIB = 1 << 20
# The service's limits (deploy/vm/orchard.service's, but 1,100 connections so that 1,000 idle ones fit).
SETTINGS = {"--max-connections": 1100, "--max-requests": 32, "--decode-threads": 2, "--max-batch": 16,
            "--max-body-bytes": 20 * MIB, "--max-pixels": 40_000_000}
INPUT_BYTES = 3 * 224 * 224 * 4


def memory_bound(settings, height):
    """README's formula without RSS_ready: what the requests may add to the RSS once ready."""
    decode = 4 * settings["--max-pixels"] + 24 * height
    return (settings["--max-requests"] * (settings["--max-body-bytes"] + 64 * INPUT_BYTES)
            + settings["--decode-threads"] * decode + settings["--max-connections"] * 256 * 1024)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_status(port, path, timeout=10):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None


def wait_ready(port, path, process, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server exited with {process.returncode}")
        if get_status(port, path, timeout=2) == 200:
            return
        time.sleep(0.2)
    sys.exit("the server never became ready")


def start_orchard(binary, bundle):
    options = [str(v) for item in SETTINGS.items() for v in item]
    process = subprocess.Popen([str(binary), "serve", "--bundle", str(bundle), "--port", "0", *options],
                               stderr=subprocess.PIPE, text=True)
    # The model's notes (e.g. that an int8 model's convolutions run in bf16) come before the serving line.
    match = next(filter(None, (re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
                               for line in process.stderr)), None)
    if not match:
        process.kill()
        sys.exit("orchard serve did not start")
    threading.Thread(target=process.stderr.read, daemon=True).start()  # the access log, drained
    port = int(match.group(1))
    wait_ready(port, "/v2/health/ready", process)
    return process, port


def start_peer(python, model):
    port = free_port()
    process = subprocess.Popen([str(python), str(REPO / "bench" / "fastapi_peer.py"), "--model", str(model),
                                "--port", str(port)])
    wait_ready(port, "/ready", process)
    return process, port


def load(port, path, images, concurrency, seconds):
    """`concurrency` clients, each with one keep-alive connection, posting the image files `images` in turn back
    to back for `seconds`, driven by wrk (C, one event loop per thread; bench/wrk_post_images.lua): the clients
    share the servers' cores, and wrk takes ~0.05 ms of CPU a request where Python client threads took 0.2-0.3
    ms (cgroup cpuacct, 2026-11-30)."""
    command = ["wrk", "-t", str(min(2, concurrency)), "-c", str(concurrency), "-d", f"{seconds:.0f}s",
               "--timeout", "120s", "-s", str(REPO / "bench" / "wrk_post_images.lua"),
               f"http://127.0.0.1:{port}{path}", "--", *[str(image) for image in images]]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    summary = json.loads(output.strip().splitlines()[-1])
    ok = summary["requests"] - summary["non_2xx"]
    return {"clients": concurrency, "requests": ok, "failures": summary["non_2xx"] + summary["socket_errors"],
            "requests_per_second": ok / (summary["duration_us"] / 1e6), "p50_ms": summary["p50_us"] / 1000,
            "p99_ms": summary["p99_us"] / 1000}


def batch_totals(port):
    """(model calls, images in them) since start, from the service's batch-size histogram."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    return tuple(float(re.search(rf"^orchard_inference_batch_size_{name} (\S+)$", text, re.MULTILINE).group(1))
                 for name in ("count", "sum"))


def compiled_batch_calls(port):
    """Model calls by the compiled batch they ran on (1 and --max-batch), since start."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    pattern = r'^orchard_inference_compiled_batch_calls_total\{compiled_batch="(\w+)"\} (\S+)$'
    return {batch: int(float(calls)) for batch, calls in re.findall(pattern, text, re.MULTILINE)}


def benchmark_app_fps(binary, bundle, seconds):
    """benchmark_app on the graph orchard runs (export-model), at the bundle's precision and the service's
    batch, static as the service compiles it, OpenVINO's throughput hint."""
    with tempfile.TemporaryDirectory(prefix="orchard-serve-bench-") as work:
        return _benchmark_app_fps(binary, bundle, seconds, Path(work))


def _benchmark_app_fps(binary, bundle, seconds, work):
    manifest = json.loads((bundle / "bundle.json").read_text())["model"]
    ir = work / "serve-graph.xml"
    subprocess.run([str(binary), "export-model", "--model", manifest["file"], "--feature-tensor",
                    manifest["feature_tensor"], "--precision", manifest["precision"], "--output", str(ir)],
                   check=True, capture_output=True)
    batch = SETTINGS["--max-batch"]
    command = [str(REPO / ".venv" / "bin" / "benchmark_app"), "-m", str(ir), "-d", "CPU", "-hint", "throughput",
               "-layout", "[NCHW]", "-shape", f"[{batch},3,224,224]", "-t", str(int(seconds))]
    if manifest["precision"] != "int8":
        command += ["-infer_precision", manifest["precision"]]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return float(re.search(r"Throughput:\s+([\d.]+) FPS", output).group(1))


class ReadyProbe:
    """Polls /v2/health/ready every 0.5 s in a thread; counts answers that were not 200 (or took > 5 s)."""

    def __init__(self, port):
        self.port, self.probes, self.failures = port, 0, 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        while not self.stopping.wait(0.5):
            self.probes += 1
            if get_status(self.port, "/v2/health/ready", timeout=5) != 200:
                self.failures += 1

    def stop(self):
        self.stopping.set()
        self.thread.join()
        return {"ready_probes": self.probes, "ready_failures": self.failures}


def idle_connections(port, count=1000, hold_seconds=4):
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    time.sleep(hold_seconds)
    for s in sockets:
        s.close()
    return {"connections": count}


def closed_by_server(s):
    """Whether the server closed `s` (end of stream or reset waiting). A send after the server's close still
    succeeds (the reset comes back later), so closing is seen by reading, without blocking."""
    if not select.select([s], [], [], 0)[0]:
        return False
    try:
        return s.recv(65536) == b""
    except OSError:
        return True


def slowloris(port, count=200, seconds=16):
    """Connections that send a request line, then one header byte every 2 s (under the read timeout), for longer
    than the service's --header-timeout-s (10 s), which must cut them."""
    sockets = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n")
        sockets.append(s)
    deadline, open_ = time.monotonic() + seconds, set(sockets)
    while time.monotonic() < deadline and open_:
        time.sleep(2)
        for s in list(open_):
            if closed_by_server(s):
                open_.discard(s)
                continue
            try:
                s.sendall(b"X")
            except OSError:
                open_.discard(s)
    for s in sockets:
        s.close()
    return {"connections": count, "still_open_at_end": len(open_)}


def raw_request(port, data, timeout=60):
    """Sends `data` and returns the answer's status (None without one): only the status line is awaited, since
    the server may close a connection whose body it did not read."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
            while b"\r\n" not in answer and (chunk := s.recv(65536)):
                answer += chunk
        except OSError:
            pass
    return int(answer.split()[1]) if answer.startswith(b"HTTP/1.1") else None


def parallel(count, clients, task):
    statuses, lock = [], threading.Lock()

    def worker(index):
        for i in range(index, count, clients):
            status = task(i)
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {str(k): statuses.count(k) for k in sorted(set(statuses), key=str)}


def bomb_png(side=10_000):
    buffer = io.BytesIO()
    Image.new("L", (side, side), 0).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def bombs(port, count=100):
    body = bomb_png()  # 100 million pixels in about 100 KB
    request = (f"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    return {"bytes_each": len(body), "statuses": parallel(count, 16, lambda i: raw_request(port, request))}


def no_content_length(port, count=100):
    request = b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n\r\n" + b"\x89PNG" * 4096
    return {"statuses": parallel(count, 16, lambda i: raw_request(port, request))}


def vm_kib(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def abuse(process, port):
    pid = process.pid
    ready_rss = vm_kib(pid, "VmRSS") * 1024
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS
    results = {}
    for name, attack in (("1000 idle connections", idle_connections), ("slowloris", slowloris),
                         ("100 decompression bombs", bombs), ("100 bodies without Content-Length",
                                                              no_content_length)):
        probe = ReadyProbe(port)
        outcome = attack(port)
        outcome.update(probe.stop())
        outcome["ready_after"] = get_status(port, "/v2/health/ready") == 200
        results[name] = outcome
    peak = vm_kib(pid, "VmHWM") * 1024
    side = int(SETTINGS["--max-pixels"] ** 0.5)
    bound = ready_rss + memory_bound(SETTINGS, side)
    return {"attacks": results, "ready_rss_mib": ready_rss / MIB, "peak_rss_mib": peak / MIB,
            "bound_mib": bound / MIB, "under_bound": peak <= bound}


def stop(process):
    process.terminate()
    process.wait(timeout=60)


def cpu_name():
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", required=True, type=Path)
    parser.add_argument("--binary", type=Path, default=REPO / "build" / "orchard")
    parser.add_argument("--peer-python", type=Path, default=REPO / ".venv-bench" / "bin" / "python")
    parser.add_argument("--images", type=Path, default=SHARED / "data" / "fruits-360-sample" / "Test")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()

    images = sorted(args.images.rglob("*.jpg"))[::50][:64]
    model = json.loads((args.bundle / "bundle.json").read_text())["model"]["file"]
    results = {"cpu": cpu_name(), "cores": os.cpu_count(), "settings": SETTINGS, "orchard": [], "peer": []}
    # Both servers run side by side and each level is measured on orchard, then on the peer, then (the top level)
    # benchmark_app: this VM's throughput drifts by 10-30 % over minutes (benchmark_app alone: 810 to 1,178
    # images/s within ten minutes, 2026-12-01), so each ratio compares figures taken within seconds of each other.
    # A server not under load is idle (no request, no inference).
    with contextlib.ExitStack() as servers:
        process, port = start_orchard(args.binary, args.bundle)
        servers.callback(stop, process)
        peer, peer_port = start_peer(args.peer_python, model)
        servers.callback(stop, peer)
        load(port, "/v1/predict", images, 2, 2.0)  # warm-up
        load(peer_port, "/predict", images, 2, 2.0)
        for clients in args.concurrency:
            calls, batched = batch_totals(port)
            result = load(port, "/v1/predict", images, clients, args.seconds)
            # This level's own: the service's gauge averages every batch since its start.
            calls_after, batched_after = batch_totals(port)
            result["average_batch"] = (batched_after - batched) / max(1.0, calls_after - calls)
            results["orchard"].append(result)
            if clients == args.concurrency[-1]:
                results["benchmark_app_fps"] = benchmark_app_fps(args.binary, args.bundle, args.seconds)
            results["peer"].append(load(peer_port, "/predict", images, clients, args.seconds))
        stop(peer)  # the abuse measures orchard alone; stopping it again on the way out does nothing
        results["compiled_batch_calls"] = compiled_batch_calls(port)
        results["abuse"] = abuse(process, port)
    report(results, len(images), args.seconds)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")


def report(results, images, seconds):
    print(f"POST /v1/predict vs FastAPI + onnxruntime (POST /predict), {images} Fruits-360 JPEGs, {seconds:.0f} s per "
          f"level, {results['cpu']} ({results['cores']} cores)")
    print(f"{'clients':>7} | {'orchard req/s':>13} {'p50 ms':>7} {'p99 ms':>7} {'failed':>6} | "
          f"{'peer req/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'failed':>6}")
    for o, p in zip(results["orchard"], results["peer"]):
        print(f"{o['clients']:>7} | {o['requests_per_second']:>13.1f} {o['p50_ms']:>7.1f} {o['p99_ms']:>7.1f} "
              f"{o['failures']:>6} | {p['requests_per_second']:>10.1f} {p['p50_ms']:>7.1f} {p['p99_ms']:>7.1f} "
              f"{p['failures']:>6}")
    top = results["orchard"][-1]
    print(f"benchmark_app, same graph, static batch {SETTINGS['--max-batch']}, throughput hint: "
          f"{results['benchmark_app_fps']:.1f} images/s; orchard at {top['clients']} clients: "
          f"{top['requests_per_second'] / results['benchmark_app_fps']:.2f} of it "
          f"(average batch {top['average_batch']:.1f}); model calls by compiled batch: "
          f"{json.dumps(results['compiled_batch_calls'])}")
    a = results["abuse"]
    for name, outcome in a["attacks"].items():
        print(f"{name}: {json.dumps(outcome)}")
    print(f"peak RSS {a['peak_rss_mib']:.0f} MiB (ready {a['ready_rss_mib']:.0f} MiB), formula bound "
          f"{a['bound_mib']:.0f} MiB: {'under' if a['under_bound'] else 'OVER'}")


if __name__ == "__main__":
    main()
