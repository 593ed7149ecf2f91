// Loading a model for generation (run, chat): the file checks, the context size against the
// model's limit and the available memory (suggesting a -c that fits), the tokenizer, and the
// one-line load summary.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "src/model/memory_plan.h"
#include "src/model/context.h"
#include "src/sampling/sampler.h"
#include "src/tokenizer/tokenizer.h"
#include "src/model/model_loader.h"

namespace qlm::cli {

struct LoadOptions {
    std::string model;
    int64_t n_ctx = 0;  // 0: the model's
    int64_t n_batch = 512;
    int n_threads = 0;  // 0: one per physical core
    std::string kv_type = "f16";  // f16 | f32 | q8_0
    bool flash_attn = false;
};

struct ModelForGeneration {
    std::shared_ptr<const gguf::GgufFile> file;
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tok;
    int64_t n_ctx = 0;
    int threads = 1;
    KvType kv = KvType::F16;
    bool flash_attn = false;
    TensorStats stats;
    MemoryPlan plan;
    double load_seconds = 0;

    ContextOptions context_options(int64_t n_batch) const {
        return {.n_ctx = n_ctx, .n_batch = n_batch, .n_threads = threads, .kv_type = kv, .flash_attn = flash_attn};
    }
};

// The KV cache flags of run, chat, perplexity, bench and info: --kv-type f16|f32|q8_0, and
// --flash-attn (-fa, rewritten by main) unless flash_attn is null.
void add_cache_flags(CLI::App& app, std::string& kv_type, bool* flash_attn);

// Throws qlm::Error for a negative -c or -t, or -b < 1.
void check_load_flags(const LoadOptions& o);

// Checks -c/-b/-t, opens and loads the model and its tokenizer; throws qlm::Error.
ModelForGeneration load_for_generation(const LoadOptions& o);

// "qlm: model '...' (llama, 292.80 K params, ...) loaded in 0.01 s | n_ctx ... | sampling: ..."
std::string load_summary(const ModelForGeneration& m, const LoadOptions& o, const SamplingParams& sp, uint64_t seed);

}  // namespace qlm::cli
