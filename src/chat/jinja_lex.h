// Lexing of chat templates (jinja_lex.cpp, internal to src/chat): the source cut into text and
// tags, with Hugging Face's trim_blocks and lstrip_blocks and the "-"/"+" whitespace markers
// applied, and each tag cut into tokens for the parser (jinja_parse.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qlm::jinja {

struct Tok {
    enum class Kind { Name, String, Int, Float, Op, End } kind = Kind::End;
    std::string text;  // Name/Op text, String value
    int64_t i = 0;
    double f = 0;
};

struct Chunk {
    enum class Kind { Text, Expr, Stmt } kind;
    std::string text;       // Text
    std::vector<Tok> toks;  // Expr/Stmt: the tag's tokens, ending with an End token
    int line = 0;
};

// Text, {{ }} and {% %} chunks in source order ({# #} comments are dropped). qlm::Error for an
// unclosed or empty tag, an unterminated string, an unexpected character or an integer literal
// that does not fit 64 bits.
std::vector<Chunk> split_chunks(std::string_view src);

}  // namespace qlm::jinja
