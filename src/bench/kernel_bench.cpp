#include "src/bench/kernel_bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <random>

#include "quant/formats.h"
#include "src/util/error.h"

namespace qlm::bench {

namespace {

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// The best rate over repetitions (macs per call / seconds per call) of fn, timed by this
// thread's CPU time: time slices lost to other processes on a shared machine do not count, and
// the best repetition is the one least disturbed by them (caches, frequency).
template <class Fn>
double measure(double macs_per_call, const KernelBenchOptions& opts, Fn fn) {
    std::vector<double> rates;
    for (int rep = 0; rep < opts.repetitions; ++rep) {
        int64_t calls = 0;
        const double t0 = thread_cpu_seconds();
        double secs = 0;
        do {
            fn();
            ++calls;
            secs = thread_cpu_seconds() - t0;
        } while (secs < opts.min_seconds);
        rates.push_back(macs_per_call * static_cast<double>(calls) / secs / 1e9);
    }
    return *std::max_element(rates.begin(), rates.end());
}

volatile float g_sink;
}  // namespace

std::vector<KernelBenchRow> run_kernel_bench(const std::vector<GgmlType>& types, const KernelBenchOptions& opts) {
    std::vector<KernelBenchRow> out;
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.f, 1.f);
    for (GgmlType t : types) {
        const FormatOps& f = format_ops(t);
        const FormatOps& af = format_ops(f.vec_dot_type);
        const QuantizeRowFn quant = f.quantize_row;
        const int64_t cols = opts.cols, rows = opts.rows;
        if (cols % 256 != 0 || rows % kGemmTileRows != 0)
            throw_error("kernel bench: cols must be a multiple of 256 and rows of {}", kGemmTileRows);
        const uint64_t wrb = format_row_bytes(f, cols), arb = format_row_bytes(af, cols);
        std::vector<uint8_t> w(wrb * static_cast<uint64_t>(rows)), a(arb * kGemmTileTokens);
        std::vector<float> x(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r) {
            for (auto& v : x) v = normal(rng);
            quant(x.data(), w.data() + wrb * static_cast<uint64_t>(r), cols);
        }
        for (int k = 0; k < kGemmTileTokens; ++k) {
            for (auto& v : x) v = normal(rng);
            af.quantize_activation(x.data(), a.data() + arb * static_cast<uint64_t>(k), cols);
        }
        const double macs = static_cast<double>(cols) * static_cast<double>(rows);
        auto dots = [&](VecDotFn dot) {
            float s = 0;
            for (int64_t r = 0; r < rows; ++r) s += dot(cols, w.data() + wrb * static_cast<uint64_t>(r), a.data());
            g_sink = s;
        };
        KernelBenchRow row{t};
        row.scalar_gmacs = measure(macs, opts, [&] { dots(f.vec_dot_scalar); });
        const VecDotFn simd_dot = vec_dot_for(f, active_isa());
        const GemmTileFn tile = gemm_tile_for(f, active_isa());
        if (simd_dot != f.vec_dot_scalar) row.simd_gmacs = measure(macs, opts, [&] { dots(simd_dot); });
        if (tile) {
            float y[kGemmTileTokens * kGemmTileRows];
            row.tile_gmacs = measure(macs * kGemmTileTokens, opts, [&] {
                for (int64_t r = 0; r < rows; r += kGemmTileRows)
                    tile(cols, w.data() + wrb * static_cast<uint64_t>(r), wrb, a.data(), arb, y, kGemmTileRows);
                g_sink = y[0];
            });
        }
        out.push_back(row);
    }
    return out;
}

std::string kernel_bench_markdown(const std::vector<KernelBenchRow>& rows) {
    const std::string isa = isa_name(active_isa());
    std::string s = fmt::format("| format | scalar GMAC/s | {0} GMAC/s | {0}/scalar | 4x3 tile GMAC/s | tile/dot |\n"
                                "|---|---:|---:|---:|---:|---:|\n",
                                isa);
    auto num = [](double v) { return v > 0 ? fmt::format("{:.2f}", v) : std::string("-"); };
    for (const auto& r : rows) {
        const double sp = r.simd_gmacs > 0 ? r.simd_gmacs / r.scalar_gmacs : 0;
        const double tr = r.tile_gmacs > 0 && r.simd_gmacs > 0 ? r.tile_gmacs / r.simd_gmacs : 0;
        s += fmt::format("| {} | {} | {} | {} | {} | {} |\n", type_name(r.type), num(r.scalar_gmacs),
                         num(r.simd_gmacs), sp > 0 ? fmt::format("{:.1f}x", sp) : "-", num(r.tile_gmacs),
                         tr > 0 ? fmt::format("{:.2f}x", tr) : "-");
    }
    return s;
}

}  // namespace qlm::bench
