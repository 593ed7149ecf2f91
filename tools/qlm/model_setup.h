// Loading a model for generation (run, chat): the model and its tokenizer (load_model), the
// context options resolved from the flags, the memory plan checked against the memory available
// (suggesting a -c that fits), and the one-line load summary.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "src/model/context.h"
#include "src/model/layer_ops.h"
#include "src/model/memory_plan.h"
#include "src/model/model_loader.h"
#include "src/sampling/sampler.h"

namespace qlm::cli {

struct LoadOptions {
    std::string model;
    int64_t n_ctx = 0;  // 0: the model's
    int64_t n_batch = 512;
    int n_threads = 0;  // 0: one per physical core
    std::string kv_type = "f16";  // f16 | f32 | q8_0
    bool flash_attn = false;
    std::string gpu_layers;  // --gpu-layers / -ngl as given (gpu_flags.h)
};

struct ModelForGeneration {
    LoadedModel loaded;      // file, model, tokenizer
    ContextOptions context;  // n_ctx and n_threads resolved (never 0)
    int busy_cpus = 0;       // with -t 0: CPUs other processes kept busy at load (default_threads)
    TensorStats stats;
    MemoryPlan plan;         // for `context`
    // The device running the layers --gpu-layers placed there (context.device points to it);
    // nullptr: all on the CPU.
    std::unique_ptr<DeviceOffload> device;
};

// The KV cache flags of run, chat, perplexity, bench and info: --kv-type f16|f32|q8_0, and
// --flash-attn (-fa, rewritten by main) unless flash_attn is null.
void add_cache_flags(CLI::App& app, std::string& kv_type, bool* flash_attn);

// Throws qlm::Error for a negative -c or -t, -b < 1, or a bad --gpu-layers.
void check_load_flags(const LoadOptions& o);

// Checks the flags, loads the model and its tokenizer, and checks that the context fits in
// memory; with --gpu-layers, the placement (gpu_flags.h: a warning line when the layers run on
// the CPU). Throws qlm::Error.
ModelForGeneration load_for_generation(const LoadOptions& o);

// "qlm: model '...' (llama, 292.80 K params, ...) loaded in 0.01 s | n_ctx ... | sampling: ..."
std::string load_summary(const ModelForGeneration& m, const LoadOptions& o, const SamplingParams& sp, uint64_t seed);

}  // namespace qlm::cli
