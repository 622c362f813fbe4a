#!/usr/bin/env python3
"""Reference features from each framework's own forward pass, for tests/python/test_model_compat.py.

Runs in .venv-compat (TensorFlow, LiteRT, onnxruntime), which the test venv does not have, as
`compat_reference.py JOBS.json`. JOBS.json is a list of jobs, each writing one float32 .npy of features
[N, D], one row per input image:
  {"framework": "keras", "model": M.keras, "input": X.npy, "output": Y.npy}
      model.predict on X (float32 [N, H, W, C], already preprocessed).
  {"framework": "keras_jpeg", "model": M.keras, "images": [JPEG, ...], "preprocess": "caffe",
   "interpolation": "nearest", "output": Y.npy}
      the usual Keras route from the files: keras.utils.load_img(target_size=..., interpolation=...) (Keras'
      default interpolation is "nearest") + img_to_array + keras.applications.resnet50.preprocess_input +
      model.predict.
  {"framework": "tflite", "model": M.tflite, "tensor": NAME, "input": X.npy, "output": Y.npy,
   "kernels": "default" | "reference"}
      the LiteRT interpreter, one image at a time, read at tensor NAME (dequantised). An integer input gets
      X rounded to the nearest integer (X holds raw 0..255 pixels, as orchard's `raw` preset writes them), or,
      with "quantise_input": true, X (a preset's values) quantised with the input's own scale and zero point,
      as LiteRT's documentation feeds a quantised input.
      kernels: LiteRT's default (XNNPACK, the default when absent) or its reference kernels (BUILTIN_REF,
      the plain C++ definition of each op), two correct implementations of one integer graph.
  {"framework": "onnxruntime", "model": M.onnx, "tensor": NAME, "input": X.npy, "output": Y.npy}
      onnxruntime, one image at a time, read at tensor NAME (made a graph output).
A tensor with spatial axes is averaged over them (channels-last for Keras and TFLite, channels-first for
ONNX), so every reference is one pooled vector per image.
"""

import json
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pooled(features, channels_last):
    """[N, D] as is; [N, ..., C] or [N, C, ...] averaged over its spatial axes."""
    features = np.asarray(features, dtype=np.float32)
    if features.ndim <= 2:
        return features.reshape(len(features), -1)
    axes = tuple(range(1, features.ndim - 1)) if channels_last else tuple(range(2, features.ndim))
    return features.mean(axis=axes)


def keras_features(job):
    import keras

    model = keras.saving.load_model(job["model"], compile=False)
    return pooled(model.predict(np.load(job["input"]), batch_size=16, verbose=0), channels_last=True)


def keras_jpeg_features(job):
    import keras
    from keras.applications import resnet50

    if job["preprocess"] != "caffe":
        raise ValueError(f"keras_jpeg: only resnet50's preprocess_input (caffe) is known, not {job['preprocess']}")
    model = keras.saving.load_model(job["model"], compile=False)
    height, width = model.input_shape[1:3]
    images = np.stack([keras.utils.img_to_array(keras.utils.load_img(
        path, target_size=(height, width), interpolation=job["interpolation"])) for path in job["images"]])
    return pooled(model.predict(resnet50.preprocess_input(images), batch_size=16, verbose=0), channels_last=True)


def tflite_features(job):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = {"default": OpResolverType.AUTO, "reference": OpResolverType.BUILTIN_REF}[job.get("kernels", "default")]
    interpreter = Interpreter(model_path=job["model"], experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=resolver)
    input_detail = interpreter.get_input_details()[0]
    tensors = {t["name"]: t for t in interpreter.get_tensor_details()}
    if job["tensor"] not in tensors:
        raise KeyError(f"{job['model']}: no tensor {job['tensor']!r}")
    tensor = tensors[job["tensor"]]
    dtype = input_detail["dtype"]
    rows = []
    for image in np.load(job["input"]):
        image = image[np.newaxis]
        interpreter.resize_tensor_input(input_detail["index"], image.shape)
        interpreter.allocate_tensors()
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            if job.get("quantise_input"):
                scale, zero_point = input_detail["quantization"]
                image = image / scale + zero_point
            image = np.clip(np.rint(image), info.min, info.max)
        interpreter.set_tensor(input_detail["index"], image.astype(dtype))
        interpreter.invoke()
        value = interpreter.get_tensor(tensor["index"]).astype(np.float32)
        scale, zero_point = tensor["quantization"]
        if scale:
            value = (value - zero_point) * scale
        rows.append(pooled(value, channels_last=True)[0])
    return np.stack(rows)


def onnxruntime_features(job):
    import onnx
    import onnxruntime

    model = onnx.shape_inference.infer_shapes(onnx.load(job["model"]))
    outputs = {o.name for o in model.graph.output}
    if job["tensor"] not in outputs:
        infos = {v.name: v for v in model.graph.value_info}
        if job["tensor"] not in infos:
            raise KeyError(f"{job['model']}: no tensor {job['tensor']!r}")
        model.graph.output.append(infos[job["tensor"]])
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    rows = [session.run([job["tensor"]], {input_name: image[np.newaxis].astype(np.float32)})[0]
            for image in np.load(job["input"])]
    return np.concatenate([pooled(r, channels_last=False) for r in rows])


FRAMEWORKS = {"keras": keras_features, "keras_jpeg": keras_jpeg_features, "tflite": tflite_features,
              "onnxruntime": onnxruntime_features}


def main(argv):
    if len(argv) != 2:
        sys.exit(f"usage: {argv[0]} JOBS.json")
    with open(argv[1]) as f:
        jobs = json.load(f)
    for job in jobs:
        np.save(job["output"], FRAMEWORKS[job["framework"]](job).astype(np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
