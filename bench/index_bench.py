"""Exact cosine index (orchard index / audit / similar): build time, queries/s and peak memory at 1x and 10x the
sample's 20,701 x 1,280 features, on synthetic rows (the cost of exact search does not depend on the values).
Not part of `make test`; `make bench` runs it. Writes bench/results/index_bench.json.

    .venv/bin/python bench/index_bench.py [--queries 2000] [--k 20]
"""

import argparse
import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE_ROWS, DIM = 20_701, 1_280


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--binary", default=str(REPO / "build" / "orchard_index_bench"))
    args = parser.parse_args()
    results = []
    for scale in (1, 10):
        line = subprocess.run([args.binary, str(SAMPLE_ROWS * scale), str(DIM), str(args.queries), str(args.k)],
                              check=True, capture_output=True, text=True).stdout
        result = {"scale": scale, **json.loads(line)}
        result["index_mib"] = result["rows"] * DIM * 4 / 2**20
        print(json.dumps(result))
        results.append(result)
    out = REPO / "bench" / "results" / "index_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
