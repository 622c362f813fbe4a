"""Bad model files (issue 13): exit 3 and one line on stderr naming the file and the reason, before any work."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from conftest import DEFAULT_MODEL, SHARED, run_orchard, sample_images, write_manifest

RNG = np.random.default_rng(0)
W3 = nh.from_array(RNG.normal(0, 0.1, (8, 3, 3, 3)).astype(np.float32), "W")


def image_input(name="x", shape=("N", 3, 224, 224)):
    return h.make_tensor_value_info(name, T.FLOAT, list(shape))


def save(path, nodes, inputs, output, initializers=(), domains=()):
    graph = h.make_graph(nodes, path.stem, inputs, [output], list(initializers))
    opsets = [h.make_opsetid("", 17)] + [h.make_opsetid(d, 1) for d in domains]
    onnx.save(h.make_model(graph, opset_imports=opsets), path)
    return path


def truncated(path, source, size):
    path.write_bytes(source.read_bytes()[:size])
    return path


def unsupported_op(path):
    return save(path, [h.make_node("Conv", ["x", "W"], ["c"]), h.make_node("FancyOp", ["c"], ["d"], domain="acme.ai"),
                       h.make_node("GlobalAveragePool", ["d"], ["y"])],
                [image_input()], h.make_tensor_value_info("y", T.FLOAT, ["N", 8, 1, 1]), [W3], ["acme.ai"])


def no_image_input(path):
    return save(path, [h.make_node("Relu", ["x"], ["y"])], [image_input(shape=("N", 100))],
                h.make_tensor_value_info("y", T.FLOAT, ["N", 100]))


def two_image_inputs(path):
    return save(path, [h.make_node("Conv", ["x", "W"], ["c"]), h.make_node("Conv", ["x2", "W"], ["c2"]),
                       h.make_node("Add", ["c", "c2"], ["d"]), h.make_node("GlobalAveragePool", ["d"], ["y"])],
                [image_input(), image_input("x2")], h.make_tensor_value_info("y", T.FLOAT, ["N", 8, 1, 1]), [W3])


def one_channel_input(path):
    w1 = nh.from_array(RNG.normal(0, 0.1, (8, 1, 3, 3)).astype(np.float32), "W1")
    return save(path, [h.make_node("Conv", ["x", "W1"], ["c"]), h.make_node("GlobalAveragePool", ["c"], ["y"])],
                [image_input(shape=("N", 1, 224, 224))], h.make_tensor_value_info("y", T.FLOAT, ["N", 8, 1, 1]), [w1])


def image_model(path, shape):
    """Relu -> GlobalAveragePool on an input of `shape` (rank 3 or 4)."""
    pooled = [shape[0], 1, 1] if len(shape) == 3 else [shape[0], shape[1], 1, 1]
    return save(path, [h.make_node("Relu", ["x"], ["r"]), h.make_node("GlobalAveragePool", ["r"], ["y"])],
                [image_input(shape=shape)], h.make_tensor_value_info("y", T.FLOAT, pooled))


def no_pooling(path):
    """Conv -> Flatten: its output could be logits; orchard must not take it for features."""
    return save(path, [h.make_node("Conv", ["x", "W"], ["c"]), h.make_node("Flatten", ["c"], ["y"])],
                [image_input(shape=("N", 3, 32, 32))], h.make_tensor_value_info("y", T.FLOAT, ["N", 7200]), [W3])


def external_data(path, damage):
    """A pooled conv model whose weights are ONNX external data (`path`.data), then `damage`d: the data file
    removed, or cut to half its size. OpenVINO says the same for both ("Invalid usage of method for externally
    stored data"), and orchard added "truncated or corrupt?" about the .onnx (newcomer)."""
    model = h.make_model(h.make_graph(
        [h.make_node("Conv", ["x", "W"], ["c"]), h.make_node("GlobalAveragePool", ["c"], ["y"])], path.stem,
        [image_input()], [h.make_tensor_value_info("y", T.FLOAT, ["N", 8, 1, 1])], [W3]),
        opset_imports=[h.make_opsetid("", 17)])
    onnx.save(model, path, save_as_external_data=True, location=f"{path.name}.data", size_threshold=0)
    data = path.with_name(f"{path.name}.data")
    if damage == "missing":
        data.unlink()
    else:
        data.write_bytes(data.read_bytes()[:data.stat().st_size // 2])
    return path


CASES = {
    "not_a_model.onnx": (lambda p: p.write_text("not a model") and p,
                         "neither ONNX nor TFLite, the formats orchard reads"),
    # An OpenVINO IR was refused as "not a model OpenVINO can read" (2026-12-03): it is one, orchard does not read it.
    "openvino_ir.xml": (lambda p: p.write_text('<?xml version="1.0"?>\n<net name="m" version="11">\n</net>\n') and p,
                        "an OpenVINO IR file, which orchard does not read"),
    "exported.keras": (lambda p: p.write_bytes(b"PK\x03\x04") and p, "a Keras file: export it to ONNX (tf2onnx)"),
    "truncated.onnx": (lambda p: truncated(p, DEFAULT_MODEL, 1_000_000),
                       "cannot be read as onnx (truncated or corrupt?)"),
    "truncated.tflite": (lambda p: truncated(p, SHARED / "models" / "mobilenet_v2_1.0_224_quant.tflite", 2000),
                         "cannot be read as tflite (truncated or corrupt?)"),
    "unsupported_op.onnx": (unsupported_op, "OpenVINO cannot convert its FancyOp op(s)"),
    "no_image_input.onnx": (no_image_input,
                            "input shape [?,100] has rank 2: orchard takes a batch of 3-channel images"),
    "two_image_inputs.onnx": (two_image_inputs, "expected one image input, the model has 2 (x, x2)"),
    "one_channel.onnx": (one_channel_input, "input shape [?,1,224,224] has 1 channels"),
    # Both were "is not a 3-channel image" (newcomer): what is wrong is said.
    "no_batch_axis.onnx": (lambda p: image_model(p, [3, 224, 224]), "input shape [3,224,224] has no batch axis"),
    "symbolic_channels.onnx": (lambda p: image_model(p, ["N", "C", "H", "W"]), "leaves its channels symbolic"),
    "no_pooling.onnx": (no_pooling, "no global average pooling found"),
    "external_data_missing.onnx": (lambda p: external_data(p, "missing"),
                                   "its weights are stored outside it (ONNX external data) in "
                                   "external_data_missing.onnx.data, which is not in"),
    "external_data_truncated.onnx": (lambda p: external_data(p, "truncated"),
                                     "holds 432 bytes, and the model reads up to byte 864: the data file is truncated"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_model_is_exit_3_with_one_line_naming_file_and_reason(tmp_path, name):
    make, reason = CASES[name]
    model = make(tmp_path / name)
    manifest = write_manifest(tmp_path / "inputs.txt", sample_images(per_label=1)[:2])
    result = run_orchard("run", "--input", manifest, "--output", tmp_path / "out", "--model", model, check=False)
    assert result.returncode == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"orchard: model error: model {model}: "), lines[0]
    assert reason in lines[0], lines[0]
    assert not (tmp_path / "out" / "features").exists()  # refused before any work
