#include "src/tokenizer/tokenizer_impl.h"

#include <queue>

#include "src/util/utf8.h"

namespace qlm {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

struct Symbol {
    int prev, next;
    size_t offset, n;  // bytes of the text
};

struct Bigram {
    int left, right;
    float score;
    size_t size;
};

// Highest score first; equal scores: leftmost first.
struct BigramOrder {
    bool operator()(const Bigram& l, const Bigram& r) const {
        return l.score < r.score || (l.score == r.score && l.left > r.left);
    }
};

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
    // Split into UTF-8 characters (by lead byte, as llama.cpp does).
    std::vector<Symbol> symbols;
    symbols.reserve(text.size());
    for (size_t off = 0; off < text.size();) {
        const size_t len = std::min(utf8::lead_length(static_cast<unsigned char>(text[off])), text.size() - off);
        const int index = static_cast<int>(symbols.size());
        symbols.push_back({index - 1, off + len == text.size() ? -1 : index + 1, off, len});
        off += len;
    }
    if (symbols.empty()) return;

    std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
    std::string scratch;
    auto try_add = [&](int left, int right) {
        if (left < 0 || right < 0) return;
        const Symbol& l = symbols[left];
        const Symbol& r = symbols[right];
        scratch.assign(text, l.offset, l.n + r.n);
        const auto it = token_to_id_.find(scratch);
        if (it == token_to_id_.end()) return;
        const float score = scores_.empty() ? 0.0f : scores_[static_cast<size_t>(it->second)];
        queue.push({left, right, score, l.n + r.n});
    };
    for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);

    while (!queue.empty()) {
        const Bigram b = queue.top();
        queue.pop();
        Symbol& l = symbols[b.left];
        Symbol& r = symbols[b.right];
        if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale
        l.n += r.n;
        r.n = 0;
        l.next = r.next;
        if (r.next >= 0) symbols[r.next].prev = b.left;
        try_add(l.prev, b.left);
        try_add(b.left, l.next);
    }

    // Every merged symbol is a token; single characters that are not fall back to bytes.
    for (int i = 0; i != -1; i = symbols[i].next) {
        const Symbol& s = symbols[i];
        scratch.assign(text, s.offset, s.n);
        const auto it = token_to_id_.find(scratch);
        if (it != token_to_id_.end()) {
            out.push_back(it->second);
            continue;
        }
        for (char c : scratch) {
            const int32_t id = byte_tokens_[static_cast<uint8_t>(c)];
            if (id >= 0) {
                out.push_back(id);
            } else if (unk_ >= 0) {
                out.push_back(unk_);
            }
        }
    }
}

std::vector<int32_t> SpmTokenizer::encode(std::string_view text, const EncodeOptions& opts) const {
    std::vector<int32_t> out;
    if (opts.add_bos && bos_ >= 0) out.push_back(bos_);
    bool prev_special = true;  // the first piece of text gets the space prefix
    for (const Fragment& f : split_special(text, opts.parse_special)) {
        if (f.token >= 0) {
            out.push_back(f.token);
            prev_special = true;
            continue;
        }
        std::string piece;
        if (add_space_prefix_ && prev_special) piece = " ";
        piece.append(text.substr(f.offset, f.length));
        encode_text(replace_all(piece, " ", kSpace), out);
        prev_special = false;
    }
    if (opts.add_eos && eos_ >= 0) out.push_back(eos_);
    return out;
}

std::string SpmTokenizer::token_to_piece(int32_t id, bool render_special) const {
    check_id(id);
    const std::string& text = tokens_[static_cast<size_t>(id)];
    switch (token_type(id)) {
        case TokenType::Control:
        case TokenType::Unknown:
            return render_special ? text : std::string();
        case TokenType::UserDefined:
            return text;
        case TokenType::Normal:
            return replace_all(text, kSpace, " ");
        case TokenType::Byte: {
            // "<0xNN>"; anything else (a malformed byte token) reads as plain text.
            auto hexval = [](char c) {
                if (c >= '0' && c <= '9') return c - '0';
                if (c >= 'A' && c <= 'F') return c - 'A' + 10;
                if (c >= 'a' && c <= 'f') return c - 'a' + 10;
                return -1;
            };
            if (text.size() == 6 && text.compare(0, 3, "<0x") == 0 && text[5] == '>' &&
                hexval(text[3]) >= 0 && hexval(text[4]) >= 0)
                return std::string(1, static_cast<char>(hexval(text[3]) * 16 + hexval(text[4])));
            return text;
        }
        default:
            return std::string();  // UNDEFINED / UNUSED: nothing, as llama.cpp
    }
}

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
