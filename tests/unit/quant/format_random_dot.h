// Random-block check shared by the format tests: the scalar vec_dot of a format against its
// activation type equals "dequantize both rows, dot in double" within float rounding.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "quant/formats.h"
#include "quant/fp16.h"

namespace qlm::test {

// fill(block bytes, rng) makes one valid random weight block (sane f16 scales, random codes).
template <class Fill>
void check_dot_against_dequantized(GgmlType type, Fill fill, int n_blocks, uint32_t seed) {
    const FormatOps& wf = format_ops(type);
    const FormatOps& af = format_ops(wf.vec_dot_type);
    const int64_t n = wf.block_size * n_blocks;
    std::mt19937 rng(seed);
    std::vector<uint8_t> w(wf.block_bytes * static_cast<size_t>(n_blocks));
    for (int b = 0; b < n_blocks; ++b) fill(w.data() + wf.block_bytes * static_cast<size_t>(b), rng);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> x(static_cast<size_t>(n));
    for (float& v : x) v = normal(rng);
    std::vector<uint8_t> a(format_row_bytes(af, n));
    af.quantize_activation(x.data(), a.data(), n);

    std::vector<float> wd(static_cast<size_t>(n)), ad(static_cast<size_t>(n));
    wf.dequantize_row(w.data(), wd.data(), n);
    af.dequantize_row(a.data(), ad.data(), n);
    double ref = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) {
        ref += static_cast<double>(wd[i]) * ad[i];
        mag += std::fabs(static_cast<double>(wd[i]) * ad[i]);
    }
    // Q8_1's s = f16(d·Σq) is rounded on its own (and from the unrounded d), so the min term of
    // Q4_1/Q5_1 (m at byte 2 of their blocks) may differ from m·Σ(d_f16·q) by a few f16 ulps of s.
    double s_slack = 0;
    if (type == GgmlType::Q4_1 || type == GgmlType::Q5_1)
        for (int b = 0; b < n_blocks; ++b) {
            uint16_t m, sa;
            std::memcpy(&m, w.data() + wf.block_bytes * static_cast<size_t>(b) + 2, 2);
            std::memcpy(&sa, a.data() + af.block_bytes * static_cast<size_t>(b) + 2, 2);
            s_slack += std::fabs(static_cast<double>(fp16_to_fp32(m)) * fp16_to_fp32(sa)) * 0x1p-9;
        }
    const float got = wf.vec_dot_scalar(n, w.data(), a.data());
    EXPECT_NEAR(got, ref, 2e-5 * mag + s_slack + 1e-6) << type_name(type) << ", " << n_blocks << " blocks, seed " << seed;
    for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Neon}) {
        if (!cpu_supports(isa)) continue;
        EXPECT_NEAR(vec_dot_for(wf, isa)(n, w.data(), a.data()), got, 2e-5 * mag + 1e-6)
            << type_name(type) << " " << isa_name(isa);
    }
}

// A random f16 scale of magnitude up to `mag`, either sign.
inline uint16_t random_f16(std::mt19937& rng, float mag, bool allow_negative = true) {
    std::uniform_real_distribution<float> u(allow_negative ? -mag : 0.f, mag);
    return fp32_to_fp16(u(rng));
}

inline void random_bytes(uint8_t* p, size_t n, std::mt19937& rng) {
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(rng() & 0xFF);
}

}  // namespace qlm::test
