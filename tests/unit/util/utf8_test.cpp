// UTF-8 validation (utf8::find_invalid / is_valid) and the decoder it rests on: strict about
// truncation, overlongs, surrogates and values above U+10FFFF, with the offset of the first bad byte.
#include <gtest/gtest.h>

#include <string>

#include "src/util/utf8.h"

namespace qlm {
namespace {

TEST(Utf8, ValidTextHasNoInvalidOffset) {
    EXPECT_TRUE(utf8::is_valid(""));
    EXPECT_TRUE(utf8::is_valid("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"));
    EXPECT_TRUE(utf8::is_valid("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the largest code point
    EXPECT_EQ(utf8::find_invalid("plain ascii"), std::nullopt);
}

TEST(Utf8, RejectsMalformedSequences) {
    EXPECT_FALSE(utf8::is_valid("\xE2\x82"));          // truncated
    EXPECT_FALSE(utf8::is_valid("\xC0\xAF"));          // overlong (2 bytes)
    EXPECT_FALSE(utf8::is_valid("\xE0\x80\xAF"));      // overlong (3 bytes)
    EXPECT_FALSE(utf8::is_valid("\xF0\x80\x80\xAF"));  // overlong (4 bytes)
    EXPECT_FALSE(utf8::is_valid("\xED\xA0\x80"));      // surrogate
    EXPECT_FALSE(utf8::is_valid("\xF4\x90\x80\x80"));  // above U+10FFFF
    EXPECT_FALSE(utf8::is_valid("\xAC"));              // a lone continuation byte
    EXPECT_FALSE(utf8::is_valid("\xF5\x80\x80\x80"));  // not a lead byte
}

TEST(Utf8, FindInvalidGivesTheOffsetOfTheFirstBadSequence) {
    EXPECT_EQ(utf8::find_invalid("ab\xFF" "cd"), 2u);
    EXPECT_EQ(utf8::find_invalid("\xC3\xA9\xC3"), 2u);                 // cut short at the end
    EXPECT_EQ(utf8::find_invalid("\xE2\x82\xAC x \xED\xA0\x80 \xFF"), 6u);  // the surrogate, not the 0xFF
}

TEST(Utf8, SanitizeReplacesEachBadByte) {
    EXPECT_EQ(utf8::sanitize("a\xFF\xFE" "b"), "a\xEF\xBF\xBD\xEF\xBF\xBD" "b");
    EXPECT_EQ(utf8::sanitize("\xC3\xA9"), "\xC3\xA9");
}

}  // namespace
}  // namespace qlm
