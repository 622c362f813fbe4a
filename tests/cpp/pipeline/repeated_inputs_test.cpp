// Inputs a listing names more than once: featurised once, and the user told what was kept.

#include "orchard/pipeline/repeated_inputs.h"

#include <gtest/gtest.h>

namespace orchard {
namespace {

TEST(RepeatedInputsTest, ARepeatIsNotFirstAndItsOtherLabelIsReportedNotTaken) {
  RepeatedInputs inputs;
  EXPECT_TRUE(inputs.First("/in/a.jpg", "/in/a.jpg", "Kiwi"));
  EXPECT_TRUE(inputs.First("/in/b.jpg", "/in/b.jpg", "Kiwi"));
  EXPECT_FALSE(inputs.First("/in/a.jpg", "/in/a.jpg", "Kiwi"));
  EXPECT_FALSE(inputs.First("/in/a.jpg", "/in/a.jpg", "Pear"));
  const auto notes = inputs.Notes();
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_EQ(notes[0], "2 inputs were listed more than once; each is featurised once");
  EXPECT_EQ(
      notes[1],
      "1 of them were listed again under another label; the first line's label is kept (/in/a.jpg: 'Kiwi' "
      "kept, 'Pear' ignored)");
}

// A file named with the byte 0xE9 and one named with the text "\xe9" have one row path: the second was
// taken for a repeat of the first and dropped with "listed more than once" (2026-12-03). It is now named.
TEST(RepeatedInputsTest, TwoFilesWhosePathsEscapeAlikeAreNotARepeat) {
  RepeatedInputs inputs;
  EXPECT_TRUE(inputs.First("/in/a\\xe9.jpg", "/in/a\xe9.jpg", "A"));
  EXPECT_FALSE(inputs.First("/in/a\\xe9.jpg", "/in/a\\xe9.jpg", "A"));
  EXPECT_FALSE(inputs.First("/in/a\\xe9.jpg", "/in/a\xe9.jpg", "A"));  // a true repeat of the first
  const auto notes = inputs.Notes();
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_EQ(notes[0], "1 inputs were listed more than once; each is featurised once");
  EXPECT_EQ(notes[1],
            "input /in/a\\xe9.jpg is left out: its path, written as UTF-8, is another input's; rename it");
}

TEST(RepeatedInputsTest, NoRepeatsNoNotes) {
  RepeatedInputs inputs;
  EXPECT_TRUE(inputs.First("/in/a.jpg", "/in/a.jpg", "Kiwi"));
  EXPECT_TRUE(inputs.Notes().empty());
}

}  // namespace
}  // namespace orchard
