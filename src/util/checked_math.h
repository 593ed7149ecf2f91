// Overflow-checked unsigned arithmetic for sizes computed from untrusted numbers.
#pragma once

#include <cstdint>
#include <optional>

namespace qlm {

inline std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b) {
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
    return r;
}

inline std::optional<uint64_t> checked_add(uint64_t a, uint64_t b) {
    uint64_t r;
    if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
    return r;
}

// align_up(p, a) for a power-of-two or any non-zero a; nullopt on overflow.
inline std::optional<uint64_t> checked_align_up(uint64_t p, uint64_t a) {
    uint64_t rem = p % a;
    if (rem == 0) return p;
    return checked_add(p, a - rem);
}

}  // namespace qlm
