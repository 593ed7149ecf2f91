// The forward pass with layers on the GPU (the CUDA ops set behind layer_ops.h) against
// llama.cpp's golden logits under the criteria of ../shared/golden/README.md, at -ngl 0, 1, half
// and all, for the golden files whose architecture and tensor types have CUDA kernels: F32 models
// (llama, qwen2 biases, qwen3 q/k norms, llama3 rope_freqs, phi3 fused tensors) and the quantized
// mini files. Then the multi-sequence path (a fork sharing KV blocks, copy-on-write, decode
// steps of two sequences in one batch) against the CPU's logits. Skipped without a CUDA device.
// Compiled here; run by scripts/cuda-device-check.sh on a GPU machine.
#include <gtest/gtest.h>

#include <string>

#include "golden_compare.h"
#include "src/backend/cuda/cuda_offload.h"
#include "src/backend/gpu_device.h"
#include "src/backend/layer_placement.h"
#include "src/model/context_layout.h"
#include "src/model/weights.h"

namespace qlm::test {
namespace {

// In the test body itself: GTEST_SKIP returns from the function it is in.
#define REQUIRE_DEVICE()                                   \
    if (const GpuProbe gpu = probe_gpu(); !gpu.device) {   \
        GTEST_SKIP() << gpu.why_none;                      \
    }

// -ngl `g` for the run's own context; every placed layer must run on the device.
DeviceFactory cuda_layers(GpuLayers g, int64_t* on_device = nullptr) {
    return [g, on_device](const Model& m, const ContextOptions& o) {
        const ContextLayout l = plan_context(m.hparams(), m.weights().matmul_groups(), o);
        const LayerPlacement p = plan_layers(model_footprint(m.file(), m.hparams(), l), g);
        std::string left;
        std::unique_ptr<DeviceOffload> d = make_cuda_offload(m, p, left);
        EXPECT_EQ(left, "") << "-ngl " << gpu_layers_text(g);
        if (on_device) {
            *on_device = 0;
            for (int64_t i = 0; i < m.hparams().n_layer; ++i) *on_device += d && d->runs_layer(i);
        }
        return d;
    };
}

// -ngl 0, 1, half the slots, all.
std::vector<GpuLayers> settings(int64_t n_layer) {
    return {GpuLayers::n(0), GpuLayers::n(1), GpuLayers::n((n_layer + 2) / 2), GpuLayers::all_slots()};
}

int64_t n_layer_of(const std::filesystem::path& model) {
    return Model::load(gguf::GgufFile::open(model.string()))->hparams().n_layer;
}

void check_f32(const std::string& golden, const std::filesystem::path& model, bool greedy_exact) {
    const Golden g = load_golden(golden);
    for (const GpuLayers ngl : settings(n_layer_of(model))) {
        const std::string label = golden + " -ngl " + gpu_layers_text(ngl);
        int64_t placed = 0;
        const ModelRun r = run_model(model.string(), g, KvType::F16, 512, false, cuda_layers(ngl, &placed));
        report(label, "layers_on_gpu", static_cast<double>(placed));
        report(label, "worst_maxabs_over_tolerance", compare_prompt(label, g, r, Tolerance::MaxAbs1e3));
        if (greedy_exact)
            compare_greedy(label, g, r);
        else
            compare_greedy_except_ties(label, g, r);
    }
}

void check_quant(const std::string& golden_q, const std::filesystem::path& model) {
    const Golden q = load_golden(golden_q);
    const Golden f = load_golden("mini-f32.json");
    const double ref_err = rms_vs(f, [&](size_t p, size_t k) { return q.positions[p].values[k]; });
    for (const GpuLayers ngl : settings(n_layer_of(model))) {
        const std::string label = golden_q + " -ngl " + gpu_layers_text(ngl);
        const ModelRun r = run_model(model.string(), q, KvType::F16, 512, false, cuda_layers(ngl));
        const auto at = [&](const Golden& ref) {
            return [&](size_t p, size_t k) { return r.prompt_logits[p][static_cast<size_t>(ref.positions[p].ids[k])]; };
        };
        const double ours_vs_f32 = rms_vs(f, at(f)), ours_vs_q = rms_vs(q, at(q));
        report(label, "rms_ours_vs_ref_f32_over_1.05_ref", ours_vs_f32 / (1.05 * ref_err));
        report(label, "rms_ours_vs_ref_q_over_ref", ours_vs_q / ref_err);
        EXPECT_LE(ours_vs_f32, 1.05 * ref_err) << label;
        EXPECT_LE(ours_vs_q, ref_err) << label;
    }
}

TEST(CudaGolden, Stories260K) {
    REQUIRE_DEVICE();
    check_f32("stories260K-F32.story1.json", shared_file("models/stories260K-F32.gguf"), true);
    check_f32("stories260K-F32.story_long.json", shared_file("models/stories260K-F32.gguf"), true);
}
TEST(CudaGolden, MiniF32) {
    REQUIRE_DEVICE();
    check_f32("mini-f32.json", synth_model("mini-f32.gguf"), false);
}
TEST(CudaGolden, QwenMiniBiases) {
    REQUIRE_DEVICE();
    check_f32("qwen-mini-f32.bpe1.json", synth_model("qwen-mini-f32.gguf"), false);
}
TEST(CudaGolden, Qwen3MiniQkNorm) {
    REQUIRE_DEVICE();
    check_f32("qwen3-mini-f32.bpe1.json", synth_model("qwen3-mini-f32.gguf"), false);
}
TEST(CudaGolden, Llama3MiniRopeFreqs) {
    REQUIRE_DEVICE();
    check_f32("llama3-mini-f32.bpe1.json", synth_model("llama3-mini-f32.gguf"), false);
}
TEST(CudaGolden, Phi3MiniFusedTensors) {
    REQUIRE_DEVICE();
    check_f32("phi3-mini-f32.story2.json", synth_model("phi3-mini-f32.gguf"), false);
}
TEST(CudaGolden, MiniQuantized) {
    REQUIRE_DEVICE();
    for (const char* t : {"Q8_0", "Q6_K", "Q5_K_S", "Q4_K_M", "Q4_0"})
        check_quant(std::string("mini-") + t + ".json", shared_file(std::string("models/synth/mini-") + t + ".gguf"));
}

// Sequence 0's prompt in chunks, a fork of its first 20 positions (shared blocks), then decode
// steps of both sequences in one batch (the fork's first write copies a shared block): the GPU
// logits within the F32 criterion of the CPU's at every -ngl.
TEST(CudaForward, ForkedSequencesMatchTheCpu) {
    REQUIRE_DEVICE();
    const std::filesystem::path path = synth_model("mini-f32.gguf");
    auto model = Model::load(gguf::GgufFile::open(path.string()));
    const auto run = [&](const DeviceFactory& make) {
        ContextOptions o{.n_ctx = 96, .n_batch = 16, .n_outputs = 37, .n_threads = 2, .kv_type = KvType::F32,
                         .n_seq_max = 2};
        const std::unique_ptr<DeviceOffload> device = make ? make(*model, o) : nullptr;
        o.device = device.get();
        InferenceContext ctx(*model, o);
        std::vector<int32_t> prompt;
        for (int i = 0; i < 37; ++i) prompt.push_back(3 + (i * 37) % 250);
        std::vector<std::vector<float>> rows;
        const auto keep = [&] {
            for (int64_t i = 0; i < ctx.n_outputs(); ++i) rows.emplace_back(ctx.logits(i).begin(), ctx.logits(i).end());
        };
        ctx.eval(prompt, true);
        keep();
        ctx.seq_cp(0, 1, 20);
        for (int32_t t : {5, 77, 200, 9}) {
            Batch b;
            b.add(t, ctx.n_pos(0), 0, true);
            b.add(t + 1, ctx.n_pos(1), 1, true);
            ctx.decode(b);
            keep();
        }
        return rows;
    };
    const auto cpu = run({});
    for (const GpuLayers ngl : settings(model->hparams().n_layer)) {
        const auto gpu = run(cuda_layers(ngl));
        ASSERT_EQ(gpu.size(), cpu.size());
        for (size_t i = 0; i < cpu.size(); ++i) {
            std::vector<double> ref(cpu[i].begin(), cpu[i].end());
            double worst = 0;
            for (size_t k = 0; k < ref.size(); ++k) worst = std::max(worst, std::abs(gpu[i][k] - ref[k]));
            EXPECT_LE(worst, 1e-3 * rms(ref)) << "-ngl " << gpu_layers_text(ngl) << ", row " << i;
        }
    }
}

}  // namespace
}  // namespace qlm::test
