// Microbenchmark of the dot kernels: per weight format, the scalar reference dot, the dot of the
// active ISA (AVX2 or AVX-512, QLM_ISA) and (where registered) its 4x3 prompt tile on an in-cache
// weight matrix, in multiply-adds
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
    double simd_gmacs = 0;    // the active ISA's dot (active_isa()); 0 when it is the scalar one
    double tile_gmacs = 0;    // 0 when the format has no tile kernel
};

std::vector<KernelBenchRow> run_kernel_bench(const std::vector<GgmlType>& types, const KernelBenchOptions& opts);
std::string kernel_bench_markdown(const std::vector<KernelBenchRow>& rows);

}  // namespace qlm::bench
