#include "tools/qlm/model_setup.h"

#include <fmt/format.h>

#include "quant/formats.h"
#include "src/model/weights.h"
#include "src/util/cpu_info.h"
#include "src/util/error.h"
#include "tools/qlm/gpu_flags.h"
#include "tools/qlm/number_format.h"
#include "tools/qlm/usage_error.h"

namespace qlm::cli {
namespace {

std::string type_summary(const TensorStats& ts) {
    std::string out;
    for (const auto& [name, c] : ts.by_type) out += fmt::format("{}{} x{}", out.empty() ? "" : ", ", name, c.tensors);
    return out;
}

}  // namespace

void add_cache_flags(CLI::App& app, std::string& kv_type, bool* flash_attn) {
    if (flash_attn)
        app.add_flag("--flash-attn,--fa", *flash_attn,
                     "online-softmax attention (also -fa): O(tile) scratch memory, f32 probabilities");
    app.add_option("--kv-type", kv_type, "KV cache element type (q8_0: about half of f16; head size a multiple of 32)")
        ->check(CLI::IsMember({"f16", "f32", "q8_0"}))
        ->capture_default_str();
}

void check_load_flags(const LoadOptions& o) {
    if (o.n_ctx < 0) throw_usage("-c {}: the context size cannot be negative (0 = the model's)", o.n_ctx);
    if (o.n_batch < 1) throw_usage("-b {}: the batch size must be at least 1", o.n_batch);
    if (o.n_threads < 0) throw_usage("-t {}: the thread count cannot be negative (0 = one per physical core)", o.n_threads);
    parse_gpu_layers(o.gpu_layers);
}

ModelForGeneration load_for_generation(const LoadOptions& o) {
    check_load_flags(o);
    const auto kv = kv_type_from_name(o.kv_type);
    if (!kv) throw_error("--kv-type {}: not a KV cache type (use f16, f32 or q8_0)", o.kv_type);
    ModelForGeneration m;
    m.loaded = load_model(o.model);
    const Hparams& hp = m.loaded.model->hparams();
    if (o.n_threads == 0) m.busy_cpus = busy_cpus_elsewhere();
    m.context = {.n_ctx = resolve_context_size(hp, o.n_ctx),
                 .n_batch = o.n_batch,
                 .n_threads = o.n_threads > 0 ? o.n_threads
                                              : default_threads_for(physical_cores(), logical_cores(), m.busy_cpus),
                 .kv_type = *kv,
                 .flash_attn = o.flash_attn};
    m.stats = tensor_stats(*m.loaded.file);
    const std::vector<MatmulGroup> groups = m.loaded.model->weights().matmul_groups();
    m.plan = plan_memory(hp, groups, m.stats.n_bytes, m.context);
    if (const auto avail = available_memory_bytes()) check_context_fits(hp, groups, m.context, *avail);
    m.device = apply_gpu_layers(parse_gpu_layers(o.gpu_layers), m.loaded, m.plan.context);
    m.context.device = m.device.get();
    return m;
}

std::string load_summary(const ModelForGeneration& m, const LoadOptions& o, const SamplingParams& sp, uint64_t seed) {
    const Hparams& hp = m.loaded.model->hparams();
    const ContextLayout& c = m.plan.context;
    return fmt::format(
        "qlm: model '{}' ({}, {} params, {}, file {}) loaded in {:.2f} s | n_ctx {} (trained {}), n_batch {}, "
        "threads {}{}, kernels {}, kv {} ({}){} | sampling: temp {:.2f}{}, top_k {}, top_p {:.2f}, min_p {:.2f}, repeat_penalty "
        "{:.2f}, seed {}\n",
        hp.name.empty() ? o.model : hp.name, hp.arch, format_count(m.stats.n_params), type_summary(m.stats),
        format_bytes(m.loaded.file->file_size()), m.loaded.load_seconds, c.n_ctx, hp.n_ctx_train, c.n_batch,
        c.n_threads, m.busy_cpus > 0 ? fmt::format(" ({} CPU{} busy elsewhere)", m.busy_cpus, m.busy_cpus == 1 ? "" : "s") : "",
        isa_name(active_isa()), o.kv_type, format_bytes(c.kv.bytes), c.flash_attn ? ", flash attention" : "",
        sp.temperature, is_greedy(sp) ? " (greedy)" : "", sp.top_k, sp.top_p, sp.min_p, sp.repeat_penalty, seed);
}

}  // namespace qlm::cli
