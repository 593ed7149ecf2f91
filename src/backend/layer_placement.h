// Which layers of a model live on a GPU for `-ngl N` / `--gpu-layers N|all`, and the GPU memory
// that takes. The numbering is llama.cpp's: a model has n_layer + 1 offloadable slots, its layers
// 0 .. n_layer-1 and then the output head (final norm and output matrix), and -ngl N puts the
// last N slots on the GPU: -ngl 1 is the output head alone, -ngl n_layer the head and every layer
// but the first, -ngl n_layer+1 (or more, or all) everything. The token embedding is a row
// lookup and stays on the CPU. A layer on the GPU keeps its weights and its KV cache there.
//
//   ModelFootprint f = model_footprint(file, hp, plan_context(hp, groups, {.n_ctx = 4096}));
//   LayerPlacement p = plan_layers(f, GpuLayers::all());
//   check_placement_fits(GpuLayers::all_slots(), f, device.free_bytes);  // throws: "... use -ngl 27 or less ..."
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/gguf/gguf_file.h"
#include "src/model/context_layout.h"
#include "src/model/hparams.h"

namespace qlm {

// The value of -ngl: a slot count, or every slot.
struct GpuLayers {
    int64_t count = 0;  // >= 0
    bool all = false;

    static GpuLayers all_slots() { return {0, true}; }
    static GpuLayers n(int64_t count) { return {count, false}; }
    bool any() const { return all || count > 0; }
};

// "all" or the count, as the flag is written.
std::string gpu_layers_text(GpuLayers g);

// The bytes each slot would take on a device.
struct ModelFootprint {
    std::vector<uint64_t> layer_weight_bytes;  // blk.<l>.* tensor data, per layer
    std::vector<uint64_t> layer_kv_bytes;      // K and V of layer l for the context's cells
    uint64_t output_norm_bytes = 0;            // output_norm.*
    uint64_t output_matrix_bytes = 0;          // output.weight, or token_embd when the output is tied to it
    bool output_tied = false;                  // on the GPU the head then needs a copy of token_embd
    uint64_t host_only_bytes = 0;              // token_embd and any tensor outside the slots: always on the CPU
    // The activations of one batch, on the device as soon as one slot is (the buffers of the CPU
    // context's layout: the widths are the forward pass's, wherever it runs).
    uint64_t scratch_bytes = 0;
    uint64_t logits_bytes = 0;                 // on the device with the output head
    int64_t n_layer() const { return static_cast<int64_t>(layer_weight_bytes.size()); }
};

// From the file's tensor table and the context layout the run will allocate.
ModelFootprint model_footprint(const gguf::GgufFile& file, const Hparams& hp, const ContextLayout& context);

struct LayerPlacement {
    int64_t n_layer = 0;
    int64_t first_gpu_layer = 0;  // layers first_gpu_layer .. n_layer-1 are on the GPU (n_layer: none)
    bool output_on_gpu = false;
    int64_t gpu_slots = 0;        // layers on the GPU + the output head when it is there
    uint64_t gpu_weight_bytes = 0, gpu_kv_bytes = 0, gpu_scratch_bytes = 0, gpu_total_bytes = 0;
    uint64_t cpu_weight_bytes = 0, cpu_kv_bytes = 0;

    int64_t gpu_layer_count() const { return n_layer - first_gpu_layer; }
    bool on_gpu(int64_t layer) const { return layer >= first_gpu_layer; }
};

// What -ngl `request` puts where; a count above n_layer + 1 is every slot, as in llama.cpp.
LayerPlacement plan_layers(const ModelFootprint& f, GpuLayers request);

// The largest -ngl whose placement needs at most `free_bytes` of GPU memory (0: none fits but the CPU).
int64_t largest_gpu_layers_that_fit(const ModelFootprint& f, uint64_t free_bytes);

// The placement of `request`; throws qlm::Error when it needs more than `free_bytes`: one line
// with the bytes needed (weights, KV cache, activations) and free, and the largest -ngl that fits.
LayerPlacement check_placement_fits(GpuLayers request, const ModelFootprint& f, uint64_t free_bytes);

}  // namespace qlm
