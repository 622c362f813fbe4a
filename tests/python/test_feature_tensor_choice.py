"""Which tensor orchard reads as the features, and in which units, for model files as users export them (faults a
newcomer found on 2026-12-03, each failing on the engine before its fix):
- an onnxruntime QOperator model (QLinearConv -> com.microsoft QLinearGlobalAveragePool) has no float tensor before
  its pool: orchard cut at the QLinearConv's integer codes and averaged them as numbers, features off by 1/scale
  and, with a zero point, pointing elsewhere (cosine -0.46 to onnxruntime's dequantised tensor);
- a model with an auxiliary head got the auxiliary pool as its default feature tensor or the main one depending
  on the order the exporter wrote the graph's outputs in (tf2onnx and TFLite's converter differ).
"""

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from conftest import rows_by_path, run_orchard, sample_images

CHANNELS = 8


def save(path, nodes, outputs, initializers, domains=()):
    graph = h.make_graph(nodes, path.stem, [h.make_tensor_value_info("x", T.FLOAT, ["N", 3, 224, 224])], outputs,
                         initializers)
    opsets = [h.make_opsetid("", 17)] + [h.make_opsetid(domain, 1) for domain in domains]
    onnx.save(h.make_model(graph, opset_imports=opsets), path)
    return path


def qoperator_model(path, float_twin):
    """QuantizeLinear -> QLinearConv(8, int8 codes with zero point -100) -> QLinearGlobalAveragePool ->
    DequantizeLinear, as onnxruntime's quantize_static(quant_format=QOperator) writes it. With float_twin the
    conv's codes are also dequantised into a second output, a float tensor orchard cuts at instead."""
    rng = np.random.default_rng(0)
    inits = [nh.from_array(np.asarray(value, dtype), name) for name, value, dtype in [
        ("s_x", 0.02, np.float32), ("z_x", 128, np.uint8),
        ("w", rng.integers(-100, 100, (CHANNELS, 3, 3, 3)), np.int8), ("s_w", np.full(CHANNELS, 0.01), np.float32),
        ("z_w", np.zeros(CHANNELS), np.int8), ("s_y", 0.05, np.float32), ("z_y", -100, np.int8),
        ("s_p", 0.02, np.float32), ("z_p", -100, np.int8)]]
    nodes = [h.make_node("QuantizeLinear", ["x", "s_x", "z_x"], ["x_q"]),
             h.make_node("QLinearConv", ["x_q", "s_x", "z_x", "w", "s_w", "z_w", "s_y", "z_y"], ["y_q"],
                         strides=[2, 2]),
             h.make_node("QLinearGlobalAveragePool", ["y_q", "s_y", "z_y", "s_p", "z_p"], ["p_q"],
                         domain="com.microsoft", channels_last=0),
             h.make_node("DequantizeLinear", ["p_q", "s_p", "z_p"], ["pooled"])]
    outputs = [h.make_tensor_value_info("pooled", T.FLOAT, ["N", CHANNELS, 1, 1])]
    if float_twin:
        nodes.append(h.make_node("DequantizeLinear", ["y_q", "s_y", "z_y"], ["y"]))
        outputs.append(h.make_tensor_value_info("y", T.FLOAT, ["N", CHANNELS, 111, 111]))
    return save(path, nodes, outputs, inits, domains=("com.microsoft",))


def features(tmp_path, model, *options):
    """{path: features} of `orchard run` with `model` on 4 sample photos."""
    images = tmp_path / "in" / "Kiwi"
    images.mkdir(parents=True, exist_ok=True)
    for image in sample_images("Test", 4)[:4]:
        (images / image.name).write_bytes(image.read_bytes())
    output = tmp_path / f"out-{model.stem}-{len(options)}"
    run_orchard("run", "--input", tmp_path / "in", "--output", output, "--model", model, *options)
    return {path: vector for path, (vector, _) in rows_by_path(output).items()}


@pytest.mark.parametrize("precision", ["f32", "int8"])
def test_qoperator_model_features_are_dequantised_not_raw_codes(tmp_path, precision):
    codes_only = features(tmp_path, qoperator_model(tmp_path / "qop.onnx", float_twin=False),
                          "--precision", precision)
    with_twin = features(tmp_path, qoperator_model(tmp_path / "qop_twin.onnx", float_twin=True),
                         "--precision", precision)
    assert sorted(codes_only) == sorted(with_twin)
    for path, expected in with_twin.items():
        assert len(codes_only[path]) == CHANNELS
        np.testing.assert_allclose(codes_only[path], expected, rtol=1e-5, atol=1e-6, err_msg=path)


def test_an_integer_feature_tensor_without_a_known_scale_is_refused(tmp_path):
    """Cut at an int32 tensor, orchard averaged its values as if they were features."""
    w = nh.from_array(np.random.default_rng(0).normal(0, 0.1, (CHANNELS, 3, 3, 3)).astype(np.float32), "W")
    model = save(tmp_path / "cast.onnx", [
        h.make_node("Conv", ["x", "W"], ["c"]), h.make_node("Cast", ["c"], ["c_int"], to=T.INT32),
        h.make_node("Cast", ["c_int"], ["c_float"], to=T.FLOAT), h.make_node("GlobalAveragePool", ["c_float"], ["y"])],
        [h.make_tensor_value_info("y", T.FLOAT, ["N", CHANNELS, 1, 1])], [w])
    images = tmp_path / "in" / "Kiwi"
    images.mkdir(parents=True)
    (images / "a.jpg").write_bytes(sample_images("Test", 1)[0].read_bytes())
    result = run_orchard("run", "--input", tmp_path / "in", "--output", tmp_path / "out", "--model", model,
                         "--feature-tensor", "c_int", check=False)
    assert result.returncode == 3, result.stderr
    assert str(model) in result.stderr and "'c_int' holds integer codes (i32)" in result.stderr, result.stderr


def two_heads_model(path, aux_output_first):
    """Conv(8) -> Relu -> [auxiliary head: GlobalAveragePool -> Gemm] -> Conv(16) -> Relu -> GlobalAveragePool ->
    Gemm: the main head's pool is the deeper one."""
    rng = np.random.default_rng(0)
    inits = [nh.from_array(rng.normal(0, 0.1, shape).astype(np.float32), name) for name, shape in
             [("W1", (8, 3, 3, 3)), ("W2", (16, 8, 3, 3)), ("G1", (5, 8)), ("G2", (5, 16))]]
    nodes = [h.make_node("Conv", ["x", "W1"], ["c1"], strides=[2, 2]), h.make_node("Relu", ["c1"], ["r1"]),
             h.make_node("GlobalAveragePool", ["r1"], ["p1"]), h.make_node("Flatten", ["p1"], ["f1"]),
             h.make_node("Gemm", ["f1", "G1"], ["aux_logits"], transB=1),
             h.make_node("Conv", ["r1", "W2"], ["c2"], strides=[2, 2]), h.make_node("Relu", ["c2"], ["r2"]),
             h.make_node("GlobalAveragePool", ["r2"], ["p2"]), h.make_node("Flatten", ["p2"], ["f2"]),
             h.make_node("Gemm", ["f2", "G2"], ["logits"], transB=1)]
    outputs = [h.make_tensor_value_info(name, T.FLOAT, ["N", 5]) for name in ("aux_logits", "logits")]
    return save(path, nodes, outputs if aux_output_first else outputs[::-1], inits)


@pytest.mark.parametrize("aux_output_first", [True, False])
def test_default_feature_tensor_is_the_deepest_pool_whatever_the_output_order(tmp_path, aux_output_first):
    model = two_heads_model(tmp_path / "two_heads.onnx", aux_output_first)
    description = run_orchard("describe-model", model).stdout
    assert "feature tensor r2 [?,16,55,55]" in description, description
    assert all(len(vector) == 16 for vector in features(tmp_path, model).values())


def test_a_model_without_a_pool_is_usable_by_the_tensor_describe_model_lists(tmp_path):
    """A GlobalMaxPool model is refused without --feature-tensor, and the refusal said `describe-model` lists the
    model's tensors, which it did not; `preprocess --model` had no --feature-tensor and refused the model too."""
    w = nh.from_array(np.random.default_rng(0).normal(0, 0.1, (CHANNELS, 3, 3, 3)).astype(np.float32), "W")
    model = save(tmp_path / "gmp.onnx", [
        h.make_node("Conv", ["x", "W"], ["c"]), h.make_node("Relu", ["c"], ["r"]),
        h.make_node("GlobalMaxPool", ["r"], ["m"]), h.make_node("Flatten", ["m"], ["y"])],
        [h.make_tensor_value_info("y", T.FLOAT, ["N", CHANNELS])], [w])
    refused = run_orchard("describe-model", model, check=False)
    assert refused.returncode == 3 and "orchard describe-model --tensors lists" in refused.stdout, refused.stdout
    listed = json.loads(run_orchard("describe-model", model, "--tensors", "--json", check=False).stdout)["tensors"]
    assert {"name": "r", "shape": "[?,8,222,222]", "element_type": "f32", "op_type": "Relu"} in listed, listed
    assert all(len(vector) == CHANNELS for vector in features(tmp_path, model, "--feature-tensor", "r").values())
    image = sample_images("Test", 1)[0]
    run_orchard("preprocess", image, "--model", model, "--feature-tensor", "r", "--output", tmp_path / "x.arrow")
    assert (tmp_path / "x.arrow").stat().st_size > 3 * 224 * 224 * 4
