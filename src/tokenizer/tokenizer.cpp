// Tokenizer's shared parts: token lookups, byte-token text and the special-token partition.
#include "src/tokenizer/tokenizer.h"

#include <algorithm>

#include "src/util/error.h"

namespace qlm {

TokenType Tokenizer::token_type(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= tokens_.size()) return TokenType::Undefined;
    if (types_.empty()) return TokenType::Normal;
    return types_[static_cast<size_t>(id)];
}

bool Tokenizer::is_end_of_generation(int32_t id) const {
    return id >= 0 && std::binary_search(eog_ids_.begin(), eog_ids_.end(), id);
}

int32_t Tokenizer::find_token(std::string_view text) const {
    const auto it = token_to_id_.find(std::string(text));
    return it == token_to_id_.end() ? -1 : it->second;
}

void Tokenizer::check_id(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= tokens_.size())
        throw_error("token id {} is out of range (the vocabulary has {} tokens)", id, tokens_.size());
}

std::optional<char> Tokenizer::byte_token_value(std::string_view text) {
    auto hexval = [](char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    if (text.size() != 6 || !text.starts_with("<0x") || text[5] != '>') return std::nullopt;
    const int hi = hexval(text[3]), lo = hexval(text[4]);
    if (hi < 0 || lo < 0) return std::nullopt;
    return static_cast<char>(hi * 16 + lo);
}

std::vector<Tokenizer::Fragment> Tokenizer::split_special(std::string_view text, bool parse_special) const {
    std::vector<Fragment> frags;
    if (text.empty()) return frags;
    frags.push_back({-1, 0, text.size()});
    auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
    std::vector<Fragment> next;
    for (const int32_t id : special_ids_) {
        const TokenType type = token_type(id);
        if (!parse_special && type != TokenType::UserDefined) continue;
        const std::string& tok = tokens_[static_cast<size_t>(id)];
        const bool rstrip = !rstrip_.empty() && rstrip_[static_cast<size_t>(id)] != 0;
        next.clear();
        bool changed = false;
        for (const Fragment& f : frags) {
            if (f.token >= 0) {
                next.push_back(f);
                continue;
            }
            size_t off = f.offset, len = f.length;
            while (len > 0) {
                const size_t match = text.substr(0, off + len).find(tok, off);
                if (match == std::string_view::npos) {
                    next.push_back({-1, off, len});
                    break;
                }
                changed = true;
                if (match > off) next.push_back({-1, off, match - off});
                next.push_back({id, 0, 0});
                size_t right = match + tok.size();
                size_t right_len = off + len - right;
                if (rstrip) {
                    while (right_len > 0 && is_space(text[right])) {
                        ++right;
                        --right_len;
                    }
                }
                off = right;
                len = right_len;
            }
        }
        if (changed) frags.swap(next);
    }
    return frags;
}

}  // namespace qlm
