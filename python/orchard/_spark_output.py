"""The Spark job's output folder through Hadoop's FileSystem (local, s3a://, hdfs://, EMR's s3://): the overwrite
guard, pca.parquet, _SUCCESS (built by the C++ manifest writer) and the stage clock."""

import json
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def pca_table(pca):
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


def child(uri, name):
    return f"{str(uri).rstrip('/')}/{name}"


def hadoop_file(spark, uri):
    """(FileSystem, Path) of a URI through Spark's Hadoop configuration: the driver's own files go through the
    same file system as Spark's writers, so any output Spark can write (local, s3a://, hdfs://, EMR's s3://)
    works, with the same credentials."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(str(uri))
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def write_file(spark, uri, data):
    filesystem, path = hadoop_file(spark, uri)
    stream = filesystem.create(path, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()


def read_file(spark, uri):
    """The bytes of a file, read through Hadoop (small files: manifests, moments, inventories)."""
    filesystem, path = hadoop_file(spark, uri)
    stream = filesystem.open(path)
    try:
        return bytes(spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
    finally:
        stream.close()


def exists(spark, uri):
    filesystem, path = hadoop_file(spark, uri)
    return bool(filesystem.exists(path))


def delete_file(spark, uri):
    filesystem, path = hadoop_file(spark, uri)
    filesystem.delete(path, False)


def delete_folder(spark, uri):
    """Deletes a folder and everything in it (only ever one of orchard's, after check_output)."""
    filesystem, path = hadoop_file(spark, uri)
    filesystem.delete(path, True)


class OutputRefused(ValueError):
    """The output cannot be replaced without losing data orchard did not write (exit code 2)."""


def list_files(spark, uri):
    """Relative paths of every file below URI (none when it does not exist), listed through Hadoop."""
    filesystem, path = hadoop_file(spark, uri)
    if not filesystem.exists(path):
        return []
    if filesystem.getFileStatus(path).isFile():
        raise OutputRefused(f"output {uri} is a file, not a folder")
    root = str(filesystem.makeQualified(path).toString()).rstrip("/") + "/"
    entries, files = [], filesystem.listFiles(path, True)
    while files.hasNext():
        entries.append(str(files.next().getPath().toString())[len(root):])
    return sorted(entries)


def check_output(spark, input, output, overwrite, overwrite_bucket_root):
    """`orchard run`'s rules before run() replaces OUTPUT's files (Spark's "overwrite" mode deletes features/ and
    errors/ whole): a non-empty output needs `overwrite` (the Spark job does not resume), and then
    orchard.check_overwrite, the C++ guard of `orchard run --overwrite`, on the files listed through Hadoop: no
    output overlapping the input, no bucket root without overwrite_bucket_root, nothing there that orchard did
    not write. Raises OutputRefused before anything is deleted."""
    from orchard import check_overwrite
    entries = list_files(spark, output)
    try:
        check_overwrite(str(input), str(output), entries, overwrite_bucket_root)
    except ValueError as error:
        raise OutputRefused(str(error)) from None
    if entries and not overwrite:
        what = "a finished job" if "_SUCCESS" in entries else "files"
        raise OutputRefused(f"{output} holds {what}; pass --overwrite to replace it")


def parquet_bytes(table):
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


class Stages:
    """Wall seconds of the job's stages, printed as they end (the gap to `orchard run` is visible per stage)."""

    def __init__(self, log):
        self.seconds, self._log, self._started = {}, log, time.time()

    def end(self, name):
        now = time.time()
        self.seconds[name] = now - self._started
        self._started = now
        if self._log:
            print(f"orchard.spark: {name} {self.seconds[name]:.1f} s", file=sys.stderr)


def success_text(spark, facts, model, workers, pca, stages):
    """The text of _SUCCESS: `orchard run`'s manifest built by the same C++ function (orchard._core.run_manifest)
    from the Spark job's facts (dict: input, counts, options, files, attempt, attempt_images, wall_seconds,
    incremental), the model's identity (sha256, feature_tensor, feature_dim, preprocess as the Featurizers
    report them), the PCA dict or None, and stage times; the Spark-only keys are engine, master and workers
    (per worker: model compile seconds, threads, images featurised)."""
    from orchard._core import run_manifest
    options, files = facts["options"], facts["files"]
    summary = None
    if pca is not None:
        k, dim = pca["components"].shape
        summary = (int(k), int(dim), int(pca["n_samples"]), float(np.sum(pca["explained_variance_ratio"])))
    engine = {"engine": "spark", "master": spark.sparkContext.master,
              "workers": {name: {key: w.get(key) for key in ("compile_seconds", "threads", "images")}
                          for name, w in sorted(workers.items())}}
    return run_manifest(
        input=str(facts["input"]), written=facts["counts"]["written"], failed=facts["counts"]["failed"],
        model_file=str(options["model"]), model_sha256=model.get("sha256", ""),
        feature_tensor=model.get("feature_tensor", ""), feature_dim=model.get("feature_dim", 0),
        precision=options["precision"], preprocess=model.get("preprocess", "null"), pca=summary,
        pca_skipped=facts["skipped"], features=files["features"], errors=files["errors"],
        pca_file=files["pca"] or "", moments_file=files["pca_moments"], inputs_file=files["inputs"],
        batch_size=options["batch"], attempt=facts["attempt"], attempt_images=facts["attempt_images"],
        wall_seconds=facts["wall_seconds"], timings={f"{name}_seconds": s for name, s in stages.items()},
        incremental=facts.get("incremental"), engine=json.dumps(engine))


def _no_dictionary_options(frame):
    """parquet-mr options turning dictionary encoding off for each float/double array column's elements
    (`<name>.list.element`, Spark's 3-level lists), as `orchard run`'s writer does: feature values are all
    distinct, so the writer hashes every float into a dictionary it then drops for PLAIN. 100,000 rows of 1,280
    floats, Spark local[2]: transform + write 27.1 s with it, 25.5 s without (means of 4-5), same bytes
    (bench/results/spark-dictionary-2026-12-02.txt)."""
    from pyspark.sql.types import ArrayType, DoubleType, FloatType
    return {f"parquet.enable.dictionary#{field.name}.list.element": "false" for field in frame.schema.fields
            if isinstance(field.dataType, ArrayType)
            and isinstance(field.dataType.elementType, (FloatType, DoubleType))}


def write_rows(spark, output, features, errors, rows_per_part, mode):
    """features/ and errors/ with Spark's writer (ZSTD, like `orchard run`'s parts; Spark's default is Snappy;
    no dictionary for vector columns, _no_dictionary_options); an update appends (its parts have new names, Spark's
    write UUID). Returns {"features": [...], "errors": [...]}, the parts this write added, relative to OUTPUT."""
    before = set(list_files(spark, output))
    for frame, folder in ((features, "features"), (errors, "errors")):
        (frame.write.mode(mode).option("compression", "zstd").option("maxRecordsPerFile", rows_per_part)
         .options(**_no_dictionary_options(frame)).parquet(child(output, folder)))
    added = [name for name in list_files(spark, output) if name not in before and name.endswith(".parquet")]
    return {folder: [name for name in added if name.startswith(folder + "/")] for folder in ("features", "errors")}
