"""Spark sessions for orchard.spark: s3a:// support (jars, credentials, endpoint) and the settings its job needs."""

import os
import sys
from pathlib import Path

# hadoop-aws and the AWS SDK for s3a:// (scripts/fetch_spark_jars.sh), added to sessions this module starts.
SPARK_JARS_DIR = Path(os.environ.get("ORCHARD_SPARK_JARS", Path(__file__).resolve().parents[2] / ".tools" / "jars"))
# The AWS SDK's default chain: environment keys, AWS_PROFILE + shared files, web identity, container, instance
# role; the same chain as the C++ core's S3 support. No key ever goes into the Spark/Hadoop configuration.
S3A_CREDENTIALS = "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"


def started_by_spark_submit():
    """spark-submit starts the JVM before Python: its --jars/--conf and the cluster's defaults then apply."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def s3a_jars():
    """The jars scripts/fetch_spark_jars.sh put in SPARK_JARS_DIR (none if it was not run)."""
    return sorted(str(jar) for jar in SPARK_JARS_DIR.glob("*.jar"))


def is_local_master(master):
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
    if is_local_master(master):
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


def s3a_committer_conf():
    """Spark settings that make its writers commit s3a:// output with hadoop-aws's S3A "magic" committer
    (Hadoop's S3A committer documentation; Spark's "Integration with Cloud Infrastructures"): each task attempt
    uploads its files as multipart uploads left uncompleted, and the job commit completes those of the
    committed attempts, so no rename (a copy on S3) and no file of a failed or duplicate attempt ever appears.
    Other schemes keep Hadoop's FileOutputCommitter through the same protocol. Empty without the
    spark-hadoop-cloud jar among s3a_jars()."""
    if not any(Path(jar).name.startswith("spark-hadoop-cloud_") for jar in s3a_jars()):
        return {}
    return {"spark.hadoop.fs.s3a.committer.name": "magic",
            "spark.hadoop.fs.s3a.committer.magic.enabled": "true",
            "spark.sql.sources.commitProtocolClass": "org.apache.spark.internal.io.cloud.PathOutputCommitProtocol",
            "spark.sql.parquet.output.committer.class":
                "org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter"}


def session(master="local[2]", app_name="orchard", conf=None, s3_endpoint=None):
    """A SparkSession whose Python workers can import orchard (local masters inherit this process's env). When
    this process starts Spark itself (not under spark-submit) it also gets s3a://: the jars of s3a_jars() (as
    s3a_jar_conf(master) adds them), the settings of s3a_conf(s3_endpoint) and the S3A committer's
    (s3a_committer_conf()). `conf` is applied last and wins."""
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
    if not started_by_spark_submit():
        conf = {**s3a_jar_conf(master), **s3a_conf(s3_endpoint), **s3a_committer_conf(), **(conf or {})}
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
