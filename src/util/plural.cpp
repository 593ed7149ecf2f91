#include "src/util/plural.h"

#include <fmt/format.h>

namespace qlm {

std::string counted(int64_t n, std::string_view singular, std::string_view plural) {
    if (n == 1) return fmt::format("1 {}", singular);
    if (plural.empty()) return fmt::format("{} {}s", n, singular);
    return fmt::format("{} {}", n, plural);
}

}  // namespace qlm
