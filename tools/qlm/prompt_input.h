// Where a subcommand's input text comes from: -p TEXT, -f FILE, or stdin when neither is given and
// stdin is not a terminal. The text must be valid UTF-8.
#pragma once

#include <string>

namespace qlm::cli {

struct PromptSource {
    std::string text;
    bool has_text = false;  // -p (or the positional text) was given, possibly empty
    std::string file;
};

// Throws qlm::Error: no input at all, an unreadable file, invalid UTF-8 (with the byte offset),
// or an empty text when !allow_empty.
std::string read_prompt(const PromptSource& src, bool allow_empty);

}  // namespace qlm::cli
