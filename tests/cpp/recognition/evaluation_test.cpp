#include "orchard/recognition/evaluation.h"

#include <gtest/gtest.h>

#include "orchard/recognition/labelled_rows.h"
#include "orchard/recognition/recognizer.h"
#include "orchard/recognition/report.h"

namespace orchard {
namespace {

TEST(EvaluationTest, CountsTopOneTopFiveAndPerClassFigures) {
  const std::vector<std::string> labels = {"A", "B", "C"};
  const std::vector<std::string> truth = {"A", "A", "B", "C"};
  // Row 1 predicts B for an A; the rest are right.
  const std::vector<float> probabilities = {0.8f, 0.1f, 0.1f,  //
                                            0.3f, 0.6f, 0.1f,  //
                                            0.1f, 0.7f, 0.2f,  //
                                            0.2f, 0.2f, 0.6f};
  const Evaluation e = Evaluate(truth, probabilities, labels);
  EXPECT_EQ(e.n, 4);
  EXPECT_DOUBLE_EQ(e.top1, 0.75);
  EXPECT_DOUBLE_EQ(e.top5, 1.0);  // 3 classes: the truth is always in the top 5
  EXPECT_EQ(e.confusion[0][1], 1);
  EXPECT_EQ(e.confusion[0][0], 1);
  EXPECT_DOUBLE_EQ(*e.per_class[0].recall, 0.5);
  EXPECT_DOUBLE_EQ(*e.per_class[0].precision, 1.0);
  EXPECT_DOUBLE_EQ(*e.per_class[1].precision, 0.5);
  EXPECT_DOUBLE_EQ(*e.per_class[1].recall, 1.0);
  EXPECT_EQ(e.per_class[2].support, 1);

  const auto json = e.ToJson();
  EXPECT_EQ(json["per_class"]["A"]["support"], 2);
  EXPECT_EQ(json["confusion"][0][1], 1);
}

// A label the split has no row of, which nothing was predicted as either: its precision and recall were 0.0,
// reading as a class always wrong (newcomer); they are undefined.
TEST(EvaluationTest, ALabelWithNoRowAndNoPredictionHasNoPrecisionOrRecall) {
  const Evaluation e =
      Evaluate(std::vector<std::string>{"A", "A"}, std::vector<float>{0.9f, 0.1f, 0.8f, 0.2f}, {"A", "B"});
  EXPECT_DOUBLE_EQ(*e.per_class[0].recall, 1.0);
  EXPECT_FALSE(e.per_class[1].precision.has_value());
  EXPECT_FALSE(e.per_class[1].recall.has_value());
  EXPECT_TRUE(e.ToJson()["per_class"]["B"]["recall"].is_null());
}

TEST(EvaluationTest, UnknownLabelsCountAsErrors) {
  const Evaluation e =
      Evaluate(std::vector<std::string>{"A", "Z"}, std::vector<float>{0.9f, 0.1f, 0.9f, 0.1f}, {"A", "B"});
  EXPECT_DOUBLE_EQ(e.top1, 0.5);
  EXPECT_EQ(e.unknown_labels, std::vector<std::string>{"Z"});
}

TEST(TopKTest, OrdersByProbabilityThenIndex) {
  const std::vector<float> p = {0.1f, 0.4f, 0.1f, 0.4f};
  EXPECT_EQ(TopK(p, 3), (std::vector<std::size_t>{1, 3, 0}));
  EXPECT_EQ(TopK(p, 10).size(), 4u);
}

TEST(SplitOfTest, IsTheFolderAboveTheLabelFolder) {
  EXPECT_EQ(SplitOf("/data/fruits/Training/Apple/1.jpg"), "Training");
  EXPECT_EQ(SplitOf("s3://bucket/Test/Banana/x.jpg"), "Test");
  EXPECT_EQ(SplitOf("Test/Banana/x.jpg"), "Test");
  EXPECT_EQ(SplitOf("/Banana/x.jpg"), "");
  EXPECT_EQ(SplitOf("x.jpg"), "");
}

TEST(ReportTest, InlinesLibrariesAndDataSafely) {
  const std::string page =
      "<head><!-- ORCHARD_LIBRARIES --></head><script type=\"application/json\">__ORCHARD_DATA__</script>";
  const std::string html =
      RenderReport(page, {"var s = '</SCRIPT>'.replace(/</g, 'x');"}, {{"label", "</script><b>"}});
  // Exactly the two real closing tags remain: the library's and the data element's.
  std::size_t closing = 0;
  for (auto at = html.find("</script>"); at != std::string::npos; at = html.find("</script>", at + 1))
    ++closing;
  EXPECT_EQ(closing, 2u) << html;
  // The closing tag in a string is escaped; a regular expression ending in "</" is left alone.
  EXPECT_NE(html.find("<script>var s = '<\\/SCRIPT>'.replace(/</g, 'x');</script>"), std::string::npos)
      << html;
  EXPECT_NE(html.find("\\u003c/script>\\u003cb>"), std::string::npos) << html;
  EXPECT_EQ(html.find("__ORCHARD_DATA__"), std::string::npos);
}

}  // namespace
}  // namespace orchard
