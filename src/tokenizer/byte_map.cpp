#include "src/tokenizer/byte_map.h"

#include <array>

#include "src/util/utf8.h"

namespace qlm::byte_map {
namespace {

struct Tables {
    std::array<std::string, 256> to_utf8;
    std::array<int16_t, 512> from_cp;  // every mapped code point is below 0x144
    Tables() {
        from_cp.fill(-1);
        auto self = [](int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
        int n = 0;
        for (int b = 0; b < 256; ++b) {
            const uint32_t cp = self(b) ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
            to_utf8[b] = utf8::encode(cp);
            from_cp[cp] = static_cast<int16_t>(b);
        }
    }
};

const Tables& tables() {
    static const Tables t;
    return t;
}

}  // namespace

const std::string& byte_to_utf8(uint8_t b) { return tables().to_utf8[b]; }

std::string encode(std::string_view bytes) {
    const Tables& t = tables();
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) out += t.to_utf8[static_cast<uint8_t>(c)];
    return out;
}

int cp_to_byte(uint32_t cp) {
    return cp < 512 ? tables().from_cp[cp] : -1;
}

std::string decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
        uint32_t cp = 0;
        const size_t n = utf8::decode(text, i, cp);
        if (n == 0) {  // not UTF-8: keep the byte
            out += text[i++];
            continue;
        }
        const int b = cp_to_byte(cp);
        if (b >= 0) {
            out += static_cast<char>(b);
        } else {
            out.append(text.substr(i, n));
        }
        i += n;
    }
    return out;
}

}  // namespace qlm::byte_map
