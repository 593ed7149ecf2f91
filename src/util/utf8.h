// UTF-8: strict decoding of one character, encoding a code point, validation, the replacement
// of invalid bytes by U+FFFD, and an incremental decoder for streamed output. Used by the
// tokenizers, the logits dumps and the CLI's input checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qlm::utf8 {

inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the sequence a lead byte announces, as llama.cpp counts it (by its high nibble;
// continuation bytes count as 1). Never 0.
size_t lead_length(unsigned char c);

// Decodes one well-formed character at s[pos] (no overlongs, surrogates or values > U+10FFFF).
// Returns its length (1-4) and sets cp, or 0 when the bytes there are not a complete valid
// character. `prefix_ok` (optional) is set when they are the valid start of a character that
// the string cuts short.
size_t decode(std::string_view s, size_t pos, uint32_t& cp, bool* prefix_ok = nullptr);

// UTF-8 of a code point (values above U+10FFFF and surrogates give U+FFFD).
std::string encode(uint32_t cp);
void append(std::string& out, uint32_t cp);

// `s` with every byte that does not belong to a valid character replaced by U+FFFD.
std::string sanitize(std::string_view s);

// Byte offset of the first sequence that is not a complete valid character, or nullopt when `s`
// is valid UTF-8 throughout.
std::optional<size_t> find_invalid(std::string_view s);
inline bool is_valid(std::string_view s) { return !find_invalid(s).has_value(); }

}  // namespace qlm::utf8

namespace qlm {

// Incremental UTF-8 decoder for streaming output: push() returns only whole characters and
// keeps an incomplete tail for the next call; flush() returns what is left, with invalid or
// truncated sequences replaced by U+FFFD.
class Utf8Stream {
public:
    std::string push(std::string_view bytes);
    std::string flush();

private:
    std::string pending_;
};

}  // namespace qlm
