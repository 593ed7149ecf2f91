#include "tools/qlm/text_util.h"

#include <fmt/format.h>

namespace qlm::cli {

std::string escape_bytes(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        uint32_t cp = 0;
        const size_t n = utf8::decode(s, i, cp);
        if (n > 1) {
            out.append(s.substr(i, n));
            i += n;
            continue;
        }
        switch (c) {
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            case '\r': out += "\\r"; break;
            case '\\': out += "\\\\"; break;
            case '\'': out += "\\'"; break;
            default:
                if (c < 0x20 || c >= 0x7F) out += fmt::format("\\x{:02x}", c);
                else out.push_back(static_cast<char>(c));
        }
        ++i;
    }
    return out;
}

}  // namespace qlm::cli
