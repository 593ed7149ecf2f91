// Logits with some tokens made impossible: the end-of-generation tokens while --ignore-eos holds
// them back, in plain generation (generate.cpp) and in a drafter and its target (speculative.cpp).
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace qlm {

// `logits` itself when `banned` is empty; else a copy in `buf` with every banned id at −inf.
inline std::span<const float> without_tokens(std::span<const float> logits, std::span<const int32_t> banned,
                                             std::vector<float>& buf) {
    if (banned.empty()) return logits;
    buf.assign(logits.begin(), logits.end());
    for (int32_t id : banned) buf[static_cast<size_t>(id)] = -std::numeric_limits<float>::infinity();
    return buf;
}

}  // namespace qlm
