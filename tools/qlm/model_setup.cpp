#include "tools/qlm/model_setup.h"

#include <chrono>

#include <fmt/format.h>

#include "quant/formats.h"
#include "src/model/hf_config.h"
#include "src/util/cpu_info.h"
#include "src/util/error.h"
#include "tools/qlm/number_format.h"

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
    if (o.n_ctx < 0) throw_error("-c {}: the context size cannot be negative (0 = the model's)", o.n_ctx);
    if (o.n_batch < 1) throw_error("-b {}: the batch size must be at least 1", o.n_batch);
    if (o.n_threads < 0) throw_error("-t {}: the thread count cannot be negative (0 = one per physical core)", o.n_threads);
}

ModelForGeneration load_for_generation(const LoadOptions& o) {
    check_load_flags(o);
    const auto t0 = std::chrono::steady_clock::now();
    ModelForGeneration m;
    LoadedModel loaded = load_model(o.model);
    m.file = loaded.file;
    m.model = std::move(loaded.model);
    m.tok = std::move(loaded.tokenizer);
    const Hparams& hp = m.model->hparams();
    m.n_ctx = o.n_ctx == 0 ? hp.n_ctx_train : o.n_ctx;
    if (m.n_ctx > hp.n_ctx_train)
        throw_error("-c {} is larger than the model's context length {}: use -c {} or less", o.n_ctx, hp.n_ctx_train,
                    hp.n_ctx_train);
    const auto kv = kv_type_from_name(o.kv_type);
    if (!kv) throw_error("--kv-type {}: not a KV cache type (use f16, f32 or q8_0)", o.kv_type);
    m.kv = *kv;
    m.flash_attn = o.flash_attn;
    const ModelShape shape = shape_from_hparams(hp);
    m.stats = tensor_stats(*m.file);
    m.plan = plan_memory(shape, m.stats.n_bytes, {.n_ctx = m.n_ctx, .n_batch = o.n_batch, .kv_type = m.kv});
    if (auto avail = available_memory_bytes()) {
        const uint64_t need = m.plan.kv_bytes + m.plan.scratch_bytes;
        if (need > *avail) {
            // The largest context that fits (the need grows with n_ctx).
            auto need_for = [&](int64_t n) {
                MemoryPlan p = plan_memory(shape, 0, {.n_ctx = n, .n_batch = o.n_batch, .kv_type = m.kv});
                return p.kv_bytes + p.scratch_bytes;
            };
            int64_t lo = 0, hi = m.n_ctx;  // need_for(lo) fits (or lo == 0), need_for(hi) does not
            while (hi - lo > 1) {
                int64_t mid = lo + (hi - lo) / 2;
                (need_for(mid) <= *avail ? lo : hi) = mid;
            }
            const uint64_t fit = static_cast<uint64_t>(lo);
            const uint64_t suggest = fit >= 512 ? fit / 256 * 256 : fit;
            throw_error("a context of {} tokens needs {} bytes ({}) of KV cache and scratch, but only {} bytes ({}) are "
                        "available: use a smaller context{}{}",
                        m.n_ctx, need, format_bytes(need), *avail, format_bytes(*avail),
                        suggest > 0 ? fmt::format(", e.g. -c {}", suggest) : std::string(),
                        m.kv == KvType::F32                                 ? ", or --kv-type f16"
                        : m.kv == KvType::F16 && hp.head_dim % 32 == 0 ? ", or --kv-type q8_0"
                                                                        : "");
        }
    }
    m.threads = o.n_threads > 0 ? o.n_threads : physical_cores();
    m.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return m;
}

std::string load_summary(const ModelForGeneration& m, const LoadOptions& o, const SamplingParams& sp, uint64_t seed) {
    const Hparams& hp = m.model->hparams();
    return fmt::format(
        "qlm: model '{}' ({}, {} params, {}, file {}) loaded in {:.2f} s | n_ctx {} (trained {}), n_batch {}, "
        "threads {}, kernels {}, kv {} ({}){} | sampling: temp {:.2f}, top_k {}, top_p {:.2f}, min_p {:.2f}, repeat_penalty "
        "{:.2f}, seed {}\n",
        hp.name.empty() ? o.model : hp.name, hp.arch, format_count(m.stats.n_params), type_summary(m.stats),
        format_bytes(m.file->file_size()), m.load_seconds, m.n_ctx, hp.n_ctx_train, m.plan.n_batch, m.threads,
        isa_name(active_isa()), o.kv_type, format_bytes(m.plan.kv_bytes), m.flash_attn ? ", flash attention" : "", sp.temperature, sp.top_k, sp.top_p, sp.min_p, sp.repeat_penalty, seed);
}

}  // namespace qlm::cli
