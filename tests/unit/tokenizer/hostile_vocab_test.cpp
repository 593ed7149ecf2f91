// Vocab metadata from hostile files: every problem gives a qlm::Error naming the key; nothing
// crashes. The GGUFs are built in memory with GgufWriter.
#include <gtest/gtest.h>

#include <functional>

#include "src/gguf/gguf_file.h"
#include "src/gguf/gguf_writer.h"
#include "src/tokenizer/tokenizer.h"
#include "src/util/error.h"

namespace {

using qlm::gguf::GgufWriter;
using qlm::gguf::ValueType;

// A small SentencePiece vocab: <unk> <s> </s>, byte tokens for 'a'..'c', pieces ▁, a, b, ab, ▁ab.
GgufWriter spm_vocab() {
    GgufWriter w;
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "<0x61>", "<0x62>", "<0x63>",
                                                 "\xE2\x96\x81", "a", "b", "ab", "\xE2\x96\x81" "ab"});
    w.set_float_array("tokenizer.ggml.scores", ValueType::FLOAT32, {0, 0, 0, 0, 0, 0, -1, -2, -3, -1.5, -0.5});
    w.set_int_array("tokenizer.ggml.token_type", ValueType::INT32, {2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1});
    return w;
}

// A small byte-level BPE vocab with merges.
GgufWriter bpe_vocab() {
    GgufWriter w;
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "gpt-2");
    w.set_string_array("tokenizer.ggml.tokens", {"a", "b", "\xC4\xA0", "ab", "\xC4\xA0" "ab", "<|endoftext|>"});
    w.set_int_array("tokenizer.ggml.token_type", ValueType::INT32, {1, 1, 1, 1, 1, 3});
    w.set_string_array("tokenizer.ggml.merges", {"a b", "\xC4\xA0 ab"});
    w.set_u32("tokenizer.ggml.bos_token_id", 5);
    w.set_u32("tokenizer.ggml.eos_token_id", 5);
    return w;
}

struct Loaded {
    std::vector<uint8_t> bytes;
    std::unique_ptr<qlm::gguf::GgufFile> file;
    std::unique_ptr<qlm::Tokenizer> tok;
};

Loaded load(const GgufWriter& w) {
    Loaded l;
    l.bytes = w.to_bytes();
    l.file = qlm::gguf::GgufFile::parse(l.bytes, "vocab.gguf");
    l.tok = qlm::Tokenizer::from_gguf(*l.file);
    return l;
}

// The qlm::Error message from loading, or "" when it loads.
std::string load_error(const GgufWriter& w) {
    try {
        load(w);
    } catch (const qlm::Error& e) {
        return e.what();
    }
    return "";
}

TEST(HostileVocab, ValidSmallVocabsLoadAndEncode) {
    auto spm = load(spm_vocab());
    EXPECT_EQ(spm.tok->model_name(), "llama");
    EXPECT_EQ(spm.tok->bos_id(), 1);  // SPM defaults: bos 1, eos 2, unk 0, add BOS, space prefix
    EXPECT_EQ(spm.tok->eos_id(), 2);
    EXPECT_EQ(spm.tok->unk_id(), 0);
    EXPECT_TRUE(spm.tok->add_bos());
    // " ab" -> "▁ab" (one token); "abc": ▁ab + byte fallback for c.
    EXPECT_EQ(spm.tok->encode("ab", {.add_bos = true}), (std::vector<int32_t>{1, 10}));
    EXPECT_EQ(spm.tok->encode("abc", {}), (std::vector<int32_t>{10, 5}));
    EXPECT_EQ(spm.tok->decode({1, 10, 5}), "abc");

    auto bpe = load(bpe_vocab());
    EXPECT_FALSE(bpe.tok->add_bos());  // BPE default
    EXPECT_EQ(bpe.tok->encode("ab ab", {}), (std::vector<int32_t>{3, 4}));
    EXPECT_EQ(bpe.tok->decode({3, 4}), "ab ab");
    EXPECT_TRUE(bpe.tok->is_end_of_generation(5));
}

TEST(HostileVocab, UnsupportedModelIsNamed) {
    auto w = spm_vocab();
    w.set_string("tokenizer.ggml.model", "bert");
    EXPECT_NE(load_error(w).find("tokenizer model 'bert' is not supported"), std::string::npos) << load_error(w);
}

TEST(HostileVocab, MissingModelOrTokens) {
    auto w = spm_vocab();
    w.remove("tokenizer.ggml.model");
    EXPECT_NE(load_error(w).find("tokenizer.ggml.model"), std::string::npos);
    auto v = spm_vocab();
    v.remove("tokenizer.ggml.tokens");
    v.remove("tokenizer.ggml.scores");
    v.remove("tokenizer.ggml.token_type");
    EXPECT_NE(load_error(v).find("tokenizer.ggml.tokens is missing"), std::string::npos) << load_error(v);
}

TEST(HostileVocab, WrongArrayElementTypes) {
    auto w = spm_vocab();
    w.set_int_array("tokenizer.ggml.tokens", ValueType::INT32, {1, 2, 3});
    EXPECT_NE(load_error(w).find("tokenizer.ggml.tokens"), std::string::npos) << load_error(w);
    auto s = spm_vocab();
    s.set_string_array("tokenizer.ggml.scores", {"x"});
    EXPECT_NE(load_error(s).find("tokenizer.ggml.scores"), std::string::npos) << load_error(s);
    auto t = spm_vocab();
    t.set_float_array("tokenizer.ggml.token_type", ValueType::FLOAT32, {1.0});
    EXPECT_NE(load_error(t).find("tokenizer.ggml.token_type"), std::string::npos) << load_error(t);
    auto m = bpe_vocab();
    m.set_int_array("tokenizer.ggml.merges", ValueType::UINT8, {1});
    EXPECT_NE(load_error(m).find("tokenizer.ggml.merges"), std::string::npos) << load_error(m);
    auto id = spm_vocab();
    id.set_string("tokenizer.ggml.bos_token_id", "1");
    EXPECT_NE(load_error(id).find("tokenizer.ggml.bos_token_id"), std::string::npos) << load_error(id);
}

TEST(HostileVocab, LengthMismatchesAndEmptyVocab) {
    auto s = spm_vocab();
    s.set_float_array("tokenizer.ggml.scores", ValueType::FLOAT32, {0, 0, 0});
    const std::string es = load_error(s);
    EXPECT_NE(es.find("tokenizer.ggml.scores has 3 entries"), std::string::npos) << es;
    auto t = spm_vocab();
    t.set_int_array("tokenizer.ggml.token_type", ValueType::INT32, std::vector<int64_t>(20, 1));
    EXPECT_NE(load_error(t).find("tokenizer.ggml.token_type has 20 entries"), std::string::npos) << load_error(t);
    auto e = spm_vocab();
    e.set_string_array("tokenizer.ggml.tokens", {});
    e.remove("tokenizer.ggml.scores");
    e.remove("tokenizer.ggml.token_type");
    EXPECT_NE(load_error(e).find("tokenizer.ggml.tokens is empty"), std::string::npos) << load_error(e);
}

TEST(HostileVocab, SpecialIdsOutOfRangeAreNamedWithVocabSize) {
    for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                            "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.eot_token_id",
                            "tokenizer.ggml.eom_token_id"}) {
        auto w = spm_vocab();
        w.set_u32(key, 11);  // the vocab has 11 tokens: ids 0..10
        const std::string e = load_error(w);
        EXPECT_NE(e.find(key), std::string::npos) << e;
        EXPECT_NE(e.find("11 tokens"), std::string::npos) << e;
        auto n = spm_vocab();
        n.set_i32(key, -5);
        EXPECT_NE(load_error(n).find(key), std::string::npos) << load_error(n);
    }
}

TEST(HostileVocab, NoneIdsAndIgnoredIds) {
    auto w = spm_vocab();
    w.set_u32("tokenizer.ggml.bos_token_id", 0xFFFFFFFFu);
    w.set_i32("tokenizer.ggml.eos_token_id", -1);
    w.set_u32("tokenizer.ggml.padding_token_id", 123456);  // out of range: ignored
    w.set_u32("tokenizer.ggml.seperator_token_id", 0xFFFFFFFFu);
    auto l = load(w);
    EXPECT_EQ(l.tok->bos_id(), -1);
    EXPECT_EQ(l.tok->eos_id(), -1);
    EXPECT_FALSE(l.tok->add_bos());  // nothing to add
    EXPECT_EQ(l.tok->encode("ab", {.add_bos = true, .add_eos = true}), (std::vector<int32_t>{10}));
    // ...but a file that asks for BOS without having one is refused.
    w.set_bool("tokenizer.ggml.add_bos_token", true);
    EXPECT_NE(load_error(w).find("tokenizer.ggml.add_bos_token"), std::string::npos) << load_error(w);
}

TEST(HostileVocab, MalformedByteTokensDoNotCrash) {
    auto w = spm_vocab();
    w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "<0x-1>", "<0xZZ>", "<0x6",
                                                 "\xE2\x96\x81", "a", "b", "ab", "\xE2\x96\x81" "ab"});
    auto l = load(w);
    EXPECT_EQ(l.tok->token_to_piece(3), "<0x-1>");
    EXPECT_EQ(l.tok->token_to_piece(4), "<0xZZ>");
    EXPECT_EQ(l.tok->token_to_piece(5), "<0x6");
    // No byte tokens for 'c': it becomes <unk>.
    EXPECT_EQ(l.tok->encode("abc", {}), (std::vector<int32_t>{10, 0}));
    EXPECT_THROW(l.tok->token_to_piece(11), qlm::Error);
    EXPECT_THROW(l.tok->token_to_piece(-1), qlm::Error);
}

TEST(HostileVocab, MergesWithoutSpaceNameTheIndex) {
    auto w = bpe_vocab();
    w.set_string_array("tokenizer.ggml.merges", {"a b", "ab"});
    const std::string e = load_error(w);
    EXPECT_NE(e.find("tokenizer.ggml.merges[1]"), std::string::npos) << e;
    auto lead = bpe_vocab();
    lead.set_string_array("tokenizer.ggml.merges", {" ab"});  // the only space is the first character
    EXPECT_NE(load_error(lead).find("tokenizer.ggml.merges[0]"), std::string::npos) << load_error(lead);
    auto none = bpe_vocab();
    none.remove("tokenizer.ggml.merges");
    EXPECT_NE(load_error(none).find("tokenizer.ggml.merges is missing"), std::string::npos);
}

TEST(HostileVocab, UnknownPreTokenizerIsNamed) {
    auto w = bpe_vocab();
    w.set_string("tokenizer.ggml.pre", "no-such-pre");
    EXPECT_NE(load_error(w).find("'no-such-pre'"), std::string::npos) << load_error(w);
}

TEST(HostileVocab, EmptyAndDuplicateTokensAreHarmless) {
    auto w = bpe_vocab();
    w.set_string_array("tokenizer.ggml.tokens", {"a", "b", "", "ab", "ab", "<|endoftext|>"});
    auto l = load(w);
    EXPECT_EQ(l.tok->token_text(2), "[EMPTY_2]");
    EXPECT_EQ(l.tok->encode("ab", {}).size(), 1u);
}

}  // namespace
