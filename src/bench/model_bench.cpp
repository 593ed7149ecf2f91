#include "src/bench/model_bench.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <tuple>
#include <utility>

#include "quant/formats.h"
#include "quant/matmul.h"
#include "src/model/context.h"
#include "src/model/memory_plan.h"
#include "src/model/weights.h"
#include "src/util/cpu_info.h"
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

std::string utc_now_iso8601() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// Mean and sample standard deviation (n - 1; 0 for one value), as llama-bench computes them.
std::pair<double, double> mean_stddev(const std::vector<double>& v) {
    double mean = 0;
    for (double x : v) mean += x;
    mean /= static_cast<double>(v.size());
    double var = 0;
    for (double x : v) var += (x - mean) * (x - mean);
    return {mean, v.size() > 1 ? std::sqrt(var / static_cast<double>(v.size() - 1)) : 0.0};
}

// "293K", "135M", "1.1B": the parameter count in the words model cards use.
std::string params_label(uint64_t n) {
    const double d = static_cast<double>(n);
    if (d >= 1e9) return fmt::format("{:.1f}B", d / 1e9);
    if (d >= 1e6) return fmt::format("{:.0f}M", d / 1e6);
    return fmt::format("{:.0f}K", d / 1e3);
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
    for (const auto& l : mw.layers) {
        for (const WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) add(*w);
        add(l.moe.router);
        for (const ExpertMatrix* m : {&l.moe.gate, &l.moe.up, &l.moe.down})
            bytes[std::string(type_name(m->first.type))] += m->expert_bytes() * static_cast<uint64_t>(m->n_expert);
    }
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
    // A MoE layer reads its router and the expert_used_count experts the router picks: each token
    // picks that many distinct experts, so the count is exact, whichever they are.
    const auto used = static_cast<uint64_t>(model.hparams().n_expert_used);
    uint64_t b = matrix_bytes(mw.output);
    for (const auto& l : mw.layers) {
        for (const WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) b += matrix_bytes(*w);
        b += matrix_bytes(l.moe.router);
        for (const ExpertMatrix* m : {&l.moe.gate, &l.moe.up, &l.moe.down}) b += used * m->expert_bytes();
    }
    return b;
}

// A decode step reads every cached position one query sees: the whole context, or the window of
// a sliding-window layer.
uint64_t kv_bytes_per_token(const Hparams& hp, int64_t pos, KvType kv) {
    const KvLayout l = kv_layout(hp, pos + 1, kv, 1);
    uint64_t positions = 0;
    for (int64_t layer = 0; layer < hp.n_layer; ++layer)
        positions += static_cast<uint64_t>(l.slides(layer) ? std::min(pos + 1, hp.n_swa) : pos + 1);
    return 2 * positions * static_cast<uint64_t>(hp.n_head_kv) * l.head_bytes;
}

int64_t fit_default_tokens(int64_t wanted, int64_t depth, int64_t n_ctx_train) {
    if (depth >= n_ctx_train)
        throw_error("bench: depth {} leaves no room in the model's context of {} (use a smaller -d)", depth,
                    n_ctx_train);
    return std::min(wanted, n_ctx_train - depth);
}

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
    for (const auto& t : model.file().tensors()) {
        s.model_bytes += t.n_bytes;
        s.n_params += t.n_elements;
    }
    s.model_type = fmt::format("{} {} {}", hp.arch, params_label(s.n_params), s.types);
    s.test = test;
    s.options = opts;
    s.kernel_set = isa_name(active_isa());
    s.cpu_info = cpu_model_name();
    s.test_time = utc_now_iso8601();

    const bool rss_reset = reset_peak_rss();
    InferenceContext ctx(model, {.n_ctx = n_ctx, .n_batch = opts.n_batch, .n_threads = test.threads,
                                 .kv_type = opts.kv_type, .flash_attn = opts.flash_attn, .device = opts.device});
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
        ctx.seq_rm(0, 0);
        if (test.depth > 0) ctx.eval(depth_tokens, false);
        const auto t0 = Clock::now();
        const double c0 = process_cpu_seconds();
        if (test.kind == BenchTest::Kind::Prompt) {
            ctx.eval(tokens, false);
        } else {
            for (int32_t t : tokens) ctx.eval(std::span<const int32_t>(&t, 1), false);
        }
        const double wall = seconds_since(t0);
        s.samples_ns.push_back(static_cast<int64_t>(std::llround(wall * 1e9)));
        s.tokens_per_second.push_back(static_cast<double>(test.n_tokens) / wall);
        s.cpu_tokens_per_second.push_back(static_cast<double>(test.n_tokens) * test.threads /
                                          std::max(1e-9, process_cpu_seconds() - c0));
    }
    s.cpu_median = median_of(s.cpu_tokens_per_second);
    std::vector<double> v = s.tokens_per_second;
    std::sort(v.begin(), v.end());
    s.median = median_of(v);
    s.min = v.front();
    s.max = v.back();
    std::tie(s.mean, s.stddev) = mean_stddev(s.tokens_per_second);
    std::tie(s.mean_ns, s.stddev_ns) =
        mean_stddev(std::vector<double>(s.samples_ns.begin(), s.samples_ns.end()));

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

}  // namespace qlm::bench
