// `qlm info`: parameter counts from tensor shapes and from a Hugging Face config.json, and the
// KV-cache line of the memory plan (sliding-window layers included), against hand-computed numbers.
#include <gtest/gtest.h>

#include <string>

#include "common/test_support.h"

namespace qlm {
namespace {

using test::qlm_bin;
using test::run_command;

TEST(CliInfo, Stories260KParameterCountAndKvFormula) {
    auto model = test::shared_file("models/stories260K-F32.gguf").string();
    auto r = run_command({qlm_bin().string(), "info", model, "-c", "256"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // MANIFEST.md: 292,800 params (dim 64, 5 layers, ffn 172, vocab 512, output.weight stored).
    EXPECT_NE(r.out.find("parameters:    292,800"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("architecture:  llama"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("f32         48 tensors"), std::string::npos) << r.out;
    // 2 × 5 × 256 × 4 × 8 × 2 bytes = 163,840
    EXPECT_NE(r.out.find("163,840 bytes"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("= 2 x 5 layers x 16 blocks x 16 positions x 4 kv heads x 8 head_dim x 2 bytes"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("vocab 512, bos 1, eos 2"), std::string::npos) << r.out;
}

// gemma3-mini: five sliding-window layers (window 16) keep per sequence the blocks of any
// 16 − 1 + n_batch positions: 79 positions touch at most 6 blocks of 16.
TEST(CliInfo, SlidingWindowLayersInTheKvFormula) {
    auto model = test::synth_model("gemma3-mini-f32.gguf").string();
    auto r = run_command({qlm_bin().string(), "info", model, "-c", "4096", "-b", "64"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("sliding window 16 on 5 of 6 layers (rope freq_base 10000, freq_scale 1)"), std::string::npos)
        << r.out;
    // 2 × (256 + 5 × 6) blocks × 16 × 1 × 128 × 2 bytes = 2,342,912
    EXPECT_NE(r.out.find("2,342,912 bytes"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("= 2 x (1 layers x 256 blocks + 5 sliding-window layers x 6 blocks) x 16 positions x 1 kv "
                         "heads x 128 head_dim x 2 bytes"),
              std::string::npos)
        << r.out;
}

// --parallel: the sequences share one pool of blocks (only their tables grow), and a prompt they
// fork from is stored once.
TEST(CliInfo, ParallelSequencesShareThePoolOfBlocks) {
    auto model = test::shared_file("models/stories260K-F32.gguf").string();
    auto r = run_command({qlm_bin().string(), "info", model, "-c", "256", "--parallel", "4"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("163,840 bytes"), std::string::npos) << r.out;  // the same KV cache as one sequence
    EXPECT_NE(r.out.find("= 4 x (4 sequences x 16 + 2 x 16 pool blocks)"), std::string::npos) << r.out;
    // A block: 2 × 5 layers × 16 positions × 4 kv heads × 8 × 2 bytes; the 128-token prompt is 8 of them.
    EXPECT_NE(r.out.find("KV blocks: 16 of 16 positions, 10,240 bytes each; 4 sequences forking a 128-token prompt "
                         "store its 8 blocks (80.00 KiB) once instead of 4 times"),
              std::string::npos)
        << r.out;
    auto bad = run_command({qlm_bin().string(), "info", model, "--parallel", "0"});
    EXPECT_EQ(bad.exit_code, 2) << bad.out;
    EXPECT_NE(bad.err.find("--parallel 0: the number of sequences must be at least 1"), std::string::npos) << bad.err;
}

TEST(CliInfo, Q8_0FileHasTheSameParameterCount) {
    auto model = test::shared_file("models/stories260K-Q8_0.gguf").string();
    auto r = run_command({qlm_bin().string(), "info", model, "--kv-type", "f32", "-c", "512"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("parameters:    292,800"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("q8_0        37 tensors"), std::string::npos) << r.out;
    // 2 × 5 × 512 × 4 × 8 × 4 bytes = 655,360
    EXPECT_NE(r.out.find("655,360 bytes"), std::string::npos) << r.out;
}

TEST(CliInfo, HfConfigQwen2_7B) {
    auto dir = test::temp_dir("cli-info-hf");
    auto p = dir / "config.json";
    std::string cfg = R"({"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","vocab_size":152064,
      "hidden_size":3584,"intermediate_size":18944,"num_hidden_layers":28,"num_attention_heads":28,
      "num_key_value_heads":4,"max_position_embeddings":131072,"tie_word_embeddings":false,"torch_dtype":"bfloat16"})";
    test::write_bytes(p, std::vector<uint8_t>(cfg.begin(), cfg.end()));
    auto r = run_command({qlm_bin().string(), "info", "--hf-config", p.string(), "-c", "4096"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("parameters:    7,615,616,512"), std::string::npos) << r.out;
    // bf16 weights: 2 bytes each
    EXPECT_NE(r.out.find("15,231,233,024 bytes"), std::string::npos) << r.out;
    // KV: 2 × 28 × 4096 × 4 × 128 × 2 = 234,881,024
    EXPECT_NE(r.out.find("234,881,024 bytes"), std::string::npos) << r.out;
}

// A mixture of experts: total and active parameters, and the routing buffers in the plan.
TEST(CliInfo, HfConfigMixtral8x7B) {
    auto dir = test::temp_dir("cli-info-hf-mixtral");
    auto p = dir / "config.json";
    std::string cfg = R"({"model_type":"mixtral","hidden_size":4096,"intermediate_size":14336,
      "max_position_embeddings":32768,"num_attention_heads":32,"num_experts_per_tok":2,"num_hidden_layers":32,
      "num_key_value_heads":8,"num_local_experts":8,"torch_dtype":"bfloat16","vocab_size":32000})";
    test::write_bytes(p, std::vector<uint8_t>(cfg.begin(), cfg.end()));
    auto r = run_command({qlm_bin().string(), "info", "--hf-config", p.string(), "-c", "4096"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("parameters:    46,702,792,704"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("active:        12,879,925,248"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("experts 8 (2 used per token)"), std::string::npos) << r.out;
    // 4 × (512 × (8 + 3×2 + 4096 + 2×4096) + 8 + 1)
    EXPECT_NE(r.out.find("expert routing            25,194,532 bytes"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace qlm
