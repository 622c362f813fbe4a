#include "orchard/pipeline/resume.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "../storage/failing_filesystem.h"
#include "orchard/common/error.h"
#include "orchard/table/feature_table.h"
#include "orchard/table/parquet_io.h"

namespace orchard {
namespace {

constexpr std::size_t kDim = 4;

// An output folder left by an interrupted attempt: its job record, a complete staged part of two rows, a
// part torn by the crash (no footer) and a complete errors part.
class ResumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("orchard_resume_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_ / "_staging");
    std::filesystem::create_directories(dir_ / "errors");
    std::ofstream(dir_ / "_job.json") << Identity().dump();
    const std::vector<float> features = {1, 2, 3, 4, 5, 6, 7, 8};
    ParquetFileWriter part(Local("_staging/part-a000-00000.parquet"), FeatureSchema(kDim, 0));
    part.Write(*MakeFeatureBatch({"/in/A/1.jpg", "/in/A/2.jpg"}, {"A", "A"}, {features, kDim}));
    part.Close();
    const auto complete = std::filesystem::file_size(dir_ / "_staging/part-a000-00000.parquet");
    std::filesystem::copy_file(dir_ / "_staging/part-a000-00000.parquet",
                               dir_ / "_staging/part-a000-00001.parquet");
    std::filesystem::resize_file(dir_ / "_staging/part-a000-00001.parquet", complete / 2);
    ParquetFileWriter errors(Local("errors/part-a000.parquet"), ErrorSchema());
    const std::vector<ErrorRow> rows = {{"/in/A/3.jpg", "decode", "corrupt"}};
    errors.Write(*MakeErrorBatch(rows));
    errors.Close();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static nlohmann::json Identity() { return {{"input", "/in"}, {"model_sha256", "abc"}}; }
  Location Local(const std::string& relative) const { return ResolveLocation((dir_ / relative).string()); }
  bool Exists(const std::string& relative) const { return std::filesystem::exists(dir_ / relative); }

  std::filesystem::path dir_;
};

TEST_F(ResumeTest, KeepsCompletePartsAndDeletesOnlyTheTornOne) {
  const ResumeState state = PrepareAttempt({Local("")}, Local("../in"), Identity(), kDim, {});
  EXPECT_TRUE(state.resumed);
  EXPECT_EQ(state.attempt, 1);
  EXPECT_EQ(state.rows_written, 2);
  EXPECT_EQ(state.rows_failed, 1);
  EXPECT_EQ(state.done.size(), 3u);
  EXPECT_TRUE(Exists("_staging/part-a000-00000.parquet"));
  EXPECT_FALSE(Exists("_staging/part-a000-00001.parquet"));
}

// Issue 14: a part that could not be read because the storage was briefly down was taken for a torn one and
// deleted. Now the job stops (IoError, exit 3, resumable) naming the part, and nothing is deleted.
TEST_F(ResumeTest, AStorageOutageWhileCheckingAPartDeletesNothing) {
  const OutputLayout output{{std::make_shared<testing::FailingFileSystem>("_staging", false), dir_.string()}};
  try {
    PrepareAttempt(output, Local("../in"), Identity(), kDim, {});
    FAIL() << "the outage was not reported";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("part-a000-00000.parquet"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("connection refused"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(Exists("_staging/part-a000-00000.parquet"));
  EXPECT_TRUE(Exists("_staging/part-a000-00001.parquet"));
  EXPECT_TRUE(Exists("errors/part-a000.parquet"));
}

// Issue 14: a torn _job.json made nlohmann::json's parse error escape as an internal error (exit 1).
TEST_F(ResumeTest, ATornJobRecordIsAnIoErrorNamingTheFile) {
  std::ofstream(dir_ / "_job.json", std::ios::trunc) << "{\"input\": \"/i";
  try {
    PrepareAttempt({Local("")}, Local("../in"), Identity(), kDim, {});
    FAIL() << "the torn record was accepted";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("_job.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--overwrite"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(Exists("_staging/part-a000-00000.parquet"));
}

TEST_F(ResumeTest, AForeignFileStopsTheResumeBeforeAnythingIsDeleted) {
  std::ofstream(dir_ / "_staging" / "notes.txt") << "mine";
  EXPECT_THROW(PrepareAttempt({Local("")}, Local("../in"), Identity(), kDim, {}), UsageError);
  EXPECT_TRUE(Exists("_staging/part-a000-00001.parquet"));
  EXPECT_TRUE(Exists("_staging/notes.txt"));
}

}  // namespace
}  // namespace orchard
