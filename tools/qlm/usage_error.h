// A bad command line found once the flags have parsed (a value out of range, flags that conflict,
// a missing input): main prints "qlm: error: <message>" on one line and exits 2, as it does for
// the command-line errors CLI11 finds. Exit 1 stays for everything else (a file that cannot be
// read, a model qlm cannot run, a prompt too large for the model).
//
//   if (o.n_batch < 1) throw_usage("-b {}: the batch size must be at least 1", o.n_batch);
//   as_usage([&] { validate(sampling_params); });   // a library check that names the flag
#pragma once

#include <utility>

#include <fmt/format.h>

#include "src/util/error.h"

namespace qlm::cli {

constexpr int kExitUsage = 2;

class UsageError : public Error {
public:
    using Error::Error;
};

template <typename... Args>
[[noreturn]] void throw_usage(fmt::format_string<Args...> f, Args&&... args) {
    throw UsageError(fmt::format(f, std::forward<Args>(args)...));
}

// Runs a library check of flag values (validate(SamplingParams), validate(GenerateOptions) ...) and
// turns its qlm::Error, which names the flag, into a UsageError.
template <typename Check>
void as_usage(Check&& check) {
    try {
        std::forward<Check>(check)();
    } catch (const UsageError&) {
        throw;
    } catch (const Error& e) {
        throw UsageError(e.what());
    }
}

}  // namespace qlm::cli
