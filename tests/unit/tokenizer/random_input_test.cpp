// Random inputs (fixed seeds) on every vocab: arbitrary bytes never crash or throw, valid UTF-8
// text round trips exactly, and special-token parsing keeps the text.
#include <gtest/gtest.h>

#include <random>

#include "common/test_support.h"
#include "vocab_params.h"
#include "src/gguf/gguf_file.h"
#include "src/tokenizer/tokenizer.h"

namespace {

// Characters from several scripts, whitespace kinds and token-like markup.
const std::vector<std::string> kAlphabet = {
    "a", "Z", "0", "7", " ", "  ", "\n", "\t", "\r", "'", "'s", ".", "!", "<s>", "</s>", "<|endoftext|>",
    "\xC3\xA9", "\xC3\xB5", "\xE2\x96\x81", "\xE3\x80\x80", "\xE4\xBD\xA0", "\xED\x95\x9C", "\xF0\x9F\xA6\x99",
    "\xD0\x96", "\xCE\xA9", "\xE2\x80\xA8", "\xC2\xA0", "\xE2\x84\xA6", "\xEF\xBC\x81", "1234", "hello", " world"};

// `s` with every U+2581 written as a space.
std::string unescape_spm_space(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size();) {
        if (s.compare(i, 3, "\xE2\x96\x81") == 0) {
            out += ' ';
            i += 3;
        } else {
            out += s[i++];
        }
    }
    return out;
}

bool valid_utf8(const std::string& s) {
    qlm::Utf8Stream st;
    return st.push(s) + st.flush() == s;
}

class RandomInput : public ::testing::TestWithParam<std::string> {};

TEST_P(RandomInput, NeverCrashesAndRoundTripsValidText) {
    auto file = qlm::gguf::GgufFile::open(
        qlm::test::shared_file("models/vocab/ggml-vocab-" + GetParam() + ".gguf").string());
    auto tok = qlm::Tokenizer::from_gguf(*file);
    const bool spm = tok->model_name() == "llama";
    std::mt19937 rng(1234);
    for (int iter = 0; iter < 60; ++iter) {
        std::string bytes(rng() % 64, '\0');
        for (char& c : bytes) c = static_cast<char>(rng() & 0xFF);
        const auto ids = tok->encode(bytes, {.add_bos = true, .parse_special = (iter & 1) != 0});
        for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok->n_vocab());
        const std::string back = tok->decode(ids);
        if (spm) {
            // Byte fallback keeps every byte, except that the escaped space U+2581 can come back as
            // its bytes when an invalid lead byte swallows it (as in llama.cpp).
            EXPECT_EQ(unescape_spm_space(back), unescape_spm_space(bytes));
        } else {
            EXPECT_TRUE(valid_utf8(back));  // invalid bytes were read as U+FFFD
        }

        std::string text;
        const size_t n = rng() % 24;
        for (size_t k = 0; k < n; ++k) text += kAlphabet[rng() % kAlphabet.size()];
        const auto plain = tok->encode(text, {.parse_special = false});
        // SentencePiece stores spaces as U+2581, so a literal U+2581 comes back as a space. Phi-3's
        // </s> is USER_DEFINED, always split out, and the text after it gets the space prefix again
        // (llama.cpp does the same), so it does not round trip there.
        if (!(GetParam() == "phi-3" && text.find("</s>") != std::string::npos)) {
            EXPECT_EQ(tok->decode(plain), spm ? unescape_spm_space(text) : text);
        }
        const auto special = tok->encode(text, {.parse_special = true});
        for (int32_t id : special) ASSERT_TRUE(id >= 0 && id < tok->n_vocab());
        // Rendering control tokens puts their text back; without, they print as nothing.
        EXPECT_GE(tok->decode(special, /*render_special=*/true).size(), tok->decode(special).size());
    }
}

INSTANTIATE_TEST_SUITE_P(Vocabs, RandomInput, qlm::test::reference_vocabs(), qlm::test::vocab_param_name);

}  // namespace
