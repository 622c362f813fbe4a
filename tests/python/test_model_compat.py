"""Model compatibility (issue 13): the models people export, through `orchard run`, against each framework's own
forward pass on the same pixels.

The models come from scripts/make_compat_models.py (seeded random weights, nothing downloaded; a MODEL.json of
facts beside each) and the shared uint8 MobileNetV2 TFLite. The references are computed by compat_reference.py
in .venv-compat (TensorFlow, LiteRT, onnxruntime), on orchard's own preprocessed pixels (`orchard preprocess`),
so any difference is the engine's, not the resizer's. Every run is at f32; the bound is a per-image cosine of
0.999 and the same dimension (integer TFLite models: see kernel_agreement).

The four faults issue 13 names each have a test named after them; each failed on the engine before the fix.
Without .venv-compat the suite skips (scripts/setup_compat.sh makes it), except in CI, where it fails.
"""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from conftest import REPO, SAMPLE, SHARED, read_manifest, rows_by_path, run_orchard, write_manifest

COMPAT_PYTHON = Path(os.environ.get("ORCHARD_COMPAT_PYTHON", REPO / ".venv-compat" / "bin" / "python"))
COMPAT_MODELS = Path(os.environ.get("ORCHARD_COMPAT_MODELS", REPO / "models-generated" / "compat"))
REFERENCE_SCRIPT = Path(__file__).with_name("compat_reference.py")
SHARED_UINT8_TFLITE = SHARED / "models" / "mobilenet_v2_1.0_224_quant.tflite"
# The shared model's own pooled tensor before its 1x1-conv head, [1, 1, 1, 1280] (named as in the file). orchard
# cuts at this AVERAGE_POOL_2D's input (MobilenetV2/Conv_1/Relu6, [1, 7, 7, 1280]) and averages it: the same vector
# up to the pool's requantisation (cosine to LiteRT 0.997973 there vs 0.997960 here).
SHARED_UINT8_POOL = "MobilenetV2/Logits/AvgPool"
COSINE = 0.999
# Integer (uint8) TFLite models have no single right answer at 0.999: each requantisation step may round either
# way, and ~50 of them compound. LiteRT's own two kernel sets on the same uint8 pixels (its default XNNPACK
# kernels and its reference kernels, BUILTIN_REF) are apart by a per-image cosine distance (1 - cosine) of mean
# 0.0026 on the shared model and 0.028 on the generated one (docs/models.md, "Integer models"). So the bound is
# measured in each run, not guessed: orchard's mean distance to each kernel set may exceed the two sets' mean
# distance from each other by at most KERNEL_DISTANCE_SLACK. Means, not the worst image: orchard is as far from
# the reference kernels as the default kernels are (generated model, mean distance 0.0279 vs 0.0279 on an AMD
# EPYC Zen 3), so which of the two has the worst of 16 images is a coin toss (0.9595 vs 0.9605 there, 0.9603 vs
# 0.9576 on an Intel Xeon). The slack is ~4 standard errors of the paired 16-image difference (2.6 % of the
# distance on the Zen 3); the fault the test pinned is far beyond it (u8 kernels saturating on a CPU without VNNI,
# before commit a476836: 2.1 times the distance, cosine min 0.927).
KERNEL_DISTANCE_SLACK = 0.10
# The cosine margin by which LiteRT's reference kernels must tell a photo from every other before orchard is held
# to the same (assert_matches).
NEAREST_MARGIN = 0.005
INTEGER_MODELS = ("shared_uint8", "keras_mobilenet_v2_uint8.tflite", "keras_mobilenet_v2_int8_imagenet.tflite",
                  "keras_mobilenet_v2_int8_float_io.tflite", "keras_mobilenet_v2_dynamic_range.tflite")
# orchard's features against Keras' usual route from the JPEG, per load_img interpolation: the lowest per-image
# cosine with a margin below the measured one (see test_keras_resnet50_end_to_end_from_the_jpeg).
END_TO_END_COSINE = {"nearest": 0.90, "bilinear": 0.98}
GENERATED = ["keras_resnet50_none.onnx", "keras_resnet50_avg.onnx", "keras_resnet50_none.tflite",
             "keras_resnet50_avg.tflite", "keras_mobilenet_v2_uint8.tflite", "keras_mobilenet_v2_int8_imagenet.tflite",
             "keras_mobilenet_v2_int8_float_io.tflite", "keras_mobilenet_v2_dynamic_range.tflite",
             "onnx_nhwc_transpose.onnx",
             "onnx_batch1_reshape.onnx", "onnx_pooled_output.onnx", "onnx_dynamic_hw.onnx",
             "keras_dynamic_hw.tflite", "keras_mobilenet_v3_small.onnx", "keras_mobilenet_v3_small.tflite"]


def compat_images():
    """2 Test images of each of 8 labels (every 4th label of the sample), in path order."""
    labels = sorted((SAMPLE / "Test").iterdir())[::4][:8]
    return [image for label in labels for image in sorted(label.glob("*.jpg"))[:2]]


def cosines(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def unit(rows):
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def pairwise_cosines(features):
    """The cosines between the rows of `features`, every pair once."""
    return (unit(features) @ unit(features).T)[np.triu_indices(len(features), 1)]


def default_preset(facts):
    """The preset the model's reference pixels take: the facts' --preprocess, else what the model expects (raw
    pixels for a graph that normalises its own input), else raw pixels for an integer input, else imagenet."""
    if facts["preprocess"]:
        return facts["preprocess"]
    if facts.get("expects"):
        return facts["expects"]
    return "raw" if facts["input_type"] in ("uint8", "int8") else "imagenet"


class Compat:
    """The suite's shared state: the images, each model's facts, orchard's preprocessed pixels and the
    framework's features, all computed once for the module."""

    def __init__(self, root):
        self.root = root
        self.images = compat_images()
        self.manifest = write_manifest(root / "images.txt", self.images)
        self.facts = {name: self._load_facts(name) for name in GENERATED}
        self.facts["shared_uint8"] = {
            "file": str(SHARED_UINT8_TFLITE), "layout": "nhwc", "input_type": "uint8", "feature_dim": 1280,
            "preprocess": None,
            "reference": {"framework": "tflite", "model": str(SHARED_UINT8_TFLITE), "tensor": SHARED_UINT8_POOL}}
        self.pixel_errors = {}
        self.runs = {}
        self.references = self._references()

    def _load_facts(self, name):
        path = COMPAT_MODELS / f"{name}.json"
        if not path.is_file():
            pytest.fail(f"{path} is missing: scripts/setup_compat.sh makes the suite's models")
        facts = json.loads(path.read_text())
        facts["file"] = str(COMPAT_MODELS / name)
        reference = facts["reference"]
        reference["model"] = str(COMPAT_MODELS / reference["model"])
        return facts

    def pixels(self, preset, layout):
        """orchard's preprocessed tensors of every image, stacked into one .npy ([N,3,H,W] or [N,H,W,3])."""
        path = self.root / f"pixels-{preset}-{layout}.npy"
        if not path.exists() and (preset, layout) not in self.pixel_errors:
            tensors = []
            for i, image in enumerate(self.images):
                tensor_file = self.root / f"{preset}-{layout}-{i}.arrow"
                result = run_orchard("preprocess", image, "--preset", preset, "--layout", layout,
                                     "--output", tensor_file, check=False)
                if result.returncode != 0:
                    self.pixel_errors[(preset, layout)] = result.stderr.strip()
                    return None
                tensors.append(pa.ipc.read_tensor(pa.memory_map(str(tensor_file))).to_numpy()[0])
            np.save(path, np.stack(tensors))
        return None if (preset, layout) in self.pixel_errors else path

    def _references(self):
        jobs = []
        for name, facts in self.facts.items():
            pixels = self.pixels(default_preset(facts), facts["layout"])
            if pixels is not None:
                jobs.append({**facts["reference"], "input": str(pixels), "output": str(self.root / f"{name}.npy")})
                if name in INTEGER_MODELS:
                    jobs.append({**jobs[-1], "kernels": "reference",
                                 "output": str(self.root / f"{name}.reference-kernels.npy")})
        keras_model = self.facts["keras_resnet50_avg.onnx"]["reference"]["model"]
        jobs.extend({"framework": "keras_jpeg", "model": keras_model, "images": [str(i) for i in self.images],
                     "preprocess": "caffe", "interpolation": interpolation,
                     "output": str(self.root / f"keras_jpeg_{interpolation}.npy")}
                    for interpolation in END_TO_END_COSINE)
        jobs_file = self.root / "jobs.json"
        jobs_file.write_text(json.dumps(jobs, indent=1))
        result = subprocess.run([str(COMPAT_PYTHON), str(REFERENCE_SCRIPT), str(jobs_file)], capture_output=True,
                                text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
        if result.returncode != 0:
            pytest.fail(f"compat_reference.py exited {result.returncode}:\n{result.stderr[-4000:]}")
        return {Path(job["output"]).stem: np.load(job["output"]) for job in jobs}

    def reference(self, name):
        if name not in self.references:
            facts = self.facts[name]
            key = (default_preset(facts), facts["layout"])
            pytest.fail(f"no reference for {name}: `orchard preprocess --preset {key[0]} --layout {key[1]}` "
                        f"failed: {self.pixel_errors.get(key)}")
        return self.references[name]

    def kernel_agreement(self, name):
        """Per-image cosines between LiteRT's reference kernels and its default ones on an integer model: how far
        two correct implementations of the same quantised graph are apart on these images."""
        return cosines(self.references[f"{name}.reference-kernels"], self.reference(name))

    def run(self, name, *options, batch=8):
        """`orchard run` at f32 on the images, once per arguments; (CompletedProcess, features [N, D] in image
        order or None)."""
        key = (name, options, batch)
        if key not in self.runs:
            self.runs[key] = self._run(name, *options, batch=batch)
        return self.runs[key]

    def _run(self, name, *options, batch):
        facts = self.facts[name]
        output = self.root / f"run-{Path(facts['file']).name}-{batch}-{len(options)}"
        preprocess = ("--preprocess", facts["preprocess"]) if facts["preprocess"] else ()
        result = run_orchard("run", "--input", self.manifest, "--output", output, "--overwrite", "--model",
                             facts["file"], *preprocess, "--precision", "f32", "--batch", batch, "--pca-k", 2,
                             *options, check=False)
        if result.returncode != 0:
            return result, None
        rows = rows_by_path(output)
        assert sorted(rows) == sorted(map(str, self.images)), \
            f"{name}: {len(rows)} feature rows for {len(self.images)} images:\n{result.stderr}"
        result.output = output
        return result, np.stack([rows[str(image)][0] for image in self.images])


@pytest.fixture(scope="module")
def compat(tmp_path_factory):
    if not COMPAT_PYTHON.exists():
        reason = f"{COMPAT_PYTHON} is missing: scripts/setup_compat.sh makes .venv-compat and the suite's models"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return Compat(tmp_path_factory.mktemp("compat"))


def assert_matches(compat, name, features):
    reference, expected_dim = compat.reference(name), compat.facts[name]["feature_dim"]
    assert features.shape[1] == expected_dim, f"{name}: {features.shape[1]}-d features, want {expected_dim}"
    assert reference.shape == features.shape, f"{name}: reference {reference.shape} vs orchard {features.shape}"
    assert np.isfinite(features).all(), f"{name}: non-finite features"
    cos = cosines(features, reference)
    if name not in INTEGER_MODELS:
        assert cos.min() >= COSINE, \
            f"{name}: per-image cosine to the framework min {cos.min():.6f} mean {cos.mean():.6f}"
        return
    assert_within_kernel_agreement(compat, name, features)
    # A bound below 0.999 alone would let a channel swap through (cosine 0.93 on the generated model): each image
    # must also be nearest to its own reference vector, where LiteRT's own two kernel sets tell it apart from the
    # others by a margin (on the float-input full-integer model every photo's vector is ~0.96 to every other's
    # reference, and LiteRT's reference kernels put 3 of 16 within 0.002 of another photo's, or nearer).
    own = np.arange(len(features))
    nearest = (unit(features) @ unit(reference).T).argmax(axis=1)
    kernels = unit(compat.references[f"{name}.reference-kernels"]) @ unit(reference).T
    others = np.where(np.eye(len(own), dtype=bool), -np.inf, kernels).max(axis=1)
    distinct = kernels[own, own] - others > NEAREST_MARGIN
    assert distinct.sum() >= len(own) // 2, f"{name}: LiteRT's kernel sets tell too few photos apart"
    assert (nearest == own)[distinct].all(), f"{name}: images nearest to another's reference"


def assert_within_kernel_agreement(compat, name, features):
    """orchard is about as close to each of LiteRT's kernel sets (default, reference) as they are to each other:
    its mean per-image cosine distance to each is at most (1 + KERNEL_DISTANCE_SLACK) times theirs."""
    agreement = compat.kernel_agreement(name)
    bound = (1 + KERNEL_DISTANCE_SLACK) * (1 - agreement).mean()
    for kernels, reference in (("default", compat.reference(name)),
                               ("reference", compat.references[f"{name}.reference-kernels"])):
        cos = cosines(features, reference)
        assert (1 - cos).mean() <= bound, (
            f"{name}: mean cosine distance to LiteRT's {kernels} kernels {(1 - cos).mean():.6f} (cosine min "
            f"{cos.min():.6f} mean {cos.mean():.6f}), above {bound:.6f}: LiteRT's reference vs default kernels "
            f"{(1 - agreement).mean():.6f} (cosine min {agreement.min():.6f} mean {agreement.mean():.6f}) "
            f"+ {KERNEL_DISTANCE_SLACK:.0%}")


def run_and_compare(compat, name, *options, batch=8):
    result, features = compat.run(name, *options, batch=batch)
    assert features is not None, f"orchard run on {name} exited {result.returncode}:\n{result.stderr}"
    assert_matches(compat, name, features)
    return result, features


# The models whose default feature tensor fell back to the logits or was not found have tests of their own
# below.
@pytest.mark.parametrize("name", [n for n in GENERATED if n not in (
    "onnx_dynamic_hw.onnx", "onnx_batch1_reshape.onnx", "keras_dynamic_hw.tflite")])
def test_features_match_the_framework(compat, name):
    result, _ = run_and_compare(compat, name)
    assert read_manifest(result.output)["model"]["feature_dim"] == compat.facts[name]["feature_dim"]


@pytest.mark.parametrize("interpolation", sorted(END_TO_END_COSINE))
def test_keras_resnet50_end_to_end_from_the_jpeg(compat, interpolation):
    """orchard (`--preprocess caffe`: bilinear resize in float) against Keras' usual route from the same JPEG:
    keras.utils.load_img(target_size=(224, 224), interpolation=...), img_to_array,
    keras.applications.resnet50.preprocess_input, model.predict. The sample's images are 100x100, so the two
    resizers differ on every pixel, and a random-weight network is sensitive to exactly that. Measured on these 16
    images (Keras ResNet50, seeded random weights, tensorflow-cpu 2.21):
    - "nearest" (load_img's default): per-image cosine min 0.934, mean 0.972 — no better than two different
      fruits (pairwise 0.915-0.981): Keras' default loader and orchard give different features; asserted >= 0.90.
    - "bilinear": min 0.9905, mean 0.9922, and each image is nearest to its own Keras vector; asserted >= 0.98
      and that nearest-neighbour match."""
    result, features = compat.run("keras_resnet50_avg.onnx")
    assert features is not None, result.stderr
    assert features.shape[1] == 2048, f"{features.shape[1]}-d features, want 2048"
    reference = compat.references[f"keras_jpeg_{interpolation}"]
    cos = cosines(features, reference)
    assert cos.min() >= END_TO_END_COSINE[interpolation], f"min {cos.min():.6f} mean {cos.mean():.6f}"
    if interpolation == "bilinear":
        nearest = (unit(features) @ unit(reference).T).argmax(axis=1)
        assert (nearest == np.arange(len(features))).all()


def assert_pooled(compat, name):
    """The model's default feature tensor is its pooled vector before the head (onnxruntime's), never the logits,
    and the same as naming the pooled tensor."""
    result, features = compat.run(name)
    assert features is not None, f"orchard run on {name} exited {result.returncode}:\n{result.stderr}"
    assert_matches(compat, name, features)
    _, named = run_and_compare(compat, name, "--feature-tensor", "pooled")
    np.testing.assert_allclose(features, named, rtol=1e-5, atol=1e-6)


# --- the faults issue 13 names --------------------------------------------------------------------------------


def test_nhwc_input_pools_the_cut_tensors_axes_not_111_values(compat):
    """NHWC input -> Transpose -> Conv(8) -> GlobalAveragePool -> head gave 111-d features: the axes averaged
    were the input's spatial axes, not the cut tensor's [N,8,111,111]."""
    run_and_compare(compat, "onnx_nhwc_transpose.onnx")


def test_keras_resnet50_pooling_avg_via_tf2onnx_gives_2048_not_7_values(compat):
    """Keras ResNet50(include_top=False, pooling="avg") through tf2onnx gave 7 values per image: the pool's
    input [N,2048,7,7] was averaged over the axes an NHWC input has."""
    result, _ = run_and_compare(compat, "keras_resnet50_avg.onnx")
    assert read_manifest(result.output)["model"]["feature_dim"] == 2048


def test_uint8_tflite_gets_raw_pixels_not_normalised_floats(compat):
    """The shared uint8 MobileNetV2 TFLite, without any --preprocess, was fed normalised floats (cosine
    0.15-0.75 to the model on raw pixels; every image collapsed onto nearly one vector). Now: LiteRT's pooled
    tensor on raw uint8 pixels, per image (see INTEGER_MODELS for the bound), and as much spread between
    different fruits as LiteRT gives."""
    _, features = run_and_compare(compat, "shared_uint8")
    ours, theirs = pairwise_cosines(features), pairwise_cosines(compat.reference("shared_uint8"))
    assert ours.min() < 0.99, "different fruits collapse onto one vector"
    np.testing.assert_allclose(ours.mean(), theirs.mean(), atol=0.01)


def test_uint8_tflite_refuses_a_normalising_preset(compat):
    """A uint8 input takes raw pixels only: an explicit --preprocess that normalises is a usage error."""
    facts = compat.facts["shared_uint8"]
    result = run_orchard("run", "--input", compat.manifest, "--output", compat.root / "refused", "--model",
                         facts["file"], "--preprocess", "imagenet", "--precision", "f32", check=False)
    assert result.returncode == 2, result.stderr
    assert "raw" in result.stderr, result.stderr


def test_int8_tflite_calibrated_on_normalised_pixels_gets_them_quantised_not_pixel_codes(compat):
    """A full-integer TFLite calibrated on ImageNet-normalised values takes int8 codes standing for those values
    (its quantisation maps them to [-2.1, 2.6]); orchard fed pixel codes p - 128 whatever the quantisation
    (newcomer, 2026-12-03: cosine 0.946 to LiteRT, 0.58 for a caffe-calibrated model). Its default is now the
    expected preset quantised by the input's scale and zero point (test_features_match_the_framework compares
    the features), describe-model says so, and another preset is refused."""
    name = "keras_mobilenet_v2_int8_imagenet.tflite"
    facts = compat.facts[name]
    described = json.loads(run_orchard("describe-model", facts["file"], "--json").stdout)
    assert described["contract"]["default_preprocess"] == "imagenet"
    assert described["contract"]["input"]["normalised_in_graph"]["expects"] == "imagenet"
    result = run_orchard("run", "--input", compat.manifest, "--output", compat.root / "refused-raw", "--model",
                         facts["file"], "--preprocess", "raw", "--precision", "f32", check=False)
    assert result.returncode == 2 and "stand for the imagenet preset's values" in result.stderr, result.stderr


def test_a_full_integer_tflite_with_float_input_defaults_to_the_preset_it_was_calibrated_on(compat):
    """The converter's default full-integer TFLite keeps a float input and quantises it first (a QUANTIZE
    calibrated on [-1, 1] here): orchard fed it imagenet values, clamped by that range (newcomer: cosine 0.846 to
    LiteRT on the pixels it was calibrated on). Its default is now the preset of that range, `tf`
    (test_features_match_the_framework compares the features with LiteRT's)."""
    facts = compat.facts["keras_mobilenet_v2_int8_float_io.tflite"]
    contract = json.loads(run_orchard("describe-model", facts["file"], "--json").stdout)["contract"]
    assert contract["default_preprocess"] == "tf" and contract["input"]["calibrated_preset"] == "tf"


def test_a_dynamic_range_tflite_is_refused_at_int8(compat):
    """Its weights alone are quantised: at --precision int8 OpenVINO gave features at cosine 0.5-0.9 to LiteRT,
    different at every run (newcomer), with a note that they were bf16's. int8 is refused; f32 matches LiteRT
    (test_features_match_the_framework)."""
    facts = compat.facts["keras_mobilenet_v2_dynamic_range.tflite"]
    contract = json.loads(run_orchard("describe-model", facts["file"], "--json").stdout)["contract"]
    assert contract["quantised"] and not contract["activations_quantised"]
    result = run_orchard("run", "--input", compat.manifest, "--output", compat.root / "dynamic-int8", "--model",
                         facts["file"], "--precision", "int8", check=False)
    assert result.returncode == 2 and "quantises its weights only (dynamic range)" in result.stderr, result.stderr
    assert not (compat.root / "dynamic-int8").exists()


def test_fixed_batch_one_reshape_never_reads_past_its_output(compat):
    """[1,3,224,224] -> Conv -> Reshape [1,8,-1] -> ReduceMean -> head, cut at the ReduceMean: at --batch 8
    orchard read 8 rows out of a 1-row output (values like 4e28, different on every run, and one image an error
    row). The same features at --batch 8 and 1, and onnxruntime's."""
    name = "onnx_batch1_reshape.onnx"
    _, at_8 = run_and_compare(compat, name, "--feature-tensor", "pooled", batch=8)
    _, at_1 = run_and_compare(compat, name, "--feature-tensor", "pooled", batch=1)
    np.testing.assert_allclose(at_8, at_1, rtol=1e-5, atol=1e-6)


def test_fixed_batch_one_reshape_default_is_the_pool_not_the_logits(compat):
    """The same model without --feature-tensor gave its 10 logits."""
    assert_pooled(compat, "onnx_batch1_reshape.onnx")


def test_dynamic_hw_model_never_falls_back_to_the_logits(compat):
    """[N,3,H,W] -> Conv(8) -> GlobalAveragePool -> Gemm(10): the default feature tensor fell back to the 10
    logits. Now the pooled 8 values, the input fixed at 224x224."""
    assert_pooled(compat, "onnx_dynamic_hw.onnx")


def test_tflite_with_dynamic_hw_finds_its_pool(compat):
    """Keras Input((None, None, 3)) -> 2 Conv2D -> GlobalAveragePooling2D as float TFLite: orchard found no pool
    (the converter declares every height and width as -1) and refused the model, though the README says a
    dynamic height and width is fixed at 224x224. Now the pooled 24 values, as Keras computes them at 224x224."""
    result, _ = run_and_compare(compat, "keras_dynamic_hw.tflite")
    assert read_manifest(result.output)["model"]["feature_dim"] == 24


@pytest.mark.parametrize("name", ["keras_mobilenet_v3_small.onnx", "keras_mobilenet_v3_small.tflite"])
def test_keras_mobilenet_v3_rescales_its_own_input_so_gets_raw_pixels(compat, name):
    """Keras' MobileNetV3 carries its Rescaling layer (x / 127.5 - 1) in the graph: orchard fed it imagenet-
    normalised pixels, rescaled a second time inside (cosine -0.16 to Keras on raw pixels, 2026-12-03). Now
    raw pixels by default, as the run's _SUCCESS says, and the last map's 576 values, not a squeeze-and-
    excitation gate's."""
    result, _ = run_and_compare(compat, name)
    manifest = read_manifest(result.output)
    assert manifest["preprocess"]["preset"] == "raw"
    assert manifest["model"]["feature_dim"] == 576
    assert "normalises its input first (x * 0.00784314 + -1 per channel)" in result.stderr
