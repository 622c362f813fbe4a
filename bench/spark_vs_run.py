"""Benchmark (not a test): `python -m orchard.spark run` on Spark local[2] vs `orchard run`, same machine, same
images (the sample's Test split, optionally the first --per-label images of each label), same model, f32.
Prints images/s of each, whole command wall time (Spark's JVM start included).

    .venv/bin/python bench/spark_vs_run.py [--split Test] [--per-label 30] [--master local[2]]
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from commands import run

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ORCHARD_SHARED", REPO.parent / "shared"))
SAMPLE = SHARED / "data" / "fruits-360-sample"


def timed(command, env=None):
    return run(command, env=env)[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="Test")
    parser.add_argument("--per-label", type=int, default=0, help="0 = every image of the split")
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = SAMPLE / args.split
        if args.per_label:
            for label in sorted(source.iterdir()):
                (tmp / "in" / label.name).mkdir(parents=True)
                for image in sorted(label.glob("*.jpg"))[:args.per_label]:
                    shutil.copy(image, tmp / "in" / label.name / image.name)
            source = tmp / "in"
        n = sum(1 for _ in source.rglob("*.jpg"))
        env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
        spark = timed([sys.executable, "-m", "orchard.spark", "run", "--input", str(source), "--output",
                       str(tmp / "spark"), "--master", args.master], env)
        native = timed([str(REPO / "build" / "orchard"), "run", "--input", str(source), "--output",
                        str(tmp / "native"), "--precision", "f32"])
    print(f"{n} images of {args.split}" + (f" ({args.per_label} per label)" if args.per_label else ""))
    print(f"orchard run            {native:7.1f} s  {n / native:7.1f} images/s")
    print(f"spark {args.master:<16} {spark:7.1f} s  {n / spark:7.1f} images/s  ({spark / native:.2f}x the time)")


if __name__ == "__main__":
    main()
