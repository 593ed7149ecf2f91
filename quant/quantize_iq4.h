// Error-minimising IQ4_NL / IQ4_XS blocks, the IQ4 entries of the searched quantizers
// (quant/quantize_search.h): like llama.cpp's rule (quantize_iq4.cpp) they try several starting
// scales per 32-element group, but measure each candidate by the weighted squared error of the
// stored (f16, coded) scale, from both ends of the grid, and for IQ4_XS also search the super-block
// scale and each sub-block's neighbouring scale codes.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "quant/format_iq4_nl.h"

namespace qlm {

// The index of the grid value (kIq4Values) nearest to v. Every midpoint m between neighbouring
// grid values is a multiple of 1/2, so v lies above m exactly when ceil(2v) > 2m, and at or above it
// exactly when floor(2v) >= 2m: one rounding and a table lookup in place of a search, with the same
// answer for every float (tests/unit/quant/iq4_index_test.cpp checks them against the searches).
inline constexpr int kIq4HalfRange = 256;  // |2m| < 256 for every midpoint m
// kIq4IndexByHalf[upper][c + kIq4HalfRange]: how many doubled midpoints lie below c (upper = 0)
// or at or below it (upper = 1).
inline constexpr auto kIq4IndexByHalf = [] {
    std::array<std::array<uint8_t, 2 * kIq4HalfRange + 1>, 2> t{};
    for (int upper = 0; upper < 2; ++upper)
        for (int c = -kIq4HalfRange; c <= kIq4HalfRange; ++c) {
            int k = 0;
            for (int i = 0; i < 15; ++i) {
                const int twice_m = kIq4Values[i] + kIq4Values[i + 1];
                k += (upper ? c >= twice_m : c > twice_m) ? 1 : 0;
            }
            t[static_cast<size_t>(upper)][static_cast<size_t>(c + kIq4HalfRange)] = static_cast<uint8_t>(k);
        }
    return t;
}();

// 2v clamped to [-kIq4HalfRange, kIq4HalfRange] (NaN to `nan_to`), rounded up (ceil) or down, as
// a table row. Truncation and a one-step correction: the baseline x86-64 build has no roundss.
inline size_t iq4_half_row(float v, bool up, float nan_to) {
    float t = 2.f * v;
    if (!(t >= -kIq4HalfRange && t <= kIq4HalfRange)) t = t > 0 ? kIq4HalfRange : t < 0 ? -kIq4HalfRange : nan_to;
    int i = static_cast<int>(t);  // toward zero
    if (up) i += t > static_cast<float>(i) ? 1 : 0;
    else i -= t < static_cast<float>(i) ? 1 : 0;
    return static_cast<size_t>(i + kIq4HalfRange);
}

// The lower index at a midpoint; 0 for NaN.
inline int iq4_nearest_index(float v) { return kIq4IndexByHalf[0][iq4_half_row(v, true, -kIq4HalfRange)]; }

// The upper index at a midpoint (llama.cpp's best_index_iq4nl); 15 for NaN.
inline int iq4_nearest_index_upper(float v) { return kIq4IndexByHalf[1][iq4_half_row(v, false, kIq4HalfRange)]; }

// Σ w·v·x and Σ w·v² of a 32-element group with grid values v = kIq4Values[idx] (the least-squares
// scale is vx/vv), each in double as four interleaved partial sums (j mod 4, in order) added as
// (s0 + s1) + (s2 + s3).
struct Iq4Moments {
    double vx = 0, vv = 0;
};
Iq4Moments iq4_moments(const float* x, const float* w, const uint8_t* idx);

// The search's inner step for one 32-element group and scale d: idx[j] = the nearest grid index
// of x[j]/d (iq4_nearest_index; 8, the value 1, everywhere when d = 0), the returned
// Σ w·(x − d·v)² in double, summed as iq4_moments sums, and with `moments` not null, iq4_moments
// of those indices. The AVX2 version (quantize_iq4_avx2.cpp, x86-64 builds, only on a CPU with
// AVX2) returns the same bits.
double iq4_assign_scalar(const float* x, const float* w, float d, uint8_t* idx, Iq4Moments* moments);
double iq4_assign_avx2(const float* x, const float* w, float d, uint8_t* idx, Iq4Moments* moments);
using Iq4AssignFn = double (*)(const float* x, const float* w, float d, uint8_t* idx, Iq4Moments* moments);

// One block (32 floats for IQ4_NL, 256 for IQ4_XS) with one non-negative weight per element into
// `out` (one block); deterministic.
// `assign` is one of the iq4_assign versions (the bytes do not depend on which).
void iq4_nl_block_searched(const float* x, const float* w, void* out, Iq4AssignFn assign);
void iq4_xs_block_searched(const float* x, const float* w, void* out, Iq4AssignFn assign);

}  // namespace qlm
