// Where a subcommand's input text comes from: -p TEXT, -f FILE, or stdin when neither is given and
// stdin is not a terminal. The text must be valid UTF-8. Text from a file or stdin loses one
// trailing newline, as llama.cpp's -f does ("echo 'Once upon a time' | qlm run" sees the same
// tokens as -p 'Once upon a time'); -p text is kept as given.
#pragma once

#include <string>

namespace qlm::cli {

struct PromptSource {
    std::string text;
    bool has_text = false;  // -p (or the positional text) was given, possibly empty
    std::string file;
    const char* noun = "prompt";  // what the text is, in messages: "cannot read the prompt file"
};

// Throws qlm::Error: no input at all, an unreadable file, invalid UTF-8 (with the byte offset),
// or an empty text when !allow_empty.
std::string read_prompt(const PromptSource& src, bool allow_empty);

}  // namespace qlm::cli
