// F16 models against llama.cpp: rms(ours - ref) <= 1e-2 R at every prompt position, argmax, greedy ids.
#include "golden_compare.h"

namespace qlm::test {
namespace {

void check_f16(const std::string& golden, const std::filesystem::path& model) {
    const Golden g = load_golden(golden);
    const ModelRun r = run_model(model.string(), g);
    const double worst = compare_prompt(golden, g, r, Tolerance::Rms1e2);
    report(golden, "worst_rms_over_tolerance", worst);
    compare_greedy(golden, g, r);
}

TEST(GoldenF16, LlamaTinyRandom) {
    check_f16("llama-2-tiny-random-F16.json", shared_file("models/llama-2-tiny-random-F16.gguf"));
}
TEST(GoldenF16, SmolBpe1) { check_f16("smol-f16.bpe1.json", synth_model("smol-f16.gguf")); }
TEST(GoldenF16, SmolBpe2) { check_f16("smol-f16.bpe2.json", synth_model("smol-f16.gguf")); }

}  // namespace
}  // namespace qlm::test
