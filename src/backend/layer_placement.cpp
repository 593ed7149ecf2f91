#include "src/backend/layer_placement.h"

#include <charconv>
#include <string_view>

#include <fmt/format.h>

#include "src/model/memory_plan.h"
#include "src/model/plan_math.h"
#include "src/util/error.h"

namespace qlm {
namespace {

uint64_t add2(uint64_t a, uint64_t b) { return plan_math::add({a, b}); }

// The layer of a "blk.<l>." tensor name, or -1.
int64_t layer_of(std::string_view name) {
    constexpr std::string_view prefix = "blk.";
    if (!name.starts_with(prefix)) return -1;
    name.remove_prefix(prefix.size());
    int64_t l = -1;
    const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), l);
    if (ec != std::errc() || end == name.data() || end == name.data() + name.size() || *end != '.') return -1;
    return l;
}

}  // namespace

std::string gpu_layers_text(GpuLayers g) { return g.all ? "all" : std::to_string(g.count); }

ModelFootprint model_footprint(const gguf::GgufFile& file, const Hparams& hp, const ContextLayout& context) {
    ModelFootprint f;
    f.layer_weight_bytes.assign(static_cast<size_t>(hp.n_layer), 0);
    f.layer_kv_bytes.assign(static_cast<size_t>(hp.n_layer), 0);
    bool has_output = false;
    uint64_t token_embd = 0;
    for (const gguf::TensorInfo& t : file.tensors()) {
        const int64_t l = layer_of(t.name);
        if (l >= 0 && l < hp.n_layer) {
            f.layer_weight_bytes[static_cast<size_t>(l)] = add2(f.layer_weight_bytes[static_cast<size_t>(l)], t.n_bytes);
        } else if (t.name.starts_with("output_norm.")) {
            f.output_norm_bytes = add2(f.output_norm_bytes, t.n_bytes);
        } else if (t.name.starts_with("output.")) {
            f.output_matrix_bytes = add2(f.output_matrix_bytes, t.n_bytes);
            has_output = true;
        } else {
            if (t.name == "token_embd.weight") token_embd = t.n_bytes;
            f.host_only_bytes = add2(f.host_only_bytes, t.n_bytes);
        }
    }
    if (!has_output) {
        f.output_tied = true;
        f.output_matrix_bytes = token_embd;
    }
    const KvLayout& kv = context.kv;
    for (int64_t l = 0; l < hp.n_layer; ++l)
        f.layer_kv_bytes[static_cast<size_t>(l)] =
            plan_math::mul({2, plan_math::u(kv.pool_blocks(l)), kv.block_bytes});  // K and V blocks of layer l
    f.scratch_bytes = add2(context.activation_bytes, context.moe.bytes);
    f.logits_bytes = context.logits_bytes;
    return f;
}

LayerPlacement plan_layers(const ModelFootprint& f, GpuLayers request) {
    LayerPlacement p;
    p.n_layer = f.n_layer();
    const int64_t slots = p.n_layer + 1;
    p.gpu_slots = request.all ? slots : std::min(std::max<int64_t>(request.count, 0), slots);
    p.output_on_gpu = p.gpu_slots >= 1;
    p.first_gpu_layer = p.n_layer - std::max<int64_t>(p.gpu_slots - 1, 0);
    for (int64_t l = 0; l < p.n_layer; ++l) {
        const uint64_t w = f.layer_weight_bytes[static_cast<size_t>(l)], kv = f.layer_kv_bytes[static_cast<size_t>(l)];
        if (p.on_gpu(l)) {
            p.gpu_weight_bytes = add2(p.gpu_weight_bytes, w);
            p.gpu_kv_bytes = add2(p.gpu_kv_bytes, kv);
        } else {
            p.cpu_weight_bytes = add2(p.cpu_weight_bytes, w);
            p.cpu_kv_bytes = add2(p.cpu_kv_bytes, kv);
        }
    }
    p.cpu_weight_bytes = add2(p.cpu_weight_bytes, f.host_only_bytes);
    if (p.output_on_gpu) {
        p.gpu_weight_bytes = add2(p.gpu_weight_bytes, add2(f.output_norm_bytes, f.output_matrix_bytes));
        p.gpu_scratch_bytes = add2(f.scratch_bytes, f.logits_bytes);
    } else {
        // A tied output matrix is token_embd, already counted on the CPU.
        p.cpu_weight_bytes = add2(p.cpu_weight_bytes, f.output_norm_bytes);
        if (!f.output_tied) p.cpu_weight_bytes = add2(p.cpu_weight_bytes, f.output_matrix_bytes);
    }
    p.gpu_total_bytes = add2(add2(p.gpu_weight_bytes, p.gpu_kv_bytes), p.gpu_scratch_bytes);
    return p;
}

int64_t largest_gpu_layers_that_fit(const ModelFootprint& f, uint64_t free_bytes) {
    // The bytes grow with the slot count: the first count from the top that fits is the largest.
    for (int64_t n = f.n_layer() + 1; n > 0; --n)
        if (plan_layers(f, GpuLayers::n(n)).gpu_total_bytes <= free_bytes) return n;
    return 0;
}

LayerPlacement check_placement_fits(GpuLayers request, const ModelFootprint& f, uint64_t free_bytes) {
    LayerPlacement p = plan_layers(f, request);
    if (p.gpu_total_bytes <= free_bytes) return p;
    const int64_t fits = largest_gpu_layers_that_fit(f, free_bytes);
    throw_error("-ngl {} needs {} of GPU memory (weights {}, KV cache {}, activations {}) and the GPU has {} free: {}",
                gpu_layers_text(request), format_bytes(p.gpu_total_bytes), format_bytes(p.gpu_weight_bytes),
                format_bytes(p.gpu_kv_bytes), format_bytes(p.gpu_scratch_bytes), format_bytes(free_bytes),
                fits > 0 ? fmt::format("use -ngl {} or less (or a smaller -c or --kv-type q8_0)", fits)
                         : std::string("not even the output head fits: use -ngl 0 (the CPU)"));
}

}  // namespace qlm
