// GPT-2's byte-level encoding: every byte maps to one printable code point (printable ASCII and
// Latin-1 stand for themselves, the other 68 bytes become U+0100..U+0143), so any byte string
// becomes a string of "visible" characters that BPE vocabularies store.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace qlm::byte_map {

// UTF-8 of the code point that stands for byte b.
const std::string& byte_to_utf8(uint8_t b);
// Every byte of `bytes` replaced by its code point's UTF-8.
std::string encode(std::string_view bytes);
// The byte a code point stands for, or -1 when it stands for none.
int cp_to_byte(uint32_t cp);
// Undoes encode(): characters that stand for no byte are kept as they are.
std::string decode(std::string_view text);

}  // namespace qlm::byte_map
