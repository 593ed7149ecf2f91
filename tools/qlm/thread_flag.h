// The bound every -t/--threads flag checks while the command line is parsed (exit 2, one line):
// each count, or each item of bench's comma-separated list, at most max_threads()
// (src/util/cpu_info.h), so an absurd count is a command-line error rather than a failure to
// start threads. The library checks the same bound when it builds an inference context.
//
//   app.add_option("-t,--threads", n, "threads")->check(thread_count_limit());
#pragma once

#include <CLI/CLI.hpp>

namespace qlm::cli {

CLI::Validator thread_count_limit();

}  // namespace qlm::cli
