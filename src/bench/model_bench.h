// llama-bench style measurements of a loaded model: prompt processing (pp: n_prompt tokens in
// one batched eval) and text generation (tg: n_gen single-token evals) as separate tests, each
// repeated with the median and spread of tokens/s, optionally at a depth (the KV cache already
// holding `depth` positions). Generation rows also carry the bytes a decode step reads (matmul
// weights + the KV cache it attends over) and so the effective bandwidth. bench_output.h prints them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "src/model/kv_cache.h"
#include "src/model/layer_ops.h"
#include "src/model/model.h"

namespace qlm::bench {

struct BenchTest {
    enum class Kind { Prompt, Generate } kind;
    int64_t n_tokens = 0;
    int64_t depth = 0;
    int threads = 1;
};

struct BenchOptions {
    int repetitions = 5;
    int64_t n_batch = 512;
    KvType kv_type = KvType::F16;
    bool flash_attn = false;
    uint32_t seed = 1234;  // the random token ids
    const DeviceOffload* device = nullptr;  // the layers -ngl put on a device (ContextOptions::device)
};

struct BenchSample {
    std::string model_path;
    std::string model_name;   // the file name without .gguf
    std::string model_type;   // "llama 135M Q4_K+Q6_K": architecture, parameter count, weight types
    std::string types;        // the matmul weight types, most bytes first ("Q4_K+Q6_K")
    uint64_t model_bytes = 0; // the tensors' data bytes (llama-bench's model_size)
    uint64_t n_params = 0;
    BenchTest test;
    BenchOptions options;     // the settings it ran with (batch, KV type, attention)
    std::string kernel_set;   // the dot kernels' ISA ("avx512", "avx2", ...)
    std::string cpu_info;     // the CPU's model name
    std::string test_time;    // start of the test, ISO 8601 UTC ("2026-11-24T10:00:00Z")
    std::vector<int64_t> samples_ns;            // wall time of each repetition
    std::vector<double> tokens_per_second;      // one per repetition (wall clock)
    std::vector<double> cpu_tokens_per_second;  // one per repetition (CPU time, see cpu_median)
    double median = 0, min = 0, max = 0;
    double mean = 0, stddev = 0;                // of tokens_per_second (llama-bench's avg_ts, stddev_ts)
    double mean_ns = 0, stddev_ns = 0;          // of samples_ns
    // Tokens per second of process CPU time × threads (median): what the wall rate would be if
    // every thread had a core to itself. On a shared machine it estimates the idle-machine speed
    // (exact for one thread up to cache effects; an upper bound with more threads).
    double cpu_median = 0;
    double bytes_per_token = 0;  // generation: weights + mean KV read per step; 0 for prompts
    double bandwidth_gbs = 0;    // bytes_per_token × median t/s / 1e9
    uint64_t peak_rss_bytes = 0; // high-water resident set during this test (0 if unknown)
    bool peak_rss_per_test = false;  // false: the mark could not be reset, it is the process's peak
};

// "pp512", "tg128", "pp512 @ d1024".
std::string test_name(const BenchTest& t);

// Tokens a test of `wanted` tokens gets when its size was not given: all of them when they fit
// the model's context after `depth` positions, else what is left of the context (so the
// default pp512 runs as pp256 on a 256-token model). Throws when nothing is left.
int64_t fit_default_tokens(int64_t wanted, int64_t depth, int64_t n_ctx_train);

// Runs one test on a loaded model. Throws qlm::Error when the test does not fit the model's
// context or the options are invalid.
BenchSample run_bench_test(const Model& model, const std::string& path, const BenchTest& test,
                           const BenchOptions& opts);

// Bytes of matmul weights one token reads (every projection, the FFN and the output matrix; of a
// MoE layer the router and the experts one token uses, not all of them).
uint64_t weight_bytes_per_token(const Model& model);
// Bytes of K and V one decode step at position `pos` (attending over pos + 1 positions) reads.
uint64_t kv_bytes_per_token(const Hparams& hp, int64_t pos, KvType kv);

}  // namespace qlm::bench
