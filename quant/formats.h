// The table of computable formats: GgmlType -> the format's layout and reference rules. Each
// format is a traits struct in quant/format_*.h (block layout, scalar dequantize/quantize/dot);
// this table turns them into function pointers. It is constant and complete at compile time. The
// per-ISA kernels live in the kernel sets (quant/kernel_set.h).
// Adding a format = one traits header + one entry in formats.cpp (+ its entries in the kernel
// sets that have kernels for it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "quant/ggml_type.h"
#include "quant/kernel_set.h"

namespace qlm {

// n is a multiple of the format's block size.
using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);

struct FormatOps {
    GgmlType type;
    GgmlType vec_dot_type;        // what the activation row is converted to before the dot
    int64_t block_size;           // elements per block
    size_t block_bytes;           // bytes per block
    size_t block_align;           // the address alignment the kernels need (1 for packed blocks)
    DequantizeRowFn dequantize_row;
    QuantizeRowFn quantize_row;   // f32 -> this format (reference rule, as llama-quantize writes weights)
    bool weight_format;           // llama.cpp stores weights in it (false: Q8_1 and Q8_K, activations only)
    QuantizeRowFn quantize_activation;  // f32 -> this format as matmul converts activations (reference)
    VecDotFn vec_dot_scalar;      // the reference dot, which the scalar kernel set runs
};

// The format's operations, or nullptr when qlm cannot compute with this type.
const FormatOps* find_format(GgmlType t);
// Same, but throws qlm::Error naming the type when it is not computable.
const FormatOps& format_ops(GgmlType t);
// Every computable format (the whole table, in a fixed order).
std::span<const FormatOps> all_formats();

// Bytes of n elements (n a multiple of the block size).
inline uint64_t format_row_bytes(const FormatOps& f, int64_t n) {
    return static_cast<uint64_t>(n / f.block_size) * f.block_bytes;
}

// A format's kernels on an ISA (kernel_set(isa), fallbacks resolved).
inline VecDotFn vec_dot_for(const FormatOps& f, Isa isa) { return kernel_set(isa)[f.type].vec_dot; }
inline QuantizeRowFn quantize_activation_for(const FormatOps& f, Isa isa) {
    return kernel_set(isa)[f.type].quantize_activation;
}
// nullptr when no set of the chain has a tile kernel for the format.
inline GemmTileFn gemm_tile_for(const FormatOps& f, Isa isa) { return kernel_set(isa)[f.type].gemm_tile; }
inline GemmBatchFn gemm_batch_for(const FormatOps& f, Isa isa) { return kernel_set(isa)[f.type].gemm_batch; }

}  // namespace qlm
