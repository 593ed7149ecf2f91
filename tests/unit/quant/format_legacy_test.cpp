// Q4_0, Q4_1, Q5_0, Q5_1 weights and the Q8_1 activation format: hand-built blocks (FORMATS.md
// §2.1–2.6 and the §2.14 worked example), the §3 reference quantization rules, and the scalar dots
// (§4) against dequantize-then-dot on random blocks.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "format_random_dot.h"
#include "quant/format_q4_0.h"
#include "quant/format_q4_1.h"
#include "quant/format_q5_0.h"
#include "quant/format_q5_1.h"
#include "quant/format_q8_1.h"

namespace qlm {
namespace {

template <class B>
B from_bytes(const std::vector<uint8_t>& bytes) {
    B b;
    EXPECT_EQ(bytes.size(), sizeof(B));
    std::memcpy(&b, bytes.data(), sizeof(B));
    return b;
}

TEST(FormatQ4_0, WorkedExample) {
    const auto b = from_bytes<BlockQ4_0>({0x00, 0x38, 0x80, 0x91, 0xA2, 0xB3, 0xC4, 0xD5, 0xE6, 0xF7, 0x08, 0x19,
                                          0x2A, 0x3B, 0x4C, 0x5D, 0x6E, 0x7F});
    float y[32];
    FormatQ4_0::dequantize_row(&b, y, 32);
    for (int j = 0; j < 16; ++j) EXPECT_EQ(y[j], 0.5f * static_cast<float>(j - 8)) << j;
    for (int j = 0; j < 16; ++j) EXPECT_EQ(y[16 + j], 0.5f * static_cast<float>((8 + j) % 16 - 8)) << 16 + j;
    EXPECT_EQ(y[16], 0.f);
    EXPECT_EQ(y[24], -4.f);
}

TEST(FormatQ4_0, QuantizePositiveExtremeGivesNegativeScale) {
    float x[32] = {};
    x[3] = 0.25f;  // 0.25·(−8) + 8.5 = 6.5 -> 6
    x[5] = 1.0f;   // the extreme: code 0
    x[20] = -1.f;  // 16.5 -> 16, clamped to 15
    BlockQ4_0 b;
    FormatQ4_0::quantize_row(x, &b, 32);
    EXPECT_EQ(b.d, 0xB000);  // −0.125
    EXPECT_EQ(b.qs[3], 0x86);
    EXPECT_EQ(b.qs[4], 0xF8);
    EXPECT_EQ(b.qs[5], 0x80);
    EXPECT_EQ(b.qs[0], 0x88);
    float y[32];
    FormatQ4_0::dequantize_row(&b, y, 32);
    EXPECT_EQ(y[5], 1.f);
    EXPECT_EQ(y[20], -0.875f);
    EXPECT_EQ(y[3], 0.25f);

    // Ties in magnitude: the first in index order sets the sign. All zero: d = −0, codes 8.
    float t[32] = {};
    t[2] = -1.f;
    t[7] = 1.f;
    FormatQ4_0::quantize_row(t, &b, 32);
    EXPECT_EQ(b.d, 0x3000);  // +0.125
    const float z[32] = {};
    FormatQ4_0::quantize_row(z, &b, 32);
    EXPECT_EQ(b.d, 0x8000);
    for (uint8_t q : b.qs) EXPECT_EQ(q, 0x88);
}

TEST(FormatQ4_0, HandDotWithQ8_0) {
    BlockQ4_0 w;
    w.d = 0xB800;  // −0.5
    for (int j = 0; j < 16; ++j) w.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    BlockQ8_0 a;
    a.d = 0x4000;  // 2
    for (int8_t& q : a.qs) q = 1;
    a.qs[31] = -3;  // element 31 has code 0: (0 − 8)·(−3) = 24 instead of −8
    // Σ (q − 8)·a = (120 − 128) + (120 − 128) + 32 = 16, times −0.5·2.
    EXPECT_EQ(FormatQ4_0::vec_dot(32, &w, &a), -16.f);
}

TEST(FormatQ4_1, HandBlockAndDotUsesS) {
    BlockQ4_1 w;
    w.d = 0x3800;  // 0.5
    w.m = 0xBC00;  // −1
    for (int j = 0; j < 16; ++j) w.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    float y[32];
    FormatQ4_1::dequantize_row(&w, y, 32);
    EXPECT_EQ(y[0], -1.f);
    EXPECT_EQ(y[15], 6.5f);
    EXPECT_EQ(y[16], 6.5f);
    EXPECT_EQ(y[31], -1.f);
    BlockQ8_1 a;
    a.d = 0x3C00;  // 1
    a.s = 0x5000;  // 32 = 1·Σ qs
    for (int8_t& q : a.qs) q = 1;
    // 0.5·1·(120 + 120) + (−1)·32 = 88.
    EXPECT_EQ(FormatQ4_1::vec_dot(32, &w, &a), 88.f);
}

TEST(FormatQ4_1, QuantizeReferenceRule) {
    float x[32];
    for (float& v : x) v = 0.5f;  // (0.5+1)·1 + 0.5 = 2 -> 2
    x[0] = -1.f;
    x[1] = 14.f;   // 15.5 -> 15
    x[17] = 3.4f;  // 4.9 -> 4
    BlockQ4_1 b;
    FormatQ4_1::quantize_row(x, &b, 32);
    EXPECT_EQ(b.d, 0x3C00);
    EXPECT_EQ(b.m, 0xBC00);
    EXPECT_EQ(b.qs[0], 0x20);
    EXPECT_EQ(b.qs[1], 0x4F);
    EXPECT_EQ(b.qs[2], 0x22);
}

TEST(FormatQ5_0, HighBitPlane) {
    BlockQ5_0 b{};
    b.d = 0xB400;  // −0.25
    b.qh[0] = 0x01;  // element 0
    b.qh[2] = 0x01;  // element 16
    b.qh[3] = 0x80;  // element 31
    b.qs[15] = 0xF0;
    float y[32];
    FormatQ5_0::dequantize_row(&b, y, 32);
    EXPECT_EQ(y[0], 0.f);      // code 16
    EXPECT_EQ(y[1], 4.f);      // code 0
    EXPECT_EQ(y[16], 0.f);     // code 16
    EXPECT_EQ(y[15], 4.f);     // code 0
    EXPECT_EQ(y[31], -3.75f);  // code 31
}

TEST(FormatQ5_0, QuantizeReferenceRule) {
    float x[32] = {};
    x[0] = -2.f;  // extreme: d = 0.125, code 0
    x[1] = 1.9f;  // 15.2 + 16.5 -> 31
    x[2] = 2.f;   // 32.5 -> 32, clamped to 31
    x[20] = 0.5f; // 20.5 -> 20 = 0b10100
    BlockQ5_0 b;
    FormatQ5_0::quantize_row(x, &b, 32);
    EXPECT_EQ(b.d, 0x3000);
    EXPECT_EQ(b.qs[0], 0x00);
    EXPECT_EQ(b.qs[1], 0x0F);
    EXPECT_EQ(b.qs[2], 0x0F);
    EXPECT_EQ(b.qs[4], 0x40);  // element 4: code 16 (low nibble 0), element 20: code 20 (low nibble 4)
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    // Bit 4 is set for codes >= 16: every element but element 0.
    EXPECT_EQ(qh, 0xFFFFFFFEu);
}

TEST(FormatQ5_1, HandBlockAndQuantize) {
    BlockQ5_1 b{};
    b.d = 0x3800;  // 0.5
    b.m = 0x3C00;  // 1
    std::memset(b.qh, 0xFF, 4);
    b.qs[0] = 0x0F;
    float y[32];
    FormatQ5_1::dequantize_row(&b, y, 32);
    EXPECT_EQ(y[0], 16.5f);  // code 31
    EXPECT_EQ(y[16], 9.f);   // code 16
    EXPECT_EQ(y[5], 9.f);

    float x[32] = {};
    x[3] = 31.f;    // 31.5 -> 31 (no clamp needed)
    x[19] = 17.3f;  // 17.8 -> 17 = 0x11
    FormatQ5_1::quantize_row(x, &b, 32);
    EXPECT_EQ(b.d, 0x3C00);
    EXPECT_EQ(b.m, 0x0000);
    EXPECT_EQ(b.qs[3], 0x1F);
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    EXPECT_EQ(qh, (1u << 3) | (1u << 19));
}

TEST(FormatQ8_1, ReferenceAndActivationRulesWithS) {
    float x[32] = {};
    x[0] = 127.f;
    x[1] = 62.5f;  // a tie: roundf 63, half-to-even 62
    x[2] = 2.f;
    BlockQ8_1 r, a;
    FormatQ8_1::quantize_row(x, &r, 32);
    FormatQ8_1::quantize_row_activation(x, &a, 32);
    EXPECT_EQ(r.d, 0x3C00);
    EXPECT_EQ(r.qs[1], 63);
    EXPECT_EQ(a.qs[1], 62);
    EXPECT_EQ(fp16_to_fp32(r.s), 192.f);
    EXPECT_EQ(fp16_to_fp32(a.s), 191.f);
}

void fill_q4_0(uint8_t* p, std::mt19937& rng) {
    test::random_bytes(p, 18, rng);
    const uint16_t d = test::random_f16(rng, 0.1f);
    std::memcpy(p, &d, 2);
}
void fill_with_m(uint8_t* p, size_t bytes, std::mt19937& rng) {
    test::random_bytes(p, bytes, rng);
    const uint16_t d = test::random_f16(rng, 0.1f), m = test::random_f16(rng, 1.f);
    std::memcpy(p, &d, 2);
    std::memcpy(p + 2, &m, 2);
}

TEST(FormatLegacy, DotMatchesDequantizedOnRandomBlocks) {
    for (int nb : {1, 3, 7, 33})
        for (uint32_t seed : {1u, 2u, 3u}) {
            test::check_dot_against_dequantized(GgmlType::Q4_0, fill_q4_0, nb, seed);
            test::check_dot_against_dequantized(GgmlType::Q5_0, [](uint8_t* p, std::mt19937& r) {
                test::random_bytes(p, 22, r);
                const uint16_t d = test::random_f16(r, 0.1f);
                std::memcpy(p, &d, 2);
            }, nb, seed);
            test::check_dot_against_dequantized(GgmlType::Q4_1, [](uint8_t* p, std::mt19937& r) { fill_with_m(p, 20, r); },
                                                nb, seed);
            test::check_dot_against_dequantized(GgmlType::Q5_1, [](uint8_t* p, std::mt19937& r) { fill_with_m(p, 24, r); },
                                                nb, seed);
            test::check_dot_against_dequantized(GgmlType::Q8_1, [](uint8_t* p, std::mt19937& r) {
                std::normal_distribution<float> g;
                float x[32];
                for (float& v : x) v = g(r);
                FormatQ8_1::quantize_row(x, reinterpret_cast<BlockQ8_1*>(p), 32);
            }, nb, seed);
        }
}

TEST(FormatLegacy, TableEntriesAndQuantizeRoundTrip) {
    for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_1}) {
        const FormatOps* f = find_format(t);
        ASSERT_NE(f, nullptr) << type_name(t);
        EXPECT_EQ(static_cast<uint64_t>(f->block_size), type_info(t).block_size);
        EXPECT_EQ(f->block_bytes, type_info(t).type_size);
        ASSERT_NE(f->quantize_row, nullptr);
        // Quantize then dequantize stays within half a step of the block's range (plus f16 rounding).
        std::mt19937 rng(7);
        std::normal_distribution<float> g;
        std::vector<float> x(96), y(96);
        for (float& v : x) v = g(rng);
        std::vector<uint8_t> q(format_row_bytes(*f, 96));
        f->quantize_row(x.data(), q.data(), 96);
        f->dequantize_row(q.data(), y.data(), 96);
        const float steps = (t == GgmlType::Q4_0 || t == GgmlType::Q4_1) ? 15.f : (t == GgmlType::Q8_1 ? 254.f : 31.f);
        for (int b = 0; b < 3; ++b) {
            float mn = x[32 * b], mx = x[32 * b];
            for (int e = 0; e < 32; ++e) {
                mn = std::min(mn, x[32 * b + e]);
                mx = std::max(mx, x[32 * b + e]);
            }
            const float range = t == GgmlType::Q4_1 || t == GgmlType::Q5_1 ? mx - mn : 2 * std::max(mx, -mn);
            for (int e = 0; e < 32; ++e)
                EXPECT_LE(std::fabs(y[32 * b + e] - x[32 * b + e]), 0.51f * range / steps * (t == GgmlType::Q4_0 || t == GgmlType::Q5_0 ? 2.f : 1.f) + 5e-3f)
                    << type_name(t) << " element " << 32 * b + e;
        }
    }
}

}  // namespace
}  // namespace qlm
