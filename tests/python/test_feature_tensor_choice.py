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


def conv_weights(shape, seed=0):
    return np.random.default_rng(seed).normal(0, 0.1, shape).astype(np.float32)


def squeeze_excitation_backbone(path):
    """Conv(8) -> Relu -> y, then a squeeze-and-excitation block (Hu et al., 2018): GlobalAveragePool(y) -> 1x1
    Conv -> Sigmoid -> Mul(y, gate) = z, the output, a spatial map (a backbone exported without its pool and
    head, e.g. Keras MobileNetV3Small(include_top=False, pooling=None))."""
    inits = [nh.from_array(conv_weights((CHANNELS, 3, 3, 3)), "W"),
             nh.from_array(conv_weights((CHANNELS, CHANNELS, 1, 1), 1), "S")]
    nodes = [h.make_node("Conv", ["x", "W"], ["c"], strides=[2, 2]), h.make_node("Relu", ["c"], ["y"]),
             h.make_node("GlobalAveragePool", ["y"], ["squeezed"]), h.make_node("Conv", ["squeezed", "S"], ["e"]),
             h.make_node("Sigmoid", ["e"], ["gate"]), h.make_node("Mul", ["y", "gate"], ["z"])]
    return save(path, nodes, [h.make_tensor_value_info("z", T.FLOAT, ["N", CHANNELS, 111, 111])], inits)


def test_a_squeeze_excitation_pool_is_not_the_default_feature_tensor(tmp_path):
    """Keras EfficientNetB0 / MobileNetV3Small without pool and head: orchard took the last SE block's squeeze input
    for the pooled features (cosine 0.05 to the model's output on MobileNetV3Small), exit 0."""
    model = squeeze_excitation_backbone(tmp_path / "se.onnx")
    description = run_orchard("describe-model", model).stdout
    assert "feature tensor z [?,8,111,111]" in description and "squeeze-and-excitation gate" in description
    default, output = features(tmp_path, model), features(tmp_path, model, "--feature-tensor", "z")
    for path, vector in default.items():
        np.testing.assert_array_equal(vector, output[path], err_msg=path)


def nhwc_output_model(path, relu_after_transpose):
    """Conv(8) -> [Relu] -> Transpose to NHWC -> [Relu]: output [N, 111, 111, 8]; tf2onnx moves the Transpose of
    an NHWC model's output above its final activation (MobileNetV3's hard-swish), as relu_after_transpose does."""
    transpose = h.make_node("Transpose", ["r" if not relu_after_transpose else "c"],
                            ["t" if relu_after_transpose else "out"], perm=[0, 2, 3, 1])
    relu = h.make_node("Relu", ["t" if relu_after_transpose else "c"], ["out" if relu_after_transpose else "r"])
    nodes = [h.make_node("Conv", ["x", "W"], ["c"], strides=[2, 2])]
    nodes += [transpose, relu] if relu_after_transpose else [relu, transpose]
    return save(path, nodes, [h.make_tensor_value_info("out", T.FLOAT, ["N", 111, 111, CHANNELS])],
                [nh.from_array(conv_weights((CHANNELS, 3, 3, 3)), "W")])


def test_an_nhwc_output_transposed_above_its_activation_is_pooled_over_its_spatial_axes(tmp_path):
    """The output's layout was read only from its direct producer: a Relu after the Transpose made orchard take
    [N,111,111,8] for NCHW and average it into 111 values per image."""
    moved = features(tmp_path, nhwc_output_model(tmp_path / "moved.onnx", relu_after_transpose=True))
    direct = features(tmp_path, nhwc_output_model(tmp_path / "direct.onnx", relu_after_transpose=False))
    for path, vector in moved.items():
        assert len(vector) == CHANNELS
        np.testing.assert_allclose(vector, direct[path], rtol=1e-4, atol=1e-6, err_msg=path)


def float16_model(path, float16_input):
    """Conv(8) -> Relu -> GlobalAveragePool -> Flatten computed in float16, as onnxconverter-common's float16
    conversion writes it: with float32 input and output (keep_io_types, Casts at both ends) or float16 input."""
    input_type = T.FLOAT16 if float16_input else T.FLOAT
    nodes = [] if float16_input else [h.make_node("Cast", ["x"], ["x16"], to=T.FLOAT16)]
    nodes += [h.make_node("Conv", ["x" if float16_input else "x16", "W"], ["c"], strides=[2, 2]),
              h.make_node("Relu", ["c"], ["r"]), h.make_node("GlobalAveragePool", ["r"], ["p"]),
              h.make_node("Flatten", ["p"], ["f"]), h.make_node("Cast", ["f"], ["y"], to=T.FLOAT)]
    graph = h.make_graph(nodes, path.stem, [h.make_tensor_value_info("x", input_type, ["N", 3, 224, 224])],
                         [h.make_tensor_value_info("y", T.FLOAT, ["N", CHANNELS])],
                         [nh.from_array(conv_weights((CHANNELS, 3, 3, 3)).astype(np.float16), "W")])
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), path)
    return path


def float32_twin(path):
    return save(path, [h.make_node("Conv", ["x", "W"], ["c"], strides=[2, 2]), h.make_node("Relu", ["c"], ["r"]),
                       h.make_node("GlobalAveragePool", ["r"], ["p"]), h.make_node("Flatten", ["p"], ["y"])],
                [h.make_tensor_value_info("y", T.FLOAT, ["N", CHANNELS])],
                [nh.from_array(conv_weights((CHANNELS, 3, 3, 3)).astype(np.float16).astype(np.float32), "W")])


@pytest.mark.parametrize("float16_input", [False, True])
def test_a_float16_model_gives_its_features_as_float32(tmp_path, float16_input):
    """describe-model accepted float16 models and `run` then stopped after compiling them: "inference gave an output
    of [8,16] f16, expected [8,16] f32"."""
    half = features(tmp_path, float16_model(tmp_path / f"half-{float16_input}.onnx", float16_input))
    full = features(tmp_path, float32_twin(tmp_path / "full.onnx"))
    for path, vector in half.items():
        assert len(vector) == CHANNELS
        np.testing.assert_allclose(vector, full[path], rtol=2e-2, atol=2e-3, err_msg=path)


def layer_norm_head_model(path, opset):
    """Conv(8) -> Relu -> GlobalAveragePool -> Transpose to [N,1,1,8] -> the mean of a LayerNorm over the
    channels (ReduceMean over the last axis) -> Sub: ConvNeXt's head as torch.onnx exports it below opset 17,
    where LayerNorm is no single op."""
    w = nh.from_array(conv_weights((CHANNELS, 3, 3, 3)), "W")
    reduce = (h.make_node("ReduceMean", ["t"], ["mu"], axes=[-1], keepdims=1) if opset < 18 else
              h.make_node("ReduceMean", ["t", "axes"], ["mu"], keepdims=1))
    nodes = [h.make_node("Conv", ["x", "W"], ["c"], strides=[2, 2]), h.make_node("Relu", ["c"], ["r"]),
             h.make_node("GlobalAveragePool", ["r"], ["p"]), h.make_node("Transpose", ["p"], ["t"], perm=[0, 2, 3, 1]),
             reduce, h.make_node("Sub", ["t", "mu"], ["centred"])]
    inits = [w, nh.from_array(np.array([-1], np.int64), "axes")]
    graph = h.make_graph(nodes, path.stem, [h.make_tensor_value_info("x", T.FLOAT, ["N", 3, 224, 224])],
                         [h.make_tensor_value_info("centred", T.FLOAT, ["N", 1, 1, CHANNELS])], inits)
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", opset)]), path)
    return path


@pytest.mark.parametrize("opset", [13, 18])
def test_the_mean_of_a_layer_norm_over_pooled_channels_is_not_a_pool(tmp_path, opset):
    """A newcomer's torchvision ConvNeXt-tiny at opset 13-16 got 1-d features, exit 0: the LayerNorm's
    ReduceMean over the channels of the pooled [N,1,1,768] passed for a global pool whose channels were the
    size-1 axis (2026-12-03). The deepest pool is now the GlobalAveragePool, and the features are its 8 values."""
    path = layer_norm_head_model(tmp_path / f"layer_norm_head_{opset}.onnx", opset)
    contract = json.loads(run_orchard("describe-model", path, "--json").stdout)["contract"]
    assert contract["feature_tensor"]["name"] == "r" and contract["feature_dim"] == CHANNELS
    ours = features(tmp_path, path)
    cut = features(tmp_path, path, "--feature-tensor", "r")
    for image, vector in ours.items():
        np.testing.assert_allclose(vector, cut[image], rtol=1e-6, err_msg=image)


def test_a_feature_tensor_of_one_value_per_image_is_refused(tmp_path):
    path = layer_norm_head_model(tmp_path / "layer_norm_head.onnx", 13)
    result = run_orchard("describe-model", path, "--feature-tensor", "mu", check=False)
    assert "gives one value per image, which is no feature vector" in result.stdout + result.stderr


def test_features_too_wide_for_the_pca_are_refused_before_any_work(tmp_path):
    """A flattened map named with --feature-tensor (a newcomer's VGG11 at 25,088 values) ran its inference, then
    grew to 17 GB in the PCA's covariance and eigensolver over 13 CPU-minutes, deaf to SIGTERM and SIGINT. Now
    the PCA refuses more than 8,192 values per image at once (exit 2), naming the width."""
    w = nh.from_array(np.random.default_rng(0).normal(0, 0.1, (1, 3, 1, 1)).astype(np.float32), "W")
    model = save(tmp_path / "flat.onnx", [
        h.make_node("Conv", ["x", "W"], ["c"], strides=[2, 2]), h.make_node("Flatten", ["c"], ["flat"])],
        [h.make_tensor_value_info("flat", T.FLOAT, ["N", 112 * 112])], [w])
    images = tmp_path / "in" / "Kiwi"
    images.mkdir(parents=True)
    for image in sample_images("Test", 2)[:2]:
        (images / image.name).write_bytes(image.read_bytes())
    result = run_orchard("run", "--input", tmp_path / "in", "--output", tmp_path / "out", "--model", model,
                         "--feature-tensor", "flat", check=False)
    assert result.returncode == 2, result.stderr
    assert "features of 12544 values per image" in result.stderr and "at most 8192" in result.stderr
    assert not list((tmp_path / "out").rglob("part-*.parquet"))

