// Numbers as the subcommands print them.
#pragma once

#include <cstdint>
#include <string>

namespace qlm::cli {

// "292.80 K", "7.62 B".
std::string format_count(uint64_t n);
// "1,185,376"
std::string with_commas(uint64_t n);

}  // namespace qlm::cli
