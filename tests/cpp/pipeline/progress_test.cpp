#include "orchard/pipeline/progress.h"

#include <gtest/gtest.h>

#include <mutex>
#include <sstream>
#include <vector>

namespace orchard {
namespace {

// A listener (the Python API's progress bar) gets the counts and the final state; the stream gets no bar.
TEST(ProgressReporter, ListenerReceivesFinalCountsInsteadOfTheStream) {
  std::ostringstream out;
  std::mutex mutex;
  std::vector<ProgressSnapshot> seen;
  ProgressReporter progress(out, false, "features", [&](const ProgressSnapshot& s) {
    std::lock_guard lock(mutex);
    seen.push_back(s);
  });
  progress.AddListed(5);
  progress.ListingDone();
  progress.AddDone(3);
  progress.AddFailed(1);
  progress.Finish();
  ASSERT_FALSE(seen.empty());
  const ProgressSnapshot& last = seen.back();
  EXPECT_TRUE(last.final);
  EXPECT_EQ(last.processed, 4);
  EXPECT_EQ(last.failed, 1);
  EXPECT_EQ(last.total, 5);
  EXPECT_TRUE(last.known_total);
  EXPECT_EQ(out.str(), "");
}

// Without a listener the CLI's plain line is printed as before.
TEST(ProgressReporter, WithoutListenerPrintsThePlainLine) {
  std::ostringstream out;
  ProgressReporter progress(out, false, "features");
  progress.AddListed(2);
  progress.ListingDone();
  progress.AddDone(2);
  progress.Finish();
  EXPECT_NE(out.str().find("features 2/2 images, 0 failed"), std::string::npos) << out.str();
}

}  // namespace
}  // namespace orchard
