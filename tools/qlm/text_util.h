// Small text helpers for the CLI: UTF-8 validation of user input and safe display of token bytes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qlm::cli {

// Byte offset of the first invalid UTF-8 sequence, or nullopt when `s` is valid UTF-8.
std::optional<size_t> find_invalid_utf8(std::string_view s);

// Printable form of raw token bytes: valid UTF-8 kept, \n \t \r \\ \' escaped, other control or
// invalid bytes shown as \xNN.
std::string escape_bytes(std::string_view s);

}  // namespace qlm::cli

namespace qlm::cli {

// Holds back streamed text that could be the start of a stop string, so the output ends just
// before the first stop string and never shows part of one.
class StopFilter {
public:
    explicit StopFilter(std::vector<std::string> stops);
    // Text that is safe to print now; sets stopped() when a stop string appeared (the returned
    // text then ends right before it).
    std::string push(std::string_view text);
    // What is still held back (at the end of generation).
    std::string flush();
    bool stopped() const { return stopped_; }

private:
    std::vector<std::string> stops_;
    std::string held_;
    bool stopped_ = false;
};

}  // namespace qlm::cli
