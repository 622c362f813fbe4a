"""The Spark job's output folder through Hadoop's FileSystem (local, s3a://, hdfs://, EMR's s3://): the overwrite
guard, pca.parquet, _SUCCESS and the stage clock."""

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


def delete_file(spark, uri):
    filesystem, path = hadoop_file(spark, uri)
    filesystem.delete(path, False)


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


def pca_json(pca, skipped):
    if pca is None:
        return {"skipped": skipped, "k": 0}
    k, dim = pca["components"].shape
    return {"file": "pca.parquet", "k": int(k), "dim": int(dim), "n_samples": int(pca["n_samples"]),
            "explained_variance_ratio": float(np.sum(pca["explained_variance_ratio"]))}


def manifest(spark, input, output, options, counts, workers, pca, skipped, stages, wall):
    """`orchard run`'s _SUCCESS schema (README, "Output format") for the Spark job: model identity and
    preprocessing as the workers' Featurizers report them, the part files as written, counts and stage times."""
    worker = next(iter(workers.values()), {})
    files = list_files(spark, output)
    seen = counts["written"] + counts["failed"]
    return {"orchard_version": __import__("orchard").__version__, "input": str(input),
            "counts": {"seen": seen, **counts},
            "model": {"file": str(options["model"]), "sha256": worker.get("sha256"),
                      "feature_tensor": worker.get("feature_tensor"), "feature_dim": worker.get("feature_dim"),
                      "precision": options["precision"]},
            "preprocess": json.loads(worker["preprocess"]) if "preprocess" in worker else None,
            "pca": pca_json(pca, skipped),
            "files": {folder: [f for f in files if f.startswith(folder + "/") and f.endswith(".parquet")]
                      for folder in ("features", "errors")} | {"pca": "pca.parquet" if pca else None},
            "batch_size": options["batch"], "engine": "spark", "master": spark.sparkContext.master,
            "workers": {name: {"compile_seconds": w["compile_seconds"], "threads": w["threads"]}
                        for name, w in sorted(workers.items())},
            "timings": {f"{name}_seconds": seconds for name, seconds in stages.items()},
            "wall_seconds": wall, "images_per_second": seen / wall if wall > 0 else 0.0}
