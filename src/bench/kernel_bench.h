// Microbenchmark of the dot kernels: per weight format, the scalar reference dot, the AVX2 dot
// and (where registered) the AVX2 4x3 prompt tile on an in-cache weight matrix, in multiply-adds
// per second (best of the repetitions). `qlm bench --kernels` prints it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quant/ggml_type.h"

namespace qlm::bench {

struct KernelBenchOptions {
    int64_t cols = 4096;       // elements per row (a multiple of 256)
    int64_t rows = 64;         // weight rows (small enough to stay in L2)
    int repetitions = 5;
    double min_seconds = 0.05;  // per repetition and kernel
};

struct KernelBenchRow {
    GgmlType type;
    double scalar_gmacs = 0;  // 1e9 multiply-adds per second
    double avx2_gmacs = 0;    // 0 when there is no AVX2 kernel (or no AVX2 CPU)
    double tile_gmacs = 0;    // 0 when the format has no tile kernel
};

std::vector<KernelBenchRow> run_kernel_bench(const std::vector<GgmlType>& types, const KernelBenchOptions& opts);
std::string kernel_bench_markdown(const std::vector<KernelBenchRow>& rows);

}  // namespace qlm::bench
