#include "src/util/utf8.h"

namespace qlm::utf8 {

size_t lead_length(unsigned char c) {
    static constexpr size_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}

size_t decode(std::string_view s, size_t pos, uint32_t& cp, bool* prefix_ok) {
    if (prefix_ok) *prefix_ok = false;
    if (pos >= s.size()) return 0;
    const auto b0 = static_cast<unsigned char>(s[pos]);
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        n = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        n = 3;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        n = 4;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    uint32_t v = b0 & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
        if (pos + k >= s.size()) {
            if (prefix_ok) *prefix_ok = true;
            return 0;
        }
        const auto b = static_cast<unsigned char>(s[pos + k]);
        const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (b < l || b > h) return 0;
        v = (v << 6) | (b & 0x3F);
    }
    cp = v;
    return n;
}

void append(std::string& out, uint32_t cp) {
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        out += kReplacement;
    } else if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::string encode(uint32_t cp) {
    std::string out;
    append(out, cp);
    return out;
}

std::string sanitize(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        uint32_t cp = 0;
        const size_t n = decode(s, i, cp);
        if (n == 0) {
            out += kReplacement;  // like llama.cpp: one U+FFFD per byte that does not decode
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

std::optional<size_t> find_invalid(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        uint32_t cp = 0;
        const size_t n = decode(s, i, cp);
        if (n == 0) return i;
        i += n;
    }
    return std::nullopt;
}

}  // namespace qlm::utf8

namespace qlm {

// Emits every complete character; an invalid sequence becomes one U+FFFD per maximal invalid
// part; a valid but unfinished tail waits for the next push.
std::string Utf8Stream::push(std::string_view bytes) {
    pending_.append(bytes);
    std::string out;
    size_t i = 0;
    while (i < pending_.size()) {
        uint32_t cp = 0;
        bool prefix_ok = false;
        const size_t n = utf8::decode(pending_, i, cp, &prefix_ok);
        if (n > 0) {
            out.append(pending_, i, n);
            i += n;
            continue;
        }
        if (prefix_ok) break;  // incomplete character at the end: keep it
        out += utf8::kReplacement;
        // Skip the lead byte and the continuation bytes that were valid so far.
        size_t skip = 1;
        const auto b0 = static_cast<unsigned char>(pending_[i]);
        if (b0 >= 0xC2 && b0 <= 0xF4) {
            while (i + skip < pending_.size() && skip < utf8::lead_length(b0)) {
                uint32_t dummy = 0;
                bool ok = false;
                // A prefix is valid as long as decoding the first skip+1 bytes reports "cut short".
                utf8::decode(std::string_view(pending_).substr(i, skip + 1), 0, dummy, &ok);
                if (!ok) break;
                ++skip;
            }
        }
        i += skip;
    }
    pending_.erase(0, i);
    return out;
}

std::string Utf8Stream::flush() {
    std::string out = push("");
    if (!pending_.empty()) {
        out += utf8::kReplacement;  // a truncated character
        pending_.clear();
    }
    return out;
}

}  // namespace qlm
