"""onnxruntime's QOperator quantisation writes com.microsoft QLinearMul (a BatchNormalization's scale),
QLinearConcat (DenseNet's dense blocks) and QLinearAveragePool (DenseNet's transition layers). OpenVINO's own
translations lost 0.9 % of the norm at each QLinearMul, refused a pool after a QLinearConcat ("integer codes whose
scale orchard cannot find") and got the average pool wrong: a newcomer's QOperator DenseNet121 ran at cosine 0.64
to onnxruntime, exit 0. orchard now translates them from the spec, as it does QLinearConv and QLinearAdd.

The graph here is those ops alone on the quantised input; the reference is the spec computed in numpy on the very
tensor orchard feeds the model (`orchard preprocess --model`)."""

import numpy as np
import onnx
import pyarrow as pa
import pyarrow.parquet as pq
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from conftest import rows_by_path, run_orchard, sample_images

MS = "com.microsoft"
# (scale, zero point) of each quantised tensor: the input, the Mul's constant and output, the pools', the concat's.
Q_IN, Q_B, Q_MUL, Q_POOL, Q_CAT = (0.0187, 114), (0.011, 3), (0.023, 121), (0.017, 118), (0.029, 125)
MUL_CODES = np.array([90, 140, 200], np.uint8).reshape(1, 3, 1, 1)


def quantise(x, scale, zero_point):
    return np.clip(np.round(x / scale) + zero_point, 0, 255)  # np.round: half to even, as QuantizeLinear


def dequantise(q, scale, zero_point):
    return (q.astype(np.float64) - zero_point) * scale


def avg_pool_2x2(x):
    n, c, height, width = x.shape
    return x[:, :, :height // 2 * 2, :width // 2 * 2].reshape(n, c, height // 2, 2, width // 2, 2).mean(axis=(3, 5))


def reference(x):
    """The graph's pooled features for one [1,3,H,W] input, by the ops' definitions."""
    q = quantise(x, *Q_IN)
    mul = quantise(dequantise(q, *Q_IN) * dequantise(MUL_CODES, *Q_B), *Q_MUL)
    pooled = quantise(avg_pool_2x2(dequantise(mul, *Q_MUL)), *Q_POOL)
    second = quantise(avg_pool_2x2(dequantise(q, *Q_IN)), *Q_POOL)
    joined = quantise(np.concatenate([dequantise(pooled, *Q_POOL), dequantise(second, *Q_POOL)], axis=1), *Q_CAT)
    return dequantise(joined, *Q_CAT).mean(axis=(2, 3))[0]


def constants(name, scale, zero_point):
    return [nh.from_array(np.float32(scale), f"{name}_s"), nh.from_array(np.uint8(zero_point), f"{name}_z")]


def qoperator_model(path):
    pool = {"kernel_shape": [2, 2], "strides": [2, 2], "domain": MS}
    nodes = [
        h.make_node("QuantizeLinear", ["x", "in_s", "in_z"], ["q"]),
        h.make_node("QLinearMul", ["q", "in_s", "in_z", "b", "b_s", "b_z", "mul_s", "mul_z"], ["mul"], domain=MS),
        h.make_node("QLinearAveragePool", ["mul", "mul_s", "mul_z", "pool_s", "pool_z"], ["pooled"], **pool),
        h.make_node("QLinearAveragePool", ["q", "in_s", "in_z", "pool_s", "pool_z"], ["second"], **pool),
        h.make_node("QLinearConcat", ["cat_s", "cat_z", "pooled", "pool_s", "pool_z", "second", "pool_s", "pool_z"],
                    ["joined"], axis=1, domain=MS),
        h.make_node("QLinearGlobalAveragePool", ["joined", "cat_s", "cat_z", "cat_s", "cat_z"], ["gap"],
                    channels_last=0, domain=MS),
        h.make_node("DequantizeLinear", ["gap", "cat_s", "cat_z"], ["features"]),
        h.make_node("Flatten", ["features"], ["out"])]
    inits = [nh.from_array(MUL_CODES, "b"), *constants("in", *Q_IN), *constants("b", *Q_B),
             *constants("mul", *Q_MUL), *constants("pool", *Q_POOL), *constants("cat", *Q_CAT)]
    graph = h.make_graph(nodes, "qoperator", [h.make_tensor_value_info("x", T.FLOAT, ["N", 3, 224, 224])],
                         [h.make_tensor_value_info("out", T.FLOAT, ["N", 6])], inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17), h.make_opsetid(MS, 1)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_qoperator_mul_concat_and_average_pool_are_computed_by_their_definition(tmp_path):
    model = qoperator_model(tmp_path / "qoperator.onnx")
    images = sample_images("Test", 1)[::8]
    for image in images:
        (tmp_path / "in" / image.parent.name).mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / image.parent.name / image.name).write_bytes(image.read_bytes())
    run_orchard("run", "--input", tmp_path / "in", "--output", tmp_path / "out", "--model", model,
                "--preprocess", "imagenet", "--pca-k", "2")
    rows = rows_by_path(tmp_path / "out")
    assert len(rows) == len(images)
    for image in images:
        tensor_file = tmp_path / f"{image.stem}.arrow"
        run_orchard("preprocess", image, "--model", model, "--preset", "imagenet", "--output", tensor_file)
        x = pa.ipc.read_tensor(pa.memory_map(str(tensor_file))).to_numpy().astype(np.float64)
        features = rows[str(tmp_path / "in" / image.parent.name / image.name)][0]
        np.testing.assert_allclose(features, reference(x), rtol=0, atol=Q_CAT[0] / 100, err_msg=image.name)


def avg_pool_ceil(x, kernel, stride, pads):
    """AveragePool with ceil_mode=1 and count_include_pad=0 by ONNX's definition: the output size rounds up, but a
    last window that would start in the right or bottom padding is dropped (as torch does)."""
    top, left, bottom, right = pads
    n, c, height, width = x.shape
    padded = np.full((n, c, height + top + bottom, width + left + right), np.nan)
    padded[:, :, top:top + height, left:left + width] = x

    def size(extent, pad_begin, pad_end, k, s):
        out = -(-(extent + pad_begin + pad_end - k) // s) + 1  # rounded up
        return out - 1 if (out - 1) * s >= extent + pad_begin else out

    rows, cols = size(height, top, bottom, kernel[0], stride[0]), size(width, left, right, kernel[1], stride[1])
    out = np.empty((n, c, rows, cols))
    for i in range(rows):
        for j in range(cols):
            window = padded[:, :, i * stride[0]:i * stride[0] + kernel[0], j * stride[1]:j * stride[1] + kernel[1]]
            out[:, :, i, j] = np.nanmean(window, axis=(2, 3))
    return out


def test_qoperator_average_pool_with_ceil_mode_drops_a_window_starting_in_the_padding(tmp_path):
    """ceil_mode=1 with the last window starting in the right padding: orchard's map was one column wider than
    onnxruntime's (OpenVINO's CEIL), cosine 0.9906 (fourth newcomer). ONNX drops that window, as torch does."""
    kernel, stride, pads = [3, 2], [2, 3], [0, 1, 1, 0]
    nodes = [h.make_node("QuantizeLinear", ["x", "in_s", "in_z"], ["q"]),
             h.make_node("QLinearAveragePool", ["q", "in_s", "in_z", "pool_s", "pool_z"], ["pooled"], domain=MS,
                         kernel_shape=kernel, strides=stride, pads=pads, ceil_mode=1),
             h.make_node("QLinearGlobalAveragePool", ["pooled", "pool_s", "pool_z", "pool_s", "pool_z"], ["gap"],
                         channels_last=0, domain=MS),
             h.make_node("DequantizeLinear", ["gap", "pool_s", "pool_z"], ["features"]),
             h.make_node("Flatten", ["features"], ["out"])]
    graph = h.make_graph(nodes, "ceil", [h.make_tensor_value_info("x", T.FLOAT, ["N", 3, 224, 224])],
                         [h.make_tensor_value_info("out", T.FLOAT, ["N", 3])],
                         [*constants("in", *Q_IN), *constants("pool", *Q_POOL)])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17), h.make_opsetid(MS, 1)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "ceil.onnx")
    image = sample_images("Test", 1)[0]
    run_orchard("preprocess", image, "--model", tmp_path / "ceil.onnx", "--preset", "imagenet", "--output",
                tmp_path / "x.arrow")
    x = pa.ipc.read_tensor(pa.memory_map(str(tmp_path / "x.arrow"))).to_numpy().astype(np.float64)
    pooled = quantise(avg_pool_ceil(dequantise(quantise(x, *Q_IN), *Q_IN), kernel, stride, pads), *Q_POOL)
    assert pooled.shape[2:] == (112, 75)  # onnxruntime's; OpenVINO's CEIL gave 76 columns
    expected = dequantise(pooled, *Q_POOL).mean(axis=(2, 3))[0]
    (tmp_path / "in" / image.parent.name).mkdir(parents=True)
    (tmp_path / "in" / image.parent.name / image.name).write_bytes(image.read_bytes())
    run_orchard("run", "--input", tmp_path / "in", "--output", tmp_path / "out", "--model", tmp_path / "ceil.onnx",
                "--preprocess", "imagenet", "--pca-k", "1", check=False)
    features = pq.read_table(tmp_path / "out" / "features").column("features")[0].as_py()
    np.testing.assert_allclose(features, expected, rtol=0, atol=Q_POOL[0] / 100)
