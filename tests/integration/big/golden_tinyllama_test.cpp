// tinyllama-f16 (1.1B parameters, synthetic weights) against llama.cpp: F16 rule, argmax, greedy ids.
#include "../golden_compare.h"

namespace qlm::test {
namespace {

TEST(GoldenBig, TinyLlamaF16Story1) {
    const std::string golden = "tinyllama-f16.story1.json";
    const Golden g = load_golden(golden);
    const ModelRun r = run_model(synth_model("tinyllama-f16.gguf").string(), g);
    const double worst = compare_prompt(golden, g, r, Tolerance::Rms1e2);
    report(golden, "worst_rms_over_tolerance", worst);
    compare_greedy(golden, g, r);
}

}  // namespace
}  // namespace qlm::test
