#include "src/util/interrupt.h"

namespace qlm {

std::atomic<bool>& interrupt_flag() {
    static std::atomic<bool> flag{false};
    return flag;
}

namespace {
void set_interrupt_flag(int) { interrupt_flag().store(true); }
}  // namespace

InterruptScope::InterruptScope(std::initializer_list<int> signals) {
    interrupt_flag().store(false);
    struct sigaction sa {};
    sa.sa_handler = set_interrupt_flag;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART
    for (int sig : signals) {
        struct sigaction old {};
        if (sigaction(sig, &sa, &old) == 0) previous_.emplace_back(sig, old);
    }
}

InterruptScope::~InterruptScope() {
    for (auto it = previous_.rbegin(); it != previous_.rend(); ++it) sigaction(it->first, &it->second, nullptr);
}

}  // namespace qlm
