// Weight rows for checking the CUDA kernels against the scalar references: rows of a format
// quantized from random values by its reference rule, rows of extreme blocks (zeros, one spike,
// constants, alternating f16-range magnitudes, values whose scales are f16 subnormals), and rows
// of random bytes with every f16/bf16/f32 field made finite. Header-only: the host test of the
// block decoders (tests/unit/quant) and the device test (tests/cuda) share it.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "quant/formats.h"

namespace qlm::test {

enum class BlockCase { Random, Extreme, RawBytes };
inline const char* block_case_name(BlockCase c) {
    return c == BlockCase::Random ? "random" : c == BlockCase::Extreme ? "extreme" : "raw bytes";
}

// The formats the CUDA matvec covers.
inline std::vector<GgmlType> cuda_matvec_types() {
    using enum GgmlType;
    return {F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K};
}

// Byte offsets of a block's f16 scale fields.
inline std::vector<int> f16_fields(GgmlType t) {
    using enum GgmlType;
    switch (t) {
        case Q4_0: case Q8_0: return {0};
        case Q4_K: case Q5_K: return {0, 2};
        case Q6_K: return {208};
        default: return {};
    }
}

// An f16 with all-ones exponent (inf/nan) loses its top exponent bit.
inline void finite_f16(uint8_t* p) {
    if (((p[1] >> 2) & 31) == 31) p[1] &= static_cast<uint8_t>(~0x40);
}

// Values for an `Extreme` row: block b of each pattern in turn.
inline void extreme_values(float* v, int64_t n, int64_t block, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    for (int64_t i = 0; i < n; ++i) {
        const int64_t b = i / block, e = i % block;
        switch (b % 6) {
            case 0: v[i] = 0.f; break;                                   // all zero
            case 1: v[i] = e == block / 2 ? 3.0e4f : 1e-3f * u(rng); break;  // one spike
            case 2: v[i] = 1.0f; break;                                  // constant
            case 3: v[i] = (e % 2 ? 60000.f : -60000.f) * (0.5f + 0.5f * std::fabs(u(rng))); break;
            case 4: v[i] = 1e-6f * u(rng); break;                        // scales in f16's subnormals
            default: v[i] = e % 2 ? -1.f : 1.f; break;                   // alternating signs
        }
    }
}

// rows × cols values of type t (cols a multiple of its block size), rows packed back to back.
inline std::vector<uint8_t> make_rows(GgmlType t, int64_t rows, int64_t cols, BlockCase c, std::mt19937& rng) {
    const FormatOps& f = format_ops(t);
    const uint64_t row_bytes = format_row_bytes(f, cols);
    std::vector<uint8_t> out(row_bytes * static_cast<uint64_t>(rows));
    if (c == BlockCase::RawBytes) {
        std::uniform_int_distribution<int> byte(0, 255);
        for (auto& b : out) b = static_cast<uint8_t>(byte(rng));
        const uint64_t nblocks = out.size() / f.block_bytes;
        for (uint64_t b = 0; b < nblocks; ++b) {
            uint8_t* p = out.data() + b * f.block_bytes;
            if (t == GgmlType::F16) finite_f16(p);
            if (t == GgmlType::BF16 && ((p[1] & 0x7f) == 0x7f) && (p[0] & 0x80)) p[1] &= static_cast<uint8_t>(~0x40);
            if (t == GgmlType::F32) {
                // a finite f32 of magnitude below 2^100 (products and sums stay finite)
                std::uniform_int_distribution<int> exp(1, 127 + 100);
                const uint32_t bits = (static_cast<uint32_t>(byte(rng) & 1) << 31) |
                                      (static_cast<uint32_t>(exp(rng)) << 23) |
                                      (static_cast<uint32_t>(byte(rng)) << 15) | static_cast<uint32_t>(byte(rng));
                std::memcpy(p, &bits, 4);
            }
            for (int off : f16_fields(t)) finite_f16(p + off);
        }
        return out;
    }
    std::vector<float> v(static_cast<size_t>(cols));
    std::normal_distribution<float> g(0.f, 1.f);
    for (int64_t r = 0; r < rows; ++r) {
        if (c == BlockCase::Random)
            for (auto& x : v) x = g(rng);
        else
            extreme_values(v.data(), cols, f.block_size, rng);
        f.quantize_row(v.data(), out.data() + static_cast<uint64_t>(r) * row_bytes, cols);
    }
    return out;
}

// Random activations in [-1, 1].
inline std::vector<float> make_activations(int64_t n, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = u(rng);
    return x;
}

}  // namespace qlm::test
