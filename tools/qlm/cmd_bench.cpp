// qlm bench -m MODEL[,MODEL...] [-p 512] [-n 128] [-t 1,2] [-r 5] [-d 0] [-o md|json|csv]
// qlm bench --kernels [-o md]
// llama-bench style speed table: prompt processing (pp) and generation (tg) tokens/s per model,
// thread count and depth, median of -r repetitions with the spread; generation rows add the
// effective bandwidth (bytes read per token × tokens/s). JSON and CSV carry llama-bench's field
// names. The default test sizes shrink to a model whose context is smaller; sizes given with
// -p/-n must fit. --kernels measures the dot kernels alone (scalar reference vs the SIMD dot of
// the active ISA vs the 4x3 tile) on an in-cache matrix.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "src/bench/bench_output.h"
#include "src/bench/kernel_bench.h"
#include "src/bench/model_bench.h"
#include "src/model/model_loader.h"
#include "src/util/cpu_info.h"
#include "src/util/error.h"
#include "tools/qlm/command.h"
#include "tools/qlm/gpu_flags.h"
#include "tools/qlm/model_setup.h"
#include "tools/qlm/thread_flag.h"
#include "tools/qlm/usage_error.h"

namespace qlm::cli {
namespace {

struct BenchCliOptions {
    std::string models;
    std::string n_prompt = "512";
    std::string n_gen = "128";
    bool n_prompt_given = false, n_gen_given = false;  // else the defaults shrink to the model's context
    std::string threads;  // empty: the physical core count
    std::string depths = "0";
    int repetitions = 5;
    int64_t n_batch = 512;
    std::string output = "md";
    std::string kv_type = "f16";
    bool flash_attn = false;
    bool kernels = false;
    std::string gpu_layers;
};

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

// "1,2" -> {1, 2}; each value >= min_value.
std::vector<int64_t> parse_list(const std::string& s, const char* flag, int64_t min_value) {
    std::vector<int64_t> out;
    for (const std::string& item : split_commas(s)) {
        size_t used = 0;
        int64_t v = 0;
        try {
            v = std::stoll(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != item.size() || v < min_value)
            throw_usage("{} {}: '{}' is not a whole number >= {} (use a comma-separated list such as 1,2)", flag, s,
                        item, min_value);
        out.push_back(v);
    }
    return out;
}

// --gpu-layers for the largest context the model's tests make (depth + tokens): the device that
// runs the layers it placed, or nullptr.
std::unique_ptr<DeviceOffload> apply_bench_gpu_layers(GpuLayers request, const LoadedModel& loaded,
                                                      const std::vector<bench::BenchTest>& tests,
                                                      const bench::BenchOptions& opts) {
    if (!request.any() || tests.empty()) return nullptr;
    int64_t n_ctx = 1;
    for (const auto& t : tests) n_ctx = std::max(n_ctx, t.depth + t.n_tokens);
    const Hparams& hp = loaded.model->hparams();
    const ContextOptions c{.n_ctx = n_ctx, .n_batch = opts.n_batch, .n_threads = tests.front().threads,
                           .kv_type = opts.kv_type, .flash_attn = opts.flash_attn};
    return apply_gpu_layers(request, loaded, plan_context(hp, loaded.model->weights().matmul_groups(), c));
}

int run_kernels(const BenchCliOptions& o) {
    using enum GgmlType;
    const std::vector<GgmlType> types = {F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS};
    bench::KernelBenchOptions ko;
    ko.repetitions = o.repetitions;
    const auto rows = bench::run_kernel_bench(types, ko);
    fmt::print("kernel microbenchmark: {} x {} weight matrix (in cache), one thread, best of {} (thread CPU time)\n\n", ko.rows, ko.cols,
               ko.repetitions);
    fmt::print("{}", bench::kernel_bench_markdown(rows));
    return 0;
}

int run_bench(const BenchCliOptions& o) {
    if (o.kernels) return run_kernels(o);
    const std::vector<std::string> models = split_commas(o.models);
    if (models.empty()) throw_usage("bench: no model given (use -m MODEL[,MODEL...])");
    const auto n_prompt = parse_list(o.n_prompt, "-p", 0), n_gen = parse_list(o.n_gen, "-n", 0);
    const auto depths = parse_list(o.depths, "-d", 0);
    std::vector<int64_t> threads = o.threads.empty() ? std::vector<int64_t>{physical_cores()}
                                                      : parse_list(o.threads, "-t", 1);
    if (o.repetitions < 1) throw_usage("-r {}: at least one repetition is needed", o.repetitions);
    if (o.n_batch < 1) throw_usage("-b {}: the batch size must be at least 1", o.n_batch);
    if (o.gpu_layers.find(',') != std::string::npos)
        throw_usage("-ngl/--gpu-layers {}: qlm bench takes one value per run", o.gpu_layers);
    const GpuLayers gpu_layers = parse_gpu_layers(o.gpu_layers);
    bench::BenchOptions opts;
    opts.repetitions = o.repetitions;
    opts.n_batch = o.n_batch;
    opts.kv_type = *kv_type_from_name(o.kv_type);
    opts.flash_attn = o.flash_attn;

    std::vector<bench::BenchSample> samples;
    for (const std::string& path : models) {
        const LoadedModel loaded = load_model(path, {.tokenizer = TokenizerNeed::None});
        const Model& model = *loaded.model;
        std::vector<bench::BenchTest> tests;
        for (int64_t t : threads)
            for (int64_t d : depths) {
                auto size = [&](int64_t n, bool given) {
                    return given ? n : bench::fit_default_tokens(n, d, model.hparams().n_ctx_train);
                };
                for (int64_t p : n_prompt)
                    if (p > 0)
                        tests.push_back({bench::BenchTest::Kind::Prompt, size(p, o.n_prompt_given), d, static_cast<int>(t)});
                for (int64_t g : n_gen)
                    if (g > 0)
                        tests.push_back({bench::BenchTest::Kind::Generate, size(g, o.n_gen_given), d, static_cast<int>(t)});
            }
        const std::unique_ptr<DeviceOffload> device = apply_bench_gpu_layers(gpu_layers, loaded, tests, opts);
        bench::BenchOptions model_opts = opts;
        model_opts.device = device.get();
        for (const auto& test : tests) {
            samples.push_back(bench::run_bench_test(model, path, test, model_opts));
            const auto& s = samples.back();
            fmt::print(stderr, "qlm bench: {} {} t={}: {:.2f} t/s\n", s.model_name, bench::test_name(test), test.threads,
                       s.median);
        }
    }
    if (samples.empty()) throw_usage("bench: nothing to run (-p and -n are both 0)");
    fmt::print(stderr, "qlm bench: kernel set {}, CPU {}\n", samples.front().kernel_set, samples.front().cpu_info);
    if (o.output == "json")
        fmt::print("{}", bench::bench_json(samples));
    else if (o.output == "csv")
        fmt::print("{}", bench::bench_csv(samples));
    else
        fmt::print("{}", bench::bench_markdown(samples));
    return 0;
}

Action setup_bench(CLI::App& app) {
    auto o = std::make_shared<BenchCliOptions>();
    app.add_option("-m,--model", o->models, "GGUF model file(s), comma-separated");
    app.add_option("-p,--n-prompt", o->n_prompt,
                   "prompt tokens per pp test, comma-separated (0 = no pp test; the default shrinks to the model's context)")
        ->capture_default_str()
        ->each([o](const std::string&) { o->n_prompt_given = true; });
    app.add_option("-n,--n-gen", o->n_gen,
                   "generated tokens per tg test, comma-separated (0 = no tg test; the default shrinks to the model's context)")
        ->capture_default_str()
        ->each([o](const std::string&) { o->n_gen_given = true; });
    app.add_option("-t,--threads", o->threads, "thread counts, comma-separated (default: one per physical core)")
        ->check(thread_count_limit());
    app.add_option("-d,--depth", o->depths, "KV positions filled before each test, comma-separated")
        ->capture_default_str();
    app.add_option("-r,--repetitions", o->repetitions, "repetitions per test")->capture_default_str();
    app.add_option("-b,--batch-size", o->n_batch, "prompt tokens per forward batch (512, as qlm run)")->capture_default_str();
    app.add_option("-o,--output", o->output, "output format")->check(CLI::IsMember({"md", "json", "csv"}))->capture_default_str();
    add_cache_flags(app, o->kv_type, &o->flash_attn);
    add_gpu_layers_flag(app, o->gpu_layers);
    app.add_flag("--kernels", o->kernels, "microbenchmark the dot kernels (scalar vs SIMD vs tile) instead");
    return [o]() -> int { return run_bench(*o); };
}

const bool registered =
    register_command({"bench", "Measure prompt and generation speed (llama-bench style)", 60, &setup_bench});

}  // namespace
}  // namespace qlm::cli
