#include "src/tokenizer/tokenizer_impl.h"

#include "src/tokenizer/byte_map.h"
#include "src/tokenizer/pair_merge.h"
#include "src/util/utf8.h"

namespace qlm {

void BpeTokenizer::encode_word(const std::string& word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (ignore_merges_) {
        const auto it = token_to_id_.find(word);
        if (it != token_to_id_.end()) {
            out.push_back(it->second);
            return;
        }
    }
    std::vector<pair_merge::Symbol> symbols = pair_merge::split_characters(word);
    std::string scratch;
    // The lowest merge rank merges first: the priority is the negated rank.
    pair_merge::merge<int>(symbols, [&](const pair_merge::Symbol& l, const pair_merge::Symbol& r, int& priority) {
        scratch.assign(word, l.offset, l.n);
        scratch += ' ';
        scratch.append(word, r.offset, r.n);
        const auto it = ranks_.find(scratch);
        if (it == ranks_.end()) return false;
        priority = -it->second;
        return true;
    });

    pair_merge::for_each_merged(symbols, [&](const pair_merge::Symbol& s) {
        scratch.assign(word, s.offset, s.n);
        const auto it = token_to_id_.find(scratch);
        if (it != token_to_id_.end()) {
            out.push_back(it->second);
            return;
        }
        // llama.cpp's fallback: each byte of the piece as a one-byte token, when there is one.
        for (char c : scratch) {
            const auto bt = token_to_id_.find(std::string(1, c));
            if (bt != token_to_id_.end()) out.push_back(bt->second);
        }
    });
}

void BpeTokenizer::encode_fragment(std::string_view text, bool, std::vector<int32_t>& out) const {
    // Invalid UTF-8 becomes U+FFFD (as llama.cpp's unicode_cpts_from_utf8 does).
    const std::string clean = utf8::sanitize(text);
    for (std::string_view piece : pre_tokenizer_->split(clean)) encode_word(byte_map::encode(piece), out);
}

std::string BpeTokenizer::normal_piece(const std::string& text) const { return byte_map::decode(text); }

std::string BpeTokenizer::malformed_byte_piece(const std::string& text) const { return byte_map::decode(text); }

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids, bool render_special) const {
    std::string out;
    for (int32_t id : ids) out += token_to_piece(id, render_special);
    return out;
}

}  // namespace qlm
