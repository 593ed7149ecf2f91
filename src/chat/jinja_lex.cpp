#include "src/chat/jinja_lex.h"

#include <cctype>
#include <charconv>
#include <cstring>

#include "src/chat/jinja_ast.h"

namespace qlm::jinja {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// ---- tokens of one tag ----

Tok lex_name(std::string_view s, size_t& i) {
    size_t j = i;
    while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
    Tok t;
    t.kind = Tok::Kind::Name;
    t.text = std::string(s.substr(i, j - i));
    i = j;
    return t;
}

// An integer (digits with optional "_" separators) or a float (a fraction and/or an exponent:
// 1.5, 1e20, 2.5E-3).
Tok lex_number(std::string_view s, size_t& i, int line) {
    size_t j = i;
    while (j < s.size() && (is_digit(s[j]) || s[j] == '_')) ++j;
    bool is_float = j + 1 < s.size() && s[j] == '.' && is_digit(s[j + 1]);
    if (is_float) {
        ++j;
        while (j < s.size() && is_digit(s[j])) ++j;
    }
    if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
        size_t k = j + 1;
        if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
        if (k < s.size() && is_digit(s[k])) {
            while (k < s.size() && is_digit(s[k])) ++k;
            j = k;
            is_float = true;
        }
    }
    std::string num;
    for (size_t k = i; k < j; ++k)
        if (s[k] != '_') num += s[k];
    Tok t;
    if (is_float) {
        t.kind = Tok::Kind::Float;
        t.f = std::strtod(num.c_str(), nullptr);
    } else {
        t.kind = Tok::Kind::Int;
        auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), t.i);
        if (ec != std::errc() || end != num.data() + num.size())
            fail(line, "integer literal " + num.substr(0, 40) + " is too large");
    }
    i = j;
    return t;
}

// A quoted string at s[i] with the escapes \n \t \r \\ \' \" (any other backslash is kept).
Tok lex_string(std::string_view s, size_t& i, int line) {
    const char quote = s[i];
    size_t j = i + 1;
    std::string v;
    for (;;) {
        if (j >= s.size()) fail(line, "unterminated string literal");
        char d = s[j];
        if (d == quote) break;
        if (d == '\\' && j + 1 < s.size()) {
            char e = s[j + 1];
            switch (e) {
                case 'n': v += '\n'; break;
                case 't': v += '\t'; break;
                case 'r': v += '\r'; break;
                case '\\': v += '\\'; break;
                case '\'': v += '\''; break;
                case '"': v += '"'; break;
                default: v += '\\'; v += e; break;
            }
            j += 2;
            continue;
        }
        v += d;
        ++j;
    }
    Tok t;
    t.kind = Tok::Kind::String;
    t.text = std::move(v);
    i = j + 1;
    return t;
}

Tok lex_operator(std::string_view s, size_t& i, int line) {
    static const char* two[] = {"==", "!=", "<=", ">=", "//", "**"};
    const char c = s[i];
    Tok t;
    t.kind = Tok::Kind::Op;
    t.text.assign(1, c);
    for (const char* op : two)
        if (s.substr(i, 2) == op) t.text = std::string_view(op, 2);
    if (!std::strchr("+-*/%~|.,:()[]{}<>=!", c)) fail(line, fmt::format("unexpected character '{}'", c));
    i += t.text.size();
    return t;
}

std::vector<Tok> tokenize(std::string_view s, int line) {
    std::vector<Tok> out;
    size_t i = 0;
    while (i < s.size()) {
        const char c = s[i];
        if (is_space(c)) {
            ++i;
        } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            out.push_back(lex_name(s, i));
        } else if (is_digit(c)) {
            out.push_back(lex_number(s, i, line));
        } else if (c == '\'' || c == '"') {
            out.push_back(lex_string(s, i, line));
        } else {
            out.push_back(lex_operator(s, i, line));
        }
    }
    out.push_back(Tok{});
    return out;
}

// ---- text and tags ----

// The next "{{", "{%" or "{#" at or after pos, or npos.
size_t find_tag_open(std::string_view src, size_t pos) {
    size_t open = src.find('{', pos);
    while (open != std::string_view::npos && open + 1 < src.size() && src[open + 1] != '{' &&
           src[open + 1] != '%' && src[open + 1] != '#')
        open = src.find('{', open + 1);
    if (open != std::string_view::npos && open + 1 >= src.size()) open = std::string_view::npos;
    return open;
}

// The closing "}}", "%}" or "#}" of a tag whose body starts at `inner`, skipping string literals
// (not in comments); npos when there is none.
size_t find_tag_close(std::string_view src, size_t inner, char kind) {
    const char close0 = kind == '{' ? '}' : kind;
    size_t k = inner;
    char quote = 0;
    while (k + 1 < src.size()) {
        char c = src[k];
        if (quote) {
            if (c == '\\') { k += 2; continue; }
            if (c == quote) quote = 0;
        } else if (kind != '#' && (c == '\'' || c == '"')) {
            quote = c;
        } else if (c == close0 && src[k + 1] == '}') {
            return k;
        }
        ++k;
    }
    return std::string_view::npos;
}

// Walks the source: text up to each tag, then the tag, carrying the whitespace control that a
// tag applies to the text after it.
class Splitter {
public:
    explicit Splitter(std::string_view src) : src_(src) {}

    std::vector<Chunk> run() {
        while (pos_ <= src_.size()) {
            const size_t open = find_tag_open(src_, pos_);
            const size_t text_end = open == std::string_view::npos ? src_.size() : open;
            size_t text_start = pos_;
            std::string text = text_after_tag(text_end, text_start);
            const int text_line = line_;
            count_lines(pos_, text_end);
            if (open == std::string_view::npos) {
                add_text(std::move(text), text_line);
                break;
            }
            read_tag(open, std::move(text), text_start, text_line);
            if (pos_ == src_.size()) break;
        }
        return std::move(chunks_);
    }

private:
    // The text from pos_ to text_end, less the leading whitespace the previous tag strips: all of
    // it after a "-" marker, one newline after a block tag (trim_blocks).
    std::string text_after_tag(size_t text_end, size_t& text_start) {
        std::string text(src_.substr(pos_, text_end - pos_));
        if (strip_next_) {
            size_t k = 0;
            while (k < text.size() && is_space(text[k])) ++k;
            text.erase(0, k);
            text_start += k;
        } else if (trim_newline_) {
            if (text.rfind("\r\n", 0) == 0) text.erase(0, 2), text_start += 2;
            else if (text.rfind("\n", 0) == 0) text.erase(0, 1), text_start += 1;
        }
        strip_next_ = trim_newline_ = false;
        return text;
    }

    // The tag at `open`, after the text before it (which the tag's "-" marker or lstrip_blocks
    // trims at its end).
    void read_tag(size_t open, std::string text, size_t text_start, int text_line) {
        const char kind = src_[open + 1];
        size_t inner = open + 2;
        const bool strip_before = inner < src_.size() && src_[inner] == '-';
        const bool keep_lstrip = inner < src_.size() && src_[inner] == '+';
        if (strip_before || keep_lstrip) ++inner;
        if (strip_before) {
            while (!text.empty() && is_space(text.back())) text.pop_back();
        } else if (kind != '{' && !keep_lstrip) {
            // lstrip_blocks: spaces and tabs between the start of the line and a block tag.
            size_t k = open;
            while (k > text_start && (src_[k - 1] == ' ' || src_[k - 1] == '\t')) --k;
            if (k == 0 || src_[k - 1] == '\n') text.resize(text.size() - (open - k));
        }
        add_text(std::move(text), text_line);

        const int tag_line = line_;
        const size_t close = find_tag_close(src_, inner, kind);
        if (close == std::string_view::npos) fail(tag_line, fmt::format("'{{{}' is never closed", kind));
        size_t body_end = close;
        const bool strip_after = body_end > inner && src_[body_end - 1] == '-';
        if (strip_after) --body_end;
        if (kind != '#') {
            std::string_view body = src_.substr(inner, body_end - inner);
            Chunk c{kind == '{' ? Chunk::Kind::Expr : Chunk::Kind::Stmt, "", tokenize(body, tag_line), tag_line};
            if (c.toks.size() == 1) fail(tag_line, kind == '{' ? "empty {{ }}" : "empty {% %}");
            chunks_.push_back(std::move(c));
        }
        count_lines(open, close + 2);
        pos_ = close + 2;
        strip_next_ = strip_after;
        trim_newline_ = kind != '{';
    }

    void add_text(std::string text, int line) {
        if (!text.empty()) chunks_.push_back({Chunk::Kind::Text, std::move(text), {}, line});
    }

    void count_lines(size_t from, size_t to) {
        for (size_t k = from; k < to; ++k)
            if (src_[k] == '\n') ++line_;
    }

    std::string_view src_;
    std::vector<Chunk> chunks_;
    size_t pos_ = 0;
    int line_ = 1;
    bool strip_next_ = false;    // a "-" closing marker: strip the next text's leading whitespace
    bool trim_newline_ = false;  // trim_blocks: drop one newline after a block tag
};

}  // namespace

std::vector<Chunk> split_chunks(std::string_view src) { return Splitter(src).run(); }

}  // namespace qlm::jinja
