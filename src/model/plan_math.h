// Arithmetic of memory plans (KV cache, attention scratch, context layout): sizes computed from
// model dimensions and user options, which throw qlm::Error instead of wrapping around.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "src/util/checked_math.h"
#include "src/util/error.h"

namespace qlm::plan_math {

[[noreturn]] inline void overflow() { throw_error("memory plan: size overflows 64 bits (use a smaller -c / context)"); }

// A dimension as a size: negative values count as 0.
inline uint64_t u(int64_t v) { return v < 0 ? 0 : static_cast<uint64_t>(v); }

inline uint64_t mul(std::initializer_list<uint64_t> factors) {
    uint64_t r = 1;
    for (uint64_t f : factors) {
        const auto m = checked_mul(r, f);
        if (!m) overflow();
        r = *m;
    }
    return r;
}

inline uint64_t add(std::initializer_list<uint64_t> terms) {
    uint64_t r = 0;
    for (uint64_t t : terms) {
        const auto s = checked_add(r, t);
        if (!s) overflow();
        r = *s;
    }
    return r;
}

}  // namespace qlm::plan_math
