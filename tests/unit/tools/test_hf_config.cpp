// Parameter counts from Hugging Face config.json files, checked against the published sizes of
// real models (each recomputed by hand from the formula in hf_config.h).
#include <gtest/gtest.h>

#include "src/model/hf_config.h"
#include "src/util/error.h"

namespace qlm {
namespace {

// Qwen2-7B: 28 layers; per layer q 3584² + 3584 bias, k/v 3584×512 + 512 bias each, o 3584²,
// ffn 3×3584×18944, norms 2×3584 = 233,057,792; embeddings and output 152064×3584 each;
// final norm 3584 → 7,615,616,512.
TEST(HfConfig, Qwen2_7B) {
    const char* cfg = R"({
      "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 152064,
      "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
      "num_attention_heads": 28, "num_key_value_heads": 4, "max_position_embeddings": 131072,
      "tie_word_embeddings": false, "torch_dtype": "bfloat16", "rms_norm_eps": 1e-06})";
    ModelShape s = parse_hf_config(cfg, "qwen2-7b/config.json");
    EXPECT_EQ(s.head_dim, 128);
    EXPECT_TRUE(s.qkv_bias);
    EXPECT_EQ(s.weight_bytes, 2u);
    ParamBreakdown b = param_breakdown(s);
    EXPECT_EQ(b.embedding, 544997376u);
    EXPECT_EQ(b.output, 544997376u);
    EXPECT_EQ(b.attention + b.ffn + b.norms, 233057792u);
    EXPECT_EQ(param_count(s), 7615616512u);
}

TEST(HfConfig, Llama2_7B) {
    const char* cfg = R"({
      "model_type": "llama", "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
      "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
      "max_position_embeddings": 4096, "tie_word_embeddings": false, "torch_dtype": "float16"})";
    EXPECT_EQ(param_count(parse_hf_config(cfg, "llama-2-7b")), 6738415616u);
}

TEST(HfConfig, TinyLlama_1_1B) {
    const char* cfg = R"({
      "model_type": "llama", "vocab_size": 32000, "hidden_size": 2048, "intermediate_size": 5632,
      "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4,
      "max_position_embeddings": 2048, "tie_word_embeddings": false, "torch_dtype": "bfloat16"})";
    EXPECT_EQ(param_count(parse_hf_config(cfg, "tinyllama")), 1100048384u);
}

TEST(HfConfig, Qwen2_5_0_5B_Tied) {
    const char* cfg = R"({
      "model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864,
      "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
      "max_position_embeddings": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16"})";
    ModelShape s = parse_hf_config(cfg, "qwen2.5-0.5b");
    EXPECT_EQ(param_breakdown(s).output, 0u);
    EXPECT_EQ(param_count(s), 494032768u);
}

TEST(HfConfig, SmolLM2_135M_Tied) {
    const char* cfg = R"({
      "model_type": "llama", "vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536,
      "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
      "max_position_embeddings": 8192, "tie_word_embeddings": true, "attention_bias": false,
      "torch_dtype": "bfloat16"})";
    EXPECT_EQ(param_count(parse_hf_config(cfg, "smollm2-135m")), 134515008u);
}

TEST(HfConfig, DefaultsKvHeadsToHeadsAndDtypeToFloat32) {
    ModelShape s = parse_hf_config(R"({"model_type":"mistral","vocab_size":10,"hidden_size":8,
        "intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2})", "c");
    EXPECT_EQ(s.n_head_kv, 2);
    EXPECT_EQ(s.head_dim, 4);
    EXPECT_FALSE(s.tied_output);
    EXPECT_EQ(s.weight_bytes, 4u);
    // 80 + 80 + (64+64+64+64 + 3×128 + 16) + 8
    EXPECT_EQ(param_count(s), 824u);
}

TEST(HfConfig, ExplicitHeadDimAndLlamaAttentionBias) {
    ModelShape s = parse_hf_config(R"({"model_type":"llama","vocab_size":10,"hidden_size":8,
        "intermediate_size":16,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,
        "head_dim":6,"attention_bias":true,"tie_word_embeddings":true})", "c");
    // q 8×12 + 12, k/v 8×6 + 6 each, o 12×8 + 8; ffn 384; norms 16; embed 80; final 8
    EXPECT_EQ(param_count(s), 80u + (96 + 12 + 2 * (48 + 6) + 96 + 8) + 384 + 16 + 8);
}

TEST(HfConfig, RejectsBadConfigsWithTheFieldName) {
    auto msg = [](const char* text) {
        try {
            parse_hf_config(text, "cfg.json");
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(msg("{not json").find("not valid JSON"), std::string::npos);
    EXPECT_NE(msg(R"({"model_type":"gpt2"})").find("gpt2"), std::string::npos);
    EXPECT_NE(msg(R"({"model_type":"llama"})").find("vocab_size"), std::string::npos);
    EXPECT_NE(msg(R"({"model_type":"llama","vocab_size":-1})").find("vocab_size"), std::string::npos);
    EXPECT_NE(msg(R"({"model_type":"llama","vocab_size":"10"})").find("vocab_size"), std::string::npos);
    EXPECT_NE(msg(R"({"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":16,
        "num_hidden_layers":1,"num_attention_heads":3})").find("head_dim"), std::string::npos);
    EXPECT_NE(msg(R"({"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":16,
        "num_hidden_layers":1,"num_attention_heads":2,"torch_dtype":"int4"})").find("torch_dtype"),
              std::string::npos);
}

TEST(HfConfig, HugeSizesDoNotOverflowSilently) {
    EXPECT_THROW(parse_hf_config(R"({"model_type":"llama","vocab_size":4294967296,"hidden_size":4294967296,
        "intermediate_size":4294967296,"num_hidden_layers":4294967296,"num_attention_heads":1})", "c"),
                 Error);
}

}  // namespace
}  // namespace qlm
