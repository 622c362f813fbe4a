# Entry points; each does its own set-up (scripts/setup.sh is idempotent).
SAMPLE ?= $(or $(ORCHARD_SHARED),../shared)/data/fruits-360-sample
OUTPUT ?= out/fruits-360-sample

.PHONY: demo test setup build

setup:
	bash scripts/setup.sh

# The main job on the embedded default: the whole sample, the default model, output in $(OUTPUT).
demo: setup
	build/orchard run --input $(SAMPLE) --output $(OUTPUT) --overwrite

test: setup
	bash scripts/test.sh
