#!/usr/bin/env python3
"""Makes the model-compatibility suite's models (tests/python/test_model_compat.py), in .venv-compat.

Every model has seeded random weights; nothing is downloaded. Each MODEL file gets a MODEL.json of facts the
test reads: how it was exported, the input's layout and element type, the feature dimension orchard must
give, the `--preprocess` orchard gets (null: none, the model's default), the preset the reference's pixels take
when orchard's default must find it (`expects`, for a model that normalises its input inside its graph), and how
to compute the reference features with the framework's own forward pass (compat_reference.py).

- Keras ResNet50 (include_top=False, pooling=None and pooling="avg"), exported to ONNX with tf2onnx (NHWC
  input, as TensorFlow exporters write it) and to float TFLite. Reference: the Keras model itself (saved as
  .keras next to the exports).
- Keras MobileNetV2 (alpha 0.35, with its 1000-class head) as a full-integer uint8 TFLite. Reference: the
  TFLite interpreter on raw uint8 pixels, read at the pooled tensor before the head.
- The same MobileNetV2 as a full-integer TFLite with an int8 input, calibrated on ImageNet-normalised pixels
  ((x / 255 - mean) / std, torchvision's and Keras' "torch" mode): its input quantisation maps the codes to
  [-2.1, 2.6], so the codes stand for normalised values, not pixels (`expects: imagenet`). Reference: the TFLite
  interpreter on the same normalised values quantised with the input's own scale and zero point.
- Four small ONNX graphs written with onnx.helper (opset 17): an NHWC input with a Transpose, dynamic H/W, a
  fixed batch of 1 with a hard-coded Reshape (three faults issue 13 names), and an already pooled [N, C]
  output. Reference: onnxruntime, read at the pooled tensor.
- Keras MobileNetV3Small (include_top=False, pooling=None), exported to ONNX with tf2onnx and to float TFLite: its
  Rescaling layer (x / 127.5 - 1) is inside the graph, so it takes raw 0..255 pixels (`expects: raw`), and its
  squeeze-and-excitation pools are gates, not its feature tensor. Reference: the Keras model itself.
- A small Keras CNN with a dynamic height and width (Input((None, None, 3))) as float TFLite. Reference: Keras.

Keras 3 (the Keras tensorflow-cpu 2.21 installs) is used, not tf-keras: tf2onnx 1.17's from_keras converts
Keras 3 functional models (it traces them with tf.function), so the suite needs no second Keras.

Random-weight networks map every image onto nearly one direction (Keras' ResNet50 with default initialisers:
pairwise cosine mean 0.991 between 8 different fruits), which would make a cosine bound of 0.999 say little. So
after the seeded initialisation every BatchNormalization's moving statistics are set once to the batch statistics
of the sample's Training images (a data-dependent initialisation, as training would leave them): activations stay
near unit variance and different fruits give clearly different features (pairwise mean 0.950, down to 0.86).
Input sizes stay 224x224.

Re-running does nothing when every file exists and the stamp (sha256 of this script and of
scripts/requirements-compat.txt) matches.
"""

import argparse
import contextlib
import hashlib
import io
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SEED = 13
OPSET = 17
SIZE = 224
STAMP = ".stamp"
CALIBRATION_IMAGES_PER_LABEL = 1  # of the sample's Training split: 33 images
ONNX_CHANNELS = 8
ONNX_CLASSES = 10


def stamp_value():
    digest = hashlib.sha256()
    for path in (Path(__file__).resolve(), REPO / "scripts" / "requirements-compat.txt"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def write_atomic(path, data):
    """Write then rename, so a reader never sees half a file and an interrupted run leaves no stale one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_facts(out, name, **facts):
    write_atomic(out / f"{name}.json", (json.dumps({"file": name, **facts}, indent=2) + "\n").encode())


# --- Keras models --------------------------------------------------------------------------------------------


def calibration_images(sample):
    """The first image of every label of the sample's Training split (never the Test split the suite runs
    on), as float32 RGB [N, 224, 224, 3] in 0..255 through Keras' own loader."""
    import keras

    files = [sorted((label).glob("*.jpg"))[0] for label in sorted((sample / "Training").iterdir())]
    return np.stack([keras.utils.img_to_array(keras.utils.load_img(f, target_size=(SIZE, SIZE))) for f in files])


def calibrate_batch_norms(model, batch):
    """Sets every BatchNormalization's moving mean and variance to its input's statistics over `batch` (see
    the module's docstring): momentum 0, then one forward pass in training mode, which runs the layers in
    order, so each layer sees its calibrated predecessors."""
    import keras

    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    model(batch, training=True)
    for layer in norms:
        layer.momentum = 0.99


def export_onnx(model, path):
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None, SIZE, SIZE, 3), tf.float32, name="input"),)
    onnx_model, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=OPSET)
    write_atomic(path, onnx_model.SerializeToString())


def convert_quietly(converter):
    """converter.convert(), without the ~300 lines per model Keras' SavedModel export prints on stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        return converter.convert()


def tflite_input_shape(content):
    """The TFLite input's shape as the file declares it, a dynamic dimension as None."""
    from ai_edge_litert.interpreter import Interpreter

    signature = Interpreter(model_content=content).get_input_details()[0]["shape_signature"]
    return [None if d < 0 else int(d) for d in signature]


def export_float_tflite(model, path):
    import tensorflow as tf

    content = convert_quietly(tf.lite.TFLiteConverter.from_keras_model(model))
    write_atomic(path, content)
    return tflite_input_shape(content)


def make_resnet50s(out, sample, versions):
    import keras
    from keras.applications import resnet50

    keras.utils.set_random_seed(SEED)
    base = resnet50.ResNet50(include_top=False, weights=None, pooling=None, input_shape=(SIZE, SIZE, 3))
    calibrate_batch_norms(base, resnet50.preprocess_input(calibration_images(sample)))
    avg = resnet50.ResNet50(include_top=False, weights=None, pooling="avg", input_shape=(SIZE, SIZE, 3))
    avg.set_weights(base.get_weights())  # the same network, with Keras' own pooling layer on top
    for pooling, model in (("none", base), ("avg", avg)):
        stem = f"keras_resnet50_{pooling}"
        model.save(out / f"{stem}.keras")
        reference = {"framework": "keras", "model": f"{stem}.keras"}
        common = dict(layout="nhwc", input_type="float32", input_shape=[None, SIZE, SIZE, 3], feature_dim=2048,
                      preprocess="caffe", reference=reference)
        export_onnx(model, out / f"{stem}.onnx")
        write_facts(out, f"{stem}.onnx", exported=(
            f"Keras {versions['keras']} ResNet50(include_top=False, weights=None, pooling="
            f"{'None' if pooling == 'none' else repr(pooling)}) -> tf2onnx {versions['tf2onnx']} "
            f"from_keras, opset {OPSET}"), **common)
        input_shape = export_float_tflite(model, out / f"{stem}.tflite")
        write_facts(out, f"{stem}.tflite", exported=(
            f"Keras {versions['keras']} ResNet50(include_top=False, weights=None, pooling="
            f"{'None' if pooling == 'none' else repr(pooling)}) -> TFLiteConverter.from_keras_model "
            f"(TensorFlow {versions['tensorflow']}), float32"), **{**common, "input_shape": input_shape})


def make_mobilenet_v3_small(out, sample, versions):
    import keras

    keras.utils.set_random_seed(SEED)
    model = keras.applications.MobileNetV3Small(include_top=False, weights=None, pooling=None,
                                          input_shape=(SIZE, SIZE, 3))
    calibrate_batch_norms(model, calibration_images(sample))  # raw pixels: the model rescales them itself
    stem = "keras_mobilenet_v3_small"
    model.save(out / f"{stem}.keras")
    common = dict(layout="nhwc", input_type="float32", input_shape=[None, SIZE, SIZE, 3], feature_dim=576,
                  preprocess=None, expects="raw", reference={"framework": "keras", "model": f"{stem}.keras"})
    source = (f"Keras {versions['keras']} MobileNetV3Small(include_top=False, weights=None, pooling=None, "
              "include_preprocessing=True)")
    export_onnx(model, out / f"{stem}.onnx")
    write_facts(out, f"{stem}.onnx", exported=f"{source} -> tf2onnx {versions['tf2onnx']} from_keras, opset {OPSET}",
                **common)
    input_shape = export_float_tflite(model, out / f"{stem}.tflite")
    write_facts(out, f"{stem}.tflite", exported=(
        f"{source} -> TFLiteConverter.from_keras_model (TensorFlow {versions['tensorflow']}), float32"),
        **{**common, "input_shape": input_shape})


def pooled_tensor_before_head(tflite_bytes, feature_dim):
    """The name of the interpreter's [1, feature_dim] tensor: the pooled vector that feeds the head."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite_bytes)
    names = [t["name"] for t in interpreter.get_tensor_details()
             if list(t["shape"]) == [1, feature_dim] and t["dtype"] != np.int32]
    if len(names) != 1:
        raise RuntimeError(f"expected one [1, {feature_dim}] tensor before the head, found {names}")
    return names[0]


def full_integer_mobilenet_v2(sample, mode, input_type):
    """MobileNetV2 (alpha 0.35, with its head) calibrated on the sample's images preprocessed in Keras'
    preprocess_input `mode` ("tf": [-1, 1]; "torch": ImageNet-normalised), converted to a full-integer TFLite
    whose input is `input_type` (float32: the converter's default, a QUANTIZE op first; mode None: no
    calibration, the weights alone quantised, "dynamic range"). Returns the file's bytes and the calibration's
    size."""
    import keras
    import tensorflow as tf
    from keras.applications import imagenet_utils, mobilenet_v2

    keras.utils.set_random_seed(SEED)
    model = mobilenet_v2.MobileNetV2(alpha=0.35, include_top=True, weights=None, input_shape=(SIZE, SIZE, 3))
    calibration = imagenet_utils.preprocess_input(calibration_images(sample), mode=mode or "tf")
    calibrate_batch_norms(model, calibration)

    def representative_dataset():
        for image in calibration:
            yield [image[np.newaxis]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode is None:
        return convert_quietly(converter), 0
    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = input_type
    converter.inference_output_type = input_type
    return convert_quietly(converter), len(calibration)


def make_mobilenet_v2_integer(out, sample, versions):
    import tensorflow as tf

    feature_dim = 1280
    # Calibrated on [-1, 1], the uint8 input's quantisation is ~(q - 128) / 127.5: raw 0..255 pixels are its
    # codes. Calibrated on ImageNet-normalised values, the int8 codes stand for those values.
    # Two more users export: full-integer with the converter's default float input and output (a QUANTIZE
    # first, calibrated on [-1, 1]), and the weights alone quantised ("dynamic range").
    # expects: the preset the input's quantisation stands for (default_preset in test_model_compat.py), and
    # whether the reference quantises those values to the input's codes (an integer input) or takes them as
    # floats (the QUANTIZE of a float input does it).
    for name, mode, input_type, expects in (("keras_mobilenet_v2_uint8.tflite", "tf", tf.uint8, None),
                                            ("keras_mobilenet_v2_int8_imagenet.tflite", "torch", tf.int8,
                                             "imagenet"),
                                            ("keras_mobilenet_v2_int8_float_io.tflite", "tf", tf.float32, "tf"),
                                            ("keras_mobilenet_v2_dynamic_range.tflite", None, tf.float32, None)):
        content, calibrated = full_integer_mobilenet_v2(sample, mode, input_type)
        write_atomic(out / name, content)
        type_name = {tf.uint8: "uint8", tf.int8: "int8"}.get(input_type, "float")
        reference = {"framework": "tflite", "model": name, "tensor": pooled_tensor_before_head(content, feature_dim)}
        facts = {"expects": expects} if expects else {}
        if expects and type_name != "float":
            reference["quantise_input"] = True
        write_facts(out, name, exported=(
            f"Keras {versions['keras']} MobileNetV2(alpha=0.35, include_top=True, weights=None) -> "
            f"TFLiteConverter (TensorFlow {versions['tensorflow']}) "
            + (f"full-integer, representative dataset of {calibrated} Training images (preprocess_input "
               f"mode={mode!r}), inference_input_type={type_name}" if mode else
               "Optimize.DEFAULT without a representative dataset (dynamic range)")),
            layout="nhwc", input_type=type_name, input_shape=tflite_input_shape(content), feature_dim=feature_dim,
            preprocess=None, reference=reference, **facts)


def make_keras_dynamic_hw(out, versions):
    """A small Keras CNN with a dynamic height and width, as float TFLite: the converter declares every
    tensor's height and width as -1, so the pool is told by its axes, not by shapes (orchard found none and
    refused the model, 2026-12-03). Its output is the pooled vector, the reference Keras' own forward pass."""
    import keras

    keras.utils.set_random_seed(SEED)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.Conv2D(24, 3, strides=2, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    stem = "keras_dynamic_hw"
    model.save(out / f"{stem}.keras")
    input_shape = export_float_tflite(model, out / f"{stem}.tflite")
    write_facts(out, f"{stem}.tflite", exported=(
        f"Keras {versions['keras']} Input((None, None, 3)) -> Conv2D(16) -> Conv2D(24) -> "
        f"GlobalAveragePooling2D -> TFLiteConverter.from_keras_model (TensorFlow {versions['tensorflow']}), "
        "float32"), layout="nhwc", input_type="float32", input_shape=input_shape, feature_dim=24,
        preprocess=None, reference={"framework": "keras", "model": f"{stem}.keras"})


# --- ONNX graphs written by hand -----------------------------------------------------------------------------


class Graph:
    """A few helpers over onnx.helper: seeded initialisers and one node per call."""

    def __init__(self, rng):
        self.rng = rng
        self.nodes = []
        self.initializers = []

    def const(self, name, array, dtype=np.float32):
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def node(self, op, inputs, output, **attributes):
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def conv_relu(self, x, channels=ONNX_CHANNELS):
        """3×3 stride-2 unpadded convolution (224 -> 111) + ReLU; He-initialised, with a small bias."""
        w = self.rng.normal(0.0, np.sqrt(2.0 / 27), size=(channels, 3, 3, 3))
        b = self.rng.normal(0.0, 0.1, size=channels)
        y = self.node("Conv", [x, self.const("conv.weight", w), self.const("conv.bias", b)], "conv",
                      kernel_shape=[3, 3], strides=[2, 2])
        return self.node("Relu", [y], "relu")

    def pool(self, x):
        y = self.node("GlobalAveragePool", [x], "pool")
        return self.node("Flatten", [y], "pooled", axis=1)

    def head(self, x, channels=ONNX_CHANNELS):
        w = self.rng.normal(0.0, 1.0 / np.sqrt(channels), size=(ONNX_CLASSES, channels))
        return self.node("Gemm", [x, self.const("head.weight", w), self.const("head.bias", np.zeros(ONNX_CLASSES))],
                         "logits", transB=1)

    def save(self, path, input_shape, output, output_shape):
        import onnx
        from onnx import TensorProto, helper

        graph = helper.make_graph(
            self.nodes, path.stem, [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_shape)],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, output_shape)], initializer=self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="orchard/scripts/make_compat_models.py")
        model.ir_version = 8  # opset 17 needs IR >= 8
        onnx.checker.check_model(model, full_check=True)
        write_atomic(path, model.SerializeToString())


def onnx_facts(out, name, exported, layout, input_shape, feature_dim, tensor):
    write_facts(out, name, exported=f"onnx.helper, opset {OPSET}: {exported}", layout=layout,
                input_type="float32", input_shape=input_shape, feature_dim=feature_dim, preprocess=None,
                reference={"framework": "onnxruntime", "model": name, "tensor": tensor})


def make_onnx_graphs(out):
    rng = np.random.default_rng(SEED)

    g = Graph(rng)
    x = g.node("Transpose", ["input"], "to_nchw", perm=[0, 3, 1, 2])
    g.head(g.pool(g.conv_relu(x)))
    g.save(out / "onnx_nhwc_transpose.onnx", ["N", SIZE, SIZE, 3], "logits", ["N", ONNX_CLASSES])
    onnx_facts(out, "onnx_nhwc_transpose.onnx",
               "NHWC input [N,224,224,3] -> Transpose -> Conv(8) -> Relu -> GlobalAveragePool -> Flatten -> Gemm",
               "nhwc", [None, SIZE, SIZE, 3], ONNX_CHANNELS, "pooled")

    g = Graph(rng)
    g.head(g.pool(g.conv_relu("input")))
    g.save(out / "onnx_dynamic_hw.onnx", ["N", 3, "H", "W"], "logits", ["N", ONNX_CLASSES])
    onnx_facts(out, "onnx_dynamic_hw.onnx",
               "dynamic H/W input [N,3,H,W] -> Conv(8) -> Relu -> GlobalAveragePool -> Flatten -> Gemm",
               "nchw", [None, 3, None, None], ONNX_CHANNELS, "pooled")

    g = Graph(rng)
    y = g.node("Reshape", [g.conv_relu("input"), g.const("reshape.shape", [1, ONNX_CHANNELS, -1], np.int64)],
               "reshaped")
    g.head(g.node("ReduceMean", [y], "pooled", axes=[2], keepdims=0))
    g.save(out / "onnx_batch1_reshape.onnx", [1, 3, SIZE, SIZE], "logits", [1, ONNX_CLASSES])
    onnx_facts(out, "onnx_batch1_reshape.onnx",
               "fixed batch 1 [1,3,224,224] -> Conv(8) -> Relu -> Reshape [1,8,-1] -> ReduceMean(axis 2) -> Gemm",
               "nchw", [1, 3, SIZE, SIZE], ONNX_CHANNELS, "pooled")

    channels = 16
    g = Graph(rng)
    g.pool(g.conv_relu("input", channels))
    g.save(out / "onnx_pooled_output.onnx", ["N", 3, SIZE, SIZE], "pooled", ["N", channels])
    onnx_facts(out, "onnx_pooled_output.onnx",
               "[N,3,224,224] -> Conv(16) -> Relu -> GlobalAveragePool -> Flatten: output [N,16], no head",
               "nchw", [None, 3, SIZE, SIZE], channels, "pooled")


# --- main ----------------------------------------------------------------------------------------------------

MODELS = [f"keras_resnet50_{p}.{e}" for p in ("none", "avg") for e in ("onnx", "tflite")] + [
    "keras_mobilenet_v2_uint8.tflite", "keras_mobilenet_v2_int8_imagenet.tflite",
    "keras_mobilenet_v2_int8_float_io.tflite", "keras_mobilenet_v2_dynamic_range.tflite", "onnx_nhwc_transpose.onnx",
    "onnx_dynamic_hw.onnx", "onnx_batch1_reshape.onnx", "onnx_pooled_output.onnx", "keras_dynamic_hw.tflite",
    "keras_mobilenet_v3_small.onnx", "keras_mobilenet_v3_small.tflite"]


def up_to_date(out):
    files = [out / STAMP] + [out / m for m in MODELS] + [out / f"{m}.json" for m in MODELS]
    return all(f.is_file() for f in files) and (out / STAMP).read_text().strip() == stamp_value()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=REPO / "models-generated" / "compat")
    parser.add_argument("--sample", type=Path, default=Path(os.environ.get(
        "ORCHARD_SHARED", REPO.parent / "shared")) / "data" / "fruits-360-sample")
    args = parser.parse_args(argv)
    if up_to_date(args.output):
        print(f"{args.output} is up to date")
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import importlib.metadata as metadata

    versions = {p: metadata.version(p) for p in ("tensorflow-cpu", "keras", "tf2onnx", "onnx")}
    versions["tensorflow"] = versions["tensorflow-cpu"]
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / STAMP).unlink(missing_ok=True)
    make_onnx_graphs(args.output)
    make_mobilenet_v2_integer(args.output, args.sample, versions)
    make_resnet50s(args.output, args.sample, versions)
    make_keras_dynamic_hw(args.output, versions)
    make_mobilenet_v3_small(args.output, args.sample, versions)
    (args.output / STAMP).write_text(stamp_value() + "\n")
    print(f"wrote {len(MODELS)} models to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
