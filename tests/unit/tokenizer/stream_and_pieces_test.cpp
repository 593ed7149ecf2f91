// Utf8Stream, token_to_piece/decode conventions and special-token parsing on real vocabs.
#include <gtest/gtest.h>

#include "common/test_support.h"
#include "src/gguf/gguf_file.h"
#include "src/tokenizer/pretokenizer.h"
#include "src/tokenizer/tokenizer.h"
#include "src/util/error.h"

namespace {

const std::string kFFFD = "\xEF\xBF\xBD";

TEST(Utf8Stream, HoldsSplitCharactersUntilComplete) {
    qlm::Utf8Stream s;
    EXPECT_EQ(s.push("a\xC3"), "a");
    EXPECT_EQ(s.push("\xA9"), "\xC3\xA9");  // é
    const std::string emoji = "\xF0\x9F\xA6\x99";  // 🦙
    for (size_t i = 0; i + 1 < emoji.size(); ++i) EXPECT_EQ(s.push(emoji.substr(i, 1)), "");
    EXPECT_EQ(s.push(emoji.substr(3)), emoji);
    EXPECT_EQ(s.flush(), "");
}

TEST(Utf8Stream, InvalidBytesBecomeReplacementCharacters) {
    qlm::Utf8Stream s;
    EXPECT_EQ(s.push("x\xFFy"), "x" + kFFFD + "y");
    EXPECT_EQ(s.push("\xE2\x28"), kFFFD + "(");  // lead byte followed by a non-continuation
    EXPECT_EQ(s.push("\xC0\xAF"), kFFFD + kFFFD);  // overlong
    EXPECT_EQ(s.push("\xED\xA0\x80"), kFFFD + kFFFD + kFFFD);  // surrogate
    EXPECT_EQ(s.push("\x80"), kFFFD);  // stray continuation byte
    EXPECT_EQ(s.push("ok\xE2\x82"), "ok");  // truncated € waits...
    EXPECT_EQ(s.flush(), kFFFD);            // ...and is replaced at the end
    EXPECT_EQ(s.flush(), "");
    EXPECT_EQ(s.push("\xE2\x82\xAC"), "\xE2\x82\xAC");  // usable again after flush
}

std::unique_ptr<qlm::Tokenizer> open_vocab(const std::string& name, std::unique_ptr<qlm::gguf::GgufFile>& f) {
    f = qlm::gguf::GgufFile::open(qlm::test::shared_file("models/vocab/ggml-vocab-" + name + ".gguf").string());
    return qlm::Tokenizer::from_gguf(*f);
}

TEST(Pieces, StreamingBytePiecesRebuildsMultibyteText) {
    std::unique_ptr<qlm::gguf::GgufFile> f;
    auto tok = open_vocab("llama-spm", f);
    const std::string text = "Ünïcödé 🦙 and 我想在apple工作 ~ ½";
    const auto ids = tok->encode(text, {});
    qlm::Utf8Stream s;
    std::string out;
    bool saw_partial = false;
    for (int32_t id : ids) {
        const std::string piece = tok->token_to_piece(id);
        const std::string emitted = s.push(piece);
        if (emitted.size() != piece.size()) saw_partial = true;
        out += emitted;
    }
    out += s.flush();
    EXPECT_TRUE(saw_partial);  // byte-fallback pieces split characters
    EXPECT_EQ(out, " " + text);  // token pieces keep the added space prefix
    EXPECT_EQ(tok->decode(ids), text);
}

TEST(Pieces, SpmConventions) {
    std::unique_ptr<qlm::gguf::GgufFile> f;
    auto tok = open_vocab("llama-spm", f);
    EXPECT_EQ(tok->token_to_piece(1), "");  // <s> is CONTROL
    EXPECT_EQ(tok->token_to_piece(1, true), "<s>");
    EXPECT_EQ(tok->token_to_piece(13), "\n");  // <0x0A>
    const int32_t hello = tok->find_token("\xE2\x96\x81Hello");
    ASSERT_GE(hello, 0);
    EXPECT_EQ(tok->token_to_piece(hello), " Hello");
    EXPECT_EQ(tok->decode({1, hello}), "Hello");  // the prefix space after BOS is dropped
    EXPECT_EQ(tok->decode({hello, hello}), "Hello Hello");
    EXPECT_EQ(tok->decode({1, hello}, true), "<s>Hello");
    EXPECT_TRUE(tok->is_end_of_generation(2));
    EXPECT_FALSE(tok->is_end_of_generation(hello));
}

TEST(Pieces, BpeConventions) {
    std::unique_ptr<qlm::gguf::GgufFile> f;
    auto tok = open_vocab("gpt-2", f);
    EXPECT_EQ(tok->token_to_piece(220), " ");   // Ġ
    EXPECT_EQ(tok->token_to_piece(198), "\n");  // Ċ
    EXPECT_EQ(tok->token_to_piece(50256), "");
    EXPECT_EQ(tok->token_to_piece(50256, true), "<|endoftext|>");
    EXPECT_TRUE(tok->is_end_of_generation(50256));
    // Invalid UTF-8 input is read as U+FFFD, as llama.cpp does.
    EXPECT_EQ(tok->decode(tok->encode("a\xFF" "b", {})), "a" + kFFFD + "b");
}

// llama.cpp finds EOT by its text when the file names none: Phi-3's <|end|> ends generation too.
TEST(SpecialTokens, EndOfGenerationTokensFoundByText) {
    std::unique_ptr<qlm::gguf::GgufFile> f;
    auto tok = open_vocab("phi-3", f);
    const int32_t end = tok->find_token("<|end|>");
    ASSERT_GE(end, 0);
    EXPECT_EQ(tok->eot_id(), end);
    EXPECT_TRUE(tok->is_end_of_generation(end));
    EXPECT_TRUE(tok->is_end_of_generation(tok->eos_id()));
    EXPECT_EQ(tok->token_type(end), qlm::TokenType::Control);
    EXPECT_EQ(tok->token_to_piece(end), "");
    EXPECT_FALSE(tok->is_end_of_generation(tok->bos_id()));
    // Phi-3's special tokens swallow the whitespace after them (llama.cpp's RSTRIP).
    EXPECT_EQ(tok->encode("<|end|>\nHi", {.parse_special = true}), tok->encode("<|end|>Hi", {.parse_special = true}));
}

TEST(SpecialTokens, ParsedOnlyWhenAsked) {
    std::unique_ptr<qlm::gguf::GgufFile> f;
    auto spm = open_vocab("llama-spm", f);
    const auto plain = spm->encode("<s>Hi</s>", {.parse_special = false});
    EXPECT_EQ(std::count(plain.begin(), plain.end(), 1), 0);
    EXPECT_EQ(spm->decode(plain), "<s>Hi</s>");
    const auto parsed = spm->encode("<s>Hi</s>", {.parse_special = true});
    ASSERT_GE(parsed.size(), 3u);
    EXPECT_EQ(parsed.front(), 1);
    EXPECT_EQ(parsed.back(), 2);
    // The text after a special token gets the space prefix again (llama.cpp): "▁Hi".
    EXPECT_EQ(parsed, (std::vector<int32_t>{1, spm->find_token("\xE2\x96\x81Hi"), 2}));

    std::unique_ptr<qlm::gguf::GgufFile> g;
    auto bpe = open_vocab("gpt-2", g);
    EXPECT_EQ(bpe->encode("a<|endoftext|>b", {.parse_special = true}),
              (std::vector<int32_t>{64, 50256, 65}));
    EXPECT_NE(bpe->encode("a<|endoftext|>b", {.parse_special = false}).size(), 3u);
}

TEST(SpecialTokens, UserDefinedTokensAreAlwaysSplitOut) {
    std::unique_ptr<qlm::gguf::GgufFile> f;
    auto tok = open_vocab("deepseek-coder", f);
    const int32_t user = tok->find_token("<|User|>");
    ASSERT_GE(user, 0);
    ASSERT_EQ(tok->token_type(user), qlm::TokenType::UserDefined);
    const auto ids = tok->encode("x<|User|>y", {.parse_special = false});
    EXPECT_EQ(std::count(ids.begin(), ids.end(), user), 1);
    EXPECT_EQ(tok->decode(ids), "x<|User|>y");
}

std::vector<std::string> split(const std::string& pre, const std::string& text) {
    qlm::PreTokenizer p(qlm::PreTokenizer::regexes_for(pre));
    std::vector<std::string> out;
    for (auto v : p.split(text)) out.emplace_back(v);
    return out;
}

using V = std::vector<std::string>;

TEST(PreTokenizer, Gpt2Regex) {
    EXPECT_EQ(split("gpt-2", "Hello  world's 123!!"), (V{"Hello", " ", " world", "'s", " 123", "!!"}));
    EXPECT_EQ(split("gpt-2", "a   "), (V{"a", "   "}));  // trailing whitespace stays together
    EXPECT_EQ(split("gpt-2", "\tb"), (V{"\t", "b"}));
    EXPECT_EQ(split("gpt-2", "x\xE3\x80\x80y"), (V{"x", "\xE3\x80\x80", "y"}));  // U+3000 is whitespace
}

TEST(PreTokenizer, SequentialSets) {
    // llama3: digits in groups of three; qwen2/starcoder: single digits.
    EXPECT_EQ(split("llama3", "1234567"), (V{"123", "456", "7"}));
    EXPECT_EQ(split("qwen2", "x 42"), (V{"x", " ", "4", "2"}));
    EXPECT_EQ(split("starcoder", "  42"), (V{"  ", "4", "2"}));  // the spaces end their piece
    // deepseek-llm's "\s+$" ends at the piece's end, not before a final newline.
    EXPECT_EQ(split("deepseek-llm", "ab  \n"), (V{"ab", "  ", "\n"}));
    EXPECT_THROW(qlm::PreTokenizer::regexes_for("nonsense"), qlm::Error);
}

}  // namespace
