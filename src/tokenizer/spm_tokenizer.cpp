#include "src/tokenizer/tokenizer_impl.h"

#include "src/tokenizer/pair_merge.h"

namespace qlm {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (true) {
        const size_t j = s.find(from, i);
        if (j == std::string_view::npos) break;
        out.append(s.substr(i, j - i));
        out.append(to);
        i = j + from.size();
    }
    out.append(s.substr(i));
    return out;
}

}  // namespace

void SpmTokenizer::init_byte_tokens() {
    static const char* hex = "0123456789ABCDEF";
    byte_tokens_.assign(256, -1);
    for (int b = 0; b < 256; ++b) {
        const char name[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
        int32_t id = find_token(name);
        if (id < 0) id = find_token(std::string(1, static_cast<char>(b)));
        byte_tokens_[b] = id;
    }
}

void SpmTokenizer::encode_text(const std::string& text, std::vector<int32_t>& out) const {
    std::vector<pair_merge::Symbol> symbols = pair_merge::split_characters(text);
    std::string scratch;
    pair_merge::merge<float>(symbols, [&](const pair_merge::Symbol& l, const pair_merge::Symbol& r, float& score) {
        scratch.assign(text, l.offset, l.n + r.n);
        const auto it = token_to_id_.find(scratch);
        if (it == token_to_id_.end()) return false;
        score = scores_.empty() ? 0.0f : scores_[static_cast<size_t>(it->second)];
        return true;
    });

    // Every merged symbol is a token; single characters that are not fall back to bytes.
    pair_merge::for_each_merged(symbols, [&](const pair_merge::Symbol& s) {
        scratch.assign(text, s.offset, s.n);
        const auto it = token_to_id_.find(scratch);
        if (it != token_to_id_.end()) {
            out.push_back(it->second);
            return;
        }
        for (char c : scratch) {
            const int32_t id = byte_tokens_[static_cast<uint8_t>(c)];
            if (id >= 0) {
                out.push_back(id);
            } else if (unk_ >= 0) {
                out.push_back(unk_);
            }
        }
    });
}

void SpmTokenizer::encode_fragment(std::string_view text, bool after_special, std::vector<int32_t>& out) const {
    std::string piece;
    if (add_space_prefix_ && after_special) piece = " ";
    piece.append(text);
    encode_text(replace_all(piece, " ", kSpace), out);
}

std::string SpmTokenizer::normal_piece(const std::string& text) const { return replace_all(text, kSpace, " "); }

std::string SpmTokenizer::malformed_byte_piece(const std::string& text) const { return text; }

std::string SpmTokenizer::decode(const std::vector<int32_t>& ids, bool render_special) const {
    std::string out;
    // The space prefix encode() added sits on the first piece after an optional leading BOS.
    const size_t first = (!ids.empty() && bos_ >= 0 && ids[0] == bos_) ? 1 : 0;
    for (size_t i = 0; i < ids.size(); ++i) {
        std::string piece = token_to_piece(ids[i], render_special);
        if (i == first && add_space_prefix_ && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
        out += piece;
    }
    return out;
}

}  // namespace qlm
