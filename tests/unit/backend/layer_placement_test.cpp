// -ngl placement: which slots go to the GPU (llama.cpp's numbering: the last N of n_layer layers
// + the output head), the bytes on each side, the largest -ngl that fits a given free memory and
// the one-line error when it does not; the footprint of real files adds up to their tensor bytes.
#include <gtest/gtest.h>

#include <string>

#include "common/test_support.h"
#include "src/backend/layer_placement.h"
#include "src/backend/offload.h"
#include "src/model/model_loader.h"
#include "src/util/error.h"

namespace qlm {
namespace {

constexpr uint64_t MiB = uint64_t{1} << 20;

// 4 layers of 100 MiB weights + 10 MiB KV each (layer 3's weights 120 MiB), a 50 MiB head (1 MiB
// of it the norm), 5 MiB token embedding, 8 MiB activations, 2 MiB logits.
ModelFootprint fake() {
    ModelFootprint f;
    f.layer_weight_bytes = {100 * MiB, 100 * MiB, 100 * MiB, 120 * MiB};
    f.layer_kv_bytes = {10 * MiB, 10 * MiB, 10 * MiB, 10 * MiB};
    f.output_norm_bytes = 1 * MiB;
    f.output_matrix_bytes = 49 * MiB;
    f.host_only_bytes = 5 * MiB;
    f.scratch_bytes = 8 * MiB;
    f.logits_bytes = 2 * MiB;
    return f;
}

TEST(LayerPlacement, ZeroKeepsEverythingOnTheCpu) {
    const LayerPlacement p = plan_layers(fake(), GpuLayers::n(0));
    EXPECT_EQ(p.gpu_slots, 0);
    EXPECT_FALSE(p.output_on_gpu);
    EXPECT_EQ(p.first_gpu_layer, 4);
    EXPECT_EQ(p.gpu_layer_count(), 0);
    EXPECT_EQ(p.gpu_total_bytes, 0u);
    EXPECT_EQ(p.cpu_weight_bytes, (420 + 50 + 5) * MiB);
    EXPECT_EQ(p.cpu_kv_bytes, 40 * MiB);
}

TEST(LayerPlacement, OneIsTheOutputHeadAlone) {
    const LayerPlacement p = plan_layers(fake(), GpuLayers::n(1));
    EXPECT_TRUE(p.output_on_gpu);
    EXPECT_EQ(p.gpu_layer_count(), 0);
    EXPECT_EQ(p.gpu_weight_bytes, 50 * MiB);
    EXPECT_EQ(p.gpu_kv_bytes, 0u);
    EXPECT_EQ(p.gpu_scratch_bytes, 10 * MiB);  // activations + logits
    EXPECT_EQ(p.gpu_total_bytes, 60 * MiB);
}

TEST(LayerPlacement, CountsTheLastLayersAndCapsAtEverySlot) {
    const LayerPlacement two = plan_layers(fake(), GpuLayers::n(2));
    EXPECT_EQ(two.first_gpu_layer, 3);
    EXPECT_TRUE(two.on_gpu(3));
    EXPECT_FALSE(two.on_gpu(2));
    EXPECT_EQ(two.gpu_weight_bytes, (120 + 50) * MiB);
    EXPECT_EQ(two.gpu_kv_bytes, 10 * MiB);
    EXPECT_EQ(two.cpu_weight_bytes, (300 + 5) * MiB);
    EXPECT_EQ(two.cpu_kv_bytes, 30 * MiB);

    const LayerPlacement four = plan_layers(fake(), GpuLayers::n(4));  // n_layer: all but layer 0
    EXPECT_EQ(four.first_gpu_layer, 1);
    for (GpuLayers g : {GpuLayers::n(5), GpuLayers::n(99), GpuLayers::all_slots()}) {
        const LayerPlacement p = plan_layers(fake(), g);
        EXPECT_EQ(p.gpu_slots, 5) << gpu_layers_text(g);
        EXPECT_EQ(p.first_gpu_layer, 0);
        EXPECT_EQ(p.gpu_weight_bytes, (420 + 50) * MiB);
        EXPECT_EQ(p.gpu_kv_bytes, 40 * MiB);
        EXPECT_EQ(p.gpu_total_bytes, (420 + 50 + 40 + 10) * MiB);
        EXPECT_EQ(p.cpu_weight_bytes, 5 * MiB);  // the token embedding
        EXPECT_EQ(p.cpu_kv_bytes, 0u);
    }
}

TEST(LayerPlacement, ATiedHeadIsACopyOfTheEmbeddingOnTheGpuOnly) {
    ModelFootprint f = fake();
    f.output_tied = true;
    f.output_matrix_bytes = 5 * MiB;  // token_embd, counted in host_only_bytes too
    EXPECT_EQ(plan_layers(f, GpuLayers::n(0)).cpu_weight_bytes, (420 + 1 + 5) * MiB);
    const LayerPlacement head = plan_layers(f, GpuLayers::n(1));
    EXPECT_EQ(head.gpu_weight_bytes, 6 * MiB);
    EXPECT_EQ(head.cpu_weight_bytes, (420 + 5) * MiB);
}

TEST(LayerPlacement, LargestThatFitsGrowsWithTheFreeMemory) {
    const ModelFootprint f = fake();
    EXPECT_EQ(largest_gpu_layers_that_fit(f, 0), 0);
    EXPECT_EQ(largest_gpu_layers_that_fit(f, 60 * MiB - 1), 0);
    EXPECT_EQ(largest_gpu_layers_that_fit(f, 60 * MiB), 1);
    EXPECT_EQ(largest_gpu_layers_that_fit(f, 190 * MiB - 1), 1);
    EXPECT_EQ(largest_gpu_layers_that_fit(f, 190 * MiB), 2);  // head + layer 3 + its KV
    EXPECT_EQ(largest_gpu_layers_that_fit(f, 520 * MiB - 1), 4);
    EXPECT_EQ(largest_gpu_layers_that_fit(f, 520 * MiB), 5);
    EXPECT_EQ(largest_gpu_layers_that_fit(f, uint64_t{1} << 40), 5);
}

std::string error_of(GpuLayers g, uint64_t free) {
    try {
        check_placement_fits(g, fake(), free);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(LayerPlacement, TooLittleMemoryIsOneLineWithTheLargestThatFits) {
    EXPECT_EQ(check_placement_fits(GpuLayers::all_slots(), fake(), 520 * MiB).gpu_slots, 5);
    const std::string e = error_of(GpuLayers::all_slots(), 300 * MiB);  // -ngl 3: 50 + 220 + 20 + 10 MiB
    EXPECT_EQ(e,
              "-ngl all needs 520.00 MiB of GPU memory (weights 470.00 MiB, KV cache 40.00 MiB, activations 10.00 MiB) "
              "and the GPU has 300.00 MiB free: use -ngl 3 or less (or a smaller -c or --kv-type q8_0)");
    EXPECT_EQ(e.find('\n'), std::string::npos);
    EXPECT_NE(error_of(GpuLayers::n(99), 300 * MiB).find("-ngl 99 needs"), std::string::npos);
    EXPECT_NE(error_of(GpuLayers::n(1), 1 * MiB).find("not even the output head fits: use -ngl 0 (the CPU)"),
              std::string::npos);
}

TEST(Offload, WithoutAGpuTheRunStaysOnTheCpuWithOneWarning) {
    const GpuProbe none{.device = std::nullopt, .why_none = "this build has no CUDA backend (configure with -DQLM_CUDA=ON)"};
    const OffloadDecision d = decide_offload(GpuLayers::n(99), fake(), none);
    EXPECT_EQ(d.placement.gpu_slots, 0);
    EXPECT_EQ(offload_warning(GpuLayers::n(99), d),
              "qlm: warning: -ngl 99: this build has no CUDA backend (configure with -DQLM_CUDA=ON); running on the CPU\n");
    // Nothing asked for: nothing said.
    EXPECT_EQ(offload_warning(GpuLayers::n(0), decide_offload(GpuLayers::n(0), fake(), none)), "");
}

TEST(Offload, WithAGpuThePlacementIsCheckedAgainstItsFreeMemory) {
    GpuProbe gpu{.device = GpuDevice{.name = "Fake GPU", .free_bytes = 300 * MiB, .total_bytes = 400 * MiB},
                 .why_none = ""};
    EXPECT_THROW(decide_offload(GpuLayers::all_slots(), fake(), gpu), Error);
    const OffloadDecision d = decide_offload(GpuLayers::n(2), fake(), gpu);
    // It fits: the GPU holds the last layer and the head, and nothing is said.
    EXPECT_TRUE(d.cpu_reason.empty());
    EXPECT_EQ(d.placement.gpu_slots, 2);
    EXPECT_EQ(d.placement.first_gpu_layer, 3);
    EXPECT_EQ(d.placement.gpu_total_bytes, 190 * MiB);
    EXPECT_EQ(offload_warning(GpuLayers::n(2), d), "");
}

// The footprint of a real file: every tensor byte is in exactly one place, and the KV bytes are
// the context layout's.
void expect_footprint_adds_up(const std::string& file) {
    SCOPED_TRACE(file);
    const LoadedModel m = load_model(test::shared_file(file).string(), {.tokenizer = TokenizerNeed::None});
    const Hparams& hp = m.model->hparams();
    const ContextLayout c = plan_context(hp, m.model->weights().matmul_groups(), {.n_ctx = 64, .n_threads = 1});
    const ModelFootprint f = model_footprint(*m.file, hp, c);
    ASSERT_EQ(f.n_layer(), hp.n_layer);
    uint64_t kv = 0, layers = 0;
    for (int64_t l = 0; l < f.n_layer(); ++l) {
        kv += f.layer_kv_bytes[static_cast<size_t>(l)];
        layers += f.layer_weight_bytes[static_cast<size_t>(l)];
        EXPECT_GT(f.layer_weight_bytes[static_cast<size_t>(l)], 0u);
    }
    EXPECT_EQ(kv, c.kv.bytes);
    EXPECT_GT(f.output_norm_bytes, 0u);
    EXPECT_GT(f.output_matrix_bytes, 0u);
    EXPECT_EQ(layers + f.output_norm_bytes + (f.output_tied ? 0 : f.output_matrix_bytes) + f.host_only_bytes,
              tensor_stats(*m.file).n_bytes);
    // Every slot on the GPU leaves the host the embedding alone; none leaves it everything.
    const LayerPlacement all = plan_layers(f, GpuLayers::all_slots());
    EXPECT_EQ(all.cpu_kv_bytes, 0u);
    EXPECT_EQ(all.gpu_kv_bytes, c.kv.bytes);
    EXPECT_EQ(all.cpu_weight_bytes, f.host_only_bytes);
    EXPECT_EQ(plan_layers(f, GpuLayers::n(0)).cpu_weight_bytes,
              tensor_stats(*m.file).n_bytes);
}

TEST(ModelFootprint, AddsUpToTheFilesTensorBytes) {
    expect_footprint_adds_up("models/stories260K-F32.gguf");
    expect_footprint_adds_up("models/llama-2-tiny-random-F16.gguf");
}

}  // namespace
}  // namespace qlm
