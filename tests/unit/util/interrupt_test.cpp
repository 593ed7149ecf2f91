// The interrupt flag: a scope's signals set it, and the handlers that were there before come back
// when the scope ends.
#include <gtest/gtest.h>

#include <csignal>

#include "src/util/interrupt.h"

namespace qlm {
namespace {

volatile std::sig_atomic_t g_outer_calls = 0;
void outer_handler(int) { g_outer_calls = g_outer_calls + 1; }

TEST(Interrupt, ScopeSetsTheFlagAndRestoresTheHandlers) {
    struct sigaction outer {}, saved_int {}, saved_term {};
    outer.sa_handler = outer_handler;
    sigemptyset(&outer.sa_mask);
    ASSERT_EQ(sigaction(SIGINT, &outer, &saved_int), 0);
    ASSERT_EQ(sigaction(SIGTERM, &outer, &saved_term), 0);
    interrupt_flag().store(true);
    {
        InterruptScope scope({SIGINT, SIGTERM});
        EXPECT_FALSE(interrupt_flag().load());  // cleared when the scope starts
        std::raise(SIGTERM);
        EXPECT_TRUE(interrupt_flag().load());
        interrupt_flag().store(false);
        std::raise(SIGINT);
        EXPECT_TRUE(interrupt_flag().load());
        EXPECT_EQ(g_outer_calls, 0);
    }
    interrupt_flag().store(false);
    std::raise(SIGINT);  // the outer handler again, not the flag
    EXPECT_EQ(g_outer_calls, 1);
    EXPECT_FALSE(interrupt_flag().load());
    sigaction(SIGINT, &saved_int, nullptr);
    sigaction(SIGTERM, &saved_term, nullptr);
}

}  // namespace
}  // namespace qlm
