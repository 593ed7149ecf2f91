// Error-minimizing weight quantizers: for every format with free parameters (the scale of
// Q4_0/Q5_0, scale and offset of Q4_1/Q5_1, the sub-block scales/mins and super-block scales of
// Q2_K..Q6_K) each block's parameters are searched to minimize the (importance-weighted) squared
// error of the dequantized block, instead of llama.cpp's reference rules (the formats'
// quantize_row). The output has the same block layouts. A legacy block (Q4_0, Q4_1, Q5_0, Q5_1)
// keeps the reference rule's bytes unless the search is strictly better, so no such block is
// worse than the reference; so is an IQ4_NL or IQ4_XS block; K-quant blocks keep the search's
// result (their reference rule is a search of its own, too costly to run beside it). Deterministic: a block's bytes depend only on
// the block (and its importances), not on the ISA, the thread count or the rows around it.
#pragma once

#include <cstdint>

#include "quant/ggml_type.h"
#include "quant/kernel_set.h"

namespace qlm {

// True for the formats with a searched quantizer (Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K, IQ4_NL,
// IQ4_XS). Q8_0 keeps its reference rule (its bytes are part of llama.cpp compatibility checks).
bool has_searched_quantizer(GgmlType t);

// What the searched quantizer measured on the blocks it wrote: Σ (dequantized − x)² (unweighted)
// and Σ x², each block's in f32, added up in block order.
struct SearchStats {
    double sq_error = 0, sq_norm = 0;
};

// Quantizes n_rows contiguous rows of row_len floats (a multiple of t's block size) into t's
// blocks at dst (rows contiguous). importance: nullptr (every element weighs 1) or row_len finite
// non-negative weights, the same for every row, e.g. the mean squared activation of each input
// column from an importance matrix. Blocks whose weights are all zero use weight 1. stats: when
// not null, the blocks' errors are added to it. isa: the SIMD arithmetic to run (the output is the
// same on every ISA; one the CPU lacks falls back). Throws qlm::Error for a type without a
// searched quantizer.
void quantize_rows_searched(GgmlType t, const float* src, void* dst, int64_t n_rows, int64_t row_len,
                            const float* importance, SearchStats* stats = nullptr, Isa isa = active_isa());

// Quantizes rows as quantize_rows_searched does, with t's reference rule: the bytes of the
// format's quantize_row (FormatOps), for any weight format; Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 run on
// the SIMD lanes. stats as there.
void quantize_rows_reference(GgmlType t, const float* src, void* dst, int64_t n_rows, int64_t row_len,
                             SearchStats* stats = nullptr, Isa isa = active_isa());

// n f16 values to f32, exactly, with the ISA's conversion instructions where it has them.
void f16_to_f32_row(const uint16_t* src, float* dst, int64_t n, Isa isa = active_isa());

// One row of n floats (n a multiple of the block size); importance: nullptr or n weights.
void quantize_row_searched(GgmlType t, const float* src, void* dst, int64_t n, const float* importance);

// Σ w_i (a_i − b_i)² in double (w = nullptr: all 1).
double weighted_sq_error(const float* a, const float* b, int64_t n, const float* w);

}  // namespace qlm
