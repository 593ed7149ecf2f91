// Safe display of token bytes for the CLI.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "src/util/utf8.h"

namespace qlm::cli {

// Printable form of raw token bytes: valid UTF-8 kept, \n \t \r \\ \' escaped, other control or
// invalid bytes shown as \xNN.
std::string escape_bytes(std::string_view s);

}  // namespace qlm::cli
