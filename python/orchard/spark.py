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

FEATURISED_SCHEMA = "path string not null, label string not null, features array<float>, stage string, message string"
# A (count, mean, scatter) PCA partial as orchard._core's *_arrow functions read and write it (scatter row-major).
_PARTIAL_SCHEMA = "count long, mean array<double>, scatter array<double>"

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
    """Spark's `file:/a/b c.jpg` -> `/a/b c.jpg` (what `orchard run` writes); other URIs are kept."""
    from orchard import output_path
    return output_path(uri)


def featurise(df, model=DEFAULT_MODEL, preset="", feature_tensor="", precision="f32", batch=32,
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


def transform(features_df, pca):
    """Adds `pca` array<float> = (features - mean) . componentsᵀ, the model broadcast once to the executors.
    Every column comes out non-nullable (and the arrays without null elements), so that Spark's Parquet files
    have `orchard run`'s Parquet schema (all `required`); rows without features are an error."""
    from pyspark.sql import SparkSession
    from pyspark.sql.types import ArrayType, FloatType, StructField, StructType
    spark = SparkSession.getActiveSession()
    model = spark.sparkContext.broadcast({"mean": np.asarray(pca["mean"]),
                                          "components": np.asarray(pca["components"])})
    fields = [*features_df.schema.fields, StructField("pca", ArrayType(FloatType()))]
    schema = StructType([StructField(f.name, ArrayType(f.dataType.elementType, containsNull=False)
                                     if isinstance(f.dataType, ArrayType) else f.dataType, nullable=False)
                         for f in fields])

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


def _check_output(spark, input, output, overwrite_bucket_root):
    """run() replaces OUTPUT's orchard files (Spark's "overwrite" mode deletes features/ and errors/ whole), so
    `orchard run --overwrite`'s guard applies first, the same C++ function (orchard.check_overwrite) on the
    files listed through Hadoop: no output overlapping the input, no bucket root without overwrite_bucket_root,
    nothing there that orchard did not write. Raises OutputRefused before anything is deleted."""
    from orchard import check_overwrite
    filesystem, path = _hadoop_file(spark, output)
    entries = []
    if filesystem.exists(path):
        if filesystem.getFileStatus(path).isFile():
            raise OutputRefused(f"output {output} is a file, not a folder")
        root = str(filesystem.makeQualified(path).toString()).rstrip("/") + "/"
        files = filesystem.listFiles(path, True)
        while files.hasNext():
            entries.append(str(files.next().getPath().toString())[len(root):])
    try:
        check_overwrite(str(input), str(output), entries, overwrite_bucket_root)
    except ValueError as error:
        raise OutputRefused(str(error)) from None


def _parquet_bytes(table):
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def run(spark, input, output, model=DEFAULT_MODEL, preset="", feature_tensor="", precision="f32",
        batch=32, threads=0, pca_k=0, pca_variance=0.95, overwrite_bucket_root=False):
    """The `orchard run` job on Spark. OUTPUT (any Hadoop URI: a local folder, s3a://bucket/prefix, ...) gets
    features/ (path, label, features, pca), errors/ (path, stage, message), pca.parquet and, last, _SUCCESS (JSON
    counts and PCA summary); an earlier _SUCCESS there is removed first, so a failed rerun leaves none. Orchard's
    files already in OUTPUT are replaced, but an output holding anything else, overlapping INPUT, or a bucket
    root without overwrite_bucket_root raises OutputRefused first (_check_output)."""
    from pyspark import StorageLevel
    started = time.time()
    _check_output(spark, input, output, overwrite_bucket_root)
    _delete_file(spark, _child(output, "_SUCCESS"))
    # Every file, as `orchard run` lists them: images are told by content, not by name (4.Jpg, 5.jfif, no
    # extension), and what is not an image becomes an error row. Spark skips Hadoop's hidden names (_x, .x),
    # with no way to turn that off, and `orchard run` skips the same ones (README, "Which files are inputs").
    images = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(str(input))
    featurised = featurise(images, model=model, preset=preset, feature_tensor=feature_tensor,
                           precision=precision, batch=batch, threads=threads)
    featurised = featurised.persist(StorageLevel.MEMORY_AND_DISK)
    good = featurised.where("stage IS NULL").select("path", "label", "features")
    errors = featurised.where("stage IS NOT NULL").select("path", "stage", "message")
    stages = {}
    pca = fit_pca(good, k=pca_k, variance=pca_variance)
    stages["features_and_pca_fit"] = time.time() - started
    # ZSTD, like `orchard run`'s parts (Spark's default is Snappy).
    transform(good, pca).write.mode("overwrite").option("compression", "zstd").parquet(_child(output, "features"))
    errors.write.mode("overwrite").option("compression", "zstd").parquet(_child(output, "errors"))
    _write_file(spark, _child(output, "pca.parquet"), _parquet_bytes(_pca_table(pca)))
    stages["transform_and_write"] = time.time() - started - stages["features_and_pca_fit"]
    written, failed = good.count(), errors.count()
    featurised.unpersist()
    wall = time.time() - started
    summary = {"counts": {"seen": written + failed, "written": written, "failed": failed}, "input": str(input),
               "model": {"file": str(model), "feature_tensor": feature_tensor, "precision": precision},
               "preprocess": preset,
               "pca": {"k": int(pca["components"].shape[0]),
                       "explained_variance_ratio": float(np.sum(pca["explained_variance_ratio"]))},
               "engine": "spark", "master": spark.sparkContext.master, "stage_seconds": stages,
               "wall_seconds": wall,
               "images_per_second": (written + failed) / wall if wall > 0 else 0.0}
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
                   help="output folder (any Hadoop URI: local, s3a://bucket/prefix, ...); orchard's files there are "
                        "replaced, anything else there is refused (exit 2)")
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
    p.add_argument("--threads", type=int, default=0, help="per Python worker; 0 = one per core")
    p.add_argument("--pca-k", type=int, default=0)
    p.add_argument("--pca-variance", type=float, default=0.95)
    p.add_argument("--overwrite-bucket-root", action="store_true",
                   help="allow the output to be a whole bucket (its orchard files are replaced)")
    return parser


def main(argv=None):
    args = argument_parser().parse_args(argv)
    master = args.master
    if master is None and not _started_by_spark_submit():
        master = "local[2]"
    spark = session(master, s3_endpoint=args.s3_endpoint)
    try:
        summary = run(spark, args.input, args.output, model=args.model, preset=args.preprocess,
                      feature_tensor=args.feature_tensor, precision=args.precision, batch=args.batch,
                      threads=args.threads, pca_k=args.pca_k, pca_variance=args.pca_variance,
                      overwrite_bucket_root=args.overwrite_bucket_root)
    except OutputRefused as error:
        print(f"orchard.spark: usage error: {error}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    print(json.dumps(summary["counts"]), f"{summary['images_per_second']:.1f} images/s", file=sys.stderr)
    return 4 if summary["counts"]["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
