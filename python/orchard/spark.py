"""orchard on Apache Spark: the C++ core (orchard._core) inside the executors' Python workers, via mapInArrow.

    featurise(df, model=...)     images (Spark's binaryFile source: path, content) -> one row per image:
                                 path, label, features array<float> (null on error), stage, message (null if ok)
    fit_pca(features_df, ...)    exact distributed PCA: per-partition (count, mean, scatter) in C++, merged and
                                 solved once on the driver
    transform(features_df, pca)  adds the `pca` column (broadcast model, C++ transform in mapInArrow)
    run(spark, input, output)    the whole job, written with Spark's Parquet writer

    python -m orchard.spark run --input DIR --output DIR [--master local[2]] [--model M] [--pca-k K] ...

The model is compiled once per Python worker process and reused across batches and tasks (_FEATURIZERS).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_MODEL = str(Path(os.environ.get("ORCHARD_SHARED", Path(__file__).resolve().parents[3] / "shared"))
                    / "models" / "mobilenetv2-12-int8.onnx")
IMAGE_GLOB = "*.{jpg,jpeg,JPG,JPEG,png,PNG,webp,WEBP}"

FEATURISED_SCHEMA = "path string, label string, features array<float>, stage string, message string"
_PARTIAL_SCHEMA = "count long, mean binary, scatter binary"

# Per Python worker: (model, preset, feature_tensor, precision, threads) -> orchard.Featurizer.
_FEATURIZERS = {}


def _featurizer(key):
    featurizer = _FEATURIZERS.get(key)
    if featurizer is None:
        from orchard import Featurizer
        model, preset, feature_tensor, precision, threads = key
        featurizer = Featurizer(model, preset=preset, feature_tensor=feature_tensor, precision=precision,
                                threads=threads)
        _FEATURIZERS[key] = featurizer
    return featurizer


def local_path(uri):
    """Spark's `file:/a/b%20c.jpg` -> `/a/b c.jpg` (what `orchard run` writes); other URIs are kept."""
    if uri.startswith("file:"):
        return unquote(urlparse(uri).path)
    return uri


def _label(path):
    parts = path.rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 else ""


def _offsets(array):
    """Absolute int64 offsets (n + 1) of a (large_)binary Arrow array, and its data buffer, without copying data."""
    width = np.int64 if pa.types.is_large_binary(array.type) else np.int32
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=width)[array.offset:array.offset + len(array) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    return data, np.ascontiguousarray(offsets, dtype=np.int64)


def _float_lists(matrix, valid):
    """float32 [n, D] -> Arrow list<float> with nulls where not valid."""
    n, dim = matrix.shape
    values = pa.array(np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1))
    offsets = pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32))
    mask = pa.array(~valid) if not valid.all() else None
    return pa.ListArray.from_arrays(offsets, values, type=pa.list_(pa.float32()), mask=mask)


def featurise(df, model=DEFAULT_MODEL, preset="imagenet", feature_tensor="", precision="f32", batch=32,
              threads=0):
    """Features of a DataFrame of images: Spark's binaryFile source (path, content), or only `path` (local paths
    or s3:// URIs the C++ side reads itself). Returns FEATURISED_SCHEMA rows, one per image: a bad image has null
    features and its stage (read | decode | preprocess | inference) and message; the job does not fail."""
    key = (str(model), preset, feature_tensor, precision, int(threads))
    has_content = "content" in df.columns
    df = df.select("path", "content") if has_content else df.select("path")

    def featurise_batches(batches):
        # Through the module, so that the cache is the worker's even when this closure was pickled by value
        # (spark-submit runs this file as __main__).
        from orchard.spark import _featurizer as cached
        featurizer = cached(key)
        for record_batch in batches:
            for start in range(0, record_batch.num_rows, batch):
                chunk = record_batch.slice(start, batch)
                paths = [local_path(p) for p in chunk.column("path").to_pylist()]
                if has_content:
                    content = chunk.column("content")
                    if content.null_count == 0:
                        data, offsets = _offsets(content)
                        features, errors = featurizer.featurize_binary(paths, data, offsets, batch=batch)
                    else:
                        features, errors = featurizer.featurize(paths, content.to_pylist(), batch=batch)
                else:
                    features, errors = featurizer.featurize(paths, None, batch=batch)
                valid = np.ones(len(paths), dtype=bool)
                stages = [None] * len(paths)
                messages = [None] * len(paths)
                for index, stage, message in errors:
                    valid[index] = False
                    stages[index] = stage
                    messages[index] = message
                yield pa.RecordBatch.from_arrays(
                    [pa.array(paths, pa.string()), pa.array([_label(p) for p in paths], pa.string()),
                     _float_lists(features, valid), pa.array(stages, pa.string()),
                     pa.array(messages, pa.string())],
                    names=["path", "label", "features", "stage", "message"])

    return df.mapInArrow(featurise_batches, FEATURISED_SCHEMA)


def _feature_matrix(column):
    """Arrow list<float> column without nulls -> float32 [n, D] (a view where possible)."""
    n = len(column)
    if n == 0:
        return np.zeros((0, 0), np.float32)
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return flat.reshape(n, -1)


def fit_pca(features_df, k=0, variance=0.95):
    """Exact PCA of the non-null `features`: a (count, mean, scatter) partial per partition in C++, merged and
    eigen-decomposed on the driver by orchard.fit_pca. Returns its dict (mean, components, explained_variance,
    explained_variance_ratio, total_variance, n_samples)."""
    import orchard

    def to_row(partial):
        return pa.RecordBatch.from_arrays(
            [pa.array([partial[0]], pa.int64()), pa.array([partial[1].tobytes()], pa.binary()),
             pa.array([partial[2].tobytes()], pa.binary())], names=["count", "mean", "scatter"])

    def from_row(count, mean, scatter):
        mean = np.frombuffer(mean, dtype=np.float64)
        return count, mean, np.frombuffer(scatter, dtype=np.float64).reshape(mean.size, mean.size)

    def partials(batches):
        """One (count, mean, scatter) per partition, merged batch by batch in C++."""
        from orchard import covariance_partial, merge_partials
        total = None
        for record_batch in batches:
            column = record_batch.column("features")
            if len(column):
                part = covariance_partial(np.ascontiguousarray(_feature_matrix(column)))
                total = part if total is None else merge_partials([total, part])
        if total is not None:
            yield to_row(total)

    def merge(batches):
        from orchard import merge_partials
        parts = [from_row(c, m, s) for b in batches
                 for c, m, s in zip(*(b.column(name).to_pylist() for name in ("count", "mean", "scatter")))]
        if parts:
            yield to_row(merge_partials(parts))

    # One partial (D x D doubles) per task slot, not per input partition: coalescing is narrow, so the rows are
    # still computed (and persisted, in run()) where they are, a task walking several input partitions.
    features = features_df.where("features IS NOT NULL").select("features")
    slots = max(1, features_df.sparkSession.sparkContext.defaultParallelism)
    if features.rdd.getNumPartitions() > slots:
        features = features.coalesce(slots)
    rows = features.mapInArrow(partials, _PARTIAL_SCHEMA)
    # A tree merge: the driver receives about sqrt(partitions) partials of D x D doubles, not one per partition.
    partitions = rows.rdd.getNumPartitions()
    if partitions > 16:
        rows = rows.repartition(int(np.ceil(np.sqrt(partitions)))).mapInArrow(merge, _PARTIAL_SCHEMA)
    merged = [from_row(row["count"], row["mean"], row["scatter"]) for row in rows.toLocalIterator()]
    if not merged:
        raise ValueError("PCA needs at least 2 featurised images, got none")
    return orchard.fit_pca(merged, k=k, variance=variance)


def transform(features_df, pca):
    """Adds `pca` array<float> = (features - mean) . componentsᵀ, the model broadcast once to the executors."""
    from pyspark.sql import SparkSession
    from pyspark.sql.types import ArrayType, FloatType, StructType
    spark = SparkSession.getActiveSession()
    model = spark.sparkContext.broadcast({"mean": np.asarray(pca["mean"]),
                                          "components": np.asarray(pca["components"])})
    schema = StructType(list(features_df.schema.fields)).add("pca", ArrayType(FloatType()))

    def project(batches):
        from orchard import pca_transform
        mean, components = model.value["mean"], model.value["components"]
        for record_batch in batches:
            column = record_batch.column("features")
            if column.null_count:
                raise ValueError("transform: rows without features (filter the errors out first)")
            projected = pca_transform(np.ascontiguousarray(_feature_matrix(column)), mean, components) \
                if len(column) else np.zeros((0, components.shape[0]), np.float32)
            yield record_batch.append_column(
                "pca", _float_lists(projected, np.ones(len(column), dtype=bool)))

    return features_df.mapInArrow(project, schema)


def _pca_table(pca):
    k, dim = pca["components"].shape
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(pca["components"].reshape(-1)), dim)
    metadata = {"format_version": 1, "dim": int(dim), "k": int(k), "total_variance": float(pca["total_variance"]),
                "n_samples": int(pca["n_samples"]), "mean": [float(v) for v in pca["mean"]]}
    schema = pa.schema([pa.field("component", pa.int32(), False), pa.field("explained_variance", pa.float64(), False),
                        pa.field("explained_variance_ratio", pa.float64(), False),
                        pa.field("vector", pa.list_(pa.float64(), dim), False)],
                       metadata={"orchard.pca": json.dumps(metadata)})
    return pa.Table.from_arrays([pa.array(np.arange(k, dtype=np.int32)), pa.array(pca["explained_variance"]),
                                 pa.array(pca["explained_variance_ratio"]), vectors], schema=schema)


def run(spark, input, output, model=DEFAULT_MODEL, preset="imagenet", feature_tensor="", precision="f32",
        batch=32, threads=0, pca_k=0, pca_variance=0.95):
    """The `orchard run` job on Spark. OUTPUT gets features/ (path, label, features, pca), errors/ (path, stage,
    message), pca.parquet and _SUCCESS (JSON counts and PCA summary). Local output only for pca.parquet and
    _SUCCESS (written by the driver)."""
    from pyspark import StorageLevel
    started = time.time()
    images = (spark.read.format("binaryFile").option("pathGlobFilter", IMAGE_GLOB)
              .option("recursiveFileLookup", "true").load(str(input)))
    featurised = featurise(images, model=model, preset=preset, feature_tensor=feature_tensor,
                           precision=precision, batch=batch, threads=threads)
    featurised = featurised.persist(StorageLevel.MEMORY_AND_DISK)
    good = featurised.where("stage IS NULL").select("path", "label", "features")
    errors = featurised.where("stage IS NOT NULL").select("path", "stage", "message")
    stages = {}
    pca = fit_pca(good, k=pca_k, variance=pca_variance)
    stages["features_and_pca_fit"] = time.time() - started
    output = Path(output)
    transform(good, pca).write.mode("overwrite").parquet(str(output / "features"))
    errors.write.mode("overwrite").parquet(str(output / "errors"))
    pq.write_table(_pca_table(pca), output / "pca.parquet")
    stages["transform_and_write"] = time.time() - started - stages["features_and_pca_fit"]
    written, failed = good.count(), errors.count()
    featurised.unpersist()
    wall = time.time() - started
    summary = {"counts": {"seen": written + failed, "written": written, "failed": failed},
               "model": {"file": str(model), "feature_tensor": feature_tensor, "precision": precision},
               "preprocess": preset,
               "pca": {"k": int(pca["components"].shape[0]),
                       "explained_variance_ratio": float(np.sum(pca["explained_variance_ratio"]))},
               "engine": "spark", "master": spark.sparkContext.master, "stage_seconds": stages,
               "wall_seconds": wall,
               "images_per_second": (written + failed) / wall if wall > 0 else 0.0}
    (output / "_SUCCESS").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def session(master="local[2]", app_name="orchard", conf=None):
    """A SparkSession whose Python workers can import orchard (local masters inherit this process's env)."""
    from pyspark.sql import SparkSession
    package_root = str(Path(__file__).resolve().parents[1])
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if package_root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([package_root, *paths])
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if not os.environ.get("JAVA_HOME") and Path("/usr/lib/jvm/java-17-openjdk-amd64").is_dir():
        os.environ["JAVA_HOME"] = "/usr/lib/jvm/java-17-openjdk-amd64"
    builder = (SparkSession.builder.appName(app_name)
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", "256")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "4"))
    if master:
        builder = builder.master(master)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m orchard.spark", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("run", help="featurise a folder of images, fit the exact PCA, write Parquet")
    p.add_argument("--input", "-i", required=True, help="folder <root>/[<split>/]<Label>/<file> (any Hadoop URI)")
    p.add_argument("--output", "-o", required=True, help="output folder (local), replaced if it exists")
    p.add_argument("--master", default=None,
                   help="Spark master (default: local[2] when run directly, spark-submit's under spark-submit)")
    p.add_argument("--model", "-m", default=DEFAULT_MODEL)
    p.add_argument("--feature-tensor", default="")
    p.add_argument("--preprocess", default="imagenet", choices=["imagenet", "caffe", "tf"])
    p.add_argument("--precision", default="f32", choices=["f32", "bf16", "int8"])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=0, help="per Python worker; 0 = one per core")
    p.add_argument("--pca-k", type=int, default=0)
    p.add_argument("--pca-variance", type=float, default=0.95)
    args = parser.parse_args(argv)
    master = args.master
    if master is None and "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit
        master = "local[2]"
    spark = session(master)
    try:
        summary = run(spark, args.input, args.output, model=args.model, preset=args.preprocess,
                      feature_tensor=args.feature_tensor, precision=args.precision, batch=args.batch,
                      threads=args.threads, pca_k=args.pca_k, pca_variance=args.pca_variance)
    finally:
        spark.stop()
    print(json.dumps(summary["counts"]), f"{summary['images_per_second']:.1f} images/s", file=sys.stderr)
    return 4 if summary["counts"]["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
