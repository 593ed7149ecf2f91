// Small text helpers for the CLI: UTF-8 validation of user input and safe display of token bytes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "src/util/utf8.h"

namespace qlm::cli {

// Byte offset of the first invalid UTF-8 sequence, or nullopt when `s` is valid UTF-8.
inline std::optional<size_t> find_invalid_utf8(std::string_view s) { return utf8::find_invalid(s); }

// Printable form of raw token bytes: valid UTF-8 kept, \n \t \r \\ \' escaped, other control or
// invalid bytes shown as \xNN.
std::string escape_bytes(std::string_view s);

}  // namespace qlm::cli
