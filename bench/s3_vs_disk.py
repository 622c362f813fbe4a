"""Benchmark (not a test): `orchard run` on the sample's Test split read from local disk vs from a local S3
server (versitygw on loopback, tests/python/s3_server.py). Prints images/s and input MB/s per variant.

    .venv/bin/python bench/s3_vs_disk.py [--split Test] [--repeat 2] [--orchard build/orchard] [--latency-ms 30]

The server stores objects on the same disk, so the difference is the S3 protocol's cost (HTTP, signing,
one GET per image), not network bandwidth. Output always goes to local disk, except in the "s3 -> s3"
variant. With --latency-ms, two more variants read through a proxy that adds that much to every request (a
remote store's round trip), with 2 and with the default 16 concurrent reads (`--io-threads`).
"""

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))
from commands import run  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402
from s3_server import S3Server  # noqa: E402

SHARED = Path(os.environ.get("ORCHARD_SHARED", REPO.parent / "shared"))
SAMPLE = SHARED / "data" / "fruits-360-sample"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="Test")
    parser.add_argument("--repeat", type=int, default=2, help="runs per variant; the fastest is reported")
    parser.add_argument("--orchard", default=os.environ.get("ORCHARD_BIN", str(REPO / "build" / "orchard")))
    parser.add_argument("--model", default=str(SHARED / "models" / "mobilenetv2-12-int8.onnx"))
    parser.add_argument("--latency-ms", type=float, default=0, help="also read through a proxy adding this")
    args = parser.parse_args()

    source = SAMPLE / args.split
    files = sorted(p for p in source.rglob("*") if p.is_file())
    total_mb = sum(p.stat().st_size for p in files) / 1e6
    extra = ["--model", args.model, "--precision", "f32"]

    with tempfile.TemporaryDirectory(prefix="orchard-bench-") as tmp:
        tmp = Path(tmp)
        server = S3Server(tmp / "s3")
        try:
            server.create_bucket("bench")
            fs = server.filesystem()
            start = time.monotonic()

            def upload(path):
                with fs.open_output_stream(f"bench/{args.split}/{path.relative_to(source).as_posix()}") as out:
                    out.write(path.read_bytes())

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(upload, files))
            upload_s = time.monotonic() - start
            print(f"{len(files)} images, {total_mb:.1f} MB; uploaded to versitygw in {upload_s:.1f} s "
                  f"({total_mb / upload_s:.1f} MB/s)")

            env = server.client_env()
            s3_input = f"s3://bench/{args.split}"
            variants = [
                ("disk -> disk", str(source), str(tmp / "out-local"), []),
                ("s3   -> disk", s3_input, str(tmp / "out-from-s3"), []),
                ("s3   -> s3", s3_input, "s3://bench/out", []),
            ]
            if args.latency_ms:
                proxy = FaultProxy(server.port, latency=args.latency_ms / 1000)
                for io_threads in (2, 16):
                    variants.append((f"s3+{args.latency_ms:g}ms io{io_threads}", s3_input, str(tmp / "out-latency"),
                                     ["--s3-endpoint", proxy.endpoint, "--io-threads", str(io_threads)]))
            print(f"{'variant':<20}{'wall s':>9}{'images/s':>10}{'MB/s':>8}{'features s':>12}")
            for name, input_, output, options in variants:
                runs = []
                for _ in range(args.repeat):
                    *_, wall = run([args.orchard, "run", "--input", input_, "--output", output, "--overwrite",
                                    *extra, *options], ok_codes=(0,), env=env)
                    if output.startswith("s3://"):
                        manifest = json.loads(fs.open_input_stream("bench/out/_SUCCESS").read())
                    else:
                        manifest = json.loads((Path(output) / "_SUCCESS").read_text())
                    runs.append((wall, manifest["timings"]["features_seconds"]))
                wall, features_s = min(runs)
                print(f"{name:<20}{wall:>9.1f}{len(files) / wall:>10.1f}{total_mb / wall:>8.1f}{features_s:>12.1f}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
