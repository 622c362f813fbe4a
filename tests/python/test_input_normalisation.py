"""Models that normalise their own input (fault a newcomer found on 2026-12-03, failing on the engine before its
fix): Keras' MobileNetV3 and EfficientNet carry Rescaling / Normalization layers, which tf2onnx exports as the
graph's first Mul / Add / Sub / Div by constants, so they take raw pixels 0..255. orchard fed them its default
`imagenet` preprocessing, normalised a second time inside the graph: wrong features, exit 0. orchard now reads
that map from the graph, makes `raw` the default for it and refuses a preset that would normalise twice.

Each model here is a small convolution + global average pool behind such a map; its twin is the same
convolution without the map. The twin, given the preset that computes the same map outside the graph, is the
reference: the two must give equal features."""

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from conftest import DEFAULT_MODEL, run_orchard, rows_by_path, sample_images

CHANNELS = 8
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def model(path, layout, affine, input_type=T.FLOAT):
    """[N,3,224,224] or [N,224,224,3] input (`input_type`) -> each (op, constant) of `affine` in turn -> (Transpose
    to NCHW) -> Conv(8, 3x3 stride 2, seeded) -> Relu -> GlobalAveragePool -> Flatten. A DequantizeLinear's
    constant is its (scale, zero point); a Gather's or Concat's the channel order they make."""
    nhwc = layout == "nhwc"
    shape = [1, 1, 1, 3] if nhwc else [1, 3, 1, 1]
    inits = [nh.from_array(np.random.default_rng(0).normal(0, 0.3, (CHANNELS, 3, 3, 3)).astype(np.float32), "w")]
    nodes, x = [], "x"
    axis = 3 if nhwc else 1
    for i, (op, value) in enumerate(affine):
        if op == "Gather":  # the channels reordered by indices, as an ONNX export of x[:, [2, 1, 0]] reads
            inits.append(nh.from_array(np.asarray(value, np.int64), f"c{i}"))
            nodes.append(h.make_node(op, [x, f"c{i}"], [f"a{i}"], axis=axis))
            x = f"a{i}"
            continue
        if op == "Concat":  # the channels sliced apart and put back in `value`'s order: tf2onnx's x[..., ::-1]
            for c in range(3):
                inits += [nh.from_array(np.asarray([c, c + 1, axis], np.int64)[k:k + 1], f"s{i}_{c}_{k}")
                          for k in range(3)]
                nodes.append(h.make_node("Slice", [x, f"s{i}_{c}_0", f"s{i}_{c}_1", f"s{i}_{c}_2"], [f"a{i}_{c}"]))
            nodes.append(h.make_node(op, [f"a{i}_{c}" for c in value], [f"a{i}"], axis=axis))
            x = f"a{i}"
            continue
        if op == "Slice":  # one Slice with step -1 along the channels: tf.keras 2's x[..., ::-1], torch's x.flip(1)
            inits += [nh.from_array(np.asarray([v], np.int64), f"s{i}_{k}")
                      for k, v in enumerate((-1, -(2**62), axis, -1))]
            nodes.append(h.make_node(op, [x, *(f"s{i}_{k}" for k in range(4))], [f"a{i}"]))
            x = f"a{i}"
            continue
        if op == "DequantizeLinear":  # a per-channel (scale, zero point) quantises along the channel axis
            scale, zero_point = np.float32(value[0]), np.uint8(value[1])
            inits += [nh.from_array(scale, f"s{i}"), nh.from_array(zero_point, f"z{i}")]
            nodes.append(h.make_node(op, [x, f"s{i}", f"z{i}"], [f"a{i}"], axis=axis))
            x = f"a{i}"
            continue
        value = np.asarray(value, np.float32)
        inits.append(nh.from_array(value.reshape(shape) if value.size == 3 else value, f"c{i}"))
        nodes.append(h.make_node(op, [x, f"c{i}"], [f"a{i}"]))
        x = f"a{i}"
    if nhwc:
        nodes.append(h.make_node("Transpose", [x], ["nchw"], perm=[0, 3, 1, 2]))
        x = "nchw"
    nodes += [h.make_node("Conv", [x, "w"], ["y"], strides=[2, 2]), h.make_node("Relu", ["y"], ["r"]),
              h.make_node("GlobalAveragePool", ["r"], ["p"]), h.make_node("Flatten", ["p"], ["pooled"])]
    input_shape = ["N", 224, 224, 3] if nhwc else ["N", 3, 224, 224]
    graph = h.make_graph(nodes, path.stem, [h.make_tensor_value_info("x", input_type, input_shape)],
                         [h.make_tensor_value_info("pooled", T.FLOAT, ["N", CHANNELS])], inits)
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), path)
    return path


def features(tmp_path, model_file, *options):
    """{path: features} of `orchard run` with `model_file` on 5 sample photos of different fruits, and the
    run's stderr."""
    for image in sample_images("Test", 1)[::8]:
        (tmp_path / "in" / image.parent.name).mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / image.parent.name / image.name).write_bytes(image.read_bytes())
    output = tmp_path / f"out-{model_file.stem}"
    result = run_orchard("run", "--input", tmp_path / "in", "--output", output, "--model", model_file,
                         "--pca-k", 2, *options)
    return {path: vector for path, (vector, _) in rows_by_path(output).items()}, result.stderr


# (name, layout, the graph's map, the preset that computes it outside the graph)
IN_GRAPH = [
    # Keras MobileNetV3's Rescaling(scale=1/127.5, offset=-1), as tf2onnx writes it.
    ("mobilenet_v3_rescaling", "nhwc", [("Mul", 1 / 127.5), ("Add", -1.0)], "tf"),
    # Keras EfficientNet's Rescaling(1/255) then Normalization(mean, variance): one value per channel.
    ("efficientnet_normalization", "nhwc",
     [("Mul", 1 / 255), ("Sub", IMAGENET_MEAN), ("Div", IMAGENET_STD)], "imagenet"),
]
# A caffe-style mean subtracted inside an NCHW graph, without scaling.
CAFFE_MEAN = [("Sub", [123.68, 116.779, 103.939])]


@pytest.mark.parametrize("name,layout,affine,preset", IN_GRAPH, ids=[case[0] for case in IN_GRAPH])
def test_a_model_that_normalises_its_input_gets_raw_pixels_by_default(tmp_path, name, layout, affine, preset):
    ours, stderr = features(tmp_path, model(tmp_path / f"{name}.onnx", layout, affine))
    twin, _ = features(tmp_path, model(tmp_path / f"{name}_twin.onnx", layout, []), "--preprocess", preset)
    assert sorted(ours) == sorted(twin)
    for path, expected in twin.items():
        np.testing.assert_allclose(ours[path], expected, rtol=1e-4, atol=1e-5, err_msg=path)
    assert "normalises its input first" in stderr and "default preprocessing is raw" in stderr


def test_describe_model_shows_the_graphs_own_normalisation(tmp_path):
    name, layout, affine, _ = IN_GRAPH[1]
    path = model(tmp_path / f"{name}.onnx", layout, affine)
    contract = json.loads(run_orchard("describe-model", path, "--json").stdout)["contract"]
    assert contract["default_preprocess"] == "raw"
    normalised = contract["input"]["normalised_in_graph"]
    np.testing.assert_allclose(normalised["scale"], [1 / 255 / s for s in IMAGENET_STD], rtol=1e-6)
    np.testing.assert_allclose(normalised["offset"], [-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)],
                               rtol=1e-6)
    assert normalised["expects"] == "raw"
    text = run_orchard("describe-model", path).stdout
    assert "raw (default); the graph's own first ops: x * [" in text and "expecting the raw preset's pixels" in text


def test_a_caffe_mean_subtracted_in_the_graph_takes_raw_pixels(tmp_path):
    contract = json.loads(run_orchard("describe-model", model(tmp_path / "caffe.onnx", "nchw", CAFFE_MEAN),
                                      "--json").stdout)["contract"]
    assert contract["default_preprocess"] == "raw"
    assert contract["input"]["normalised_in_graph"]["scale"] == [1.0, 1.0, 1.0]


BGR_MEAN = [103.939, 116.779, 123.68]


@pytest.mark.parametrize("layout,flip", [("nchw", ("Gather", [2, 1, 0])), ("nhwc", ("Concat", [2, 1, 0])),
                                         ("nhwc", ("Slice", None))],
                         ids=["gather", "slices_and_concat", "reversing_slice"])
def test_a_caffe_preprocess_input_inside_the_graph_gets_raw_rgb_pixels(tmp_path, layout, flip):
    """Keras' resnet50.preprocess_input ("caffe": RGB -> BGR, minus the BGR means) wrapped into a model: the map
    stopped at the channel flip, so orchard fed it `imagenet` values (a newcomer's Keras ResNet50: cosine 0.92 to
    Keras; the ONNX Gather form: all 15 photos' features the same). Its twin without the flip and the means,
    given the caffe preset (the same flip and means outside the graph), is the reference."""
    name = f"caffe_inside_{flip[0].lower()}"
    ours, stderr = features(tmp_path, model(tmp_path / f"{name}.onnx", layout, [flip, ("Add", [-m for m in BGR_MEAN])]))
    twin, _ = features(tmp_path, model(tmp_path / f"{name}_twin.onnx", layout, []), "--preprocess", "caffe")
    assert sorted(ours) == sorted(twin)
    for path, expected in twin.items():
        np.testing.assert_allclose(ours[path], expected, rtol=1e-4, atol=1e-4, err_msg=path)
    assert "default preprocessing is raw" in stderr
    contract = json.loads(run_orchard("describe-model", tmp_path / f"{name}.onnx", "--json").stdout)["contract"]
    np.testing.assert_allclose(contract["input"]["normalised_in_graph"]["offset"], [-m for m in BGR_MEAN[::-1]],
                               rtol=1e-6)  # in the input's channel order: R, G, B


def test_a_normalising_preset_on_such_a_model_is_refused(tmp_path):
    path = model(tmp_path / "rescaling.onnx", *IN_GRAPH[0][1:3])
    result = run_orchard("run", "--input", sample_images("Test", 1)[0].parent, "--output", tmp_path / "out",
                         "--model", path, "--preprocess", "imagenet", check=False)
    assert result.returncode == 2
    assert f"model {path} normalises its input inside the graph (x * 0.00784314 + -1 per channel)" in result.stderr
    assert "so it takes pixels 0..255 and preprocessing 'imagenet' would feed it other values" in result.stderr
    assert not (tmp_path / "out" / "features").exists()


def test_a_baked_in_torchvision_normalisation_gets_pixels_in_0_1(tmp_path):
    """(x - mean) / std on pixels in 0..1, torchvision's Normalize written into forward() before the export: no
    preset gave 0..1 pixels, so the default normalised them twice (cosine 0.851 min on a newcomer's ConvNeXt-tiny)
    and `raw` fed 0..255 (cosine -0.198). The `unit` preset (ToTensor alone) is now its default, and the
    features equal the plain model's on `imagenet` pixels."""
    path = model(tmp_path / "torchvision.onnx", "nchw", [("Sub", IMAGENET_MEAN), ("Div", IMAGENET_STD)])
    contract = json.loads(run_orchard("describe-model", path, "--json").stdout)["contract"]
    assert contract["default_preprocess"] == "unit"
    assert contract["input"]["normalised_in_graph"]["expects"] == "unit"
    ours, stderr = features(tmp_path, path)
    twin, _ = features(tmp_path, model(tmp_path / "plain.onnx", "nchw", []), "--preprocess", "imagenet")
    for image, expected in twin.items():
        np.testing.assert_allclose(ours[image], expected, rtol=1e-4, atol=1e-5, err_msg=image)
    assert "so the default preprocessing is unit (pixels 0..1)" in stderr


def test_a_map_that_normalises_no_pixel_range_keeps_the_default_and_says_so(tmp_path):
    path = model(tmp_path / "odd.onnx", "nchw", [("Mul", 100.0)])
    contract = json.loads(run_orchard("describe-model", path, "--json").stdout)["contract"]
    assert contract["default_preprocess"] == "imagenet"
    assert contract["input"]["normalised_in_graph"]["expects"] is None
    _, stderr = features(tmp_path, path)
    assert "which takes neither pixels 0..255 nor 0..1: check that --preprocess gives what it expects" in stderr


def test_a_model_whose_first_op_is_a_convolution_is_unchanged(tmp_path):
    contract = json.loads(run_orchard("describe-model", model(tmp_path / "plain.onnx", "nchw", []),
                                      "--json").stdout)["contract"]
    assert contract["default_preprocess"] == "imagenet"
    assert contract["input"]["normalised_in_graph"] is None


def test_the_default_models_input_quantisation_is_no_normalisation(tmp_path):
    """The default model quantises its float input (an ONNX QuantizeLinear, a FakeQuantize in OpenVINO) and
    dequantises it again; reading that FakeQuantize as a map, as an integer input's dequantisation is read, made
    every run say the model normalised its input by x * 53.6 (a build of 2026-12-03, caught before it landed)."""
    contract = json.loads(run_orchard("describe-model", DEFAULT_MODEL, "--json").stdout)["contract"]
    assert contract["input"]["normalised_in_graph"] is None and contract["default_preprocess"] == "imagenet"
    _, stderr = features(tmp_path, DEFAULT_MODEL)
    assert "normalises its input" not in stderr and "quantisation maps" not in stderr, stderr


def assert_equal_up_to_quantisation(ours, twin):
    """Per image, features of an integer input's model at cosine > 0.9999 to its float twin's."""
    assert sorted(ours) == sorted(twin)
    for image, expected in twin.items():
        cosine = np.dot(ours[image], expected) / np.linalg.norm(ours[image]) / np.linalg.norm(expected)
        assert cosine > 0.9999, (image, cosine)


def test_a_uint8_input_dequantised_to_imagenet_values_gets_them_quantised(tmp_path):
    """ONNX DequantizeLinear on a uint8 input (tf2onnx's export of a full-integer TFLite calibrated on
    ImageNet-normalised values: scale 0.01866, zero point 114): the codes stand for normalised values, and
    orchard fed pixel codes (a newcomer's model: cosine 0.944 to Keras). The default is now `imagenet` quantised
    by the input's scale and zero point: the features equal the float twin's on `imagenet` values up to that
    quantisation."""
    path = model(tmp_path / "dequantised.onnx", "nhwc", [("DequantizeLinear", (0.01865845, 114))], T.UINT8)
    contract = json.loads(run_orchard("describe-model", path, "--json").stdout)["contract"]
    assert contract["default_preprocess"] == "imagenet"
    assert contract["input"]["normalised_in_graph"]["expects"] == "imagenet"
    ours, _ = features(tmp_path, path)
    twin, _ = features(tmp_path, model(tmp_path / "twin.onnx", "nhwc", []), "--preprocess", "imagenet")
    assert_equal_up_to_quantisation(ours, twin)


def test_a_per_channel_dequantisation_of_no_presets_range_asks_for_the_preprocessing(tmp_path):
    """A per-channel DequantizeLinear (scale 2 / (255 std_c), zero point 128: codes for ImageNet-normalised
    values, compressed into half the range) was not read at all, its Reshaped constants unseen, so the model got
    pixel codes (a newcomer's model: cosine 0.985 to onnxruntime on the intended codes, exit 0). Its range is
    no preset's: orchard asks for --preprocess, and with `imagenet` quantises those values by the input's own
    per-channel scale and zero point."""
    scales = [2 / (255 * s) for s in IMAGENET_STD]
    path = model(tmp_path / "per_channel.onnx", "nchw", [("DequantizeLinear", (scales, [128, 128, 128]))], T.UINT8)
    contract = json.loads(run_orchard("describe-model", path, "--json").stdout)["contract"]
    np.testing.assert_allclose(contract["input"]["normalised_in_graph"]["scale"], scales, rtol=1e-6)
    assert contract["default_preprocess"] is None
    images = tmp_path / "in" / "Kiwi"
    images.mkdir(parents=True)
    image = sample_images("Test", 1)[0]
    (images / image.name).write_bytes(image.read_bytes())
    refused = run_orchard("run", "--input", tmp_path / "in", "--output", tmp_path / "refused", "--model", path,
                          check=False)
    assert refused.returncode == 2 and "the range of no preset; pass --preprocess" in refused.stderr
    ours, _ = features(tmp_path, path, "--preprocess", "imagenet")
    twin, _ = features(tmp_path, model(tmp_path / "twin.onnx", "nchw", []), "--preprocess", "imagenet")
    assert_equal_up_to_quantisation(ours, twin)



def quantised_float_input_model(path, scale, zero_point):
    """A float input quantised first (QuantizeLinear -> DequantizeLinear, as onnxruntime's quantize_static writes
    a QDQ model) -> Conv -> GlobalAveragePool -> Flatten; `zero_point` a numpy int8 or uint8 scalar."""
    inits = [nh.from_array(np.random.default_rng(0).normal(0, 0.3, (CHANNELS, 3, 3, 3)).astype(np.float32), "w"),
             nh.from_array(np.float32(scale), "s"), nh.from_array(zero_point, "z")]
    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             h.make_node("DequantizeLinear", ["q", "s", "z"], ["d"]),
             h.make_node("Conv", ["d", "w"], ["y"], strides=[2, 2]), h.make_node("GlobalAveragePool", ["y"], ["p"]),
             h.make_node("Flatten", ["p"], ["pooled"])]
    graph = h.make_graph(nodes, path.stem, [h.make_tensor_value_info("x", T.FLOAT, ["N", 3, 224, 224])],
                         [h.make_tensor_value_info("pooled", T.FLOAT, ["N", CHANNELS])], inits)
    onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]), path)
    return path


def test_a_float_input_quantised_first_defaults_to_its_calibrations_preset_unless_symmetric(tmp_path):
    """uint8 codes calibrated on pixels in 0..1 (scale 1/255, zero point 0) stand for `unit`; symmetric int8
    codes (zero point 0) span [-m, m] whatever the values' sign, so they tell no preset: orchard read unit
    pixels' [-1.008, 1] as tf's (fourth newcomer: cosine 0.74) and now keeps the imagenet default."""
    for name, scale, zero_point, preset, calibrated in (("unit_u8", 1 / 255, np.uint8(0), "unit", "unit"),
                                                        ("unit_s8sym", 1 / 127, np.int8(0), "imagenet", None)):
        path = quantised_float_input_model(tmp_path / f"{name}.onnx", scale, zero_point)
        contract = json.loads(run_orchard("describe-model", path, "--json").stdout)["contract"]
        assert (contract["default_preprocess"], contract["input"]["calibrated_preset"]) == (preset, calibrated), name
