// StopStringFilter: what is released, held back and dropped, byte by byte.
#include <string>

#include <gtest/gtest.h>

#include "src/generate/stop_strings.h"

namespace qlm {
namespace {

TEST(StopStringFilter, NoStopsReleasesEverything) {
    StopStringFilter f({});
    EXPECT_EQ(f.push("abc"), "abc");
    EXPECT_EQ(f.flush(), "");
    EXPECT_FALSE(f.stopped());
}

TEST(StopStringFilter, HoldsTheLongestPossiblePrefix) {
    StopStringFilter f({"</s>", "END"});
    EXPECT_EQ(f.push("ab<"), "ab");
    EXPECT_EQ(f.push("/"), "");
    EXPECT_EQ(f.push("x"), "</x");  // diverged: released in full
    EXPECT_EQ(f.push("E"), "");
    EXPECT_EQ(f.push("N"), "");
    EXPECT_EQ(f.flush(), "EN");
    EXPECT_FALSE(f.stopped());
}

TEST(StopStringFilter, StopsAndDropsTheRest) {
    StopStringFilter f({"END"});
    EXPECT_EQ(f.push("okE"), "ok");
    EXPECT_EQ(f.push("ND and more"), "");
    EXPECT_TRUE(f.stopped());
    EXPECT_EQ(f.push("later"), "");
    EXPECT_EQ(f.flush(), "");
}

TEST(StopStringFilter, EarliestOfSeveralStopsWins) {
    StopStringFilter f({"cd", "abcdef"});
    EXPECT_EQ(f.push("xab"), "x");     // "ab" could start "abcdef"
    EXPECT_EQ(f.push("cdefg"), "");    // "xabcdefg": "abcdef" starts right after "x"
    EXPECT_TRUE(f.stopped());

    StopStringFilter g({"cd", "abcdef"});
    EXPECT_EQ(g.push("xab"), "x");
    EXPECT_EQ(g.push("cd"), "ab");     // "xabcd" contains "cd"; "abcdef" is still incomplete
    EXPECT_TRUE(g.stopped());
}

TEST(StopStringFilter, OverlappingSelfPrefix) {
    StopStringFilter f({"aab"});
    EXPECT_EQ(f.push("a"), "");
    EXPECT_EQ(f.push("a"), "");
    EXPECT_EQ(f.push("a"), "a");  // "aaa": the last "aa" could still become "aab"
    EXPECT_EQ(f.push("b"), "");
    EXPECT_TRUE(f.stopped());
}

TEST(StopStringFilter, EmptyStopStringsAreIgnored) {
    StopStringFilter f({"", "Z"});
    EXPECT_EQ(f.push("abc"), "abc");
    EXPECT_FALSE(f.stopped());
}

}  // namespace
}  // namespace qlm
