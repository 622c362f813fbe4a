"""Benchmark (not a test): the Spark job's passes after featurising, at a size where per-row costs show. Spark
local[2], ROWS synthetic rows (path, label, 1280 random float32) persisted, then orchard.spark's covariance + PCA
fit, and its transform + Parquet write (zstd, write_rows) timed; one fresh JVM per invocation. Random features
make a PCA of ~1,200 components at 0.95 variance, so the pca column is nearly as wide as the features.

    .venv/bin/python bench/spark_write_cost.py ROWS c2|c1 default|dictionary

c1: the JVM with HotSpot's C1 compiler only (-XX:TieredStopAtLevel=1); dictionary: dictionary encoding back on
for the vector columns (as before write_rows turned it off).
"""

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
import orchard  # noqa: E402
from orchard import spark as orchard_spark  # noqa: E402
from orchard import _spark_output  # noqa: E402
from orchard._spark_session import session  # noqa: E402


def main():
    rows, jit, encoding = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    conf = {"spark.driver.memory": "6g"}
    if jit == "c1":
        conf["spark.driver.extraJavaOptions"] = "-XX:TieredStopAtLevel=1"
    if encoding == "dictionary":
        _spark_output._no_dictionary_options = lambda frame: {}
    spark = session("local[2]", conf=conf)
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    features = spark.range(rows, numPartitions=8).select(
        F.concat(F.lit("/x/"), F.col("id").cast("string")).alias("path"), F.lit("Apple").alias("label"),
        F.expr("transform(sequence(1, 1280), i -> cast(rand() as float))").alias("features"))
    features = features.persist(StorageLevel.MEMORY_AND_DISK)
    features.count()
    with tempfile.TemporaryDirectory() as output:
        started = time.time()
        pca = orchard.fit_pca_arrow(orchard_spark.covariance(features), k=0, variance=0.95)
        fitted = time.time()
        errors = spark.createDataFrame([], "path string, stage string, message string")
        _spark_output.write_rows(spark, output, orchard_spark.transform(orchard_spark._per_slot(features), pca),
                                 errors, 8192, "overwrite")
        written = time.time()
    print(f"{rows} rows, {jit}, {encoding}: covariance + PCA fit {fitted - started:.1f} s, "
          f"transform + write {written - fitted:.1f} s", flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
