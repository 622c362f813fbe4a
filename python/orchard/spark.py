"""orchard on Apache Spark: the C++ core (orchard._core) inside the executors' Python workers, via mapInArrow.

    featurise(df, model=...)     images (Spark's binaryFile source: path, content) -> one row per image:
                                 path, label, features array<float> (null on error), stage, message (null if ok)
    fit_pca(features_df, ...)    exact distributed PCA: per-partition (count, mean, scatter) in C++, merged and
                                 solved once on the driver
    transform(features_df, pca)  adds the `pca` column (broadcast model, C++ transform in mapInArrow)
    run(spark, input, output)    the whole job, written with Spark's Parquet writer

    python -m orchard.spark run --input DIR|URI --output DIR|URI [--master local[2]] [--model M] [--pca-k K] ...
                                [--incremental]

Input and output are Hadoop URIs (a local folder, s3a://bucket/prefix, ...); see session() for s3a://.

The model is compiled once per Python worker process and reused across batches and tasks (_FEATURIZERS).
"""

import argparse
import contextlib
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

# Absolute imports: spark-submit runs this file as a script (__main__), outside its package.
from orchard import _spark_incremental as incremental_update
from orchard._core import DEFAULT_BATCH
from orchard._spark_output import (OutputRefused, Stages, child, parquet_bytes, pca_table, success_text, write_file,
                                   write_rows)
from orchard._spark_session import (s3a_committer_conf, s3a_conf, s3a_jar_conf, s3a_jars,  # noqa: F401 (API)
                                    session, started_by_spark_submit)

DEFAULT_MODEL = str(Path(os.environ.get("ORCHARD_SHARED", Path(__file__).resolve().parents[3] / "shared"))
                    / "models" / "mobilenetv2-12-int8.onnx")
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
    call (once per task; featurise() adds the task's `images` at its end), also when the Featurizer was compiled
    by an earlier job of the session: the driver prints the compile time per worker and writes the model's
    identity to _SUCCESS."""
    cached = _FEATURIZERS.get(key)
    if cached is None:
        from orchard import Featurizer
        model, preset, feature_tensor, precision, threads, max_pixels, max_file_bytes = key
        started = time.time()
        featurizer = Featurizer(model, preset=preset, feature_tensor=feature_tensor, precision=precision,
                                threads=threads, max_pixels=max_pixels, max_file_bytes=max_file_bytes)
        info = {"compile_seconds": time.time() - started, "threads": threads, "sha256": featurizer.sha256,
                "feature_tensor": featurizer.feature_tensor, "feature_dim": featurizer.feature_dim,
                "preprocess": featurizer.preprocess}
        cached = _FEATURIZERS[key] = (featurizer, {_worker_name(): info})
    if workers is not None:
        workers.add(cached[1])
    return cached[0]


def _worker_name():
    import socket
    return f"{socket.gethostname()}:{os.getpid()}"


class _WorkersInfo:
    """AccumulatorParam of {worker: info} dicts (a retried task reports the same worker's info again); a
    worker's `images` (the images its model was given) add up."""

    def zero(self, value):
        return {}

    def addInPlace(self, total, more):
        for name, info in more.items():
            merged = total.setdefault(name, {})
            images = merged.get("images", 0) + info.get("images", 0)
            merged.update(info)
            merged["images"] = images
        return total


def local_path(uri):
    """Spark's `file:/a/b c.jpg` -> `/a/b c.jpg` (what `orchard run` writes); other URIs are kept."""
    from orchard import output_path
    return output_path(uri)


def featurise(df, model=DEFAULT_MODEL, preset="", feature_tensor="", precision="f32", batch=DEFAULT_BATCH,
              threads=0, max_pixels=100_000_000, max_file_bytes=MAX_FILE_BYTES, workers=None, keep=()):
    """Features of a DataFrame of images: Spark's binaryFile source (path, length, content), or only `path`
    (local paths or s3:// URIs the C++ side reads itself), or Spark's image source (`spark.read.format("image")`:
    a struct column `image` of decoded gray/BGR/BGRA pixels, any size; path = image.origin, and the pixels go
    through the same resize and normalisation as decoded files, held to max_pixels; a file the image source
    could not decode, or pixels not matching their size, is a decode error row). A file over max_file_bytes
    (by `length`, or its content's size) is a read error row. Returns FEATURISED_SCHEMA rows, one per image: a
    bad image has null features and its stage (read | decode | preprocess | inference) and message; the job
    does not fail.
    threads: decode and inference threads per Python worker, 0 = the task's cores (spark.task.cpus).
    workers: an accumulator of _WorkersInfo, given each worker's model compile time and model identity.
    keep: names of further columns of `df` (atomic types) copied to each image's row after FEATURISED_SCHEMA's
    (run() keeps the scan's size and modification time: the inventory of an update's keys, with no second scan)."""
    columns = ["image"] if "image" in df.columns else ["path", "length", "content"]
    df = df.select(*[column for column in columns if column in df.columns and column not in keep], *keep)
    schema = ", ".join([FEATURISED_SCHEMA, *(f"{name} {df.schema[name].dataType.simpleString()}" for name in keep)])

    def featurise_batches(batches):
        # Through the module, so that the cache is the worker's even when this closure was pickled by value
        # (spark-submit runs this file as __main__).
        from orchard.spark import _featurizer as cached, _task_threads as task_threads, _worker_name as worker_name
        key = (str(model), preset, feature_tensor, precision, task_threads(int(threads)), int(max_pixels),
               int(max_file_bytes))
        featurizer = cached(key, workers)
        images = 0
        for record_batch in batches:
            # The whole batch crosses to C++ through the Arrow C data interface; the image bytes are read in place.
            rows = pa.record_batch(featurizer.featurize_arrow(record_batch, batch=batch))
            for name in keep:  # a row per input row, in order
                rows = rows.append_column(name, record_batch.column(name))
            yield rows
            images += record_batch.num_rows
        if workers is not None:
            workers.add({worker_name(): {"images": images}})

    return df.mapInArrow(featurise_batches, schema)


def _stream(batches):
    """A mapInArrow iterator as one Arrow stream for the C++ side (None when it has no batch)."""
    batches = iter(batches)
    first = next(batches, None)
    if first is None:
        return None
    return pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], batches))


def fit_pca(features_df, k=0, variance=0.95):
    """Exact PCA of the non-null `features`: a (count, mean, scatter) partial per partition in C++, merged
    (covariance()) and eigen-decomposed on the driver by orchard.fit_pca_arrow. Returns its dict (mean, components,
    explained_variance, explained_variance_ratio, total_variance, n_samples)."""
    import orchard
    merged = covariance(features_df)
    if merged.num_rows == 0:
        raise ValueError("PCA needs at least 2 featurised images, got none")
    return orchard.fit_pca_arrow(merged, k=k, variance=variance)


def covariance(features_df):
    """The (count, mean, scatter) partial of the non-null `features`, as one Arrow row (covariance_partial_arrow's
    schema; no row when there are none): a partial per partition in C++, merged in a tree, the last merge on the
    driver."""
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

    # One partial (D x D doubles) per task slot, not per input partition.
    features = _per_slot(features_df.where("features IS NOT NULL").select("features"))
    rows = features.mapInArrow(partials, _PARTIAL_SCHEMA)
    # A tree merge: the driver receives about sqrt(partitions) partials of D x D doubles, not one per partition.
    partitions = rows.rdd.getNumPartitions()
    if partitions > 16:
        rows = rows.repartition(int(np.ceil(np.sqrt(partitions)))).mapInArrow(merge, _PARTIAL_SCHEMA)
    return pa.table(orchard.merge_partials_arrow(rows.toArrow()))


def _per_slot(df):
    """`df` in at most one partition per task slot (spark.default.parallelism). Coalescing is narrow: the rows are
    still computed (and persisted, in run()) where they are, each task walking several input partitions. The scan
    makes at least 4 partitions per slot (_image_scan_partitions), which balance the featurising; a pass over its
    features pays per task, and a write per task writes a part file: 44 parts of ~470 rows for the sample, 6.2-7.5
    s, against 4 parts and 1.9-2.3 s with a task per slot (bench/results/spark_vs_run-*.txt)."""
    slots = max(1, df.sparkSession.sparkContext.defaultParallelism)
    return df.coalesce(slots) if df.rdd.getNumPartitions() > slots else df


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


def _vectors_not_null(df):
    """The same rows, every column and array element declared non-null (_required_schema)."""
    return df.mapInArrow(lambda batches: batches, _required_schema(df.schema.fields))


def _images(spark, input, max_file_bytes):
    """Every file below INPUT (a folder, or a list of files) as Spark's binaryFile rows (path, length, content),
    except that a file over max_file_bytes comes with a null content: the `length` filter is pushed into the
    binaryFile source, which then never reads it (Spark would fail the task over
    spark.sql.sources.binaryFile.maxLength, 2 GiB), and the C++ side makes it a read error row from its length.
    Each row also has mtime_ms, the file's modification time (milliseconds since the epoch)."""
    from pyspark.sql import functions as F
    listing = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(
        input if isinstance(input, list) else str(input))
    mtime_ms = F.unix_millis("modificationTime").alias("mtime_ms")
    small = listing.where(F.col("length") <= max_file_bytes).select("path", "length", "content", mtime_ms)
    # One task for the (usually no) large files: as many partitions as the scan has, each a round trip to a
    # Python worker, would only add tasks.
    large = listing.where(F.col("length") > max_file_bytes).select(
        "path", "length", F.lit(None).cast("binary").alias("content"), mtime_ms).coalesce(1)
    return small.unionByName(large)


@contextlib.contextmanager
def _image_scan_partitions(spark):
    """Spark's file scan packs files into partitions counting each file as 4 MiB more than its size, at most
    128 MiB a partition: ~31 photos a task, 326 tasks for 5,195 photos, and per task a round trip to a Python
    worker; 1.6x the featurise time and 8x the write time of 8 tasks (bench/results/spark_vs_run-*.txt). For
    the job's scan a file costs 64 KiB to open (decoding and embedding it costs far more than reading 64 KiB),
    a partition holds at most 32 MiB (~460 photos of 5 KB, ~12 of 2.5 MB: short tails and small retries), and
    there are at least 4 partitions per task slot. Settings the session already has are kept; the others are
    unset again afterwards."""
    defaults = {"spark.sql.files.openCostInBytes": str(64 * 1024),
                "spark.sql.files.maxPartitionBytes": str(32 * 2**20),
                "spark.sql.files.minPartitionNum": str(4 * spark.sparkContext.defaultParallelism)}
    unset = [key for key in defaults if spark.conf.get(key, None) is None]
    for key in unset:
        spark.conf.set(key, defaults[key])
    try:
        yield
    finally:
        for key in unset:
            spark.conf.unset(key)


def run(spark, input, output, model=DEFAULT_MODEL, preset="", feature_tensor="", precision="f32",
        batch=DEFAULT_BATCH, threads=0, pca_k=0, pca_variance=0.95, overwrite=False, overwrite_bucket_root=False,
        max_pixels=100_000_000, max_file_bytes=MAX_FILE_BYTES, rows_per_part=8192, log=False,
        jvm_start_seconds=None, incremental=False):
    """The `orchard run` job on Spark. OUTPUT (any Hadoop URI: a local folder, s3a://bucket/prefix, ...) gets
    features/ (path, label, features, pca; at most rows_per_part rows a part), errors/ (path, stage, message),
    pca.parquet, pca_moments.parquet, inputs.parquet, _job.json (first) and, last, _SUCCESS (`orchard run`'s manifest);
    an earlier _SUCCESS there is removed first, so a failed rerun leaves none. A non-empty OUTPUT needs overwrite,
    and even then an output holding anything orchard did not write, overlapping INPUT, or a bucket root without
    overwrite_bucket_root raises OutputRefused first (check_output). Files over max_file_bytes and images over
    max_pixels are error rows, as in `orchard run`. With fewer than 2 featurised images there is no PCA
    (`orchard run`'s small-job rule): features without `pca`, no pca.parquet, and _SUCCESS says why.
    incremental: OUTPUT holding a finished job of either engine with the same settings is updated to INPUT as it
    is now, as `orchard run --incremental` does (docs/incremental.md): only new and replaced inputs are
    featurised, rows of deleted and replaced ones dropped, the PCA refitted exactly from the stored moments;
    OutputRefused when the job's settings differ or it kept no inventory. log: print stage times to stderr;
    jvm_start_seconds: the session's start, when the caller measured it, joins the stage times. Returns the
    _SUCCESS manifest as a dict."""
    if incremental and overwrite:
        raise OutputRefused("--incremental excludes --overwrite: an update keeps the finished job's rows")
    settings = {"model": model, "preset": preset, "feature_tensor": feature_tensor, "precision": precision,
                "batch": batch, "threads": threads, "max_pixels": max_pixels, "max_file_bytes": max_file_bytes}
    lock = _lock_local_output(input, output)
    try:
        with _image_scan_partitions(spark):
            return _run(spark, input, output, settings, (pca_k, pca_variance), (overwrite, overwrite_bucket_root),
                        rows_per_part, log, jvm_start_seconds, incremental)
    finally:
        if lock is not None:
            lock.release()


def _lock_local_output(input, output):
    """`orchard run`'s lock on a local OUTPUT (orchard._core.lock_output), held for the whole job, so that an
    `orchard run`, `orchard index` or another Spark job cannot write there meanwhile (raises OutputRefused when
    one holds it); a new folder is made first, never inside INPUT. None for other file systems: an object store
    has no lock (one writer per output, README "Resume")."""
    from orchard._core import check_overwrite, lock_output
    path = local_path(str(output))
    if "://" in path:
        return None
    try:
        if not os.path.exists(path):
            check_overwrite(local_path(str(input)), path, [], True)
            os.makedirs(path, exist_ok=True)
        return lock_output(path)
    except ValueError as error:
        raise OutputRefused(str(error)) from None


def _warn_of_names_hadoop_skips(input):
    """Hadoop lists a local file whose name is not valid UTF-8 as another name it then cannot find, and drops it
    without a word (a newcomer's `u\\xff.jpg`: `orchard run` featurised it, the Spark job left it out, and an
    --incremental Spark update deleted its row). Such names below a local INPUT folder are said on stderr,
    since the job cannot read them; `orchard run` can."""
    folder = local_path(str(input))
    if "://" in folder or not os.path.isdir(folder):
        return
    skipped = []
    for root, _, files in os.walk(os.fsencode(folder)):
        for name in files:
            try:
                name.decode("utf-8")
            except UnicodeDecodeError:
                skipped.append(os.path.join(root, name).decode("utf-8", "backslashreplace"))
    if skipped:
        print(f"orchard.spark: warning: {len(skipped)} input files have names that are not valid UTF-8, which "
              f"Hadoop cannot read, so they are not in this job (rename them, or use `orchard run`): "
              f"{', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}", file=sys.stderr)


def _featurised(spark, sources, settings, workers):
    """featurise() of the images at `sources` (the input folder, or an update's list of files), each row with
    its input's key: length (bytes) and mtime_ms."""
    if isinstance(sources, list) and not sources:
        return spark.createDataFrame([], f"{FEATURISED_SCHEMA}, length long, mtime_ms long")
    return featurise(_images(spark, sources, settings["max_file_bytes"]), workers=workers,
                     keep=("length", "mtime_ms"), **settings)


def _run(spark, input, output, settings, pca_settings, replace, rows_per_part, log, jvm_start_seconds,
         incremental):
    import orchard
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    started = time.time()
    stages = Stages(log)
    if jvm_start_seconds is not None:
        stages.seconds["jvm_start"] = jvm_start_seconds
    previous, model = incremental_update.prepare(spark, input, output, settings, replace, incremental)
    workers = spark.sparkContext.accumulator({}, _WorkersInfo())
    listed = plan = None
    if previous:  # an update lists first: only the inputs new or replaced since are featurised
        listed = incremental_update.list_inputs(spark, input)
        plan = incremental_update.plan_update(listed, previous)
        stages.end("list_inputs")
    # Every file, as `orchard run` lists them: images are told by content, not by name (4.Jpg, 5.jfif, no
    # extension), and what is not an image becomes an error row. Spark skips Hadoop's hidden names (_x, .x),
    # with no way to turn that off, and `orchard run` skips the same ones (README, "Which files are inputs").
    _warn_of_names_hadoop_skips(input)
    featurised = _featurised(spark, plan.sources if plan else input, settings, workers)
    featurised = featurised.persist(StorageLevel.MEMORY_AND_DISK)
    by_outcome = dict(featurised.groupBy(F.col("stage").isNull().alias("ok")).count().collect())
    attempt_images = by_outcome.get(True, 0) + by_outcome.get(False, 0)
    if listed is None:  # a fresh job featurised every input: its rows are the inventory (no second scan)
        listed = featurised.selectExpr("path", "length AS size", "mtime_ms", "label").toArrow()
    stages.end("featurise")
    good = featurised.where("stage IS NULL").select("path", "label", "features")
    errors = featurised.where("stage IS NOT NULL").select("path", "stage", "message")
    total = incremental_update.partial_of(covariance(good))
    if previous:
        carried, carried_errors, dropped = incremental_update.carried_rows(spark, previous, plan.dropped)
        dropped_partial = incremental_update.partial_of(covariance(dropped)) if dropped is not None else None
        total = incremental_update.merge(incremental_update.kept_moments(previous, dropped_partial), total)
        good = good.unionByName(carried) if carried is not None else good
        errors = errors.unionByName(carried_errors) if carried_errors is not None else errors
    counts = {"written": total[0] if total else 0, "failed": errors.count()}
    model = model or next(iter(workers.value.values()), {})
    pca, skipped = None, ""
    if counts["written"] >= 2:
        pca = orchard.fit_pca([total], k=pca_settings[0], variance=pca_settings[1])
    else:
        skipped = (f"PCA needs at least 2 images with features, this job has {counts['written']}; features are "
                   "written without the pca column")
    stages.end("pca_fit")
    good = _per_slot(good)
    errors = errors.coalesce(1)  # error rows are few and small: one task, one part (more past rows_per_part)
    if not previous:  # the job record before any part: what lets a later --overwrite replace this output
        write_file(spark, child(output, "_job.json"), incremental_update.identity(input, settings, model).encode())
    files = write_rows(spark, output, transform(good, pca) if pca else _vectors_not_null(good), errors,
                       rows_per_part, "append" if previous else "overwrite")
    attempt = previous.attempt if previous else 0
    files |= incremental_update.write_commit_files(
        spark, output, attempt, parquet_bytes(pca_table(pca)) if pca else None,
        incremental_update.moments_bytes(total, model.get("feature_dim", 0)),
        incremental_update.inventory_bytes(listed))
    featurised.unpersist()
    stages.end("transform_and_write")
    if log:
        for name, worker in sorted(workers.value.items()):
            print(f"orchard.spark: model compile on {name} {worker['compile_seconds']:.1f} s, "
                  f"{worker['threads']} threads", file=sys.stderr)
    facts = {"input": input, "counts": counts, "options": settings, "files": files, "skipped": skipped,
             "attempt": attempt, "attempt_images": attempt_images, "wall_seconds": time.time() - started,
             "incremental": plan.changes if plan else None}
    text = success_text(spark, facts, model, workers.value, pca, stages.seconds)
    write_file(spark, child(output, "_SUCCESS"), text.encode())
    if previous:  # only now: until the new _SUCCESS, readers read the finished job's files
        incremental_update.delete_replaced(spark, output, previous.manifest, json.loads(text))
    return json.loads(text)


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
    p.add_argument("--preprocess", default="",
                   help="imagenet, caffe, tf, raw or unit; default: the model's (`orchard describe-model` says it)")
    p.add_argument("--precision", default="f32", choices=["f32", "bf16", "int8"])
    p.add_argument("--batch", type=int, default=DEFAULT_BATCH,
                   help=f"images per inference call (default {DEFAULT_BATCH}, as `orchard run`)")
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
    p.add_argument("--incremental", action="store_true",
                   help="update a finished job in the output (of either engine, same settings) to the input as "
                        "it is now: featurise only new and replaced inputs, drop deleted ones, refit the PCA")
    return parser


def main(argv=None):
    args = argument_parser().parse_args(argv)
    master = args.master
    if master is None and not started_by_spark_submit():
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
                      jvm_start_seconds=jvm_start, incremental=args.incremental)
    except OutputRefused as error:
        print(f"orchard.spark: usage error: {error}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    print(json.dumps(summary["counts"]), f"{summary['images_per_second']:.1f} images/s", file=sys.stderr)
    return 4 if summary["counts"]["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
