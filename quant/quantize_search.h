// Error-minimizing weight quantizers: for every format with free parameters (the scale of
// Q4_0/Q5_0, scale and offset of Q4_1/Q5_1, the sub-block scales/mins and super-block scales of
// Q2_K..Q6_K) each block's parameters are searched to minimize the (importance-weighted) squared
// error of the dequantized block, instead of llama.cpp's reference rules (the formats'
// quantize_row). The output has the same block layouts. Each block also considers the reference
// rule's encoding and keeps whichever dequantizes closer, so no block is ever worse than the
// reference. Deterministic: a row's bytes depend only on the row (and its importances).
#pragma once

#include <cstdint>

#include "quant/ggml_type.h"

namespace qlm {

// True for the formats with a searched quantizer (Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K, IQ4_NL,
// IQ4_XS). Q8_0 keeps its reference rule (its bytes are part of llama.cpp compatibility checks).
bool has_searched_quantizer(GgmlType t);

// Quantizes n floats (a multiple of t's block size) into t's blocks at dst. importance: nullptr
// (every element weighs 1) or n finite non-negative weights, e.g. the mean squared activation of
// each input column from an importance matrix. Blocks whose weights are all zero use weight 1.
// Throws qlm::Error for a type without a searched quantizer.
void quantize_row_searched(GgmlType t, const float* src, void* dst, int64_t n, const float* importance);

// Σ w_i (a_i − b_i)² in double (w = nullptr: all 1).
double weighted_sq_error(const float* a, const float* b, int64_t n, const float* w);

}  // namespace qlm
