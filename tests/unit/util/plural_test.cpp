#include "src/util/plural.h"

#include <gtest/gtest.h>

namespace qlm {
namespace {

TEST(Plural, SingularOnlyForExactlyOne) {
    EXPECT_EQ(counted(1, "token"), "1 token");
    EXPECT_EQ(counted(0, "token"), "0 tokens");
    EXPECT_EQ(counted(2, "thread"), "2 threads");
    EXPECT_EQ(counted(-1, "token"), "-1 tokens");
    EXPECT_EQ(counted(1, "entry", "entries"), "1 entry");
    EXPECT_EQ(counted(3, "entry", "entries"), "3 entries");
}

}  // namespace
}  // namespace qlm
