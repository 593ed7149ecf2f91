// F32 models against llama.cpp: max|ours - ref| <= 1e-3 R at every prompt position, argmax, greedy ids.
#include "golden_compare.h"

namespace qlm::test {
namespace {

void check_f32(const std::string& golden, const std::filesystem::path& model, const std::string& kv_label = "",
               KvType kv = KvType::F16) {
    const Golden g = load_golden(golden);
    const ModelRun r = run_model(model.string(), g, kv);
    const std::string label = golden + kv_label;
    const double worst = compare_prompt(label, g, r, Tolerance::MaxAbs1e3);
    report(label, "worst_maxabs_over_tolerance", worst);
    compare_greedy(label, g, r);
}

TEST(GoldenF32, Stories260KStory1) {
    check_f32("stories260K-F32.story1.json", shared_file("models/stories260K-F32.gguf"));
}
TEST(GoldenF32, Stories260KStory2) {
    check_f32("stories260K-F32.story2.json", shared_file("models/stories260K-F32.gguf"));
}
TEST(GoldenF32, Stories260KStory3) {
    check_f32("stories260K-F32.story3.json", shared_file("models/stories260K-F32.gguf"));
}
// kjv-8M: the trained GQA model (top-20 reference logits, 64 greedy ids).
TEST(GoldenF32, Kjv8MKjv1) { check_f32("kjv-8M-F32.kjv1.json", shared_file("models/kjv-8M-F32.gguf")); }
TEST(GoldenF32, Kjv8MKjv2) { check_f32("kjv-8M-F32.kjv2.json", shared_file("models/kjv-8M-F32.gguf")); }
// The 290-token prompt in one batch: every attention length up to 290 and RoPE at large positions.
TEST(GoldenF32, Stories260KStoryLong) {
    check_f32("stories260K-F32.story_long.json", shared_file("models/stories260K-F32.gguf"));
}
TEST(GoldenF32, MiniF32) { check_f32("mini-f32.json", synth_model("mini-f32.gguf")); }
TEST(GoldenF32, QwenMiniBpe1) { check_f32("qwen-mini-f32.bpe1.json", synth_model("qwen-mini-f32.gguf")); }
TEST(GoldenF32, QwenMiniBpe2) { check_f32("qwen-mini-f32.bpe2.json", synth_model("qwen-mini-f32.gguf")); }

// The architecture presets (../shared/tools/README.md): greedy ids may differ only at near-ties.
void check_arch(const std::string& golden, const std::string& model) {
    const Golden g = load_golden(golden);
    const ModelRun r = run_model(synth_model(model).string(), g);
    report(golden, "worst_maxabs_over_tolerance", compare_prompt(golden, g, r, Tolerance::MaxAbs1e3));
    compare_greedy_except_ties(golden, g, r);
}

TEST(GoldenF32, Llama3MiniRopeFreqs) { check_arch("llama3-mini-f32.bpe1.json", "llama3-mini-f32.gguf"); }
TEST(GoldenF32, Qwen3Mini) { check_arch("qwen3-mini-f32.bpe1.json", "qwen3-mini-f32.gguf"); }
TEST(GoldenF32, Phi3Mini) { check_arch("phi3-mini-f32.story2.json", "phi3-mini-f32.gguf"); }
TEST(GoldenF32, Gemma3MiniSlidingWindow) { check_arch("gemma3-mini-f32.long1.json", "gemma3-mini-f32.gguf"); }

// Mixtures of experts (random weights: greedy ids identical except where our own top two are a
// near-tie). qwen3moe: 8 experts, 2 used, q/k norms; Mixtral (llama + experts): 4 experts, 2 used.
void check_f32_moe(const std::string& golden, const std::filesystem::path& model, int64_t n_batch = 512) {
    const Golden g = load_golden(golden);
    const ModelRun r = run_model(model.string(), g, KvType::F16, n_batch);
    const std::string label = golden + (n_batch == 512 ? "" : " n_batch=" + std::to_string(n_batch));
    report(label, "worst_maxabs_over_tolerance", compare_prompt(label, g, r, Tolerance::MaxAbs1e3));
    compare_greedy_except_ties(label, g, r);
    size_t differing = 0;
    for (size_t i = 0; i < std::min(g.greedy.size(), r.greedy.size()); ++i) differing += g.greedy[i] != r.greedy[i];
    report(label, "greedy_ids_differing", static_cast<double>(differing));
}
TEST(GoldenF32, MoeMiniStory2) { check_f32_moe("moe-mini-f32.story2.json", synth_model("moe-mini-f32.gguf")); }
TEST(GoldenF32, MixtralMiniStory2) {
    check_f32_moe("mixtral-mini-f32.story2.json", synth_model("mixtral-mini-f32.gguf"));
}
// Chunks of 3 tokens route fewer tokens to each expert than one batch does: same logits.
TEST(GoldenF32, MoeMiniSmallBatches) {
    check_f32_moe("moe-mini-f32.story2.json", synth_model("moe-mini-f32.gguf"), 3);
}

// Prompt processed in chunks of 3 tokens must give the same logits as one batch (same rule).
TEST(GoldenF32, MiniF32SmallBatches) {
    const Golden g = load_golden("mini-f32.json");
    const ModelRun r = run_model(synth_model("mini-f32.gguf").string(), g, KvType::F16, 3);
    report("mini-f32 n_batch=3", "worst_maxabs_over_tolerance", compare_prompt("mini-f32 n_batch=3", g, r, Tolerance::MaxAbs1e3));
}

}  // namespace
}  // namespace qlm::test
