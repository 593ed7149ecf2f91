#include "src/tokenizer/tokenizer_impl.h"

#include <queue>

#include "src/tokenizer/byte_map.h"
#include "src/util/utf8.h"

namespace qlm {
namespace {

struct Symbol {
    int prev, next;
    size_t offset, n;
};

struct Bigram {
    int left, right;
    int rank;
    size_t left_n, right_n;  // sizes when queued, to detect stale entries
};

// Lowest rank first; equal ranks: leftmost first.
struct BigramOrder {
    bool operator()(const Bigram& l, const Bigram& r) const {
        return l.rank > r.rank || (l.rank == r.rank && l.left > r.left);
    }
};

}  // namespace

int BpeTokenizer::rank(const std::string& left, const std::string& right, std::string& scratch) const {
    scratch.assign(left);
    scratch += ' ';
    scratch += right;
    const auto it = ranks_.find(scratch);
    return it == ranks_.end() ? -1 : it->second;
}

void BpeTokenizer::encode_word(const std::string& word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (ignore_merges_) {
        const auto it = token_to_id_.find(word);
        if (it != token_to_id_.end()) {
            out.push_back(it->second);
            return;
        }
    }
    std::vector<Symbol> symbols;
    for (size_t off = 0; off < word.size();) {
        const size_t len = std::min(utf8::lead_length(static_cast<unsigned char>(word[off])), word.size() - off);
        const int index = static_cast<int>(symbols.size());
        symbols.push_back({index - 1, off + len == word.size() ? -1 : index + 1, off, len});
        off += len;
    }

    std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
    std::string left, right, scratch;
    auto try_add = [&](int l, int r) {
        if (l < 0 || r < 0) return;
        left.assign(word, symbols[l].offset, symbols[l].n);
        right.assign(word, symbols[r].offset, symbols[r].n);
        const int rk = rank(left, right, scratch);
        if (rk < 0) return;
        queue.push({l, r, rk, symbols[l].n, symbols[r].n});
    };
    for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);

    while (!queue.empty()) {
        const Bigram b = queue.top();
        queue.pop();
        Symbol& l = symbols[b.left];
        Symbol& r = symbols[b.right];
        // Symbols only grow to the right and neighbours are contiguous, so equal sizes mean the
        // same text as when the pair was queued.
        if (l.n == 0 || r.n == 0 || l.n != b.left_n || r.n != b.right_n || l.next != b.right) continue;
        l.n += r.n;
        r.n = 0;
        l.next = r.next;
        if (r.next >= 0) symbols[r.next].prev = b.left;
        try_add(l.prev, b.left);
        try_add(b.left, l.next);
    }

    for (int i = 0; i != -1; i = symbols[i].next) {
        const Symbol& s = symbols[i];
        scratch.assign(word, s.offset, s.n);
        const auto it = token_to_id_.find(scratch);
        if (it != token_to_id_.end()) {
            out.push_back(it->second);
            continue;
        }
        // llama.cpp's fallback: each byte of the piece as a one-byte token, when there is one.
        for (char c : scratch) {
            const auto bt = token_to_id_.find(std::string(1, c));
            if (bt != token_to_id_.end()) out.push_back(bt->second);
        }
    }
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, const EncodeOptions& opts) const {
    std::vector<int32_t> out;
    if (opts.add_bos && bos_ >= 0) out.push_back(bos_);
    for (const Fragment& f : split_special(text, opts.parse_special)) {
        if (f.token >= 0) {
            out.push_back(f.token);
            continue;
        }
        // Invalid UTF-8 becomes U+FFFD (as llama.cpp's unicode_cpts_from_utf8 does).
        const std::string clean = utf8::sanitize(text.substr(f.offset, f.length));
        for (std::string_view piece : pre_tokenizer_->split(clean)) encode_word(byte_map::encode(piece), out);
    }
    if (opts.add_eos && eos_ >= 0) out.push_back(eos_);
    return out;
}

std::string BpeTokenizer::token_to_piece(int32_t id, bool render_special) const {
    check_id(id);
    const std::string& text = tokens_[static_cast<size_t>(id)];
    switch (token_type(id)) {
        case TokenType::Control:
        case TokenType::Unknown:
            return render_special ? text : std::string();
        case TokenType::UserDefined:
            return text;
        case TokenType::Normal:
            return byte_map::decode(text);
        case TokenType::Byte: {
            auto hexval = [](char c) {
                if (c >= '0' && c <= '9') return c - '0';
                if (c >= 'A' && c <= 'F') return c - 'A' + 10;
                if (c >= 'a' && c <= 'f') return c - 'a' + 10;
                return -1;
            };
            if (text.size() == 6 && text.compare(0, 3, "<0x") == 0 && text[5] == '>' &&
                hexval(text[3]) >= 0 && hexval(text[4]) >= 0)
                return std::string(1, static_cast<char>(hexval(text[3]) * 16 + hexval(text[4])));
            return byte_map::decode(text);
        }
        default:
            return std::string();
    }
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids, bool render_special) const {
    std::string out;
    for (int32_t id : ids) out += token_to_piece(id, render_special);
    return out;
}

}  // namespace qlm
