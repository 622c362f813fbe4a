# Entry points; each does its own set-up (scripts/setup.sh is idempotent).
SAMPLE ?= $(or $(ORCHARD_SHARED),../shared)/data/fruits-360-sample
OUTPUT ?= out/fruits-360-sample
BUNDLE ?= out/bundle
REPORT ?= out/report

.PHONY: demo test setup build bench recognize open-set serve-bench serve-bench-int8

setup:
	bash scripts/setup.sh

# The main job on the embedded default: the whole sample, the default model, output in $(OUTPUT).
demo: setup
	build/orchard run --input $(SAMPLE) --output $(OUTPUT) --overwrite

test: setup
	bash scripts/test.sh

# Speed, not correctness (never part of `test`), ~30 min: orchard vs benchmark_app vs the sgemm roofline, and
# vs the seed-style PySpark+TensorFlow job and OpenCV-DNN, whose set-up (.venv-bench, python3-opencv) and the
# NNCF int8 ResNet50 (calibrated once, kept in models-generated/) live here only, away from the test venv.
bench: setup
	bash scripts/setup_bench.sh
	test -f models-generated/resnet50-notop.onnx || \
	  .venv/bin/python scripts/make_resnet50.py --output models-generated/resnet50-notop.onnx
	.venv-bench/bin/python bench/quantize_resnet50.py
	.venv/bin/python bench/run_bench.py
	.venv/bin/python bench/index_bench.py

# Fruit recognition on the demo output: train on its Training split, evaluate on Test (metrics.json, report.html:
# top-1 on all Test images and on the leakage-free ones), then audit the data (audit.json, audit.html; ~40 s).
recognize: setup
	test -f $(OUTPUT)/_SUCCESS || build/orchard run --input $(SAMPLE) --output $(OUTPUT) --overwrite
	build/orchard train $(OUTPUT) --bundle $(BUNDLE)
	build/orchard eval $(OUTPUT) --bundle $(BUNDLE) --report $(REPORT)
	build/orchard audit $(OUTPUT) --report $(REPORT)

# Unknown fruit: train on 30 of the sample's 33 labels (every 11th label in sorted order left out: Cherry, Lemon,
# Strawberry), evaluate on all of Test; metrics.json "open_set" has the AUROC and the threshold's reject rates.
OPEN_SET_HELD_OUT = --exclude-label Cherry --exclude-label Lemon --exclude-label Strawberry
open-set: setup
	test -f $(OUTPUT)/_SUCCESS || build/orchard run --input $(SAMPLE) --output $(OUTPUT) --overwrite
	build/orchard train $(OUTPUT) --bundle $(BUNDLE)-open-set $(OPEN_SET_HELD_OUT)
	build/orchard eval $(OUTPUT) --bundle $(BUNDLE)-open-set --report $(REPORT)-open-set

# Serving load and abuse, not correctness (never part of `test`): requests/s, p50/p99 at 1-64 clients beside a
# FastAPI + onnxruntime peer (.venv-bench) and benchmark_app; idle connections, slowloris, bombs; ~4 min.
serve-bench: recognize
	bash scripts/setup_bench.sh
	.venv/bin/python bench/serve_load.py --bundle $(BUNDLE) --output bench/results/serve_load.json

# The same with a bundle trained on `run --precision int8` features, whose model runs int8 kernels.
serve-bench-int8: setup
	bash scripts/setup_bench.sh
	test -f $(OUTPUT)-int8/_SUCCESS || \
	  build/orchard run --input $(SAMPLE) --output $(OUTPUT)-int8 --precision int8 --overwrite
	test -f $(BUNDLE)-int8/bundle.json || build/orchard train $(OUTPUT)-int8 --bundle $(BUNDLE)-int8
	.venv/bin/python bench/serve_load.py --bundle $(BUNDLE)-int8 --output bench/results/serve_load-int8.json

.PHONY: bench-memory bench-spark fuzz compat

# Spark's efficiency, not correctness (never part of `test`), ~20 min on 2 cores: `orchard run` vs Spark local[2]
# vs a standalone cluster of two 1-core workers on the whole sample; images/s, per core, and Spark's stage times.
bench-spark: setup
	.venv/bin/python bench/spark_vs_run.py --input $(SAMPLE)

# The model-compatibility suite alone (also part of `test`): exported Keras/TFLite/ONNX models vs their frameworks.
compat: setup
	bash scripts/setup_compat.sh
	.venv/bin/python -m pytest tests/python/test_model_compat.py -q

# Peak RSS of `orchard run` on 1x and 10x the sample's Test split (~15 min): it must not grow with the input.
bench-memory: setup
	.venv/bin/python bench/memory_bench.py

# libFuzzer over decode + preprocess for FUZZ_SECONDS (default 600); fails on any crash or sanitizer report.
FUZZ_SECONDS ?= 600
fuzz: setup
	bash scripts/fuzz.sh $(FUZZ_SECONDS)
