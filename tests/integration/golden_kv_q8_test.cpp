// A q8_0 KV cache (--kv-type q8_0) against llama.cpp's logits, with the quantized criteria of
// ../shared/golden/README.md. The goldens use an f16 cache, so the q8_0 cache is held to the
// accuracy llama.cpp's own Q8_0 weights reach on the same prompt (mini: REF_Q = mini-Q8_0.json,
// w = rms(REF_Q − REF_F32)):
//   F32 weights:  c = rms(OURS − REF_F32) ≤ w   (the cache costs less than Q8_0 weights do)
//   Q8_0 weights: rms(OURS − REF_F32) ≤ 1.05·√(w² + c²)   (the two errors add no worse than
//                 independent ones; REF_Q itself is not the target: with Q8_0 activations any
//                 change to the cache moves some activations across a rounding boundary)
// for the exact kernel and the flash kernel.
#include "golden_compare.h"

namespace qlm::test {
namespace {

double rms_ours_vs(const Golden& ref, const ModelRun& r) {
    return rms_vs(ref, [&](size_t p, size_t k) { return r.prompt_logits[p][static_cast<size_t>(ref.positions[p].ids[k])]; });
}

class GoldenKvQ8 : public ::testing::TestWithParam<bool> {};

TEST_P(GoldenKvQ8, MiniWithinTheQ8_0WeightError) {
    const bool flash = GetParam();
    const Golden f = load_golden("mini-f32.json");
    const Golden q = load_golden("mini-Q8_0.json");
    ASSERT_EQ(q.prompt, f.prompt);
    const double ref_err = rms_vs(f, [&](size_t p, size_t k) { return q.positions[p].values[k]; });
    const std::string label = std::string("mini kv q8_0") + (flash ? " flash" : "");

    const ModelRun f32 = run_model(synth_model("mini-f32.gguf").string(), f, KvType::Q8_0, 512, flash);
    const double f32_err = rms_ours_vs(f, f32);
    report(label, "f32_weights_rms_vs_ref_f32_over_q8_0_error", f32_err / ref_err);
    EXPECT_LE(f32_err, ref_err) << label << ": the q8_0 cache costs more than Q8_0 weights";
    EXPECT_GT(f32_err, 0.0) << label << ": the cache is not quantized";

    const ModelRun q8 = run_model(shared_file("models/synth/mini-Q8_0.gguf").string(), q, KvType::Q8_0, 512, flash);
    const double q8_err = rms_ours_vs(f, q8);
    const double bound = 1.05 * std::sqrt(ref_err * ref_err + f32_err * f32_err);
    report(label, "q8_0_weights_rms_vs_ref_f32_over_bound", q8_err / bound);
    EXPECT_LE(q8_err, bound) << label << ": Q8_0 weights with a q8_0 cache, rms(ours - ref_f32) = " << q8_err;
}

INSTANTIATE_TEST_SUITE_P(Kernels, GoldenKvQ8, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Flash" : "Exact"; });

}  // namespace
}  // namespace qlm::test
