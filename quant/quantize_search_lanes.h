// The searched quantizers' arithmetic, run on a group of blocks at once: every block is one lane
// of a SIMD register (1 lane in the scalar build, 8 with AVX2, 16 with AVX-512) and all lanes run
// the same steps in lockstep (quant/quantize_search_lanes.inl), each lane doing exactly the float
// operations of the scalar build in the same order. So a block's encoding does not depend on the
// ISA, on which lane it sits in, nor on its neighbours: the bytes are the same everywhere.
// quant/quantize_search.cpp arranges the blocks into groups and packs the results.
#pragma once

#include <cstdint>

#include "quant/ggml_type.h"
#include "quant/kernel_set.h"

namespace qlm::search {

constexpr int kMaxLanes = 16;
constexpr int kMaxBlock = 256;  // elements per block (K-quants)
constexpr int kMaxSub = 16;     // sub-blocks per K-quant block

// One group of `lanes` blocks, lane-major: element e of lane l at [e·lanes + l]. Buffers are
// 64-byte aligned.
struct BlockGroup {
    const float* x;   // block_size × lanes: the values
    const float* w;   // block_size × lanes: the weights the search minimizes with (each lane's not all zero)
    bool unit_w;      // w is all 1
    const float* wm;  // block_size × lanes or null: the weights of werr
    float* q;        // block_size × lanes out: the integer codes (Q4_0: −8..7, Q4_K: 0..15, ...)
    float* d;        // lanes out: the scale (Q8_0..Q5_1) or super-block scale (K-quants), an f16 value
                     // (Q8_0: the f32 scale the f16 one is rounded from)
    float* m;        // lanes out: the offset (Q4_1, Q5_1) or super-block min scale (Q2_K, Q4_K, Q5_K), f16
    float* sc;       // kMaxSub × lanes out: sub-block scale codes (K-quants; signed for Q3_K, Q6_K)
    float* mc;       // kMaxSub × lanes out: sub-block min codes (Q2_K, Q4_K, Q5_K)
    float* err;      // lanes out: Σ (x − dequantized x)², unweighted
    float* norm;     // lanes out: Σ x²
    float* werr;     // lanes out: Σ wm·(x − dequantized x)² (0 when wm is null)
};

using SearchGroupFn = void (*)(GgmlType t, const BlockGroup& g);
using F16RowFn = void (*)(const uint16_t* src, float* dst, int64_t n);
// A full group's values from `lanes` blocks `stride` floats apart: x[e·lanes + l] = src[l·stride + e]
// for e < n.
using GatherFn = void (*)(const float* src, int64_t stride, int n, float* x);
// A group's integer codes (BlockGroup::q, each in [−128, 127]) as int8, lane by lane:
// out[l·n + e] = q[e·lanes + l].
using CodesFn = void (*)(const float* q, int n, int8_t* out);

struct SearchKernel {
    int lanes;
    SearchGroupFn search;     // the searched quantizer of t (has_searched_quantizer)
    SearchGroupFn reference;  // t's reference rule, for Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (same bytes as quantize_row)
    F16RowFn f16_to_f32;      // exact conversion of n f16 values
    GatherFn gather;
    CodesFn codes_i8;
};

// The kernel of each ISA built into this binary (avx2/avx512 only in x86-64 builds).
const SearchKernel& search_kernel_scalar();
const SearchKernel& search_kernel_avx2();
const SearchKernel& search_kernel_avx512();

}  // namespace qlm::search
