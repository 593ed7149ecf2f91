// Tokenizer's shared parts: token lookups, the special-token partition around each kind's text
// encoding, and the pieces of special and byte tokens.
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

namespace {

// The byte a byte token's text "<0xNN>" stands for (hex digits in either case); -1 for any other
// text.
int byte_token_value(std::string_view text) {
    auto hexval = [](char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    if (text.size() != 6 || !text.starts_with("<0x") || text[5] != '>') return -1;
    const int hi = hexval(text[3]), lo = hexval(text[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text, const EncodeOptions& opts) const {
    std::vector<int32_t> out;
    if (opts.add_bos && bos_ >= 0) out.push_back(bos_);
    bool after_special = true;  // the start of the input counts as one
    for (const Fragment& f : split_special(text, opts.parse_special)) {
        if (f.token >= 0) {
            out.push_back(f.token);
            after_special = true;
            continue;
        }
        encode_fragment(text.substr(f.offset, f.length), after_special, out);
        after_special = false;
    }
    if (opts.add_eos && eos_ >= 0) out.push_back(eos_);
    return out;
}

std::string Tokenizer::token_to_piece(int32_t id, bool render_special) const {
    check_id(id);
    const std::string& text = tokens_[static_cast<size_t>(id)];
    switch (token_type(id)) {
        case TokenType::Control:
        case TokenType::Unknown:
            return render_special ? text : std::string();
        case TokenType::UserDefined:
            return text;
        case TokenType::Normal:
            return normal_piece(text);
        case TokenType::Byte: {
            const int byte = byte_token_value(text);
            return byte >= 0 ? std::string(1, static_cast<char>(byte)) : malformed_byte_piece(text);
        }
        default:
            return std::string();  // UNDEFINED / UNUSED: nothing, as llama.cpp
    }
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
