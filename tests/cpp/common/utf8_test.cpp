#include "orchard/common/utf8.h"

#include <gtest/gtest.h>

namespace orchard {
namespace {

TEST(Utf8, ValidTextIsUnchanged) {
  for (std::string_view text : {"", "/data/Apple Red 1/r_1.jpg", "pomme-à-Ünïcödé-苹果-🍎.jpg", "a\\xff b"}) {
    EXPECT_TRUE(IsValidUtf8(text)) << text;
    EXPECT_EQ(EscapeInvalidUtf8(text), text);
  }
}

TEST(Utf8, InvalidBytesAreEscapedOneByOne) {
  EXPECT_EQ(EscapeInvalidUtf8("latin1-\xe9t\xe9-\xff.jpg"), "latin1-\\xe9t\\xe9-\\xff.jpg");
  EXPECT_EQ(EscapeInvalidUtf8("\xe2\x82"), "\\xe2\\x82");          // truncated 3-byte sequence
  EXPECT_EQ(EscapeInvalidUtf8("\xe2\x82\xac!"), "\xe2\x82\xac!");  // the same sequence complete (€)
  EXPECT_EQ(EscapeInvalidUtf8("\x80"), "\\x80");                   // stray continuation byte
}

// The forms table 3-7 of the Unicode standard excludes, which a naive lead-byte check would accept.
TEST(Utf8, IllFormedSequencesAreRejected) {
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong 3-byte
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // UTF-16 surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xf5\x80\x80\x80"));
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF itself
  EXPECT_EQ(EscapeInvalidUtf8("\xed\xa0\x80"), "\\xed\\xa0\\x80");
}

}  // namespace
}  // namespace orchard
