// What the attention kernels (attention.cpp, attention_decode.cpp) share: the work split's
// constants, the V·P lane reduction, the running softmax state, the merge of a row's splits and
// the scratch buffer type.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>

#include "quant/formats.h"
#include "quant/fp16.h"
#include "quant/quantize_search.h"
#include "src/model/ops.h"

namespace qlm::attention_detail {

constexpr int64_t kTileTokens = 8;   // query tokens per work item
constexpr int64_t kTileKv = 64;      // KV positions per tile
constexpr int64_t kSplitKv = 512;    // decode: KV positions per partial result
constexpr int64_t kLanes = 8;        // V·P lanes: position j goes to lane j mod 8
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

inline void axpy_f32(int64_t n, float a, const float* x, float* y) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// V·P rows are summed the way llama.cpp's batched f16 matmul sums q·k: position j goes to lane
// j mod 8 (a block of head_dim floats in the row's 8·head_dim lane buffer), the lanes are reduced
// at the end as one AVX register.
inline void reduce_lanes(const float* lanes, int64_t hd, float* out) {
    float v[kLanes];
    for (int64_t i = 0; i < hd; ++i) {
        for (int64_t l = 0; l < kLanes; ++l) v[l] = lanes[l * hd + i];
        out[i] = ops::sum8_avx_order(v);
    }
}

// x[i] rounded to f16 and back (llama.cpp's V·P product takes f16 probabilities), converted by
// the active set's f32 -> f16 kernel (the same rounding as fp32_to_fp16) in groups of 64, and
// back with the ISA's exact conversion.
inline void round_to_f16(float* x, int64_t n) {
    static const QuantizeRowFn to_f16 = quantize_activation_for(format_ops(GgmlType::F16), active_isa());
    uint16_t h[64];
    for (int64_t j = 0; j < n; j += 64) {
        const int64_t m = n - j < 64 ? n - j : 64;
        to_f16(x + j, h, m);
        f16_to_f32_row(h, x + j, m);
    }
}

// Row `row` of a flash pass split into n_split partial results (split sp's max, normaliser and
// unnormalised output at [sp·rows_all + row] of part_m, part_l and part_o, hd floats each) merged
// into dst with the usual rescaling; a split wholly in the row's future (max −inf) is skipped.
inline void merge_splits(const float* part_m, const float* part_l, const float* part_o, int64_t n_split,
                         int64_t rows_all, int64_t row, int64_t hd, float* dst) {
    float m = kNegInf, l = 0.f;
    for (int64_t sp = 0; sp < n_split; ++sp) m = std::max(m, part_m[sp * rows_all + row]);
    std::fill(dst, dst + hd, 0.f);
    for (int64_t sp = 0; sp < n_split; ++sp) {
        const int64_t pr = sp * rows_all + row;
        if (part_m[pr] == kNegInf) continue;
        const float c = std::exp(part_m[pr] - m);
        l += part_l[pr] * c;
        axpy_f32(hd, c, part_o + pr * hd, dst);
    }
    const float inv = l > 0.f ? 1.0f / l : 0.f;
    for (int64_t i = 0; i < hd; ++i) dst[i] *= inv;
}

// The running softmax state of one row (flash kernel): max m and normaliser l.
struct RowAcc {
    float m = kNegInf;
    float l = 0.f;
};

// A buffer of n values, uninitialised until written (its pages are not touched at allocation).
template <class T>
struct Buffer {
    std::unique_ptr<T[]> p;
    uint64_t n = 0;
    void allocate(uint64_t count) {
        p.reset(count ? new T[count] : nullptr);
        n = count;
    }
    T* data() const { return p.get(); }
    uint64_t bytes() const { return n * sizeof(T); }
};

}  // namespace qlm::attention_detail
