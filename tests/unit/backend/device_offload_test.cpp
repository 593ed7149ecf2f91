// From -ngl to the contexts' ops sets (device_offload.h) where no GPU can take the layers: a
// build without the CUDA backend, or a machine without a device. Every request gives no device,
// exactly one warning line ending in "running on the CPU", and contexts whose every layer and
// head run on the CPU ops, with the logits of a run that asked for nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "src/backend/device_offload.h"
#include "src/backend/gpu_device.h"
#include "src/model/context.h"
#include "src/model/model_loader.h"

namespace qlm {
namespace {

std::vector<float> prompt_logits(InferenceContext& ctx) {
    const std::vector<int32_t> prompt = {1, 403, 287, 9, 77, 260, 31, 5};
    ctx.eval(prompt, true);
    std::vector<float> out;
    for (int64_t i = 0; i < ctx.n_outputs(); ++i) out.insert(out.end(), ctx.logits(i).begin(), ctx.logits(i).end());
    return out;
}

void expect_one_cpu_line(const std::string& warning, const std::string& value) {
    EXPECT_EQ(std::count(warning.begin(), warning.end(), '\n'), 1) << warning;
    EXPECT_EQ(warning.rfind("qlm: warning: -ngl " + value + ": ", 0), 0u) << warning;
    EXPECT_TRUE(warning.ends_with("; running on the CPU\n")) << warning;
}

TEST(DeviceOffload, WithoutAGpuEveryLayerRunsOnTheCpuOpsAfterOneWarning) {
    const GpuProbe gpu = probe_gpu();
    if (gpu.device) GTEST_SKIP() << "a GPU is present (" << gpu.device->name << "): the cuda tests cover offload";
    const LoadedModel m = load_model(test::shared_file("models/stories260K-F32.gguf").string(),
                                     {.tokenizer = TokenizerNeed::None});
    const Model& model = *m.model;
    const Hparams& hp = model.hparams();
    ContextOptions o{.n_ctx = 64, .n_outputs = 8, .n_threads = 2};
    InferenceContext plain(model, o);
    const std::vector<float> expected = prompt_logits(plain);
    const ContextLayout layout = plan_context(hp, model.weights().matmul_groups(), o);
    for (const GpuLayers g : {GpuLayers::n(1), GpuLayers::n(3), GpuLayers::n(99), GpuLayers::all_slots()}) {
        SCOPED_TRACE(gpu_layers_text(g));
        const OffloadDecision d = decide_offload(g, model_footprint(*m.file, hp, layout), gpu);
        const OffloadSetup setup = setup_offload(g, model, d);
        EXPECT_EQ(setup.device, nullptr);
        expect_one_cpu_line(setup.warning, gpu_layers_text(g));
        EXPECT_NE(setup.warning.find(gpu.why_none), std::string::npos) << setup.warning;
        o.device = setup.device.get();
        InferenceContext ctx(model, o);
        for (int64_t l = 0; l < hp.n_layer; ++l) EXPECT_EQ(ctx.layer_ops_name(l), "cpu") << "layer " << l;
        EXPECT_EQ(ctx.head_ops_name(), "cpu");
        EXPECT_EQ(prompt_logits(ctx), expected);
    }
    // Nothing asked for: nothing said, no device.
    const OffloadSetup none = setup_offload(GpuLayers::n(0), model, decide_offload(GpuLayers::n(0), {}, gpu));
    EXPECT_EQ(none.device, nullptr);
    EXPECT_EQ(none.warning, "");
}

// A decision made against a GPU (a fitting placement, no reason to stay on the CPU) still runs on
// the CPU in a build without the CUDA backend, and says so once.
TEST(DeviceOffload, ABuildWithoutCudaKeepsAGpuPlacementOnTheCpu) {
    if (cuda_backend_built()) GTEST_SKIP() << "this build has the CUDA backend";
    const LoadedModel m = load_model(test::shared_file("models/stories260K-F32.gguf").string(),
                                     {.tokenizer = TokenizerNeed::None});
    const Hparams& hp = m.model->hparams();
    const ContextLayout layout = plan_context(hp, m.model->weights().matmul_groups(), {.n_ctx = 64, .n_threads = 1});
    const GpuProbe fake{.device = GpuDevice{.name = "Fake GPU", .free_bytes = uint64_t{1} << 34}, .why_none = ""};
    const OffloadDecision d = decide_offload(GpuLayers::all_slots(), model_footprint(*m.file, hp, layout), fake);
    ASSERT_EQ(d.placement.gpu_slots, hp.n_layer + 1);
    const OffloadSetup setup = setup_offload(GpuLayers::all_slots(), *m.model, d);
    EXPECT_EQ(setup.device, nullptr);
    expect_one_cpu_line(setup.warning, "all");
    EXPECT_NE(setup.warning.find("this build has no CUDA backend"), std::string::npos) << setup.warning;
}

}  // namespace
}  // namespace qlm
