#include "orchard/audit/confident_learning.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

namespace orchard {
namespace {

// Expected flags computed by cleanlab 2.9,
// `cleanlab.filter.find_label_issues(labels, pred_probs)` (its default, prune_by_noise_rate), on these very
// numbers.
struct Case {
  std::vector<double> p;
  std::vector<std::size_t> given;
};

// Class 0 ("apple", 8 examples), class 1 ("kiwi", 10 examples of which the last 4 are apples filed under
// kiwi, voting for each other: p(apple) 0.6-0.7, under the apples' threshold 0.96; one of them, more
// isolated, is a confident apple), class 2 ("pear", 6 examples). The confident joint's off-diagonal alone
// (cleanlab's filter_by="confident_learning", and the audit before) finds the isolated one only: [14].
Case ClusteredMislabels() {
  Case c;
  const auto add = [&](std::size_t label, double p0, double p1, double p2) {
    c.p.insert(c.p.end(), {p0, p1, p2});
    c.given.push_back(label);
  };
  for (double x : {1.0, 1.0, 0.9, 1.0, 0.9, 1.0, 1.0, 0.9}) add(0, x, 1.0 - x, 0.0);
  for (double x : {1.0, 0.9, 0.8, 0.7, 1.0, 0.6}) add(1, 0.0, x, 1.0 - x);
  add(1, 1.0, 0.0, 0.0);  // the isolated apple: confident
  add(1, 0.7, 0.3, 0.0);  // the cluster: not confident
  add(1, 0.6, 0.4, 0.0);
  add(1, 0.65, 0.35, 0.0);
  for (double x : {1.0, 1.0, 0.9, 1.0, 1.0, 0.8}) add(2, 0.0, 1.0 - x, x);
  return c;
}

TEST(FindLabelIssues, ClusteredMislabelsAreFoundOnceSomeOfThemAreConfident) {
  const Case c = ClusteredMislabels();
  const auto issues = FindLabelIssues(c.p, 3, c.given);
  std::vector<std::size_t> flagged;
  for (std::size_t i = 0; i < issues.size(); ++i)
    if (issues[i]) flagged.push_back(i);
  EXPECT_EQ(flagged, (std::vector<std::size_t>{14, 15}));
}

TEST(FindLabelIssues, AnExampleWhoseGivenLabelIsTheMostProbableIsNoIssue) {
  // A label of two examples beside a big one of the same fruit: its threshold is low, but the big label's
  // examples are mostly among their own.
  Case c;
  for (int i = 0; i < 10; ++i) {
    c.p.insert(c.p.end(), {i < 4 ? 0.9 : 1.0, i < 4 ? 0.1 : 0.0});
    c.given.push_back(0);
  }
  c.p.insert(c.p.end(), {0.9, 0.1, 0.9, 0.1});
  c.given.insert(c.given.end(), {1, 1});
  const auto issues = FindLabelIssues(c.p, 2, c.given);
  for (std::size_t i = 0; i < 10; ++i) EXPECT_FALSE(issues[i]) << i;
}

// A label of one example that none of its neighbours share has threshold 0, which every example reached
// (p >= 0 - 1e-6): examples confident of no real class were counted as of it, and then the ones with the
// lowest p(given) became issues (newcomer: correctly labelled Orange photos, suggested Cherry). cleanlab
// clips thresholds at 2e-6 and flags nothing here.
TEST(FindLabelIssues, ALabelOfOneExampleWithThresholdZeroIsNoOnesConfidentClass) {
  Case c;
  const auto add = [&](std::size_t label, double p0, double p1) {
    c.p.insert(c.p.end(), {p0, p1, 0.0});
    c.given.push_back(label);
  };
  for (double x : {1.0, 0.9, 1.0, 0.8, 1.0, 0.9}) add(0, x, 1.0 - x);
  for (double x : {0.0, 0.1, 0.0, 0.55, 0.6, 0.52})
    add(1, x, 1.0 - x);  // the last three confident of nothing
  add(2, 0.6, 0.4);
  const auto issues = FindLabelIssues(c.p, 3, c.given);
  for (std::size_t i = 0; i < issues.size(); ++i) EXPECT_FALSE(issues[i]) << i;
}

TEST(FindLabelIssues, NoExamplesHaveNoIssues) {  // an audit of an output with no features
  EXPECT_TRUE(FindLabelIssues({}, 0, {}).empty());
}

TEST(FindLabelIssues, SizesThatDoNotMatchAreRefused) {
  const std::vector<double> p = {0.5, 0.5, 1.0};
  const std::vector<std::size_t> given = {0};
  EXPECT_THROW(FindLabelIssues(p, 2, given), std::invalid_argument);
  const std::vector<std::size_t> out_of_range = {2};
  EXPECT_THROW(FindLabelIssues({p.data(), 2}, 2, out_of_range), std::invalid_argument);
}

}  // namespace
}  // namespace orchard
