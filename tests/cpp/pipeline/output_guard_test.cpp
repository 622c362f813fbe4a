#include "orchard/pipeline/output_guard.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "orchard/common/error.h"

namespace orchard {
namespace {

using Entries = std::vector<std::string>;

TEST(OutputGuardTest, PlacesAreComparedNormalisedWithSymlinksResolved) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("orchard_guard_" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir / "real");
  std::filesystem::create_directory_symlink(dir / "real", dir / "link");
  EXPECT_EQ(ComparablePlace((dir / "link" / "x").string()), (dir / "real" / "x").string());
  EXPECT_EQ(ComparablePlace((dir / "real" / "./y/").string()), (dir / "real" / "y").string());
  EXPECT_EQ(ComparablePlace("file://" + (dir / "link").string()), (dir / "real").string());
  EXPECT_EQ(ComparablePlace("file:" + (dir / "link").string()), (dir / "real").string());
  std::filesystem::remove_all(dir);
  EXPECT_EQ(ComparablePlace("s3a://bucket//data/"), "s3://bucket/data");
  EXPECT_EQ(ComparablePlace("S3://bucket/data?region=eu-west-1"), "s3://bucket/data");
}

// Issue 14: `--input work/data --output work --overwrite` emptied `work`, images included.
TEST(OutputGuardTest, RefusesAnOutputThatEqualsContainsOrLiesInsideTheInput) {
  EXPECT_THROW(CheckOverwrite("/w/data", "/w/data/", {}, false), UsageError);
  EXPECT_THROW(CheckOverwrite("/w/data", "/w", {}, false), UsageError);
  EXPECT_THROW(CheckOverwrite("/w/data", "/w/data/out", {}, false), UsageError);
  EXPECT_THROW(CheckOverwrite("s3://b/data", "s3a://b/data/out", {}, false), UsageError);
  EXPECT_THROW(CheckOverwrite("s3://b/data/x", "s3://b/data", {}, false), UsageError);
  // '/' boundaries: a sibling with a common prefix is not inside.
  EXPECT_NO_THROW(CheckOverwrite("/w/data", "/w/data-out", {}, false));
  EXPECT_NO_THROW(CheckOverwrite("s3://b/data", "s3://b/data2", {}, false));
  EXPECT_NO_THROW(CheckOverwrite("/w/data", "s3://w/data", {}, false));
}

// Issue 14: `--output s3://bucket --overwrite` emptied the whole bucket.
TEST(OutputGuardTest, ABucketRootNeedsItsOwnFlag) {
  EXPECT_THROW(CheckOverwrite("s3://in/data", "s3://out", {}, false), UsageError);
  EXPECT_THROW(CheckOverwrite("s3://in/data", "s3a://out/", {}, false), UsageError);
  EXPECT_NO_THROW(CheckOverwrite("s3://in/data", "s3://out", {}, true));
  EXPECT_NO_THROW(CheckOverwrite("s3://in/data", "s3://out/prefix", {}, false));
}

TEST(OutputGuardTest, OnlyWhatOrchardWritesMayBeReplaced) {
  for (const std::string entry : {"features",
                                  "features/part-a000-00000.parquet",
                                  "errors/part-a001.parquet",
                                  "_staging",
                                  "_staging/part-a002-00003.parquet",
                                  "_job.json",
                                  "_SUCCESS",
                                  "pca.parquet",
                                  "_job.json.tmp",
                                  "pca.parquet.tmp",
                                  ".pca.parquet.crc",
                                  "features/part-00000-1b2c-c000.zstd.parquet",
                                  "features/_SUCCESS",
                                  "features/.part-00000-1b2c-c000.zstd.parquet.crc",
                                  "errors/_temporary/0/task/part-1.parquet",
                                  "pca-a001.parquet",
                                  "pca_moments.parquet",
                                  "pca_moments-a012.parquet",
                                  "inputs.parquet",
                                  "inputs-a003.parquet",
                                  "inputs-a003.parquet.tmp",
                                  "index.faiss",
                                  "index_keys.parquet",
                                  "index.faiss.tmp"}) {
    EXPECT_TRUE(IsOrchardOutputEntry(entry)) << entry;
  }
  for (const std::string entry :
       {"data", "data/Apple/1.jpg", "features/notes.txt", "images.txt", "_job.json.bak",
        "features/Apple/1.jpg", "pca.parquet/x", ".hidden", "tmp", "pca-ax.parquet", "inputs-a.parquet",
        "pca-a001.json", "mine-a001.parquet"}) {
    EXPECT_FALSE(IsOrchardOutputEntry(entry)) << entry;
  }
  const Entries mixed = {"_job.json", "features", "features/part-a000-00000.parquet", "notes.txt"};
  try {
    CheckOverwrite("/in", "/out", mixed, false);
    FAIL() << "a foreign file was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("'notes.txt'"), std::string::npos) << e.what();
  }
}

// Before, `--overwrite` deleted a notebook's own pca.parquet, or another tool's features/part-*.parquet, from
// a folder no orchard job had ever written to: the names alone were taken as proof.
TEST(OutputGuardTest, FilesWithOrchardsNamesButNoJobRecordAreNotReplaced) {
  for (const Entries& unrecorded :
       {Entries{"pca.parquet"}, Entries{"features", "features/part-00000.parquet"},
        Entries{"_staging", "_staging/part-a000-00000.parquet"}}) {
    try {
      CheckOverwrite("/in", "/out", unrecorded, false);
      FAIL() << unrecorded.back() << " was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("no job record"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(CheckOverwrite("/in", "/out", Entries{"_job.json", "pca.parquet"}, false));
  EXPECT_NO_THROW(
      CheckOverwrite("/in", "/out", Entries{"_SUCCESS", "features", "features/part-0.parquet"}, false));
  // What a job cut before its record was whole leaves: empty part folders, a torn temporary record.
  EXPECT_NO_THROW(
      CheckOverwrite("/in", "/out", Entries{"_job.json.tmp", "_staging", "errors", "features"}, false));
}

}  // namespace
}  // namespace orchard
