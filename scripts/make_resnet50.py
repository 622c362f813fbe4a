#!/usr/bin/env python3
"""Writes a ResNet50-without-top ONNX model (torchvision layout) with seeded random weights.

No pretrained ResNet50 weights are available on these machines, so this model exists to exercise orchard's
loading, cutting and speed on a realistic 2048-d backbone, not to give meaningful features.

Output: input "input" float32 [N,3,224,224] (dynamic batch "N"), output "features" float32 [N,2048]
(GlobalAveragePool + Flatten). Only `onnx` and `numpy` are used. Re-running with the same seed and output
does nothing (the seed is stored in the model's metadata_props).
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
STAGES = [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]  # (width, blocks, stride of the first block)
EXPANSION = 4
# Scale of the last BN of each residual branch. He init keeps a conv+ReLU's second moment, but every block
# adds its branch to the identity; a small gamma keeps the sum's variance from doubling 16 times over.
RESIDUAL_GAMMA = 0.3
SEED_KEY = "orchard.seed"


class GraphBuilder:
    def __init__(self, rng):
        self.rng = rng
        self.nodes = []
        self.initializers = []

    def _const(self, name, array):
        self.initializers.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def conv_bn(self, x, name, cin, cout, kernel, stride, relu, gamma=1.0):
        fan_in = cin * kernel * kernel
        w = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(cout, cin, kernel, kernel))
        pad = kernel // 2
        self.nodes.append(helper.make_node(
            "Conv", [x, self._const(f"{name}.weight", w)], [f"{name}.conv"], name=f"{name}.conv",
            kernel_shape=[kernel, kernel], strides=[stride, stride], pads=[pad] * 4))
        # Running stats mean 0 / var 1: BN is a per-channel scale (gamma) at inference.
        bn_inputs = [f"{name}.conv",
                     self._const(f"{name}.bn.gamma", np.full(cout, gamma)),
                     self._const(f"{name}.bn.beta", np.zeros(cout)),
                     self._const(f"{name}.bn.mean", np.zeros(cout)),
                     self._const(f"{name}.bn.var", np.ones(cout))]
        self.nodes.append(helper.make_node("BatchNormalization", bn_inputs, [f"{name}.bn"],
                                           name=f"{name}.bn", epsilon=1e-5))
        if not relu:
            return f"{name}.bn"
        self.nodes.append(helper.make_node("Relu", [f"{name}.bn"], [f"{name}.relu"], name=f"{name}.relu"))
        return f"{name}.relu"

    def bottleneck(self, x, name, cin, width, stride):
        cout = width * EXPANSION
        y = self.conv_bn(x, f"{name}.conv1", cin, width, 1, 1, relu=True)
        y = self.conv_bn(y, f"{name}.conv2", width, width, 3, stride, relu=True)
        y = self.conv_bn(y, f"{name}.conv3", width, cout, 1, 1, relu=False, gamma=RESIDUAL_GAMMA)
        identity = x
        if stride != 1 or cin != cout:
            identity = self.conv_bn(x, f"{name}.downsample", cin, cout, 1, stride, relu=False)
        self.nodes.append(helper.make_node("Add", [y, identity], [f"{name}.add"], name=f"{name}.add"))
        self.nodes.append(helper.make_node("Relu", [f"{name}.add"], [f"{name}.out"], name=f"{name}.out"))
        return f"{name}.out", cout


def build_model(seed):
    g = GraphBuilder(np.random.default_rng(seed))
    x = g.conv_bn("input", "conv1", 3, 64, 7, 2, relu=True)
    g.nodes.append(helper.make_node("MaxPool", [x], ["maxpool"], name="maxpool",
                                    kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    x, channels = "maxpool", 64
    for stage, (width, blocks, stride) in enumerate(STAGES, start=1):
        for block in range(blocks):
            x, channels = g.bottleneck(x, f"layer{stage}.{block}", channels, width,
                                       stride if block == 0 else 1)
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], ["avgpool"], name="avgpool"))
    g.nodes.append(helper.make_node("Flatten", ["avgpool"], ["features"], name="flatten", axis=1))

    graph = helper.make_graph(
        g.nodes, "resnet50_notop",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", channels])],
        initializer=g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="orchard/scripts/make_resnet50.py")
    model.ir_version = 8  # opset 17 needs IR >= 8; pinning it keeps older runtimes able to read the file
    helper.set_model_props(model, {SEED_KEY: str(seed)})
    onnx.checker.check_model(model, full_check=True)
    return model


def stored_seed(path):
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # unreadable or truncated: rewrite it
        return None
    return {p.key: p.value for p in model.metadata_props}.get(SEED_KEY)


def main(argv=None):
    repo = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=repo / "models-generated" / "resnet50-notop.onnx")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.output.exists() and stored_seed(args.output) == str(args.seed):
        print(f"{args.output} is up to date (seed {args.seed})")
        return 0
    model = build_model(args.seed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a concurrent reader (e.g. two test binaries) never sees half a file.
    tmp = args.output.with_name(f".{args.output.name}.{os.getpid()}.tmp")
    onnx.save(model, str(tmp))
    os.replace(tmp, args.output)
    print(f"wrote {args.output} (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
