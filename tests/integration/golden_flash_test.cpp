// The flash-attention kernel (--flash-attn) against llama.cpp's logits. It computes the same
// function with different rounding (f32 probabilities, online rescaling) from the golden files'
// non-flash path, so it is held to the rms criterion of f16 rounding (rms ≤ 1e-2·R), the argmax
// rule, and identical greedy ids on the trained stories260K model.
#include "golden_compare.h"

namespace qlm::test {
namespace {

void check_flash(const std::string& golden, const std::filesystem::path& model, bool greedy) {
    const Golden g = load_golden(golden);
    const ModelRun r = run_model(model.string(), g, KvType::F16, 512, /*flash_attn=*/true);
    const std::string label = golden + " flash";
    report(label, "worst_rms_over_tolerance", compare_prompt(label, g, r, Tolerance::Rms1e2));
    if (greedy) compare_greedy(label, g, r);
}

TEST(GoldenFlash, Stories260KStory1) { check_flash("stories260K-F32.story1.json", shared_file("models/stories260K-F32.gguf"), true); }
TEST(GoldenFlash, Stories260KStory2) { check_flash("stories260K-F32.story2.json", shared_file("models/stories260K-F32.gguf"), true); }
TEST(GoldenFlash, MiniF32) { check_flash("mini-f32.json", synth_model("mini-f32.gguf"), false); }
TEST(GoldenFlash, QwenMiniBpe1) { check_flash("qwen-mini-f32.bpe1.json", synth_model("qwen-mini-f32.gguf"), false); }
TEST(GoldenFlash, SmolBpe1) { check_flash("smol-f16.bpe1.json", synth_model("smol-f16.gguf"), false); }
// Sliding-window layers through the online softmax (positions before a row's window skipped).
TEST(GoldenFlash, Gemma3MiniSlidingWindow) {
    check_flash("gemma3-mini-f32.long1.json", synth_model("gemma3-mini-f32.gguf"), false);
}

}  // namespace
}  // namespace qlm::test
