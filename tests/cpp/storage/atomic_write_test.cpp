#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "failing_filesystem.h"
#include "orchard/common/error.h"
#include "orchard/storage/location.h"

namespace orchard {
namespace {

class AtomicWriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("orchard_atomic_write_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Read(const std::string& name) const {
    std::stringstream text;
    text << std::ifstream(dir_ / name).rdbuf();
    return text.str();
  }

  std::filesystem::path dir_;
};

// Issue 14: _SUCCESS and _job.json were written in place, so a crash or an outage mid-write left a torn file
// where a complete one had been.
TEST_F(AtomicWriteTest, AWriteThatFailsHalfwayLeavesTheOldContentWhole) {
  std::ofstream(dir_ / "_job.json") << "{\"old\": true}\n";
  const Location job{std::make_shared<testing::FailingFileSystem>("", /*fail_writes=*/true),
                     (dir_ / "_job.json").string()};
  EXPECT_THROW(WriteText(job, "{\"new\": \"a longer record than the old one\"}\n"), IoError);
  EXPECT_EQ(Read("_job.json"), "{\"old\": true}\n");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1) << "no temporary file is left";
}

TEST_F(AtomicWriteTest, ASuccessfulWriteReplacesTheFileAndLeavesNoTemporaryName) {
  std::ofstream(dir_ / "_SUCCESS") << "old";
  WriteText(ResolveLocation((dir_ / "_SUCCESS").string()), "new");
  EXPECT_EQ(Read("_SUCCESS"), "new");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);
}

}  // namespace
}  // namespace orchard
