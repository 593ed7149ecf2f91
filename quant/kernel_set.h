// Kernel sets: one table per ISA (scalar, AVX2, AVX-512, NEON) of the kernels matmul and attention
// call, indexed by format: {vec_dot, gemm_tile, quantize_activation, batch_dot, gemm_batch} per format, plus
// the kernels that are not per format (RowKernels: axpy_f16, dot_f16_batch, exp_ggml, and their many-row forms). Each set
// is built in its ISA's file, quant/kernels/kernel_set_<isa>.cpp, and lists only what that ISA
// does better; what it lacks comes from its fallback set (avx512 -> avx2 -> scalar, neon ->
// scalar). The scalar set ends every chain: the formats' reference rules
// (FormatOps::vec_dot_scalar, quantize_activation). kernel_set(isa) resolves a chain once into a
// complete table.
//
// A new ISA: an Isa value (name, CPU check in kernel_set.cpp), its kernel_set_<isa>.cpp naming its
// fallback, and its case in kernel_set.cpp's unresolved_kernel_set. A new format: its entries in
// the sets that have kernels for it (none is needed: the reference serves every ISA).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "quant/ggml_type.h"

namespace qlm {

// f32 -> a format's blocks; n is a multiple of the block size.
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);
// Dot product of n elements: a weight row in this format with an activation row already in the
// format's vec_dot_type.
using VecDotFn = float (*)(int64_t n, const void* w, const void* a);
// 4 weight rows x 3 activation rows: y[t·y_stride + r] = dot(row r of w, row t of a), strides of
// w and a in bytes, of y in floats.
using GemmTileFn = void (*)(int64_t n, const void* w, uint64_t w_stride, const void* a, uint64_t a_stride, float* y,
                            int64_t y_stride);
constexpr int64_t kGemmTileRows = 4, kGemmTileTokens = 3;
// `rows` weight rows (any count) x n_tokens activation rows (1..kGemmBatchTokens), every weight
// block decoded once for all the tokens (decode steps of several sequences, prompt batches):
// y[t·y_stride + r] = dot(row r of w, row t of a), strides as GemmTileFn's.
using GemmBatchFn = void (*)(int64_t n, int64_t rows, const void* w, uint64_t w_stride, const void* a,
                             uint64_t a_stride, int64_t n_tokens, float* y, int64_t y_stride);
constexpr int64_t kGemmBatchTokens = 8;
// y[i] += a * x[i] for f16 x.
using AxpyF16Fn = void (*)(int64_t n, float a, const uint16_t* x, float* y);
// out[r] = Σ_i q[r][i]·k[i] for r < rows over n elements (whole groups of 8), k in f16, the q rows
// in f32 holding f16 values (the query of dot_f16_batch, widened once): the sum dot_f16_batch
// computes for each row, one K row against many queries (attention over shared KV blocks).
using DotF16RowsFn = void (*)(int64_t n, const uint16_t* k, const float* const* q, int64_t rows, float* out);
// out[r][at + j] = DotF16RowsFn's sum of K row k[j] and query q[r], times scale, for j < count,
// r < rows: the scores of a span of K rows for many queries (the span's rows widened once).
using DotF16SpanFn = void (*)(int64_t n, int64_t count, const uint16_t* const* k, int64_t rows, const float* const* q,
                              float scale, int64_t at, float* const* out);
// lanes[((lane0 + k) mod 8)·n + i] += p[k]·x[k][i] for k < count (ascending), i < n, x[k] f16 rows:
// axpy_f16 of each row into lane lane0 + k of an 8-lane buffer (attention's V·P), the lanes kept
// in registers across the rows.
using AxpyF16LanesFn = void (*)(int64_t n, int64_t count, const uint16_t* const* x, const float* p, int64_t lane0,
                                float* lanes);
// y[i] += p[k]·x[k][i] for k < count (ascending), i < n, x[k] f16 rows: axpy_f16 of each row in
// turn (attention's V·P in flash order), y kept in registers across the rows.
using AxpyF16SeqFn = void (*)(int64_t n, int64_t count, const uint16_t* const* x, const float* p, float* y);
// AxpyF16LanesFn(n, count, x, p[r], lane0, lanes[r]) for r < rows: the same V rows into the lane
// buffers of many output rows, each with its own coefficients (attention over shared KV blocks).
using AxpyF16LanesRowsFn = void (*)(int64_t n, int64_t count, const uint16_t* const* x, int64_t rows,
                                    const float* const* p, int64_t lane0, float* const* lanes);
// y[i] = exp(x[i]); x may equal y.
using ExpFn = void (*)(const float* x, float* y, int64_t n);

// Avx2 = AVX2 + FMA + F16C; Avx512 = Avx2 + AVX-512 F/VL/BW/DQ + VNNI (the int8 kernels use
// vpdpbusd); Neon: AArch64 builds.
enum class Isa { Scalar, Avx2, Avx512, Neon };

// One format's kernels in one set; nullptr: the fallback set's.
struct FormatKernels {
    VecDotFn vec_dot = nullptr;
    GemmTileFn gemm_tile = nullptr;               // 4x3 tile for prompt batches (none at all: single dots)
    QuantizeRowFn quantize_activation = nullptr;  // as the format's reference rule, byte for byte
    // F32/F16 on a set without a tile: one output of a prompt batch, added in the order of the
    // tile (llama.cpp multiplies a batch in another order than one token); nullptr: vec_dot.
    // Only whole groups of 8 elements are summed (matmul asks it for no other rows).
    VecDotFn batch_dot = nullptr;
    // Up to 8 tokens per weight-block decode; nullptr: the tile and dots. Each output has the
    // vec_dot's per-block integer sums; Q8_0 weights also its float order (the same bits).
    // F32/F16: used where the tile would be (prompt batches), with the tile's bits.
    GemmBatchFn gemm_batch = nullptr;
    // gemm_batch for one token too (where it beats vec_dot: the AVX-512 Q4_0 batch, 16 rows in
    // the lanes); then a token's outputs are the same bits whatever batch it comes in.
    bool gemm_batch_single = false;
    // Formats with a repacked layout (quant/x16.h: Q4_0, Q4_K, Q5_0, Q6_K, Q8_0, F16): gemm_batch on
    // rows repacked in groups of 16 at load (WeightView::x16), for any number of tokens, one included.
    // Q4_0 gives gemm_batch's bits where gemm_batch_single is set (AVX-512), else the AVX-512 set's
    // bits on the groups (AVX2); Q4_K the scalar reference's (gemm_batch's from 4 tokens on AVX-512;
    // AVX2 has no Q4_K gemm_batch: its rows past the last group go through the tile and vec_dot);
    // Q5_0 and Q8_0 the scalar reference's (and gemm_batch's, which runs the rows past the last
    // group; Q8_0 on both sets); Q6_K vec_dot's (the same as gemm_batch's); F16 gemm_batch's (the
    // prompt order, which matmul then uses for one token too).
    // nullptr: this set does not repack the format.
    GemmBatchFn gemm_batch_x16 = nullptr;
};

// The kernels on plain f32/f16 rows that belong to no weight format; nullptr: the fallback set's.
struct RowKernels {
    AxpyF16Fn axpy_f16 = nullptr;  // y += a·x, x in f16 (attention's V accumulation)
    // Σ x[i]·y[i] over f16 rows of whole groups of 8, in the order of llama.cpp's batched f16
    // matmul (attention's q·k); the same sum as the F16 tile's.
    VecDotFn dot_f16_batch = nullptr;
    ExpFn exp_ggml = nullptr;  // as ggml's x86 vector exp, bit for bit on every set (softmax, SiLU)
    DotF16RowsFn dot_f16_rows = nullptr;    // dot_f16_batch of one K row with many queries
    DotF16SpanFn dot_f16_span = nullptr;    // dot_f16_rows of many K rows, scaled
    AxpyF16LanesFn axpy_f16_lanes = nullptr;  // axpy_f16 of many V rows into a row's 8 lanes
    AxpyF16SeqFn axpy_f16_seq = nullptr;      // axpy_f16 of many V rows into one output row
    AxpyF16LanesRowsFn axpy_f16_lanes_rows = nullptr;  // axpy_f16_lanes of the same V rows for many rows
};

struct KernelSet : RowKernels {
    Isa isa;
    const KernelSet* fallback;  // where what this set lacks comes from; nullptr: the scalar set
    std::array<FormatKernels, kGgmlTypeIdLimit> formats;  // by GgmlType id

    const FormatKernels& operator[](GgmlType t) const { return formats[static_cast<size_t>(t)]; }
};

struct KernelEntry {
    GgmlType type;
    FormatKernels kernels;
};

// A set from its entries (formats not listed: all nullptr). Compile time only, so the per-ISA
// files, which are compiled for their ISA, emit no code of their own for it.
consteval KernelSet make_kernel_set(Isa isa, const KernelSet* fallback, RowKernels row,
                                    std::initializer_list<KernelEntry> entries) {
    KernelSet s{row, isa, fallback, {}};
    for (const KernelEntry& e : entries) s.formats[static_cast<size_t>(e.type)] = e.kernels;
    return s;
}

// The sets as built in their files; only those compiled for this architecture exist.
namespace kernels {
extern const KernelSet scalar_set;  // kernel_set_scalar.cpp
extern const KernelSet avx2_set;    // kernel_set_avx2.cpp (x86-64 builds)
extern const KernelSet avx512_set;  // kernel_set_avx512.cpp (x86-64 builds)
extern const KernelSet neon_set;    // kernel_set_neon.cpp (aarch64 builds)
}  // namespace kernels

bool cpu_supports_avx2();
bool cpu_supports(Isa isa);
const char* isa_name(Isa isa);
// The ISA the kernels run on: the best one the CPU has, or the one the environment variable
// QLM_ISA=scalar|avx2|avx512|neon asks for (never one the CPU lacks). Decided once per process.
Isa active_isa();

// The set of an ISA as built in its file, fallback unresolved; nullptr when this build has none.
const KernelSet* unresolved_kernel_set(Isa isa);
// The set of an ISA with its fallback chain resolved: every format of the format table has its
// vec_dot and quantize_activation (gemm_tile, batch_dot and gemm_batch may be nullptr), every RowKernels
// field is set. An ISA the CPU lacks gets the best one it has. Resolved once per process; the
// tables are constant from then on.
const KernelSet& kernel_set(Isa isa);
// kernel_set(active_isa()).
const KernelSet& active_kernels();

// The RowKernels on the active ISA.
inline void axpy_f16(int64_t n, float a, const uint16_t* x, float* y) { active_kernels().axpy_f16(n, a, x, y); }
inline float dot_f16_batch(int64_t n, const uint16_t* x, const uint16_t* y) {
    return active_kernels().dot_f16_batch(n, x, y);
}
inline void exp_ggml(const float* x, float* y, int64_t n) { active_kernels().exp_ggml(x, y, n); }
inline void dot_f16_rows(int64_t n, const uint16_t* k, const float* const* q, int64_t rows, float* out) {
    active_kernels().dot_f16_rows(n, k, q, rows, out);
}
inline void axpy_f16_lanes(int64_t n, int64_t count, const uint16_t* const* x, const float* p, int64_t lane0,
                           float* lanes) {
    active_kernels().axpy_f16_lanes(n, count, x, p, lane0, lanes);
}
inline void axpy_f16_seq(int64_t n, int64_t count, const uint16_t* const* x, const float* p, float* y) {
    active_kernels().axpy_f16_seq(n, count, x, p, y);
}
inline void axpy_f16_lanes_rows(int64_t n, int64_t count, const uint16_t* const* x, int64_t rows,
                                const float* const* p, int64_t lane0, float* const* lanes) {
    active_kernels().axpy_f16_lanes_rows(n, count, x, rows, p, lane0, lanes);
}

}  // namespace qlm
