#include "orchard/storage/input_listing.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "orchard/common/error.h"

namespace orchard {
namespace {

namespace fs = std::filesystem;

class InputListingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("orchard-listing-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    Touch("Training/Banana/b 1.jpg");
    Touch("Training/Apple Braeburn/a.png");
    Touch("Test/Apple Braeburn/c.webp");
    Touch("Training/.cache/hidden.jpg");
    Touch("Training/Banana/.DS_Store");
  }
  void TearDown() override { fs::remove_all(root_); }

  void Touch(const std::string& relative) {
    fs::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative) << "x";
  }

  std::vector<InputItem> List(const fs::path& path) {
    std::vector<InputItem> items;
    ListInputs(ResolveLocation(path.string()), {[&](InputItem item) {
                 items.push_back(std::move(item));
                 return true;
               }});
    return items;
  }

  fs::path root_;
};

TEST_F(InputListingTest, FolderGivesEveryVisibleFileInPathOrderWithParentFolderAsLabel) {
  const auto items = List(root_);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].location.uri(), (root_ / "Test/Apple Braeburn/c.webp").string());
  EXPECT_EQ(items[0].label, "Apple Braeburn");
  EXPECT_EQ(items[1].location.uri(), (root_ / "Training/Apple Braeburn/a.png").string());
  EXPECT_EQ(items[2].location.uri(), (root_ / "Training/Banana/b 1.jpg").string());
  EXPECT_EQ(items[2].label, "Banana");
}

TEST_F(InputListingTest, ManifestResolvesRelativePathsAndExplicitLabels) {
  std::ofstream(root_ / "list.txt") << "# comment\n"
                                    << "Training/Banana/b 1.jpg\n\n"
                                    << (root_ / "Training/Apple Braeburn/a.png").string() << "\tGranny\r\n";
  const auto items = List(root_ / "list.txt");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].location.uri(), (root_ / "Training/Banana/b 1.jpg").string());
  EXPECT_EQ(items[0].label, "Banana");
  EXPECT_EQ(items[1].location.uri(), (root_ / "Training/Apple Braeburn/a.png").string());
  EXPECT_EQ(items[1].label, "Granny");
}

TEST_F(InputListingTest, EmitReturningFalseStopsTheListing) {
  int calls = 0;
  std::size_t total = 0;
  ListInputs(ResolveLocation(root_.string()),
             {[&](InputItem) { return ++calls < 2; }, [&](std::size_t n) { total = n; }});
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(total, 3u);  // a local folder is counted before the first input is handed on
}

TEST_F(InputListingTest, MissingRootIsAnIoErrorNamingIt) {
  const auto missing = (root_ / "nope").string();
  try {
    List(missing);
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos);
  }
}

TEST(LocationTest, RelativePathsBecomeAbsoluteAndNormal) {
  const auto location = ResolveLocation("./a/b/../c/");
  EXPECT_EQ(location.uri(), (fs::current_path() / "a/c").string());
  EXPECT_EQ(location.name(), "c");
  EXPECT_EQ(location.parent().name(), "a");
  EXPECT_EQ(location.child("d.jpg").uri(), (fs::current_path() / "a/c/d.jpg").string());
}

}  // namespace
}  // namespace orchard
