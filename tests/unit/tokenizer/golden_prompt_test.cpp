// Prompt ids llama.cpp produced for ../shared/golden/t_*.txt (prompt_ids of the golden JSONs),
// and the token count of the kjv held-out text from MANIFEST.md.
#include <gtest/gtest.h>

#include "common/test_support.h"
#include "src/gguf/gguf_file.h"
#include "src/tokenizer/tokenizer.h"

namespace {

struct Golden {
    std::string json;       // under golden/
    std::string tokenizer;  // GGUF under models/ whose tokenizer keys the model has
    std::string text;       // under golden/
};

class GoldenPrompt : public ::testing::TestWithParam<Golden> {};

TEST_P(GoldenPrompt, ReproducesLlamaCppPromptIds) {
    const Golden& g = GetParam();
    auto file = qlm::gguf::GgufFile::open(qlm::test::shared_file("models/" + g.tokenizer).string());
    auto tok = qlm::Tokenizer::from_gguf(*file);
    const std::string text = qlm::test::read_text(qlm::test::shared_file("golden/" + g.text));
    const auto expected = qlm::test::read_json(qlm::test::shared_file("golden/" + g.json))["prompt_ids"]
                              .get<std::vector<int32_t>>();
    const auto got = tok->encode(text, {.add_bos = tok->add_bos(), .add_eos = false, .parse_special = false});
    EXPECT_EQ(got, expected) << g.json;
    // The piece texts put back together give the prompt (BOS renders as nothing).
    EXPECT_EQ(tok->decode(got), text) << g.json;
}

INSTANTIATE_TEST_SUITE_P(
    Files, GoldenPrompt,
    ::testing::Values(Golden{"stories260K-F32.story1.json", "stories260K-F32.gguf", "t_story1.txt"},
                      Golden{"stories260K-F32.story2.json", "stories260K-F32.gguf", "t_story2.txt"},
                      Golden{"stories260K-F32.story3.json", "stories260K-F32.gguf", "t_story3.txt"},
                      Golden{"tinyllama-f16.story1.json", "vocab/ggml-vocab-llama-spm.gguf", "t_story1.txt"},
                      Golden{"smol-f16.bpe1.json", "vocab/ggml-vocab-gpt-2.gguf", "t_bpe1.txt"},
                      Golden{"smol-f16.bpe2.json", "vocab/ggml-vocab-gpt-2.gguf", "t_bpe2.txt"},
                      Golden{"qwen-mini-f32.bpe1.json", "vocab/ggml-vocab-gpt-2.gguf", "t_bpe1.txt"},
                      Golden{"qwen-mini-f32.bpe2.json", "vocab/ggml-vocab-gpt-2.gguf", "t_bpe2.txt"},
                      Golden{"llama-2-tiny-random-F16.json", "llama-2-tiny-random-F16.gguf", "t_bpe2.txt"},
                      Golden{"kjv-8M-F32.kjv1.json", "kjv-8M-F32.gguf", "t_kjv1.txt"},
                      Golden{"kjv-8M-F32.kjv2.json", "kjv-8M-F32.gguf", "t_kjv2.txt"}),
    [](const auto& info) {
        std::string n = info.param.json.substr(0, info.param.json.size() - 5);
        for (char& c : n)
            if (!isalnum(static_cast<unsigned char>(c))) c = '_';
        return n;
    });

// MANIFEST.md: kjv-test.txt is 26,073 tokens without BOS (llama-tokenize --no-bos, sentencepiece).
TEST(KjvText, HeldOutTextHasManifestTokenCount) {
    auto file = qlm::gguf::GgufFile::open(qlm::test::shared_file("models/kjv-8M-F32.gguf").string());
    auto tok = qlm::Tokenizer::from_gguf(*file);
    const std::string text = qlm::test::read_text(qlm::test::shared_file("models/kjv-test.txt"));
    const auto ids = tok->encode(text, {.add_bos = false});
    EXPECT_EQ(ids.size(), 26073u);
    EXPECT_EQ(tok->encode(text, {.add_bos = true}).size(), 26074u);
    EXPECT_EQ(tok->decode(ids), text);
}

// The synthetic models copy the vocab file's tokenizer keys: same ids as from the vocab file.
TEST(SyntheticModels, SmolTokenizerEqualsGpt2Vocab) {
    auto model = qlm::gguf::GgufFile::open(qlm::test::synth_model("smol-f16.gguf").string());
    auto vocab = qlm::gguf::GgufFile::open(qlm::test::shared_file("models/vocab/ggml-vocab-gpt-2.gguf").string());
    auto a = qlm::Tokenizer::from_gguf(*model);
    auto b = qlm::Tokenizer::from_gguf(*vocab);
    const std::string text = qlm::test::read_text(qlm::test::shared_file("golden/t_bpe2.txt"));
    EXPECT_EQ(a->encode(text, {}), b->encode(text, {}));
    EXPECT_EQ(a->n_vocab(), b->n_vocab());
}

}  // namespace
