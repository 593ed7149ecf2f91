// The process's one interrupt flag. Signals are process-wide, so there is exactly one flag: an
// InterruptScope makes the signals it names (Ctrl-C's SIGINT; for long jobs also SIGTERM and
// SIGHUP) set it while the scope lives. Long loops read it through their cancel pointers
// (GenerateOptions::cancel, QuantizeOptions::cancel), the chat's line reader polls it.
//
//   InterruptScope scope({SIGINT, SIGTERM, SIGHUP});   // flag cleared, handlers installed
//   opts.cancel = &interrupt_flag();
//   run(opts);                                           // handlers restored when scope ends
#pragma once

#include <atomic>
#include <csignal>
#include <initializer_list>
#include <utility>
#include <vector>

namespace qlm {

std::atomic<bool>& interrupt_flag();

class InterruptScope {
public:
    // Clears the flag and installs a handler that sets it for each signal, without SA_RESTART
    // (a blocking read or select returns EINTR, so a waiting loop sees the flag).
    explicit InterruptScope(std::initializer_list<int> signals = {SIGINT});
    ~InterruptScope();  // the previous handlers come back
    InterruptScope(const InterruptScope&) = delete;
    InterruptScope& operator=(const InterruptScope&) = delete;

private:
    std::vector<std::pair<int, struct sigaction>> previous_;
};

}  // namespace qlm
