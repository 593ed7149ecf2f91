// qlm info MODEL [-c N] [-ngl N|all] [--vram SIZE] | qlm info --hf-config config.json [-c N]
// Architecture, hyperparameters, tokenizer, tensor types, exact parameter count and memory plan;
// with -ngl or --vram, which layers a GPU would hold and whether they fit.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "src/backend/gpu_device.h"
#include "src/backend/layer_placement.h"
#include "src/model/hf_config.h"
#include "src/model/memory_plan.h"
#include "src/model/model_loader.h"
#include "src/model/weights.h"
#include "src/util/cpu_info.h"
#include "src/util/error.h"
#include "tools/qlm/command.h"
#include "tools/qlm/gpu_flags.h"
#include "tools/qlm/model_setup.h"
#include "tools/qlm/number_format.h"
#include "tools/qlm/thread_flag.h"
#include "tools/qlm/usage_error.h"

namespace qlm::cli {
namespace {

struct InfoOptions {
    std::string model;
    std::string model_flag;
    std::string hf_config;
    int64_t n_ctx = 0;
    int64_t n_batch = 512;
    int n_threads = 0;
    int64_t n_parallel = 1;
    std::string kv_type = "f16";
    bool flash_attn = false;
    std::string gpu_layers;  // -ngl as given
    std::string vram;        // --vram as given
};

std::string yes_no(bool b) { return b ? "yes" : "no"; }

// What `qlm run` with these -c, -b, -t, -np, --kv-type and -fa allocates: the plan InferenceContext
// allocates from (memory_plan.h), line by line.
MemoryPlan print_memory_plan(const Hparams& hp, std::span<const MatmulGroup> groups, uint64_t weight_bytes,
                             const InfoOptions& o, const char* weights_note) {
    if (o.n_ctx < 0) throw_usage("-c {}: the context size cannot be negative (0 = the model's {})", o.n_ctx, hp.n_ctx_train);
    if (o.n_threads < 0) throw_usage("-t {}: the thread count cannot be negative (0 = one per physical core)", o.n_threads);
    if (o.n_parallel < 1) throw_usage("--parallel {}: the number of sequences must be at least 1", o.n_parallel);
    const MemoryPlan p = plan_memory(hp, groups, weight_bytes,
                                     {.n_ctx = o.n_ctx, .n_batch = o.n_batch,
                                      .n_threads = o.n_threads > 0 ? o.n_threads : physical_cores(),
                                      .kv_type = *kv_type_from_name(o.kv_type), .n_seq_max = o.n_parallel,
                                      .flash_attn = o.flash_attn});
    const ContextLayout& c = p.context;
    auto line = [](const std::string& what, uint64_t bytes, const std::string& formula) {
        fmt::print("  {:<19} {:>16} bytes  {:>11}{}\n", what, with_commas(bytes), format_bytes(bytes),
                   formula.empty() ? "" : "   = " + formula);
    };
    fmt::print("memory plan (n_ctx {}{}, n_batch {}, kv {}, threads {}{}):\n", c.n_ctx, o.n_ctx == 0 ? " = model's" : "",
               c.n_batch, o.kv_type, c.n_threads, c.flash_attn ? ", flash attention" : "");
    line(fmt::format("weights ({})", weights_note), p.weight_bytes, "");
    const KvLayout& kv = c.kv;
    int64_t n_sliding = 0;  // layers that keep only their window's blocks
    for (int64_t l = 0; l < hp.n_layer; ++l) n_sliding += kv.slides(l);
    const std::string blocks =
        n_sliding == 0 ? fmt::format("{} layers x {} blocks", hp.n_layer, kv.n_blocks)
                       : fmt::format("({} layers x {} blocks + {} sliding-window layers x {} blocks)",
                                     hp.n_layer - n_sliding, kv.n_blocks, n_sliding, kv.n_swa_blocks);
    line("KV cache", kv.bytes,
         fmt::format("2 x {} x {} positions x {} kv heads x {} head_dim x {} bytes", blocks, kv.block_size,
                     hp.n_head_kv, hp.head_dim, kv_elem_bytes_text(kv.type)));
    line("KV block tables", kv.table_bytes,
         fmt::format("4 x ({} sequence{} x {}{} + 2 x {} pool blocks)", kv.n_seq_max, kv.n_seq_max == 1 ? "" : "s",
                     kv.n_blocks, n_sliding > 0 ? " x 2 tables" : "", kv.n_blocks + kv.n_swa_blocks));
    // What paging saves: a prompt forked into n sequences is stored once (copy-on-write).
    const uint64_t block_all_layers = 2 * kv.block_bytes * static_cast<uint64_t>(hp.n_layer - n_sliding);
    const int64_t prompt = c.n_ctx / 2, prompt_blocks = (prompt + kv.block_size - 1) / kv.block_size;
    const std::string sharing =
        kv.n_seq_max == 1
            ? std::string("with --parallel N, sequences forking one prompt share its blocks")
            : fmt::format("{} sequences forking a {}-token prompt store its {} blocks ({}) once instead of {} times, "
                          "plus at most one copied block each",
                          kv.n_seq_max, prompt, prompt_blocks,
                          format_bytes(block_all_layers * static_cast<uint64_t>(prompt_blocks)), kv.n_seq_max);
    fmt::print("  KV blocks: {} of {} positions, {} bytes each{}; {}\n", kv.n_blocks, kv.block_size,
               with_commas(block_all_layers), n_sliding > 0 ? " in the global layers" : "", sharing);
    line("activations", c.activation_bytes,
         fmt::format("4 x ({} x (3x{} + 2x{} + 2x{} + {}{}) + 2 x {} x {})", c.n_batch, c.n_embd, c.q_dim, c.kv_dim,
                     c.n_rope_tables > 1 ? fmt::format("{}x", c.n_rope_tables) : "", c.n_rot, c.ffn_rows, c.n_ff));
    if (!c.moe.empty())
        line("expert routing", c.moe.bytes,
             fmt::format("4 x ({} x ({} + 3x{} + {} + {}x{}) + {} + 1)", c.n_batch, c.moe.n_expert, c.moe.n_used,
                         c.n_embd, c.moe.n_used, c.n_embd, c.moe.n_expert));
    line("matmul inputs", c.matmul_input_bytes, fmt::format("{} x {} bytes", c.n_batch, c.matmul_input_row_bytes));
    line("attention scratch", c.attention.bytes,
         fmt::format("{} + {} threads x {} bytes", with_commas(c.attention.shared_bytes), c.n_threads,
                     with_commas(c.attention.thread_bytes)));
    line("logits", c.logits_bytes, fmt::format("4 x {} x {}", c.n_outputs, c.n_vocab));
    line("total", p.total_bytes, "");
    if (hp.n_ctx_train > 0 && c.n_ctx > hp.n_ctx_train)
        fmt::print("  note: n_ctx {} is larger than the model's trained context {}\n", c.n_ctx, hp.n_ctx_train);
    return p;
}

std::string layer_range(int64_t first, int64_t end) {
    if (end - first == 1) return fmt::format("layer {}", first);
    return fmt::format("layers {}..{}", first, end - 1);
}

// The GPU a plan is checked against: --vram (a hypothetical one), else the machine's, if any.
struct PlanDevice {
    std::optional<uint64_t> free_bytes;
    std::string description;
};

PlanDevice plan_device(const InfoOptions& o) {
    const std::string build = cuda_backend_built() ? "" : "; this build has no CUDA backend";
    if (!o.vram.empty()) {
        const uint64_t free = parse_vram_size(o.vram);
        return {free, fmt::format("a hypothetical GPU with {} free (--vram){}", format_bytes(free), build)};
    }
    const GpuProbe gpu = probe_gpu();
    if (gpu.device)
        return {gpu.device->free_bytes, fmt::format("{}, {} free of {}", gpu.device->name,
                                                    format_bytes(gpu.device->free_bytes),
                                                    format_bytes(gpu.device->total_bytes))};
    return {std::nullopt, fmt::format("no GPU: {}; give --vram SIZE to check a hypothetical one", gpu.why_none)};
}

// -ngl's placement for the memory plan's context (layer_placement.h), and whether it fits.
void print_gpu_plan(const gguf::GgufFile& file, const Hparams& hp, const ContextLayout& context, const InfoOptions& o) {
    const GpuLayers request = o.gpu_layers.empty() ? GpuLayers::all_slots() : parse_gpu_layers(o.gpu_layers);
    const PlanDevice dev = plan_device(o);
    const ModelFootprint f = model_footprint(file, hp, context);
    const LayerPlacement p = plan_layers(f, request);
    fmt::print("gpu plan (-ngl {}{}, {}):\n", gpu_layers_text(request), o.gpu_layers.empty() ? ", as --vram alone asks" : "",
               dev.description);
    std::string gpu = p.gpu_layer_count() > 0 ? layer_range(p.first_gpu_layer, p.n_layer) : "";
    if (p.output_on_gpu) gpu += fmt::format("{}the output head{}", gpu.empty() ? "" : " and ", f.output_tied ? " (a copy of token_embd)" : "");
    fmt::print("  on the GPU:  {}\n", gpu.empty() ? "nothing" : gpu);
    fmt::print("  on the CPU:  {}token embedding{}\n", p.first_gpu_layer > 0 ? layer_range(0, p.first_gpu_layer) + ", " : "",
               p.output_on_gpu ? "" : ", the output head");
    auto row = [](const char* side, uint64_t w, uint64_t kv, std::optional<uint64_t> act) {
        fmt::print("  {:<4} weights {:>11}  KV cache {:>11}{}\n", side, format_bytes(w), format_bytes(kv),
                   act ? fmt::format("  activations {:>11}  total {:>11}", format_bytes(*act), format_bytes(w + kv + *act)) : "");
    };
    row("GPU", p.gpu_weight_bytes, p.gpu_kv_bytes, p.gpu_scratch_bytes);
    row("CPU", p.cpu_weight_bytes, p.cpu_kv_bytes, std::nullopt);
    if (!dev.free_bytes) return;
    const int64_t largest = largest_gpu_layers_that_fit(f, *dev.free_bytes);
    const std::string largest_text = largest == p.n_layer + 1 ? fmt::format("{} = all", largest) : std::to_string(largest);
    if (p.gpu_total_bytes <= *dev.free_bytes)
        fmt::print("  fits: yes (the largest -ngl that fits is {})\n", largest_text);
    else
        fmt::print("  fits: no, {} more needed: {}\n", format_bytes(p.gpu_total_bytes - *dev.free_bytes),
                   largest > 0 ? fmt::format("use -ngl {} or less", largest_text) : std::string("use -ngl 0 (the CPU)"));
}

void print_shape(const ModelShape& s) {
    fmt::print("hyperparameters:\n");
    fmt::print("  n_vocab {}, n_ctx_train {}, n_embd {}, n_layer {}, n_ff {}\n", s.n_vocab, s.n_ctx_train, s.n_embd,
               s.n_layer, s.n_ff);
    fmt::print("  n_head {}, n_head_kv {}, head_dim {}, qkv_bias {}, tied_output {}{}\n", s.n_head, s.n_head_kv,
               s.head_dim, yes_no(s.qkv_bias), yes_no(s.tied_output), s.qk_norm ? ", q/k norms" : "");
    if (s.n_moe_layers > 0)
        fmt::print("  experts {} ({} used per token) of n_ff {}, in {} of {} layers\n", s.n_expert, s.n_expert_used,
                   s.n_ff_exp, s.n_moe_layers, s.n_layer);
}

int info_hf(const InfoOptions& o) {
    ModelShape s = load_hf_config(o.hf_config);
    ParamBreakdown b = param_breakdown(s);
    fmt::print("config:        {}\n", o.hf_config);
    fmt::print("architecture:  {}{}\n", s.arch,
               s.multimodal ? " (its language model: the vision tower is not counted)" : "");
    print_shape(s);
    fmt::print("parameters:    {} ({})\n", with_commas(b.total), format_count(b.total));
    const int64_t dense = s.n_layer - s.n_moe_layers;
    fmt::print("  = embeddings {} + output {}{} + {} layers x (attention {} + norms {})", with_commas(b.embedding),
               with_commas(b.output), s.tied_output ? " (tied)" : "", s.n_layer, with_commas(b.attention),
               with_commas(b.norms));
    if (dense > 0) fmt::print(" + {} layers x ffn {}", dense, with_commas(b.ffn));
    if (s.n_moe_layers > 0)
        fmt::print(" + {} layers x (router {} + {} experts x {})", s.n_moe_layers, with_commas(b.router), s.n_expert,
                   with_commas(b.expert));
    fmt::print(" + final norm {}\n", with_commas(b.final_norm));
    if (s.n_moe_layers > 0)
        fmt::print("active:        {} ({}) per token: {} of {} experts in each MoE layer\n", with_commas(b.active),
                   format_count(b.active), s.n_expert_used, s.n_expert);
    uint64_t weight_bytes = b.total * s.weight_bytes;
    fmt::print("weights:       {} x {} bytes ({}) = {} bytes ({})\n", with_commas(b.total), s.weight_bytes, s.dtype,
               with_commas(weight_bytes), format_bytes(weight_bytes));
    const Hparams hp = hparams_from_shape(s);
    print_memory_plan(hp, matmul_groups(hp, weight_type(s)), weight_bytes, o, s.dtype.c_str());
    return 0;
}

std::string meta_u(const gguf::GgufFile& f, const char* key) {
    try {
        auto v = f.get_u64(key);
        return v ? std::to_string(*v) : "-";
    } catch (const Error&) {
        return "?";
    }
}

int info_gguf(const InfoOptions& o) {
    std::string path = !o.model.empty() ? o.model : o.model_flag;
    // The whole file is validated as `qlm run` would (tensor table against the architecture, the
    // vocabulary when there is one), so that info refuses what run refuses; any tensor type is
    // described. Weights stay mapped, not read.
    const LoadedModel loaded = load_model(path, {.check_tensor_types = false, .tokenizer = TokenizerNeed::IfPresent});
    const gguf::GgufFile* file = loaded.file.get();
    const Hparams& hp = loaded.model->hparams();
    ModelShape s = shape_from_hparams(hp);
    TensorStats ts = tensor_stats(*file);

    fmt::print("file:          {} ({} bytes, {}), GGUF v{}, {} tensors, {} metadata keys\n", file->path(),
               with_commas(file->file_size()), format_bytes(file->file_size()), file->version(),
               file->tensors().size(), file->metadata().size());
    if (file->split().count > 1)
        fmt::print("split:         {} parts, {} .. {}\n", file->split().count, file->part_paths().front(),
                   file->part_paths().back());
    fmt::print("architecture:  {}\n", hp.arch);
    fmt::print("name:          {}\n", hp.name.empty() ? "(none)" : hp.name);
    print_shape(s);
    fmt::print("  n_rot {}, rope {} (freq_base {}, freq_scale {}), rms_eps {}\n", hp.n_rot,
               hp.rope_style == RopeStyle::Neox ? "neox" : "norm", hp.rope_freq_base, hp.rope_freq_scale, hp.rms_eps);
    if (hp.has_swa()) {
        int64_t n_sliding = 0;
        for (int64_t l = 0; l < hp.n_layer; ++l) n_sliding += hp.is_swa(l);
        fmt::print("  sliding window {} on {} of {} layers (rope freq_base {}, freq_scale {})\n", hp.n_swa, n_sliding,
                   hp.n_layer, hp.rope_freq_base_swa, hp.rope_freq_scale_swa);
    }

    const gguf::ArrayValue* tokens = file->get_array("tokenizer.ggml.tokens", gguf::ValueType::STRING);
    std::string add_bos = "-";
    const std::string tok_model = file->get_string("tokenizer.ggml.model").value_or("-");
    const std::string tok_pre = file->get_string("tokenizer.ggml.pre").value_or("default");
    if (auto b = file->get_bool("tokenizer.ggml.add_bos_token")) add_bos = yes_no(*b);
    else if (tok_model == "llama") add_bos = "yes (default)";
    else if (tok_model == "gpt2") add_bos = (tok_pre == "llama3" || tok_pre == "llama-bpe") ? "yes (default)" : "no (default)";
    fmt::print("tokenizer:     model {}, pre {}, vocab {}, bos {}, eos {}, add_bos {}\n",
               tok_model, tok_pre,
               tokens ? std::to_string(tokens->count) : "-", meta_u(*file, "tokenizer.ggml.bos_token_id"),
               meta_u(*file, "tokenizer.ggml.eos_token_id"), add_bos);

    fmt::print("tensor types:\n");
    for (const auto& [name, c] : ts.by_type)
        fmt::print("  {:<8} {:>5} tensors {:>16} params {:>16} bytes  {:>11}\n", name, c.tensors,
                   with_commas(c.elements), with_commas(c.bytes), format_bytes(c.bytes));
    fmt::print("parameters:    {} ({}) (sum of tensor element counts)\n", with_commas(ts.n_params),
               format_count(ts.n_params));
    const ParamBreakdown b = param_breakdown(s);
    if (s.n_moe_layers > 0)
        fmt::print("active:        {} ({}) per token (the shape formula's): {} of {} experts in each layer\n",
                   with_commas(b.active), format_count(b.active), s.n_expert_used, s.n_expert);
    const uint64_t formula = b.total;
    if (formula != ts.n_params) {
        // e.g. a tied model whose file still stores output.weight
        fmt::print("  (the {} shape formula gives {}: the file stores tensors beyond that layout)\n", hp.arch,
                   with_commas(formula));
    }
    const auto groups = loaded.model->weights().matmul_groups();
    // Matrices repacked at load for the kernels (quant/x16.h) live in memory, not in the mapping.
    const bool repacked = std::ranges::any_of(groups, [](const MatmulGroup& g) {
        return std::ranges::any_of(g, [](const WeightView& w) { return w.x16 != nullptr; });
    });
    const MemoryPlan plan =
        print_memory_plan(hp, groups, ts.n_bytes, o, repacked ? "mapped; matrices repacked in memory" : "mapped");
    if (!o.gpu_layers.empty() || !o.vram.empty()) print_gpu_plan(*file, hp, plan.context, o);
    return 0;
}

Action setup_info(CLI::App& app) {
    auto o = std::make_shared<InfoOptions>();
    app.add_option("model", o->model, "GGUF model file");
    app.add_option("-m,--model", o->model_flag, "GGUF model file (same as the positional argument)");
    app.add_option("--hf-config", o->hf_config, "a Hugging Face config.json (Llama, Mistral, Qwen2, Qwen3, Qwen3-MoE, Mixtral, Phi-3, Gemma 3) instead of a GGUF file");
    app.add_option("-c,--ctx-size", o->n_ctx, "context size for the memory plan (0 = the model's)")->capture_default_str();
    app.add_option("-b,--batch-size", o->n_batch, "prompt batch size for the memory plan (512, as qlm run)")->capture_default_str();
    app.add_option("-t,--threads", o->n_threads, "threads for the memory plan (0 = one per physical core)")
        ->capture_default_str()
        ->check(thread_count_limit());
    app.add_option("--parallel", o->n_parallel, "sequences for the memory plan (1, as qlm run)")
        ->capture_default_str();
    add_cache_flags(app, o->kv_type, &o->flash_attn);
    add_gpu_layers_flag(app, o->gpu_layers);
    app.add_option("--vram", o->vram,
                   "check the -ngl plan against a GPU with this much free memory (e.g. 24GiB), in any build; "
                   "default: the machine's GPU in a CUDA build");
    return [o]() -> int {
        parse_gpu_layers(o->gpu_layers);
        if (!o->vram.empty()) parse_vram_size(o->vram);
        if (!o->hf_config.empty()) {
            if (!o->gpu_layers.empty() || !o->vram.empty())
                throw_usage("-ngl and --vram plan a GGUF file's tensors: give the model file, not --hf-config");
            if (!o->model.empty() || !o->model_flag.empty())
                throw_usage("give either a GGUF model or --hf-config, not both");
            return info_hf(*o);
        }
        if (!o->model.empty() && !o->model_flag.empty() && o->model != o->model_flag)
            throw_usage("two models given ({} with -m, {} as an argument): give one, as qlm info FILE or qlm info -m FILE",
                        o->model_flag, o->model);
        if (o->model.empty() && o->model_flag.empty())
            throw_usage("no model given: qlm info MODEL.gguf (or --hf-config config.json)");
        return info_gguf(*o);
    };
}

const bool registered = register_command({"info", "Show a model's architecture, tensors, parameter count and memory plan", 20, &setup_info});

}  // namespace
}  // namespace qlm::cli
