# Pinned versions of tools installed outside pip/apt (sourced by scripts).
export ORCHARD_SHARED="${ORCHARD_SHARED:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared}"
# The S3-compatible server the object-storage tests and benchmark run against (a Go module, built from source).
export VERSITYGW_VERSION="v1.7.0"
# Plotting libraries inlined into `orchard eval`'s report.html (npm).
export VEGA_VERSION="5.33.1"
export VEGA_LITE_VERSION="5.23.0"
export VEGA_EMBED_VERSION="6.29.0"
# Spark's s3a:// file system (scripts/fetch_spark_jars.sh, into .tools/jars): hadoop-aws must be the Hadoop
# inside pyspark's jars (hadoop-client-api-<version>.jar; the fetch refuses a mismatch), and the AWS SDK v2
# bundle the version its POM requires (hadoop-project's aws-java-sdk-v2.version; checked the same way).
export HADOOP_AWS_VERSION="3.4.1"
export AWS_SDK_V2_BUNDLE_VERSION="2.24.6"
# Spark's cloud committer bindings (PathOutputCommitProtocol for the S3A "magic" committer): the Spark inside
# pyspark's jars (spark-core_<scala>-<version>.jar; checked the same way).
export SPARK_HADOOP_CLOUD_VERSION="4.0.1"
export SPARK_SCALA_VERSION="2.13"
