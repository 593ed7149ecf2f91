// The parameter count of a GGUF file (sum of tensor element counts) equals the shape formula of
// hf_config.h applied to the file's hyperparameters, and equals the count of the Hugging Face
// config.json the synthetic model imitates.
#include <gtest/gtest.h>

#include "common/test_support.h"
#include "src/gguf/gguf_file.h"
#include "src/model/hf_config.h"
#include "src/model/model.h"

namespace qlm {
namespace {

uint64_t tensor_elements(const gguf::GgufFile& f) {
    uint64_t n = 0;
    for (const auto& t : f.tensors()) n += t.n_elements;
    return n;
}

struct Case {
    const char* file;
    const char* hf_config;  // the real model's config.json with the synthetic file's vocab size
};

TEST(GgufParamCount, SyntheticModelsMatchTheirHfConfigs) {
    const Case cases[] = {
        {"smol-f16.gguf", R"({"model_type":"llama","vocab_size":50257,"hidden_size":576,"intermediate_size":1536,
            "num_hidden_layers":30,"num_attention_heads":9,"num_key_value_heads":3,"tie_word_embeddings":true})"},
        {"tinyllama-f16.gguf", R"({"model_type":"llama","vocab_size":32000,"hidden_size":2048,"intermediate_size":5632,
            "num_hidden_layers":22,"num_attention_heads":32,"num_key_value_heads":4,"tie_word_embeddings":false})"},
        {"qwen-mini-f32.gguf", R"({"model_type":"qwen2","vocab_size":50257,"hidden_size":896,"intermediate_size":4864,
            "num_hidden_layers":4,"num_attention_heads":14,"num_key_value_heads":2,"tie_word_embeddings":true})"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.file);
        auto f = gguf::GgufFile::open(test::synth_model(c.file).string());
        Hparams hp = read_hparams(*f);
        uint64_t from_tensors = tensor_elements(*f);
        EXPECT_EQ(param_count(shape_from_hparams(hp)), from_tensors);
        EXPECT_EQ(param_count(parse_hf_config(c.hf_config, c.file)), from_tensors);
    }
}

// stories260K: dim 64, 5 layers, 8/4 heads, ffn 172, vocab 512; the file stores output.weight
// (a copy of the tied embeddings), so the count is the untied formula: 292,800 (MANIFEST.md).
TEST(GgufParamCount, Stories260K) {
    auto f = gguf::GgufFile::open(test::shared_file("models/stories260K-F32.gguf").string());
    EXPECT_EQ(tensor_elements(*f), 292800u);
    EXPECT_EQ(param_count(shape_from_hparams(read_hparams(*f))), 292800u);
}

}  // namespace
}  // namespace qlm
