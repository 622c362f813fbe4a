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
    ListingCallbacks callbacks{[&](InputItem item) {
      items.push_back(std::move(item));
      return true;
    }};
    callbacks.on_warning = [&](const std::string& message) { warnings_.push_back(message); };
    ListInputs(ResolveLocation(path.string()), callbacks);
    return items;
  }

  static std::vector<std::string> Uris(const std::vector<InputItem>& items) {
    std::vector<std::string> uris;
    for (const auto& item : items) uris.push_back(item.location.uri());
    return uris;
  }

  fs::path root_;
  std::vector<std::string> warnings_;
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

// A relative path written with "./" or "//" named the file under another path: one image became several rows,
// labelled "." or "" (2026-12-03). It is normalised as an absolute path is.
TEST_F(InputListingTest, ManifestPathsSpelledWithDotsOrDoubleSlashesAreTheFilesOwnPathAndLabel) {
  std::ofstream(root_ / "list.txt") << "./Training/Banana/b 1.jpg\n"
                                    << "Training/Banana/./b 1.jpg\n"
                                    << "Training//Banana//b 1.jpg\n"
                                    << "Test/../Training/Banana/b 1.jpg\n"
                                    << "file://" << root_.string() << "/Training/./Banana//b%201.jpg\n";
  const auto items = List(root_ / "list.txt");
  ASSERT_EQ(items.size(), 5u);  // the job lists a repeated file once (feature_extraction.cpp)
  for (const auto& item : items) {
    EXPECT_EQ(item.location.uri(), (root_ / "Training/Banana/b 1.jpg").string());
    EXPECT_EQ(item.label, "Banana");
  }
}

// A ".." after a symbolic link is the kernel's: the parent of the link's target, not the folder beside the
// link. Cancelling it as text read another file under the path (2026-12-03).
TEST_F(InputListingTest, ManifestDotDotThroughASymlinkedFolderNamesTheFileTheSystemOpens) {
  Touch("proj/img/Kiwi/a.jpg");
  Touch("img/Kiwi/a.jpg");  // what a textual ".." would name instead
  fs::create_directories(root_ / "proj/lists");
  fs::create_directory_symlink(root_ / "proj/lists", root_ / "lists");
  std::ofstream(root_ / "proj/lists/list.txt") << "../img/Kiwi/a.jpg\n";
  const auto items = List(root_ / "lists/list.txt");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].location.uri(), (root_ / "proj/img/Kiwi/a.jpg").string());
  EXPECT_EQ(items[0].label, "Kiwi");
}

// A URI that does not parse (a space not percent-encoded) stopped the whole job with a usage error.
TEST_F(InputListingTest, ManifestLineWithAnUnparsableUriIsAnErrorNamingTheLine) {
  const auto manifest = (root_ / "list.txt").string();
  std::ofstream(manifest) << "file://" << root_.string() << "/Training/Banana/b 1.jpg\n"
                          << "Training/Banana/b 1.jpg\n";
  const auto items = List(manifest);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].location.uri(), manifest + ":1");
  EXPECT_NE(items[0].listing_error.find("manifest line 1: cannot open 'file://"), std::string::npos)
      << items[0].listing_error;
  EXPECT_TRUE(items[1].listing_error.empty()) << items[1].listing_error;
}

TEST_F(InputListingTest, ManifestWithByteOrderMarkAndCrlfIsRead) {
  std::ofstream(root_ / "list.txt") << "\xEF\xBB\xBFTraining/Banana/b 1.jpg\r\n"
                                    << "Training/Apple Braeburn/a.png\tGranny\r\n";
  const auto items = List(root_ / "list.txt");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].location.uri(), (root_ / "Training/Banana/b 1.jpg").string());
  EXPECT_EQ(items[0].label, "Banana");
  EXPECT_EQ(items[1].location.uri(), (root_ / "Training/Apple Braeburn/a.png").string());
  EXPECT_EQ(items[1].label, "Granny");
  for (const auto& item : items) EXPECT_TRUE(item.listing_error.empty()) << item.listing_error;
}

TEST_F(InputListingTest, ManifestLineWithEmptyPathOrLabelIsAnErrorNamingTheLine) {
  const auto manifest = (root_ / "list.txt").string();
  std::ofstream(manifest) << "\tApple\n"
                          << "# comment\n"
                          << "Training/Banana/b 1.jpg\t\r\n"
                          << "Training/Apple Braeburn/a.png\n";
  const auto items = List(manifest);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].location.uri(), manifest + ":1");
  EXPECT_EQ(items[0].listing_error, "manifest line 1: empty path before the TAB");
  EXPECT_EQ(items[1].location.uri(), manifest + ":3");
  EXPECT_EQ(items[1].listing_error, "manifest line 3: empty label after the TAB");
  EXPECT_EQ(items[2].location.uri(), (root_ / "Training/Apple Braeburn/a.png").string());
  EXPECT_TRUE(items[2].listing_error.empty());
}

TEST_F(InputListingTest, SymlinkLoopIsWalkedOnceAndReportedOnce) {
  fs::create_directory_symlink("..", root_ / "Training/Banana/loop");  // Apple/loop -> .. of the issue
  const auto items = List(root_);
  EXPECT_EQ(Uris(items), (std::vector<std::string>{(root_ / "Test/Apple Braeburn/c.webp").string(),
                                                   (root_ / "Training/Apple Braeburn/a.png").string(),
                                                   (root_ / "Training/Banana/b 1.jpg").string()}));
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find((root_ / "Training/Banana/loop").string()), std::string::npos) << warnings_[0];
  EXPECT_NE(warnings_[0].find("symlink loop"), std::string::npos) << warnings_[0];
}

TEST_F(InputListingTest, SymlinkedFolderIsListedOnceUnderItsRealPathOrItsFirstLink) {
  const fs::path outside = root_.string() + "-outside";
  fs::remove_all(outside);
  fs::create_directories(outside / "Kiwi");
  std::ofstream(outside / "Kiwi/k.jpg") << "x";
  fs::create_directory_symlink(outside / "Kiwi", root_ / "Test/Kiwi");
  fs::create_directory_symlink(outside / "Kiwi", root_ / "Test/Kiwi again");
  fs::create_directory_symlink(root_ / "Training/Banana", root_ / "Test/A banana link");
  const auto items = List(root_);
  fs::remove_all(outside);
  EXPECT_EQ(Uris(items), (std::vector<std::string>{(root_ / "Test/Apple Braeburn/c.webp").string(),
                                                   (root_ / "Test/Kiwi/k.jpg").string(),
                                                   (root_ / "Training/Apple Braeburn/a.png").string(),
                                                   (root_ / "Training/Banana/b 1.jpg").string()}));
  EXPECT_EQ(warnings_.size(), 2u);  // the second Kiwi link and the link to Banana, each named once
  for (const auto& warning : warnings_)
    EXPECT_NE(warning.find("listed already"), std::string::npos) << warning;
}

TEST_F(InputListingTest, HiddenNamesFollowHadoopsRuleForFilesAndFolders) {
  Touch("Training/Banana/_x.jpg");
  Touch("Training/_tmp/y.jpg");
  Touch("Training/Banana/z.jpg._COPYING_");
  Touch("Training/Banana/k=v/_part=1.jpg");
  const auto items = List(root_);
  EXPECT_EQ(Uris(items), (std::vector<std::string>{(root_ / "Test/Apple Braeburn/c.webp").string(),
                                                   (root_ / "Training/Apple Braeburn/a.png").string(),
                                                   (root_ / "Training/Banana/b 1.jpg").string(),
                                                   (root_ / "Training/Banana/k=v/_part=1.jpg").string()}));
  EXPECT_TRUE(IsHiddenName(".DS_Store"));
  EXPECT_TRUE(IsHiddenName("_SUCCESS"));
  EXPECT_FALSE(IsHiddenName("_metadata"));  // Spark keeps Parquet's summary files
  EXPECT_FALSE(IsHiddenName("a_b.jpg"));
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
