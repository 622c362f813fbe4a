#!/usr/bin/env bash
# The jars Spark needs for s3a:// URIs, from Maven Central into .tools/jars (orchard.spark adds every jar there
# to spark.jars): org.apache.hadoop:hadoop-aws at the Hadoop version inside pyspark's own jars, the
# software.amazon.awssdk:bundle its POM requires, and org.apache.spark:spark-hadoop-cloud at pyspark's Spark
# version (its commit protocol lets Spark's writers use hadoop-aws's S3A "magic" committer). Both versions are pinned in scripts/versions.sh and checked
# here against pyspark and against hadoop-aws's POM, so a pyspark upgrade fails loudly instead of mixing Hadoops.
# Every jar is checked against Central's .sha1. Idempotent: a verified jar keeps its .sha1 beside it and is not
# fetched again; jars of other versions are removed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/versions.sh
source "$ROOT/scripts/versions.sh"

MAVEN_CENTRAL="https://repo1.maven.org/maven2"
JARS_DIR="$ROOT/.tools/jars"
# group:artifact:version
ARTIFACTS=(
  "org.apache.hadoop:hadoop-aws:$HADOOP_AWS_VERSION"
  "software.amazon.awssdk:bundle:$AWS_SDK_V2_BUNDLE_VERSION"
  "org.apache.spark:spark-hadoop-cloud_$SPARK_SCALA_VERSION:$SPARK_HADOOP_CLOUD_VERSION"
)

# $1 group, $2 artifact, $3 version, $4 extension -> its URL on Maven Central.
central_url() {
  echo "$MAVEN_CENTRAL/${1//.//}/$2/$3/$2-$3.$4"
}

# $1 a jar name's prefix in pyspark's jars folder -> the rest of that jar's name without .jar (its version).
pyspark_jar_version() {
  local jars jar
  jars=$("$ROOT/.venv/bin/python" -c "import pathlib, pyspark; print(pathlib.Path(pyspark.__file__).parent / 'jars')")
  jar=$(find "$jars" -maxdepth 1 -name "$1*.jar" -printf '%f\n' | head -n 1)
  [ -n "$jar" ] || { echo "fetch_spark_jars: no $1*.jar in $jars" >&2; return 1; }
  jar=${jar#"$1"}
  echo "${jar%.jar}"
}

check_spark_matches_pyspark() {
  local pyspark_spark
  pyspark_spark=$(pyspark_jar_version "spark-core_$SPARK_SCALA_VERSION-")
  if [ "$pyspark_spark" != "$SPARK_HADOOP_CLOUD_VERSION" ]; then
    echo "fetch_spark_jars: pyspark ships Spark $pyspark_spark (Scala $SPARK_SCALA_VERSION) but scripts/versions.sh" \
      "pins SPARK_HADOOP_CLOUD_VERSION=$SPARK_HADOOP_CLOUD_VERSION; set it to match" >&2
    return 1
  fi
}

check_hadoop_matches_pyspark() {
  local pyspark_hadoop
  pyspark_hadoop=$(pyspark_jar_version hadoop-client-api-)
  if [ "$pyspark_hadoop" != "$HADOOP_AWS_VERSION" ]; then
    echo "fetch_spark_jars: pyspark ships Hadoop $pyspark_hadoop but scripts/versions.sh pins" \
      "HADOOP_AWS_VERSION=$HADOOP_AWS_VERSION; set it (and AWS_SDK_V2_BUNDLE_VERSION) to match" >&2
    return 1
  fi
}

# hadoop-aws declares software.amazon.awssdk:bundle with the version of its parent POM's aws-java-sdk-v2.version.
check_sdk_matches_hadoop_aws() {
  local required
  required=$(curl -fsSL --retry 3 "$(central_url org.apache.hadoop hadoop-project "$HADOOP_AWS_VERSION" pom)" |
    sed -n 's:.*<aws-java-sdk-v2.version>\(.*\)</aws-java-sdk-v2.version>.*:\1:p' | head -n 1)
  if [ "$required" != "$AWS_SDK_V2_BUNDLE_VERSION" ]; then
    echo "fetch_spark_jars: hadoop-aws $HADOOP_AWS_VERSION requires AWS SDK bundle '$required' but" \
      "scripts/versions.sh pins AWS_SDK_V2_BUNDLE_VERSION=$AWS_SDK_V2_BUNDLE_VERSION" >&2
    return 1
  fi
}

jar_name() {
  local group artifact version
  IFS=: read -r group artifact version <<< "$1"
  echo "$artifact-$version.jar"
}

is_fetched() {
  [ -f "$JARS_DIR/$(jar_name "$1")" ] && [ -f "$JARS_DIR/$(jar_name "$1").sha1" ]
}

fetch_verified() {
  local group artifact version target expected actual
  IFS=: read -r group artifact version <<< "$1"
  target="$JARS_DIR/$(jar_name "$1")"
  expected=$(curl -fsSL --retry 3 "$(central_url "$group" "$artifact" "$version" jar.sha1)" | cut -c1-40)
  curl -fsSL --retry 3 -o "$target.part" "$(central_url "$group" "$artifact" "$version" jar)"
  actual=$(sha1sum "$target.part" | cut -d' ' -f1)
  if [ "$actual" != "$expected" ]; then
    rm -f "$target.part"
    echo "fetch_spark_jars: $(jar_name "$1") has sha1 $actual, Maven Central says $expected" >&2
    return 1
  fi
  mv "$target.part" "$target"
  echo "$expected" > "$target.sha1"
}

remove_other_versions() {
  local wanted=() file
  for artifact in "${ARTIFACTS[@]}"; do wanted+=("$(jar_name "$artifact")"); done
  for file in "$JARS_DIR"/*.jar; do
    [ -e "$file" ] || continue
    [[ " ${wanted[*]} " == *" $(basename "$file") "* ]] || rm -f "$file" "$file.sha1"
  done
}

main() {
  check_hadoop_matches_pyspark
  check_spark_matches_pyspark
  mkdir -p "$JARS_DIR"
  remove_other_versions
  local missing=()
  for artifact in "${ARTIFACTS[@]}"; do is_fetched "$artifact" || missing+=("$artifact"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  check_sdk_matches_hadoop_aws
  local started=$SECONDS
  for artifact in "${missing[@]}"; do fetch_verified "$artifact"; done
  echo "fetch_spark_jars: ${missing[*]} into $JARS_DIR in $((SECONDS - started)) s"
}

main
