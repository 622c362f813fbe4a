"""The Python binding's error contract (issue 14): an inference (model) failure raises, so that a Spark task is
retried instead of writing null rows; the bytes it reads without the GIL stay alive whatever the caller does."""
import sys
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from conftest import DEFAULT_MODEL, sample_images

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))
import orchard  # noqa: E402  (the in-tree module: build/python/orchard)


def failing_model(path):
    """Conv -> GlobalAveragePool -> head, with a side branch that asks for a Range as long as the image's
    maximum × 1e13 (terabytes): shape inference accepts the graph, every inference fails to allocate."""
    rng = np.random.default_rng(0)
    consts = [nh.from_array(rng.normal(0, 0.1, (8, 3, 3, 3)).astype(np.float32), "W"),
              nh.from_array(rng.normal(0, 0.1, (5, 8)).astype(np.float32), "G"),
              nh.from_array(np.full((), 1e13, np.float32), "huge"),
              nh.from_array(np.full((), 1e-30, np.float32), "tiny"),
              nh.from_array(np.array(0, np.int64), "start"), nh.from_array(np.array(1, np.int64), "step")]
    nodes = [
        h.make_node("Conv", ["x", "W"], ["c"], strides=[2, 2]),
        h.make_node("ReduceMax", ["x"], ["m"], keepdims=0),
        h.make_node("Mul", ["m", "huge"], ["mh"]),
        h.make_node("Cast", ["mh"], ["limit"], to=T.INT64),
        h.make_node("Range", ["start", "limit", "step"], ["r"]),
        h.make_node("ReduceSum", ["r"], ["s"], keepdims=0),
        h.make_node("Cast", ["s"], ["sf"], to=T.FLOAT),
        h.make_node("Mul", ["sf", "tiny"], ["z"]),
        h.make_node("Add", ["c", "z"], ["c2"]),
        h.make_node("GlobalAveragePool", ["c2"], ["p"]),
        h.make_node("Flatten", ["p"], ["f"]),
        h.make_node("Gemm", ["f", "G"], ["y"], transB=1),
    ]
    graph = h.make_graph(nodes, "fails_at_inference",
                         [h.make_tensor_value_info("x", T.FLOAT, ["N", 3, 224, 224])],
                         [h.make_tensor_value_info("y", T.FLOAT, ["N", 5])], consts)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def test_inference_failure_raises_instead_of_error_rows(tmp_path):
    featurizer = orchard.Featurizer(str(failing_model(tmp_path / "fails.onnx")))
    images = [str(p) for p in sample_images(per_label=1)[:3]]
    with pytest.raises(RuntimeError, match="inference failed"):
        featurizer.featurize(images)


def test_contents_replaced_by_another_thread_do_not_change_the_features():
    """featurize() reads the bytes objects with the GIL released: it must hold references to them, or another
    thread dropping them from the list frees memory that is still being decoded."""
    images = [str(p) for p in sample_images(per_label=2)[:48]]
    featurizer = orchard.Featurizer(str(DEFAULT_MODEL), threads=2)
    reference, errors = featurizer.featurize(images, [Path(p).read_bytes() for p in images])
    assert errors == []
    for _ in range(3):
        contents = [Path(p).read_bytes() for p in images]
        done = threading.Event()

        def churn():
            # Drop every bytes object and allocate look-alikes of the same sizes (which reuse freed blocks)
            # while featurize runs without the GIL.
            sizes = [len(c) for c in contents]
            while not done.is_set():
                for i in range(len(contents)):
                    contents[i] = None
                filler = [bytes([255]) * n for n in sizes]
                del filler

        worker = threading.Thread(target=churn)
        worker.start()
        try:
            features, errors = featurizer.featurize(images, contents)
        finally:
            done.set()
            worker.join()
        assert errors == []
        np.testing.assert_array_equal(features, reference)
