// The runtime table of computable weight formats: GgmlType -> operations. Each format is a
// traits struct in quant/format_*.h (block layout, scalar dequantize/quantize/dot); this table
// turns them into function pointers, plus the per-ISA dot kernels from quant/kernels/.
// Adding a format (Q4_0, Q4_K, ...) = one traits header + its kernels + one entry in formats.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/ggml_type.h"

namespace qlm {

// n is a multiple of the format's block size in all three.
using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);
// Dot product of n elements: a weight row in this format with an activation row already in the
// format's vec_dot_type.
using VecDotFn = float (*)(int64_t n, const void* w, const void* a);

// 4 weight rows x 3 activation rows: y[t·y_stride + r] = dot(row r of w, row t of a), strides of
// w and a in bytes, of y in floats.
using GemmTileFn = void (*)(int64_t n, const void* w, uint64_t w_stride, const void* a, uint64_t a_stride, float* y,
                            int64_t y_stride);
constexpr int64_t kGemmTileRows = 4, kGemmTileTokens = 3;

// The kernel sets, each a superset of the one before: Avx2 = AVX2 + FMA + F16C; Avx512 = Avx2 +
// AVX-512 F/VL/BW/DQ + VNNI (the int8 kernels use vpdpbusd; formats without an AVX-512 kernel run
// their AVX2 one). Neon: AArch64 builds (dots of F32, F16, Q8_0, Q4_0; the rest scalar).
enum class Isa { Scalar, Avx2, Avx512, Neon };

struct FormatOps {
    GgmlType type;
    GgmlType vec_dot_type;        // what the activation row is converted to before the dot
    int64_t block_size;           // elements per block
    size_t block_bytes;           // bytes per block
    size_t block_align;           // the address alignment the kernels need (1 for packed blocks)
    DequantizeRowFn dequantize_row;
    QuantizeRowFn quantize_row;   // f32 -> this format (reference rule, as llama-quantize writes weights);
                                  // nullptr until registered (set_quantize_row) for the K-quants

    QuantizeRowFn quantize_activation;  // f32 -> this format as matmul converts activations
    VecDotFn vec_dot_scalar;      // the reference kernel
    VecDotFn vec_dot_avx2;        // nullptr when there is no AVX2 kernel
    GemmTileFn gemm_tile_avx2;    // optional 4x3 tile kernel for prompt batches (nullptr: use vec_dot)
    QuantizeRowFn quantize_activation_avx2;  // optional faster quantize_activation (same results)
    VecDotFn vec_dot_avx512;      // nullptr: the AVX2 kernel serves Isa::Avx512
    GemmTileFn gemm_tile_avx512;  // nullptr: the AVX2 tile serves Isa::Avx512
    VecDotFn vec_dot_neon;        // nullptr: the scalar reference serves Isa::Neon
};

// The format's operations, or nullptr when qlm cannot compute with this type.
const FormatOps* find_format(GgmlType t);
// Same, but throws qlm::Error naming the type when it is not computable.
const FormatOps& format_ops(GgmlType t);

// Bytes of n elements (n a multiple of the block size).
inline uint64_t format_row_bytes(const FormatOps& f, int64_t n) {
    return static_cast<uint64_t>(n / f.block_size) * f.block_bytes;
}

// Registers the weight quantizer of a format whose traits leave quantize_row empty (the K-quants'
// searches live in the quantizer, not the format headers). Call before any thread reads the
// table (at static initialization or at the start of main); throws for a type without an entry.
void set_quantize_row(GgmlType t, QuantizeRowFn fn);

// The ISA the kernels run on: the best one the CPU has, or the one the environment variable
// QLM_ISA=scalar|avx2|avx512|neon asks for (never one the CPU lacks). Decided once per process.
Isa active_isa();
bool cpu_supports_avx2();
bool cpu_supports(Isa isa);
const char* isa_name(Isa isa);
// The dot kernel of a format for an ISA (falls back to scalar when that ISA has none).
VecDotFn vec_dot_for(const FormatOps& f, Isa isa);
// The activation conversion for an ISA.
QuantizeRowFn quantize_activation_for(const FormatOps& f, Isa isa);
// The tile kernel for an ISA, or nullptr.
GemmTileFn gemm_tile_for(const FormatOps& f, Isa isa);

// y[i] += a * x[i] for f16 x, on the active ISA (attention's V accumulation).
void axpy_f16(int64_t n, float a, const uint16_t* x, float* y);
// Σ x[i]·y[i] over f16 rows of whole groups of 8, in the order of llama.cpp's batched f16 matmul
// (kernels::dot_f16_batch_scalar), on the active ISA.
float dot_f16_batch(int64_t n, const uint16_t* x, const uint16_t* y);
// y[i] = exp(x[i]) as ggml's x86 vector exp (kernels::exp_ggml_scalar); x may equal y.
void exp_ggml(const float* x, float* y, int64_t n);

}  // namespace qlm
