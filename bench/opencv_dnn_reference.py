#!/usr/bin/python3
"""The OpenCV-DNN reference: Debian's OpenCV 4.6 (python3-opencv) running the same ONNX model on the same images.

OpenCV does its own decoding (cv2.imread, full size) and resizing (cv2.dnn.blobFromImages, bilinear), then
runs the model in batches of 32 up to the feature tensor, average-pooled to one vector per image when it is
spatial. No Parquet, no PCA: this is decode + preprocess + inference only, single process, OpenCV's own threads.

    /usr/bin/python3 bench/opencv_dnn_reference.py --manifest FILES.txt --model M.onnx --preset caffe \
        --feature-tensor features

Prints one JSON line: images, seconds (model load to the last batch), model_load_seconds, images_per_second.
Runs with Debian's interpreter (scripts/setup_bench.sh installs python3-opencv), not a venv.
"""

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from manifest import manifest_paths

BATCH = 32
INPUT_SIZE = (224, 224)
# orchard's presets (README, --preprocess): scale, per-channel mean and std in the model's channel order.
PRESETS = {
    "imagenet": dict(rgb=True, scale=1 / 255, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
    "caffe": dict(rgb=False, scale=1.0, mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0)),
    "tf": dict(rgb=True, scale=1 / 127.5, mean=(1.0, 1.0, 1.0), std=(1.0, 1.0, 1.0)),
}


def network_input(images, preset):
    """NCHW float32 blob: blobFromImages resizes, swaps BGR->RGB and scales; the per-channel std is ours."""
    p = PRESETS[preset]
    blob = cv2.dnn.blobFromImages(images, p["scale"], INPUT_SIZE, swapRB=p["rgb"], crop=False)
    mean = np.array(p["mean"], np.float32).reshape(1, 3, 1, 1)
    std = np.array(p["std"], np.float32).reshape(1, 3, 1, 1)
    return (blob - mean) / std


def features(net, images, preset, feature_tensor):
    net.setInput(network_input(images, preset))
    out = net.forward(feature_tensor)
    return out.mean(axis=(2, 3)) if out.ndim == 4 else out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--preset", choices=list(PRESETS), required=True)
    parser.add_argument("--feature-tensor", required=True, help="e.g. 627 (MobileNetV2-int8), features (ResNet50)")
    args = parser.parse_args()
    paths = manifest_paths(args.manifest)

    start = time.perf_counter()
    net = cv2.dnn.readNetFromONNX(str(args.model))
    load_seconds = time.perf_counter() - start
    done = 0
    for first in range(0, len(paths), BATCH):
        images = [cv2.imread(path, cv2.IMREAD_COLOR) for path in paths[first:first + BATCH]]
        done += len(features(net, [i for i in images if i is not None], args.preset, args.feature_tensor))
    seconds = time.perf_counter() - start
    print(json.dumps(dict(images=done, seconds=seconds, model_load_seconds=load_seconds,
                          images_per_second=done / seconds, opencv=cv2.__version__)))


if __name__ == "__main__":
    main()
