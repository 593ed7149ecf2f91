#include "tools/qlm/thread_flag.h"

#include <charconv>
#include <string>

#include <fmt/format.h>

#include "src/util/cpu_info.h"

namespace qlm::cli {

CLI::Validator thread_count_limit() {
    return CLI::Validator(
        [](std::string& value) -> std::string {
            // Items that are not numbers are left to the option's own conversion and its message.
            size_t start = 0;
            while (start <= value.size()) {
                const size_t comma = std::min(value.find(',', start), value.size());
                const char *first = value.data() + start, *last = value.data() + comma;
                long long n = 0;
                const auto [ptr, ec] = std::from_chars(first, last, n);
                if ((ec == std::errc::result_out_of_range || (ec == std::errc() && n > max_threads())) && ptr == last)
                    return fmt::format("{} is more than {}× the {} logical cores (at most {})",
                                       std::string(first, last), kMaxThreadsPerCore, logical_cores(), max_threads());
                start = comma + 1;
            }
            return "";
        },
        "", "thread count limit");
}

}  // namespace qlm::cli
