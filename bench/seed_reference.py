#!/usr/bin/env python3
"""The seed-style reference: featurisation as fruit teams write it today in a PySpark notebook.

Spark's `binaryFile` source -> a Scalar Iterator pandas UDF that builds a tf.keras model without its top
(weights broadcast from the driver, the model rebuilt once per task) and decodes each image with PIL,
resizes it to 224x224 and applies Keras' `preprocess_input` -> `path, label, features` written to Parquet.
This follows the usual "featurization for transfer learning" notebook; nothing is tuned.

    .venv-bench/bin/python bench/seed_reference.py --manifest FILES.txt --model resnet50 --output DIR

The manifest is `orchard run`'s (one path per line, optionally TAB label). Prints one JSON line: images,
seconds (SparkSession start to Parquet written: JVM start, model build, decode, inference, write) and
spark_start_seconds. Runs in .venv-bench (scripts/setup_bench.sh), never in the test venv.
"""

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up banner, in every worker
os.environ.setdefault("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64")  # scripts/setup.sh installs it
os.environ["PYSPARK_PYTHON"] = sys.executable  # workers need this venv's TensorFlow

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql.functions import col, pandas_udf, regexp_extract  # noqa: E402

from manifest import manifest_paths  # noqa: E402

INPUT_SIZE = (224, 224)
KERAS_MODELS = {  # (constructor, its preprocess_input): ResNet50 = caffe (RGB->BGR, minus means), MobileNetV2 = [-1, 1]
    "resnet50": (tf.keras.applications.ResNet50, tf.keras.applications.resnet50.preprocess_input),
    "mobilenetv2": (tf.keras.applications.MobileNetV2, tf.keras.applications.mobilenet_v2.preprocess_input),
}


def build_model(name):
    constructor, _ = KERAS_MODELS[name]
    return constructor(include_top=False, weights=None, pooling="avg", input_shape=INPUT_SIZE + (3,))


def preprocess(content, name):
    image = Image.open(io.BytesIO(content)).convert("RGB").resize(INPUT_SIZE)
    return KERAS_MODELS[name][1](np.asarray(image, dtype=np.float32))


def featurize_udf(name, broadcast_weights):
    @pandas_udf("array<float>")
    def featurize(content_batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        model = build_model(name)  # once per task, the notebook's pattern
        model.set_weights(broadcast_weights.value)
        for contents in content_batches:
            batch = np.stack([preprocess(content, name) for content in contents])
            yield pd.Series(list(model.predict(batch, batch_size=32, verbose=0)))
    return featurize


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--model", choices=list(KERAS_MODELS), required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--master", default="local[*]")
    args = parser.parse_args()
    paths = manifest_paths(args.manifest)
    tf.keras.utils.set_random_seed(0)  # weights=None: seeded random weights, like the generated ONNX ResNet50

    start = time.perf_counter()
    spark = (SparkSession.builder.master(args.master).appName("seed-featurise")
             .config("spark.sql.execution.arrow.maxRecordsPerBatch", "1024").getOrCreate())
    spark_start = time.perf_counter() - start
    weights = spark.sparkContext.broadcast(build_model(args.model).get_weights())
    images = spark.read.format("binaryFile").load(paths)
    features = images.select(col("path"), regexp_extract("path", r"([^/]+)/[^/]+$", 1).alias("label"),
                             featurize_udf(args.model, weights)(col("content")).alias("features"))
    features.write.mode("overwrite").parquet(str(args.output))
    seconds = time.perf_counter() - start
    written = spark.read.parquet(str(args.output)).count()
    spark.stop()
    print(json.dumps(dict(images=written, seconds=seconds, spark_start_seconds=spark_start,
                          images_per_second=written / seconds, tensorflow=tf.__version__,
                          master=args.master)))


if __name__ == "__main__":
    main()
