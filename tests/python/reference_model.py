"""Independent reference for the default model's features: mobilenetv2-12-int8.onnx run by OpenCV's DNN module.

Why OpenCV and not OpenVINO: OpenVINO 2026.4 cannot convert this model by itself -- its ONNX frontend
mis-translates QLinearConv with per-channel weight scales, and its graph-iterator InputModel cannot cut at an
inner tensor, so `ov.convert_model(path, output="627")` fails. orchard works around both in C++
(src/orchard/model/onnx_qlinear_ops.cpp, model_graph.cpp). A reference built on the same workaround would not
be independent; OpenCV's int8 ONNX importer is a different implementation of the same graph (the shared
README notes it runs this model).

Features: the float output of node `627_DequantizeLinear` (N x 1280 x 7 x 7) averaged over 7 x 7.
Preprocessing (orchard's "imagenet" preset): BGR->RGB, cv2.resize to 224x224 INTER_LINEAR, /255, ImageNet
mean/std, NCHW.
"""

import os
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("ORCHARD_SHARED", REPO.parent / "shared"))
MODEL = SHARED / "models" / "mobilenetv2-12-int8.onnx"
SAMPLE_TEST = SHARED / "data" / "fruits-360-sample" / "Test"
FEATURE_NODE = "onnx_node!627_DequantizeLinear"  # how OpenCV names the layer producing tensor "627"

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def sample_images(count=20, labels=("Apple Red 1", "Avocado", "Cherry", "Kiwi", "Lemon", "Orange", "Pear",
                                    "Plum", "Pomegranate", "Strawberry")):
    """`count` real images spread over several labels, the first files of each in name order."""
    per_label = -(-count // len(labels))
    paths = []
    for label in labels:
        paths += sorted((SAMPLE_TEST / label).glob("*.jpg"))[:per_label]
    return [p.resolve() for p in paths[:count]]


def preprocess(path, size=224):
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot decode {path}")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    resized = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_LINEAR)
    normalised = (resized.astype(np.float32) / 255.0 - MEAN) / STD
    return np.ascontiguousarray(normalised.transpose(2, 0, 1))


def preprocess_batch(paths):
    return np.stack([preprocess(p) for p in paths])


def features_of_tensor(batch):
    """batch: float32 [N, 3, 224, 224] -> float32 [N, 1280]."""
    net = cv2.dnn.readNetFromONNX(str(MODEL))
    net.setInput(np.ascontiguousarray(batch, dtype=np.float32))
    spatial = net.forward(FEATURE_NODE)
    return spatial.mean(axis=(2, 3)).astype(np.float32)


def features(paths):
    return features_of_tensor(preprocess_batch(paths))


def cosine(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
