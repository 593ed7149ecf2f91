// Parameter counts from Hugging Face config.json files, checked against the published sizes of
// real models (each recomputed by hand from the formula in hf_config.h).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

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

// The families beyond Llama/Qwen2, each config.json as published (fields that do not change the
// count left out) and the count recomputed by hand, then compared with the size its authors
// publish.

// Qwen3-30B-A3B: "30.5B in total and 3.3B activated, 29.9B non-embedding". Per layer: attention
// 2048×4096 + 2×2048×512 + 4096×2048 = 18,874,368; norms 2×2048 + q/k norms 2×128; router
// 2048×128 = 262,144; 128 experts × 3×2048×768 = 603,979,776. Embeddings and output
// 151936×2048 each, final norm 2048.
TEST(HfConfig, Qwen3_30B_A3B) {
    const char* cfg = R"({
      "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "attention_bias": false,
      "decoder_sparse_step": 1, "head_dim": 128, "hidden_size": 2048, "intermediate_size": 6144,
      "max_position_embeddings": 40960, "mlp_only_layers": [], "moe_intermediate_size": 768,
      "norm_topk_prob": true, "num_attention_heads": 32, "num_experts": 128, "num_experts_per_tok": 8,
      "num_hidden_layers": 48, "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
      "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 151936})";
    const ModelShape s = parse_hf_config(cfg, "qwen3-30b-a3b");
    EXPECT_TRUE(s.qk_norm);
    EXPECT_EQ(s.n_moe_layers, 48);
    const ParamBreakdown b = param_breakdown(s);
    EXPECT_EQ(b.attention, 18874368u);
    EXPECT_EQ(b.norms, 4352u);
    EXPECT_EQ(b.router, 262144u);
    EXPECT_EQ(b.expert, 4718592u);
    EXPECT_EQ(b.total, 30532122624u);
    EXPECT_EQ(b.active, 3353032704u);  // 120 unused experts × 48 layers fewer
    EXPECT_EQ(b.total - b.embedding - b.output, 29909792768u);
    EXPECT_EQ(std::round(b.total / 1e8), 305);
    EXPECT_EQ(static_cast<int>(b.active / 1e8), 33);
}

// Mixtral-8x7B: "46.7B total, 12.9B active". Per layer: attention 4096² × 2 + 4096×1024 × 2;
// router 4096×8; 8 experts × 3×4096×14336; norms 2×4096. Vocabulary 32000, untied.
TEST(HfConfig, Mixtral_8x7B) {
    const char* cfg = R"({
      "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 4096,
      "intermediate_size": 14336, "max_position_embeddings": 32768, "num_attention_heads": 32,
      "num_experts_per_tok": 2, "num_hidden_layers": 32, "num_key_value_heads": 8, "num_local_experts": 8,
      "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.02,
      "torch_dtype": "bfloat16", "vocab_size": 32000})";
    const ModelShape s = parse_hf_config(cfg, "mixtral-8x7b");
    EXPECT_EQ(s.n_ff_exp, 14336);
    const ParamBreakdown b = param_breakdown(s);
    EXPECT_EQ(b.total, 46702792704u);
    EXPECT_EQ(b.active, 12879925248u);
    EXPECT_EQ(std::round(b.total / 1e8), 467);
    EXPECT_EQ(std::round(b.active / 1e8), 129);
}

// Qwen3-8B ("8.2B, 6.95B non-embedding") and Qwen3-0.6B ("0.6B, 0.44B non-embedding", tied):
// q/k norms of head_dim 128 in every layer.
TEST(HfConfig, Qwen3_8B_And_0_6B) {
    const char* q8 = R"({
      "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "attention_bias": false, "head_dim": 128,
      "hidden_size": 4096, "intermediate_size": 12288, "max_position_embeddings": 40960,
      "num_attention_heads": 32, "num_hidden_layers": 36, "num_key_value_heads": 8,
      "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 151936})";
    const ParamBreakdown b8 = param_breakdown(parse_hf_config(q8, "qwen3-8b"));
    EXPECT_EQ(b8.total, 8190735360u);
    EXPECT_EQ(b8.active, b8.total);
    EXPECT_EQ(b8.total - b8.embedding - b8.output, 6946075648u);
    const char* q06 = R"({
      "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "head_dim": 128, "hidden_size": 1024,
      "intermediate_size": 3072, "max_position_embeddings": 40960, "num_attention_heads": 16,
      "num_hidden_layers": 28, "num_key_value_heads": 8, "tie_word_embeddings": true,
      "torch_dtype": "bfloat16", "vocab_size": 151936})";
    const ParamBreakdown b06 = param_breakdown(parse_hf_config(q06, "qwen3-0.6b"));
    EXPECT_EQ(b06.total, 596049920u);
    EXPECT_EQ(b06.total - b06.embedding, 440467456u);
}

// Phi-3-mini-4k-instruct ("3.8B"): fused qkv_proj and gate_up_proj hold the same parameters as
// separate ones.
TEST(HfConfig, Phi3Mini) {
    const char* cfg = R"({
      "architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_size": 3072,
      "intermediate_size": 8192, "max_position_embeddings": 4096, "num_attention_heads": 32,
      "num_hidden_layers": 32, "num_key_value_heads": 32, "rms_norm_eps": 1e-05,
      "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 32064})";
    const ModelShape s = parse_hf_config(cfg, "phi-3-mini");
    EXPECT_EQ(s.head_dim, 96);
    EXPECT_EQ(param_count(s), 3821079552u);
}

// Gemma 3 (the technical report's table: non-embedding 698M for 1B, 3,209M for 4B, 10,759M for
// 12B): four norms per layer and q/k norms; tied embeddings. The 4B and 12B configs are
// vision-language ones whose text_config is counted; 4B's leaves heads, kv heads, head_dim and
// the vocabulary to Gemma3TextConfig's defaults (8, 4, 256, 262208).
TEST(HfConfig, Gemma3) {
    const char* g1 = R"({
      "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "head_dim": 256,
      "hidden_size": 1152, "intermediate_size": 6912, "max_position_embeddings": 32768,
      "num_attention_heads": 4, "num_hidden_layers": 26, "num_key_value_heads": 1,
      "query_pre_attn_scalar": 256, "sliding_window": 512, "torch_dtype": "bfloat16", "vocab_size": 262144})";
    const ModelShape s1 = parse_hf_config(g1, "gemma-3-1b");
    EXPECT_TRUE(s1.tied_output);
    EXPECT_EQ(s1.norms_per_layer, 4);
    const ParamBreakdown b1 = param_breakdown(s1);
    EXPECT_EQ(b1.total, 999885952u);
    EXPECT_EQ(std::round((b1.total - b1.embedding) / 1e6), 698);

    const char* g4 = R"({
      "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "mm_tokens_per_image": 256,
      "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text",
                      "num_hidden_layers": 34, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                      "sliding_window": 1024},
      "torch_dtype": "bfloat16",
      "vision_config": {"hidden_size": 1152, "model_type": "siglip_vision_model", "num_hidden_layers": 27}})";
    const ModelShape s4 = parse_hf_config(g4, "gemma-3-4b");
    EXPECT_TRUE(s4.multimodal);
    EXPECT_EQ(s4.n_vocab, 262208);
    EXPECT_EQ(s4.n_head_kv, 4);
    const ParamBreakdown b4 = param_breakdown(s4);
    EXPECT_EQ(b4.total, 3880263168u);
    EXPECT_EQ(std::round((b4.total - b4.embedding) / 1e6), 3209);

    const char* g12 = R"({"model_type": "gemma3", "text_config": {"head_dim": 256, "hidden_size": 3840,
      "intermediate_size": 15360, "model_type": "gemma3_text", "num_attention_heads": 16,
      "num_hidden_layers": 48, "num_key_value_heads": 8, "vocab_size": 262208}, "torch_dtype": "bfloat16"})";
    const ParamBreakdown b12 = param_breakdown(parse_hf_config(g12, "gemma-3-12b"));
    EXPECT_EQ(std::round((b12.total - b12.embedding) / 1e6), 10759);
}

// Qwen3-MoE layers listed in mlp_only_layers (or off the decoder_sparse_step) are dense.
TEST(HfConfig, Qwen3MoeDenseLayers) {
    auto cfg = [](const char* extra) {
        return std::string(R"({"model_type":"qwen3_moe","vocab_size":10,"hidden_size":8,"intermediate_size":16,
          "moe_intermediate_size":4,"num_hidden_layers":4,"num_attention_heads":2,"num_experts":3,
          "num_experts_per_tok":2)") + extra + "}";
    };
    EXPECT_EQ(parse_hf_config(cfg(R"(,"mlp_only_layers":[0,2])"), "c").n_moe_layers, 2);
    EXPECT_EQ(parse_hf_config(cfg(R"(,"decoder_sparse_step":2)"), "c").n_moe_layers, 2);  // layers 1 and 3
    const ModelShape s = parse_hf_config(cfg(R"(,"mlp_only_layers":[3])"), "c");
    const ParamBreakdown b = param_breakdown(s);
    // embed/out 80 each; per layer attention 4×64 + norms 16 + q/k 8; one dense ffn 3×8×16;
    // three MoE layers: router 24 + 3 experts × 96; final 8.
    EXPECT_EQ(b.total, 160u + 4 * (256 + 24) + 384 + 3 * (24 + 3 * 96) + 8);
    EXPECT_EQ(b.active, b.total - 3 * 96);
}

TEST(HfConfig, RejectsBadExpertConfigs) {
    auto msg = [](const std::string& text) {
        try {
            parse_hf_config(text, "cfg.json");
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const std::string base = R"({"model_type":"mixtral","vocab_size":10,"hidden_size":8,"intermediate_size":16,
        "num_hidden_layers":1,"num_attention_heads":2)";
    EXPECT_NE(msg(base + "}").find("num_local_experts"), std::string::npos);
    EXPECT_NE(msg(base + R"(,"num_local_experts":4})").find("num_experts_per_tok"), std::string::npos);
    EXPECT_NE(msg(base + R"(,"num_local_experts":4,"num_experts_per_tok":5})").find("more than the 4 experts"),
              std::string::npos);
    const std::string q = R"({"model_type":"qwen3_moe","vocab_size":10,"hidden_size":8,"num_hidden_layers":2,
        "num_attention_heads":2,"num_experts":4,"num_experts_per_tok":2)";
    EXPECT_NE(msg(q + "}").find("moe_intermediate_size"), std::string::npos);
    EXPECT_NE(msg(q + R"(,"moe_intermediate_size":4,"mlp_only_layers":[0]})").find("intermediate_size"),
              std::string::npos);
    EXPECT_NE(msg(q + R"(,"moe_intermediate_size":4,"mlp_only_layers":[7]})").find("mlp_only_layers"),
              std::string::npos);
    EXPECT_NE(msg(R"({"model_type":"gemma3","text_config":3})").find("text_config"), std::string::npos);
}

TEST(HfConfig, HugeSizesDoNotOverflowSilently) {
    EXPECT_THROW(parse_hf_config(R"({"model_type":"llama","vocab_size":4294967296,"hidden_size":4294967296,
        "intermediate_size":4294967296,"num_hidden_layers":4294967296,"num_attention_heads":1})", "c"),
                 Error);
}

}  // namespace
}  // namespace qlm
