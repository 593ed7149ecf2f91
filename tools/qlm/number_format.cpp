#include "tools/qlm/number_format.h"

#include <fmt/format.h>

namespace qlm::cli {

std::string format_count(uint64_t n) {
    double v = static_cast<double>(n);
    if (n >= 1000000000ull) return fmt::format("{:.2f} B", v / 1e9);
    if (n >= 1000000ull) return fmt::format("{:.2f} M", v / 1e6);
    if (n >= 1000ull) return fmt::format("{:.2f} K", v / 1e3);
    return fmt::format("{}", n);
}

std::string with_commas(uint64_t n) {
    std::string digits = std::to_string(n), out;
    int k = 0;
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
        if (k && k % 3 == 0) out.push_back(',');
        out.push_back(*it);
        ++k;
    }
    return std::string(out.rbegin(), out.rend());
}

}  // namespace qlm::cli
