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
    WriteStagedPart("_staging/part-a000-00000.parquet", {"/in/A/1.jpg", "/in/A/2.jpg"},
                    {1, 2, 3, 4, 5, 6, 7, 8});
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

  // A complete staged part: rows of `paths` with `features` (paths.size() × kDim floats), each input keyed
  // {100, 1000} under label A.
  void WriteStagedPart(const std::string& relative, const std::vector<std::string>& paths,
                       const std::vector<float>& features) const {
    ParquetFileWriter part(Local(relative), StagingSchema(kDim));
    const std::vector<InputKey> keys(paths.size(), {100, 1000, "A"});
    part.Write(*MakeStagedBatch(paths, std::vector<std::string>(paths.size(), "A"), {features, kDim}, keys));
    part.Close();
  }

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
  EXPECT_EQ(state.done.size(), 2u);
  EXPECT_EQ(state.done.at("/in/A/1.jpg").key, (InputKey{100, 1000, "A"}));
  EXPECT_TRUE(Exists("_staging/part-a000-00000.parquet"));
  EXPECT_FALSE(Exists("_staging/part-a000-00001.parquet"));
}

// Error rows carry no input key, so an input that failed is tried again: the file may have been fixed while
// the job was interrupted.
TEST_F(ResumeTest, InputsThatFailedInAnEarlierAttemptAreTriedAgain) {
  const ResumeState state = PrepareAttempt({Local("")}, Local("../in"), Identity(), kDim, {});
  EXPECT_EQ(state.rows_failed, 0);
  EXPECT_FALSE(state.done.contains("/in/A/3.jpg"));
  EXPECT_TRUE(state.error_parts.empty());
  EXPECT_FALSE(Exists("errors/part-a000.parquet"));
}

// A resume that featurised an input again and was interrupted too leaves two rows for it: the later attempt's
// stands, the earlier one is left out of the output and of the PCA.
TEST_F(ResumeTest, OfTwoStagedRowsForAnInputTheLaterAttemptsStands) {
  WriteStagedPart("_staging/part-a001-00000.parquet", {"/in/A/2.jpg"}, {9, 9, 9, 9});
  ResumeState state = PrepareAttempt({Local("")}, Local("../in"), Identity(), kDim, {});
  EXPECT_EQ(state.attempt, 2);
  EXPECT_EQ(state.done.at("/in/A/2.jpg").attempt, 1);
  state.listed = {{"/in/A/1.jpg", {100, 1000, "A"}}, {"/in/A/2.jpg", {100, 1000, "A"}}};
  EXPECT_EQ(SettleEarlierRows(state), 0);
  EXPECT_EQ(state.rows_written, 2);
  ASSERT_NE(SupersededRows(state, Local("_staging/part-a000-00000.parquet")), nullptr);
  EXPECT_EQ(*SupersededRows(state, Local("_staging/part-a000-00000.parquet")), PathSet{"/in/A/2.jpg"});
  EXPECT_EQ(SupersededRows(state, Local("_staging/part-a001-00000.parquet")), nullptr);
  // What remains in the moments is rows 1.jpg (1..4) and the later 2.jpg (9, 9, 9, 9).
  EXPECT_EQ(state.stats.count(), 2);
  EXPECT_DOUBLE_EQ(state.stats.mean()[0], 5.0);
  EXPECT_DOUBLE_EQ(state.stats.mean()[3], 6.5);
}

// A row staged from bytes that were replaced (other key) or deleted (not listed) while the job was
// interrupted is superseded; its moments and count leave the job's.
TEST_F(ResumeTest, RowsOfInputsReplacedOrDeletedSinceAreSuperseded) {
  ResumeState state = PrepareAttempt({Local("")}, Local("../in"), Identity(), kDim, {});
  state.listed = {{"/in/A/2.jpg", {100, 2000, "A"}}};
  EXPECT_EQ(SettleEarlierRows(state), 2);
  EXPECT_EQ(state.rows_written, 0);
  EXPECT_EQ(state.stats.count(), 0);
  EXPECT_EQ(*SupersededRows(state, Local("_staging/part-a000-00000.parquet")),
            (PathSet{"/in/A/1.jpg", "/in/A/2.jpg"}));
}

// A manifest relabelled while the job was interrupted (the same bytes filed under another label): the row
// staged under the old label is superseded, so the input gets a row with its new label.
TEST_F(ResumeTest, ARowStagedUnderALabelTheListingNoLongerGivesIsSuperseded) {
  ResumeState state = PrepareAttempt({Local("")}, Local("../in"), Identity(), kDim, {});
  state.listed = {{"/in/A/1.jpg", {100, 1000, "A"}}, {"/in/A/2.jpg", {100, 1000, "Pear"}}};
  EXPECT_EQ(SettleEarlierRows(state), 1);
  EXPECT_EQ(state.rows_written, 1);
  EXPECT_EQ(*SupersededRows(state, Local("_staging/part-a000-00000.parquet")), PathSet{"/in/A/2.jpg"});
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

// A second `orchard run` on an output in use deleted the running job's parts while "resuming" it, and the
// first then wrote a _SUCCESS naming deleted files. The attempt now holds a lock on the folder.
TEST_F(ResumeTest, AnOutputInUseByAnotherJobIsRefusedBeforeAnythingIsDeleted) {
  ResumeState running = PrepareAttempt({Local("")}, Local("../in"), Identity(), kDim, {});
  ASSERT_TRUE(running.lock.held());
  std::ofstream(dir_ / "_staging" / "part-a001-00000.parquet") << "being written";
  try {
    PrepareAttempt({Local("")}, Local("../in"), Identity(), kDim, {});
    FAIL() << "a second attempt ran on a locked output";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("in use by another orchard process"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(Exists("_staging/part-a001-00000.parquet"));
  running = ResumeState(kDim);  // the first job ends: its lock is released
  EXPECT_NO_THROW(PrepareAttempt({Local("")}, Local("../in"), Identity(), kDim, {}));
}

}  // namespace
}  // namespace orchard
