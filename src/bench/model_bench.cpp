#include "src/bench/model_bench.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "quant/matmul.h"
#include "src/model/context.h"
#include "src/model/memory_plan.h"
#include "src/model/weights.h"
#include "src/util/error.h"

namespace qlm::bench {

namespace {
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double process_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double median_of(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

uint64_t matrix_bytes(const WeightView& w) { return w.row_stride * static_cast<uint64_t>(w.rows); }

// Resets the kernel's resident-set high-water mark of this process (Linux: clear_refs 5); false
// when that is not possible, in which case VmHWM is the process lifetime peak.
bool reset_peak_rss() {
    std::ofstream f("/proc/self/clear_refs");
    if (!f) return false;
    f << "5";
    f.flush();
    return static_cast<bool>(f);
}

uint64_t peak_rss_bytes() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmHWM:", 0) == 0) {
            std::istringstream is(line.substr(6));
            uint64_t kib = 0;
            is >> kib;
            return kib * 1024;
        }
    rusage ru{};
    if (getrusage(RUSAGE_SELF, &ru) == 0) return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
    return 0;
}

std::string weight_types(const Model& model) {
    std::map<std::string, uint64_t> bytes;
    auto add = [&](const WeightView& w) { bytes[std::string(type_name(w.type))] += matrix_bytes(w); };
    const ModelWeights& mw = model.weights();
    for (const auto& l : mw.layers)
        for (const WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) add(*w);
    add(mw.output);
    std::vector<std::pair<uint64_t, std::string>> v;
    for (auto& [k, b] : bytes) v.emplace_back(b, k);
    std::sort(v.rbegin(), v.rend());
    std::string s;
    for (auto& [b, k] : v) s += (s.empty() ? "" : "+") + k;
    return s;
}
}  // namespace

std::string test_name(const BenchTest& t) {
    std::string s = fmt::format("{}{}", t.kind == BenchTest::Kind::Prompt ? "pp" : "tg", t.n_tokens);
    if (t.depth > 0) s += fmt::format(" @ d{}", t.depth);
    return s;
}

uint64_t weight_bytes_per_token(const Model& model) {
    const ModelWeights& mw = model.weights();
    uint64_t b = matrix_bytes(mw.output);
    for (const auto& l : mw.layers)
        for (const WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) b += matrix_bytes(*w);
    return b;
}

uint64_t kv_bytes_per_token(const Hparams& hp, int64_t pos, KvType kv) { return kv_layout(hp, pos + 1, kv).bytes; }

BenchSample run_bench_test(const Model& model, const std::string& path, const BenchTest& test,
                           const BenchOptions& opts) {
    const Hparams& hp = model.hparams();
    if (test.n_tokens <= 0) throw_error("bench: a test needs at least one token (got {})", test.n_tokens);
    if (test.depth < 0) throw_error("bench: depth {} is negative", test.depth);
    if (test.threads <= 0) throw_error("bench: thread count {} must be at least 1", test.threads);
    if (opts.repetitions <= 0) throw_error("bench: -r {} must be at least 1", opts.repetitions);
    const int64_t n_ctx = test.depth + test.n_tokens;
    if (n_ctx > hp.n_ctx_train)
        throw_error("bench: depth {} + {} tokens exceeds the model's context of {} (use smaller -p/-n/-d)", test.depth,
                    test.n_tokens, hp.n_ctx_train);

    BenchSample s;
    s.model_path = path;
    s.model_name = std::filesystem::path(path).stem().string();
    s.types = weight_types(model);
    s.model_bytes = model.file().file_size();
    for (const auto& t : model.file().tensors()) s.n_params += t.n_elements;
    s.test = test;

    const bool rss_reset = reset_peak_rss();
    InferenceContext ctx(model, {.n_ctx = n_ctx, .n_batch = opts.n_batch, .n_threads = test.threads,
                                 .kv_type = opts.kv_type, .flash_attn = opts.flash_attn});
    std::mt19937 rng(opts.seed);
    std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(hp.n_vocab - 1));
    auto random_tokens = [&](int64_t n) {
        std::vector<int32_t> v(static_cast<size_t>(n));
        for (auto& t : v) t = tok(rng);
        return v;
    };
    const std::vector<int32_t> depth_tokens = random_tokens(test.depth);
    const std::vector<int32_t> tokens = random_tokens(test.n_tokens);

    // Warm-up (page in the weights, start the thread pool): one short untimed pass.
    ctx.eval(std::span<const int32_t>(tokens.data(), std::min<size_t>(tokens.size(), 8)), false);

    for (int rep = 0; rep < opts.repetitions; ++rep) {
        ctx.truncate(0);
        if (test.depth > 0) ctx.eval(depth_tokens, false);
        const auto t0 = Clock::now();
        const double c0 = process_cpu_seconds();
        if (test.kind == BenchTest::Kind::Prompt) {
            ctx.eval(tokens, false);
        } else {
            for (int32_t t : tokens) ctx.eval(std::span<const int32_t>(&t, 1), false);
        }
        s.tokens_per_second.push_back(static_cast<double>(test.n_tokens) / seconds_since(t0));
        s.cpu_tokens_per_second.push_back(static_cast<double>(test.n_tokens) * test.threads /
                                          std::max(1e-9, process_cpu_seconds() - c0));
    }
    s.cpu_median = median_of(s.cpu_tokens_per_second);
    std::vector<double> v = s.tokens_per_second;
    std::sort(v.begin(), v.end());
    s.median = median_of(v);
    s.min = v.front();
    s.max = v.back();
    double mean = 0;
    for (double x : v) mean += x;
    mean /= static_cast<double>(v.size());
    double var = 0;
    for (double x : v) var += (x - mean) * (x - mean);
    s.stddev = v.size() > 1 ? std::sqrt(var / static_cast<double>(v.size() - 1)) : 0.0;

    if (test.kind == BenchTest::Kind::Generate) {
        // Mean KV read over the steps: step i attends over depth + i + 1 positions.
        double kv = 0;
        for (int64_t i = 0; i < test.n_tokens; ++i)
            kv += static_cast<double>(kv_bytes_per_token(hp, test.depth + i, opts.kv_type));
        s.bytes_per_token = static_cast<double>(weight_bytes_per_token(model)) + kv / static_cast<double>(test.n_tokens);
        s.bandwidth_gbs = s.bytes_per_token * s.median / 1e9;
    }
    s.peak_rss_bytes = peak_rss_bytes();
    s.peak_rss_per_test = rss_reset;
    return s;
}

std::string bench_markdown(const std::vector<BenchSample>& samples) {
    std::string out =
        "| model | size | params | types | threads | test | t/s (median) | min–max | t/s (CPU time) | eff. GB/s | peak RSS |\n"
        "|---|---:|---:|---|---:|---|---:|---:|---:|---:|---:|\n";
    for (const auto& s : samples) {
        out += fmt::format("| {} | {} | {:.2f} M | {} | {} | {} | {:.2f} | {:.2f}–{:.2f} | {:.2f} | {} | {} |\n",
                           s.model_name, format_bytes(s.model_bytes), static_cast<double>(s.n_params) / 1e6, s.types,
                           s.test.threads, test_name(s.test), s.median, s.min, s.max, s.cpu_median,
                           s.bandwidth_gbs > 0 ? fmt::format("{:.2f}", s.bandwidth_gbs) : std::string("-"),
                           s.peak_rss_bytes ? format_bytes(s.peak_rss_bytes) : std::string("-"));
    }
    return out;
}

std::string bench_json(const std::vector<BenchSample>& samples) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& s : samples) {
        nlohmann::json j;
        j["model_path"] = s.model_path;
        j["model_name"] = s.model_name;
        j["model_types"] = s.types;
        j["model_bytes"] = s.model_bytes;
        j["n_params"] = s.n_params;
        j["test"] = test_name(s.test);
        j["kind"] = s.test.kind == BenchTest::Kind::Prompt ? "pp" : "tg";
        j["n_tokens"] = s.test.n_tokens;
        j["depth"] = s.test.depth;
        j["threads"] = s.test.threads;
        j["samples_ts"] = s.tokens_per_second;
        j["median_ts"] = s.median;
        j["min_ts"] = s.min;
        j["max_ts"] = s.max;
        j["stddev_ts"] = s.stddev;
        j["cpu_samples_ts"] = s.cpu_tokens_per_second;
        j["cpu_median_ts"] = s.cpu_median;
        if (s.test.kind == BenchTest::Kind::Generate) {
            j["bytes_per_token"] = s.bytes_per_token;
            j["bandwidth_gbs"] = s.bandwidth_gbs;
        }
        j["peak_rss_bytes"] = s.peak_rss_bytes;
        j["peak_rss_scope"] = s.peak_rss_per_test ? "test" : "process";
        arr.push_back(std::move(j));
    }
    return arr.dump(2) + "\n";
}

}  // namespace qlm::bench
