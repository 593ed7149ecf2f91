// UTF-8 helpers shared by the tokenizers: strict decoding of one character, encoding a code
// point, and the replacement of invalid bytes by U+FFFD.
#pragma once

#include <cstddef>
#include <cstdint>
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

}  // namespace qlm::utf8
