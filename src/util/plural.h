// A count with its noun, singular for exactly one: "1 token", "2 tokens", "0 messages",
// "1 exchange"; an irregular plural is given: counted(n, "entry", "entries").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace qlm {

std::string counted(int64_t n, std::string_view singular, std::string_view plural = {});

}  // namespace qlm
