#!/usr/bin/env python3
"""Post-training int8 quantisation of an ONNX model with NNCF, calibrated on sample photos.

The calibration tensors are exactly what orchard feeds the network: each image goes through `orchard
preprocess` (same decoder, resize and preset as `orchard run`), so the quantisation ranges fit orchard's input.
The result is a QDQ ONNX file (QuantizeLinear/DequantizeLinear around each conv) that `orchard run --model FILE
--precision int8` loads; OpenVINO's CPU plugin runs its convolutions in int8.

    .venv-bench/bin/python bench/quantize_resnet50.py [--model M] [--output M-int8.onnx] [--images 300]

Runs in .venv-bench (scripts/setup_bench.sh): NNCF's ONNX backend collects statistics with onnxruntime.
Does nothing when the output exists and is newer than the model.
"""

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

import nncf
import onnx
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ORCHARD_SHARED", ROOT.parent / "shared"))


def calibration_files(folder, count):
    """Every k-th image of the folder (sorted), so all labels are represented; Training, never the measured Test."""
    files = sorted(p for p in folder.rglob("*.jpg"))
    return files[:: max(1, len(files) // count)][:count]


def orchard_input(orchard, image, preset, scratch):
    """The network input orchard computes for one image, [1, 3, 224, 224] float32."""
    tensor_file = scratch / "input.arrow"
    subprocess.run([str(orchard), "preprocess", str(image), "--preset", preset, "--output", str(tensor_file)],
                   check=True, capture_output=True)
    with pa.memory_map(str(tensor_file)) as source:
        return pa.ipc.read_tensor(source).to_numpy().copy()  # copy: the map closes with the file


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models-generated/resnet50-notop.onnx")
    parser.add_argument("--output", type=Path, default=ROOT / "models-generated/resnet50-notop-int8.onnx")
    parser.add_argument("--calibration", type=Path, default=SHARED / "data/fruits-360-sample/Training")
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--preset", default="caffe", help="orchard's preprocessing preset for this model")
    parser.add_argument("--orchard", type=Path, default=ROOT / "build/orchard")
    args = parser.parse_args()
    if args.output.exists() and args.output.stat().st_mtime >= args.model.stat().st_mtime:
        print(f"quantize: {args.output} is up to date")
        return

    model = onnx.load(args.model)
    input_name = model.graph.input[0].name
    with tempfile.TemporaryDirectory(prefix="orchard-calibration-") as scratch:
        tensors = [orchard_input(args.orchard, f, args.preset, Path(scratch))
                   for f in calibration_files(args.calibration, args.images)]
    dataset = nncf.Dataset(tensors, lambda tensor: {input_name: tensor})
    # Defaults otherwise (preset PERFORMANCE: symmetric int8, fast bias correction): what NNCF recommends for CNNs.
    quantized = nncf.quantize(model, dataset, subset_size=len(tensors))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(quantized, args.output)
    print(f"quantize: {args.output} ({len(tensors)} calibration images from {args.calibration})")


if __name__ == "__main__":
    main()
