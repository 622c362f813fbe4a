"""orchard on Apache Spark: the C++ core (orchard._core) inside the executors' Python workers, via mapInArrow.

    featurise(df, model=...)     images (Spark's binaryFile source: path, content) -> one row per image:
                                 path, label, features array<float> (null on error), stage, message (null if ok)
    fit_pca(features_df, ...)    exact distributed PCA: per-partition (count, mean, scatter) in C++, merged and
                                 solved once on the driver
    transform(features_df, pca)  adds the `pca` column (broadcast model, C++ transform in mapInArrow)
    run(spark, input, output)    the whole job, written with Spark's Parquet writer

    python -m orchard.spark run --input DIR|URI --output DIR|URI [--master local[2]] [--model M] [--pca-k K] ...

Input and output are Hadoop URIs (a local folder, s3a://bucket/prefix, ...); see session() for s3a://.

The model is compiled once per Python worker process and reused across batches and tasks (_FEATURIZERS).
"""

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_MODEL = str(Path(os.environ.get("ORCHARD_SHARED", Path(__file__).resolve().parents[3] / "shared"))
                    / "models" / "mobilenetv2-12-int8.onnx")
# hadoop-aws and the AWS SDK for s3a:// (scripts/fetch_spark_jars.sh), added to sessions this module starts.
SPARK_JARS_DIR = Path(os.environ.get("ORCHARD_SPARK_JARS", Path(__file__).resolve().parents[2] / ".tools" / "jars"))
# The AWS SDK's default chain: environment keys, AWS_PROFILE + shared files, web identity, container, instance
# role; the same chain as the C++ core's S3 support. No key ever goes into the Spark/Hadoop configuration.
S3A_CREDENTIALS = "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"

# `orchard run`'s default --max-file-bytes (256 MiB).
MAX_FILE_BYTES = 256 * 2**20

FEATURISED_SCHEMA = "path string not null, label string not null, features array<float>, stage string, message string"
# A (count, mean, scatter) PCA partial as orchard._core's *_arrow functions read and write it (scatter row-major).
_PARTIAL_SCHEMA = "count long, mean array<double>, scatter array<double>"

# Per Python worker: (model, preset, feature_tensor, precision, threads, max_pixels, max_file_bytes) ->
# orchard.Featurizer.
_FEATURIZERS = {}


def _task_threads(threads):
    """`threads`, or when it is 0 the cores Spark gave this task (spark.task.cpus, default 1): never every core
    of the machine, which Spark's other task slots there are using too."""
    if threads > 0:
        return threads
    from pyspark import TaskContext
    context = TaskContext.get()
    return max(1, context.cpus()) if context is not None else 1


def _featurizer(key, workers=None):
    """The worker's Featurizer for `key`, compiled on first use. `workers` (an accumulator of _WorkersInfo), if
    given, gets {"host:pid": {compile_seconds, threads, sha256, feature_tensor, feature_dim, preprocess}} at every
    call (once per task), also when the Featurizer was compiled by an earlier job of the session: the driver
    prints the compile time per worker and writes the model's identity to _SUCCESS."""
    cached = _FEATURIZERS.get(key)
    if cached is None:
        import socket
        from orchard import Featurizer
        model, preset, feature_tensor, precision, threads, max_pixels, max_file_bytes = key
        started = time.time()
        featurizer = Featurizer(model, preset=preset, feature_tensor=feature_tensor, precision=precision,
                                threads=threads, max_pixels=max_pixels, max_file_bytes=max_file_bytes)
        info = {"compile_seconds": time.time() - started, "threads": threads, "sha256": featurizer.sha256,
                "feature_tensor": featurizer.feature_tensor, "feature_dim": featurizer.feature_dim,
                "preprocess": featurizer.preprocess}
        cached = _FEATURIZERS[key] = (featurizer, {f"{socket.gethostname()}:{os.getpid()}": info})
    if workers is not None:
        workers.add(cached[1])
    return cached[0]


class _WorkersInfo:
    """AccumulatorParam of {worker: info} dicts (a retried task reports the same worker's info again)."""

    def zero(self, value):
        return {}

    def addInPlace(self, total, more):
        total.update(more)
        return total


def local_path(uri):
    """Spark's `file:/a/b c.jpg` -> `/a/b c.jpg` (what `orchard run` writes); other URIs are kept."""
    from orchard import output_path
    return output_path(uri)


def featurise(df, model=DEFAULT_MODEL, preset="", feature_tensor="", precision="f32", batch=32,
              threads=0, max_pixels=100_000_000, max_file_bytes=MAX_FILE_BYTES, workers=None):
    """Features of a DataFrame of images: Spark's binaryFile source (path, length, content), or only `path`
    (local paths or s3:// URIs the C++ side reads itself). A file over max_file_bytes (by `length`, or its
    content's size) is a read error row. Returns FEATURISED_SCHEMA rows, one per image: a bad image has null
    features and its stage (read | decode | preprocess | inference) and message; the job does not fail.
    threads: decode and inference threads per Python worker, 0 = the task's cores (spark.task.cpus).
    workers: an accumulator of _WorkersInfo, given each worker's model compile time and model identity."""
    df = df.select(*[column for column in ("path", "length", "content") if column in df.columns])

    def featurise_batches(batches):
        # Through the module, so that the cache is the worker's even when this closure was pickled by value
        # (spark-submit runs this file as __main__).
        from orchard.spark import _featurizer as cached, _task_threads as task_threads
        key = (str(model), preset, feature_tensor, precision, task_threads(int(threads)), int(max_pixels),
               int(max_file_bytes))
        featurizer = cached(key, workers)
        for record_batch in batches:
            # The whole batch crosses to C++ through the Arrow C data interface; the image bytes are read in place.
            yield pa.record_batch(featurizer.featurize_arrow(record_batch, batch=batch))

    return df.mapInArrow(featurise_batches, FEATURISED_SCHEMA)


def _stream(batches):
    """A mapInArrow iterator as one Arrow stream for the C++ side (None when it has no batch)."""
    batches = iter(batches)
    first = next(batches, None)
    if first is None:
        return None
    return pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], batches))


def fit_pca(features_df, k=0, variance=0.95):
    """Exact PCA of the non-null `features`: a (count, mean, scatter) partial per partition in C++, merged and
    eigen-decomposed on the driver by orchard.fit_pca_arrow. Returns its dict (mean, components, explained_variance,
    explained_variance_ratio, total_variance, n_samples)."""
    import orchard

    def partials(batches):
        """One (count, mean, scatter) row per partition (none for an empty one), accumulated in C++."""
        from orchard import covariance_partial_arrow
        stream = _stream(batches)
        if stream is not None:
            yield from pa.table(covariance_partial_arrow(stream)).to_batches()

    def merge(batches):
        from orchard import merge_partials_arrow
        stream = _stream(batches)
        if stream is not None:
            yield from pa.table(merge_partials_arrow(stream)).to_batches()

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
    merged = rows.toArrow()
    if merged.num_rows == 0:
        raise ValueError("PCA needs at least 2 featurised images, got none")
    return orchard.fit_pca_arrow(merged, k=k, variance=variance)


def _required_schema(fields):
    """`fields` with every column and array element non-nullable, so that Spark's Parquet files have
    `orchard run`'s Parquet schema (all `required`)."""
    from pyspark.sql.types import ArrayType, StructField, StructType
    return StructType([StructField(f.name, ArrayType(f.dataType.elementType, containsNull=False)
                                   if isinstance(f.dataType, ArrayType) else f.dataType, nullable=False)
                       for f in fields])


def transform(features_df, pca):
    """Adds `pca` array<float> = (features - mean) . componentsᵀ, the model broadcast once to the executors.
    Every column comes out non-nullable (and the arrays without null elements), so that Spark's Parquet files
    have `orchard run`'s Parquet schema (all `required`); rows without features are an error."""
    from pyspark.sql import SparkSession
    from pyspark.sql.types import ArrayType, FloatType, StructField
    spark = SparkSession.getActiveSession()
    model = spark.sparkContext.broadcast({"mean": np.asarray(pca["mean"]),
                                          "components": np.asarray(pca["components"])})
    schema = _required_schema([*features_df.schema.fields, StructField("pca", ArrayType(FloatType()))])

    def project(batches):
        from orchard import pca_transform_arrow
        mean, components = model.value["mean"], model.value["components"]
        for record_batch in batches:
            yield pa.record_batch(pca_transform_arrow(record_batch, mean, components))

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


def _child(uri, name):
    return f"{str(uri).rstrip('/')}/{name}"


def _hadoop_file(spark, uri):
    """(FileSystem, Path) of a URI through Spark's Hadoop configuration: the driver's own files go through the
    same file system as Spark's writers, so any output Spark can write (local, s3a://, hdfs://, EMR's s3://)
    works, with the same credentials."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(str(uri))
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path


def _write_file(spark, uri, data):
    filesystem, path = _hadoop_file(spark, uri)
    stream = filesystem.create(path, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()


def _delete_file(spark, uri):
    filesystem, path = _hadoop_file(spark, uri)
    filesystem.delete(path, False)


class OutputRefused(ValueError):
    """The output cannot be replaced without losing data orchard did not write (exit code 2)."""


def _list_files(spark, uri):
    """Relative paths of every file below URI (none when it does not exist), listed through Hadoop."""
    filesystem, path = _hadoop_file(spark, uri)
    if not filesystem.exists(path):
        return []
    if filesystem.getFileStatus(path).isFile():
        raise OutputRefused(f"output {uri} is a file, not a folder")
    root = str(filesystem.makeQualified(path).toString()).rstrip("/") + "/"
    entries, files = [], filesystem.listFiles(path, True)
    while files.hasNext():
        entries.append(str(files.next().getPath().toString())[len(root):])
    return sorted(entries)


def _check_output(spark, input, output, overwrite, overwrite_bucket_root):
    """`orchard run`'s rules before run() replaces OUTPUT's files (Spark's "overwrite" mode deletes features/ and
    errors/ whole): a non-empty output needs `overwrite` (the Spark job does not resume), and then
    orchard.check_overwrite, the C++ guard of `orchard run --overwrite`, on the files listed through Hadoop: no
    output overlapping the input, no bucket root without overwrite_bucket_root, nothing there that orchard did
    not write. Raises OutputRefused before anything is deleted."""
    from orchard import check_overwrite
    entries = _list_files(spark, output)
    try:
        check_overwrite(str(input), str(output), entries, overwrite_bucket_root)
    except ValueError as error:
        raise OutputRefused(str(error)) from None
    if entries and not overwrite:
        what = "a finished job" if "_SUCCESS" in entries else "files"
        raise OutputRefused(f"{output} holds {what}; pass --overwrite to replace it")


def _parquet_bytes(table):
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _vectors_not_null(df):
    """The same rows, every column and array element declared non-null (_required_schema)."""
    return df.mapInArrow(lambda batches: batches, _required_schema(df.schema.fields))


class _Stages:
    """Wall seconds of the job's stages, printed as they end (the gap to `orchard run` is visible per stage)."""

    def __init__(self, log):
        self.seconds, self._log, self._started = {}, log, time.time()

    def end(self, name):
        now = time.time()
        self.seconds[name] = now - self._started
        self._started = now
        if self._log:
            print(f"orchard.spark: {name} {self.seconds[name]:.1f} s", file=sys.stderr)


def _pca_json(pca, skipped):
    if pca is None:
        return {"skipped": skipped, "k": 0}
    k, dim = pca["components"].shape
    return {"file": "pca.parquet", "k": int(k), "dim": int(dim), "n_samples": int(pca["n_samples"]),
            "explained_variance_ratio": float(np.sum(pca["explained_variance_ratio"]))}


def _manifest(spark, input, output, options, counts, workers, pca, skipped, stages, wall):
    """`orchard run`'s _SUCCESS schema (README, "Output format") for the Spark job: model identity and
    preprocessing as the workers' Featurizers report them, the part files as written, counts and stage times."""
    worker = next(iter(workers.values()), {})
    files = _list_files(spark, output)
    seen = counts["written"] + counts["failed"]
    return {"orchard_version": __import__("orchard").__version__, "input": str(input),
            "counts": {"seen": seen, **counts},
            "model": {"file": str(options["model"]), "sha256": worker.get("sha256"),
                      "feature_tensor": worker.get("feature_tensor"), "feature_dim": worker.get("feature_dim"),
                      "precision": options["precision"]},
            "preprocess": json.loads(worker["preprocess"]) if "preprocess" in worker else None,
            "pca": _pca_json(pca, skipped),
            "files": {folder: [f for f in files if f.startswith(folder + "/") and f.endswith(".parquet")]
                      for folder in ("features", "errors")} | {"pca": "pca.parquet" if pca else None},
            "batch_size": options["batch"], "engine": "spark", "master": spark.sparkContext.master,
            "workers": {name: {"compile_seconds": w["compile_seconds"], "threads": w["threads"]}
                        for name, w in sorted(workers.items())},
            "timings": {f"{name}_seconds": seconds for name, seconds in stages.items()},
            "wall_seconds": wall, "images_per_second": seen / wall if wall > 0 else 0.0}


def _images(spark, input, max_file_bytes):
    """Every file below INPUT as Spark's binaryFile rows (path, length, content), except that a file over
    max_file_bytes comes with a null content: the `length` filter is pushed into the binaryFile source, which
    then never reads it (Spark would fail the task over spark.sql.sources.binaryFile.maxLength, 2 GiB), and the
    C++ side makes it a read error row from its length."""
    from pyspark.sql import functions as F
    listing = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(str(input))
    small = listing.where(F.col("length") <= max_file_bytes).select("path", "length", "content")
    large = listing.where(F.col("length") > max_file_bytes).select(
        "path", "length", F.lit(None).cast("binary").alias("content"))
    return small.unionByName(large)


def run(spark, input, output, model=DEFAULT_MODEL, preset="", feature_tensor="", precision="f32",
        batch=32, threads=0, pca_k=0, pca_variance=0.95, overwrite=False, overwrite_bucket_root=False,
        max_pixels=100_000_000, max_file_bytes=MAX_FILE_BYTES, rows_per_part=8192, log=False,
        jvm_start_seconds=None):
    """The `orchard run` job on Spark. OUTPUT (any Hadoop URI: a local folder, s3a://bucket/prefix, ...) gets
    features/ (path, label, features, pca; at most rows_per_part rows a part), errors/ (path, stage, message),
    pca.parquet and, last, _SUCCESS (`orchard run`'s manifest); an earlier _SUCCESS there is removed first, so a
    failed rerun leaves none. A non-empty OUTPUT needs overwrite, and even then an output holding anything orchard
    did not write, overlapping INPUT, or a bucket root without overwrite_bucket_root raises OutputRefused first
    (_check_output). Files over max_file_bytes and images over max_pixels are error rows, as in `orchard run`.
    With fewer than 2 featurised images there is no PCA (`orchard run`'s small-job rule):
    features without `pca`, no pca.parquet, and _SUCCESS says why. log: print stage times to stderr;
    jvm_start_seconds: the session's start, when the caller measured it, joins the stage times."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    started = time.time()
    stages = _Stages(log)
    if jvm_start_seconds is not None:
        stages.seconds["jvm_start"] = jvm_start_seconds
    _check_output(spark, input, output, overwrite, overwrite_bucket_root)
    _delete_file(spark, _child(output, "_SUCCESS"))
    workers = spark.sparkContext.accumulator({}, _WorkersInfo())
    # Every file, as `orchard run` lists them: images are told by content, not by name (4.Jpg, 5.jfif, no
    # extension), and what is not an image becomes an error row. Spark skips Hadoop's hidden names (_x, .x),
    # with no way to turn that off, and `orchard run` skips the same ones (README, "Which files are inputs").
    featurised = featurise(_images(spark, input, max_file_bytes), model=model, preset=preset,
                           feature_tensor=feature_tensor, precision=precision, batch=batch, threads=threads,
                           max_pixels=max_pixels, max_file_bytes=max_file_bytes, workers=workers)
    featurised = featurised.persist(StorageLevel.MEMORY_AND_DISK)
    by_outcome = dict(featurised.groupBy(F.col("stage").isNull().alias("ok")).count().collect())
    counts = {"written": by_outcome.get(True, 0), "failed": by_outcome.get(False, 0)}
    stages.end("featurise")
    good = featurised.where("stage IS NULL").select("path", "label", "features")
    errors = featurised.where("stage IS NOT NULL").select("path", "stage", "message")
    pca, skipped = None, ""
    if counts["written"] >= 2:
        pca = fit_pca(good, k=pca_k, variance=pca_variance)
    else:
        skipped = (f"PCA needs at least 2 images with features, this job has {counts['written']}; features are "
                   "written without the pca column")
    stages.end("pca_fit")
    # ZSTD, like `orchard run`'s parts (Spark's default is Snappy).
    features = transform(good, pca) if pca else _vectors_not_null(good)
    for frame, folder in ((features, "features"), (errors, "errors")):
        (frame.write.mode("overwrite").option("compression", "zstd").option("maxRecordsPerFile", rows_per_part)
         .parquet(_child(output, folder)))
    if pca:
        _write_file(spark, _child(output, "pca.parquet"), _parquet_bytes(_pca_table(pca)))
    else:
        _delete_file(spark, _child(output, "pca.parquet"))
    featurised.unpersist()
    stages.end("transform_and_write")
    if log:
        for name, worker in sorted(workers.value.items()):
            print(f"orchard.spark: model compile on {name} {worker['compile_seconds']:.1f} s, "
                  f"{worker['threads']} threads", file=sys.stderr)
    options = {"model": model, "precision": precision, "batch": batch}
    summary = _manifest(spark, input, output, options, counts, workers.value, pca, skipped, stages.seconds,
                        time.time() - started)
    _write_file(spark, _child(output, "_SUCCESS"), (json.dumps(summary, indent=2) + "\n").encode())
    return summary


def _started_by_spark_submit():
    """spark-submit starts the JVM before Python: its --jars/--conf and the cluster's defaults then apply."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def s3a_jars():
    """The jars scripts/fetch_spark_jars.sh put in SPARK_JARS_DIR (none if it was not run)."""
    return sorted(str(jar) for jar in SPARK_JARS_DIR.glob("*.jar"))


def _is_local_master(master):
    """local, local[N], local[*], local[N,F]: driver and executors are threads of one JVM (not local-cluster)."""
    return bool(master) and (master == "local" or master.startswith("local["))


def s3a_jar_conf(master):
    """How a session this module starts gets s3a_jars(). A local master puts them on the driver's class path,
    which its executors share (one JVM): spark.jars would copy them (558 MB with the AWS SDK bundle) into a
    temporary folder at every session start. Other masters (and none, which spark-submit's defaults decide) keep
    spark.jars, which ships them to executors in other JVMs."""
    jars = s3a_jars()
    if not jars:
        return {}
    if _is_local_master(master):
        return {"spark.driver.extraClassPath": os.pathsep.join(jars)}
    return {"spark.jars": ",".join(jars)}


def s3a_conf(endpoint=None):
    """Spark settings for s3a:// URIs: credentials from the AWS default chain, and for an S3-compatible server
    (`endpoint`, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL: the C++ core's order) that endpoint with
    path-style addressing. Region: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1 with a custom endpoint
    (else S3A finds the bucket's)."""
    conf = {"spark.hadoop.fs.s3a.aws.credentials.provider": S3A_CREDENTIALS}
    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
        region = region or "us-east-1"
    if region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = region
    return conf


def session(master="local[2]", app_name="orchard", conf=None, s3_endpoint=None):
    """A SparkSession whose Python workers can import orchard (local masters inherit this process's env). When
    this process starts Spark itself (not under spark-submit) it also gets s3a://: the jars of s3a_jars() (as
    s3a_jar_conf(master) adds them) and the settings of s3a_conf(s3_endpoint). `conf` is applied last and wins."""
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
    if not _started_by_spark_submit():
        conf = {**s3a_jar_conf(master), **s3a_conf(s3_endpoint), **(conf or {})}
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def argument_parser():
    """The command line of `python -m orchard.spark` (and of spark-submit .../orchard/spark.py)."""
    parser = argparse.ArgumentParser(prog="python -m orchard.spark", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("run", help="featurise a folder of images, fit the exact PCA, write Parquet")
    p.add_argument("--input", "-i", required=True,
                   help="folder <root>/[<split>/]<Label>/<file> (any Hadoop URI: local, s3a://bucket/prefix, ...)")
    p.add_argument("--output", "-o", required=True,
                   help="output folder (any Hadoop URI: local, s3a://bucket/prefix, ...): new or empty, else "
                        "--overwrite (exit 2 without it, or when anything there is not orchard's)")
    p.add_argument("--s3-endpoint", default=None,
                   help="S3-compatible server for s3a:// URIs (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else "
                        "AWS); ignored under spark-submit, where --conf spark.hadoop.fs.s3a.endpoint=... applies")
    p.add_argument("--master", default=None,
                   help="Spark master (default: local[2] when run directly, spark-submit's under spark-submit)")
    p.add_argument("--model", "-m", default=DEFAULT_MODEL)
    p.add_argument("--feature-tensor", default="")
    p.add_argument("--preprocess", default="", choices=["", "imagenet", "caffe", "tf", "raw"],
                   help="default: the model's (raw for uint8/int8 input, else imagenet)")
    p.add_argument("--precision", default="f32", choices=["f32", "bf16", "int8"])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=0,
                   help="decode and inference threads per Python worker; 0 = the task's cores (spark.task.cpus)")
    p.add_argument("--max-pixels", type=int, default=100_000_000,
                   help="images with more pixels (width x height) are error rows, as in `orchard run`")
    p.add_argument("--max-file-bytes", type=int, default=MAX_FILE_BYTES,
                   help="larger input files are error rows (stage read), never read, as in `orchard run`")
    p.add_argument("--rows-per-part", type=int, default=8192, help="at most this many rows per Parquet part")
    p.add_argument("--pca-k", type=int, default=0)
    p.add_argument("--pca-variance", type=float, default=0.95)
    p.add_argument("--overwrite", action="store_true",
                   help="replace a non-empty output: deletes only what orchard writes there (as `orchard run`)")
    p.add_argument("--overwrite-bucket-root", action="store_true",
                   help="with --overwrite, allow the output to be a whole bucket")
    return parser


def main(argv=None):
    args = argument_parser().parse_args(argv)
    master = args.master
    if master is None and not _started_by_spark_submit():
        master = "local[2]"
    started = time.time()
    spark = session(master, s3_endpoint=args.s3_endpoint)
    jvm_start = time.time() - started
    print(f"orchard.spark: jvm_start {jvm_start:.1f} s", file=sys.stderr)
    try:
        summary = run(spark, args.input, args.output, model=args.model, preset=args.preprocess,
                      feature_tensor=args.feature_tensor, precision=args.precision, batch=args.batch,
                      threads=args.threads, pca_k=args.pca_k, pca_variance=args.pca_variance,
                      overwrite=args.overwrite, overwrite_bucket_root=args.overwrite_bucket_root,
                      max_pixels=args.max_pixels, max_file_bytes=args.max_file_bytes,
                      rows_per_part=args.rows_per_part, log=True,
                      jvm_start_seconds=jvm_start)
    except OutputRefused as error:
        print(f"orchard.spark: usage error: {error}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    print(json.dumps(summary["counts"]), f"{summary['images_per_second']:.1f} images/s", file=sys.stderr)
    return 4 if summary["counts"]["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
