// K-quants (Q2_K … Q6_K) and the Q8_K activation format: the §2.14 Q4_K worked example, hand-built
// blocks (negative scales, the high-bit planes of Q5_K/Q3_K, every bit of the 6-bit scale
// packing of Q3_K and Q4_K), the Q8_K reference rule with bsums, and the scalar dots (§4) against
// dequantize-then-dot on random blocks.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "format_random_dot.h"
#include "quant/format_q2_k.h"
#include "quant/format_q3_k.h"
#include "quant/format_q4_k.h"
#include "quant/format_q5_k.h"
#include "quant/format_q6_k.h"
#include "quant/format_q8_k.h"

namespace qlm {
namespace {

TEST(FormatQ4_K, WorkedExample) {
    BlockQ4_K b;
    b.d = 0x3C00;
    b.dmin = 0x3800;
    const uint8_t sc[12] = {0xCA, 0xD4, 0x1E, 0xA8, 0x81, 0xC2, 0xC3, 0xC4, 0x82, 0x2C, 0xC5, 0xF1};
    std::memcpy(b.scales, sc, 12);
    for (int c = 0; c < 4; ++c)
        for (int l = 0; l < 32; ++l) b.qs[32 * c + l] = static_cast<uint8_t>((l % 16) | ((15 - l % 16) << 4));
    const int want_sc[8] = {10, 20, 30, 40, 50, 60, 5, 33}, want_m[8] = {1, 2, 3, 4, 40, 50, 60, 63};
    for (int j = 0; j < 8; ++j) {
        int s, m;
        kquant_scale_min(b.scales, j, s, m);
        EXPECT_EQ(s, want_sc[j]) << j;
        EXPECT_EQ(m, want_m[j]) << j;
    }
    float y[256];
    FormatQ4_K::dequantize_row(&b, y, 256);
    EXPECT_EQ(y[0], -0.5f);
    EXPECT_EQ(y[1], 9.5f);
    EXPECT_EQ(y[32], 299.f);
    EXPECT_EQ(y[200], 10.f);
    EXPECT_EQ(y[255], -31.5f);
}

// Setting one bit of the 12 scale bytes changes exactly the code the layout description names
// (FORMATS.md §2.10: bytes 0–3 sc_0..3 + top bits of sc_4..7, bytes 4–7 m_0..3 + top bits of
// m_4..7, bytes 8–11 low nibbles of sc_4..7 and m_4..7).
TEST(FormatQ4_K, EveryScaleBitLandsInItsCode) {
    for (int k = 0; k < 12; ++k)
        for (int bit = 0; bit < 8; ++bit) {
            uint8_t b[12] = {};
            b[k] = static_cast<uint8_t>(1u << bit);
            int want_sc[8] = {}, want_m[8] = {};
            if (k < 4) {
                if (bit < 6) want_sc[k] = 1 << bit; else want_sc[k + 4] = 1 << (bit - 2);
            } else if (k < 8) {
                if (bit < 6) want_m[k - 4] = 1 << bit; else want_m[k] = 1 << (bit - 2);
            } else {
                if (bit < 4) want_sc[k - 4] = 1 << bit; else want_m[k - 4] = 1 << (bit - 4);
            }
            for (int j = 0; j < 8; ++j) {
                int s, m;
                kquant_scale_min(b, j, s, m);
                EXPECT_EQ(s, want_sc[j]) << "byte " << k << " bit " << bit << " sub-block " << j;
                EXPECT_EQ(m, want_m[j]) << "byte " << k << " bit " << bit << " sub-block " << j;
            }
        }
}

// FORMATS.md §2.9: byte k (0–7) holds the low nibble of s_k and of s_{k+8}; byte 8+r holds the top
// two bits of s_r, s_{r+4}, s_{r+8}, s_{r+12}.
TEST(FormatQ3_K, EveryScaleBitLandsInItsCode) {
    for (int k = 0; k < 12; ++k)
        for (int bit = 0; bit < 8; ++bit) {
            BlockQ3_K blk{};
            blk.scales[k] = static_cast<uint8_t>(1u << bit);
            int want[16] = {};
            if (k < 8) {
                if (bit < 4) want[k] = 1 << bit; else want[k + 8] = 1 << (bit - 4);
            } else {
                want[(k - 8) + 4 * (bit / 2)] = 1 << (4 + bit % 2);
            }
            for (int j = 0; j < 16; ++j)
                EXPECT_EQ(FormatQ3_K::scale_code(blk, j), want[j]) << "byte " << k << " bit " << bit << " j " << j;
        }
}

TEST(FormatQ3_K, HandBlockSignedScalesAndHmask) {
    BlockQ3_K b{};
    b.d = 0x3800;        // 0.5
    b.scales[0] = 0x01;  // s_0 low nibble 1
    b.scales[8] = 0x02;  // s_0 top bits 2 -> s_0 = 33 (scale +1)
    b.scales[7] = 0xE0;  // s_15 low nibble 14
    b.scales[11] = 0x40; // s_15 top bits 1 -> s_15 = 30 (scale −2)
    b.hmask[0] = 0x01;   // element 0: no −4
    b.qs[0] = 0x03;      // element 0: low bits 3
    b.qs[63] = 0x80;     // element 255: low bits 2, hmask clear
    float y[256];
    FormatQ3_K::dequantize_row(&b, y, 256);
    EXPECT_EQ(y[0], 1.5f);    // 0.5·1·3
    EXPECT_EQ(y[1], -2.f);    // 0.5·1·(−4)
    EXPECT_EQ(y[16], 64.f);   // s_1 = 0: 0.5·(−32)·(−4)
    EXPECT_EQ(y[255], 2.f);   // 0.5·(−2)·(2 − 4)
    EXPECT_EQ(y[32], 64.f);   // s_2 = 0: qs[0] bits 2–3 = 0, hmask[0] bit 1 clear -> 0.5·(−32)·(−4)
}

TEST(FormatQ5_K, HighBitPlane) {
    BlockQ5_K b{};
    b.d = 0x3C00;     // 1
    b.dmin = 0x3800;  // 0.5
    for (int k = 0; k < 4; ++k) b.scales[k] = 1;       // sc_0..3 = 1
    for (int k = 8; k < 12; ++k) b.scales[k] = 0x21;   // sc_4..7 = 1, m_4..7 = 2
    b.qh[3] = 0x81;  // element 3 (bit 0) and element 7·32 + 3 = 227 (bit 7)
    b.qs[3] = 0x05;  // element 3 low nibble 5; element 35 low nibble 0
    float y[256];
    FormatQ5_K::dequantize_row(&b, y, 256);
    EXPECT_EQ(y[3], 21.f);    // 1·1·(5 + 16) − 0
    EXPECT_EQ(y[35], 0.f);
    EXPECT_EQ(y[227], 15.f);  // 1·1·16 − 0.5·2
    EXPECT_EQ(y[228], -1.f);
}

TEST(FormatQ6_K, HandBlockNegativeScales) {
    BlockQ6_K b{};
    b.d = 0x3800;  // 0.5
    b.scales[0] = -3;
    b.scales[2] = 4;
    b.scales[4] = -1;
    b.scales[6] = 1;
    b.scales[15] = 2;
    b.ql[0] = 0x5F;    // e0 low 15, e64 low 5
    b.qh[0] = 0xE4;    // e0 hi 0, e32 hi 1, e64 hi 2, e96 hi 3
    b.ql[127] = 0x30;  // e255 low 3
    b.qh[63] = 0x40;   // e255 hi 1
    float y[256];
    FormatQ6_K::dequantize_row(&b, y, 256);
    EXPECT_EQ(y[0], 25.5f);   // 0.5·(−3)·(15 − 32)
    EXPECT_EQ(y[1], 48.f);    // 0.5·(−3)·(−32)
    EXPECT_EQ(y[32], -32.f);  // 0.5·4·(16 − 32)
    EXPECT_EQ(y[64], -2.5f);  // 0.5·(−1)·(37 − 32)
    EXPECT_EQ(y[96], 8.f);    // 0.5·1·(48 − 32)
    EXPECT_EQ(y[255], -13.f); // 0.5·2·(19 − 32)
}

TEST(FormatQ2_K, HandBlockAndDotUsesBsums) {
    BlockQ2_K b{};
    b.d = 0x3800;        // 0.5
    b.dmin = 0x3400;     // 0.25
    b.scales[0] = 0x23;  // sc 3, m 2
    b.scales[2] = 0x14;  // sc 4, m 1
    b.scales[15] = 0xF1; // sc 1, m 15
    b.qs[0] = 0xE4;      // e0 q0, e32 q1, e64 q2, e96 q3
    b.qs[63] = 0xC0;     // e255 q3
    float y[256];
    FormatQ2_K::dequantize_row(&b, y, 256);
    EXPECT_EQ(y[0], -0.5f);
    EXPECT_EQ(y[32], 1.75f);
    EXPECT_EQ(y[64], 0.f);
    EXPECT_EQ(y[255], -2.25f);
    BlockQ8_K a;
    a.d = 2.f;
    for (int8_t& q : a.qs) q = 1;
    for (int j = 0; j < 16; ++j) a.bsums[j] = 16;
    // 2·(0.5·(3·0 + 4·1 + 1·3) − 0.25·(2 + 1 + 15)·16) = −137.
    EXPECT_EQ(FormatQ2_K::vec_dot(256, &b, &a), -137.f);
}

TEST(FormatQ8_K, ReferenceRuleWithBsums) {
    float x[256] = {};
    x[10] = 2.f;    // the extreme: iscale = −63.5, code −127
    x[20] = -2.f;   // 127
    x[30] = 1.f;    // −63.5 -> −64 (half to even)
    x[31] = 0.5f;   // −31.75 -> −32
    BlockQ8_K b;
    FormatQ8_K::quantize_row(x, &b, 256);
    EXPECT_EQ(b.d, 1.f / (-127.f / 2.f));
    EXPECT_LT(b.d, 0.f);
    EXPECT_EQ(b.qs[10], -127);
    EXPECT_EQ(b.qs[20], 127);
    EXPECT_EQ(b.qs[30], -64);
    EXPECT_EQ(b.qs[31], -32);
    EXPECT_EQ(b.bsums[0], -127);
    EXPECT_EQ(b.bsums[1], 31);
    for (int j = 2; j < 16; ++j) EXPECT_EQ(b.bsums[j], 0);
    const float z[256] = {};
    FormatQ8_K::quantize_row(z, &b, 256);
    EXPECT_EQ(b.d, 0.f);
    for (int8_t q : b.qs) EXPECT_EQ(q, 0);
    for (int j = 0; j < 16; ++j) EXPECT_EQ(b.bsums[j], 0);
}

template <size_t Bytes, size_t DOffset, int NScales>
void fill_kquant(uint8_t* p, std::mt19937& rng) {
    test::random_bytes(p, Bytes, rng);
    for (int i = 0; i < NScales; ++i) {
        const uint16_t d = test::random_f16(rng, 0.05f, i == 0 || NScales == 1);
        std::memcpy(p + DOffset + 2 * static_cast<size_t>(i), &d, 2);
    }
}

TEST(FormatKQuants, DotMatchesDequantizedOnRandomBlocks) {
    for (int nb : {1, 3, 5})
        for (uint32_t seed : {11u, 12u, 13u}) {
            test::check_dot_against_dequantized(GgmlType::Q2_K, fill_kquant<84, 80, 2>, nb, seed);
            test::check_dot_against_dequantized(GgmlType::Q3_K, fill_kquant<110, 108, 1>, nb, seed);
            test::check_dot_against_dequantized(GgmlType::Q4_K, fill_kquant<144, 0, 2>, nb, seed);
            test::check_dot_against_dequantized(GgmlType::Q5_K, fill_kquant<176, 0, 2>, nb, seed);
            test::check_dot_against_dequantized(GgmlType::Q6_K, fill_kquant<210, 208, 1>, nb, seed);
            test::check_dot_against_dequantized(GgmlType::Q8_K, [](uint8_t* p, std::mt19937& r) {
                std::normal_distribution<float> g;
                float x[256];
                for (float& v : x) v = g(r);
                FormatQ8_K::quantize_row(x, reinterpret_cast<BlockQ8_K*>(p), 256);
            }, nb, seed);
        }
}

TEST(FormatKQuants, TableEntries) {
    for (GgmlType t : {GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K,
                       GgmlType::Q8_K}) {
        const FormatOps* f = find_format(t);
        ASSERT_NE(f, nullptr) << type_name(t);
        EXPECT_EQ(f->block_size, 256);
        EXPECT_EQ(static_cast<uint64_t>(f->block_size), type_info(t).block_size);
        EXPECT_EQ(f->block_bytes, type_info(t).type_size);
        EXPECT_EQ(f->vec_dot_type, GgmlType::Q8_K);
    }
    EXPECT_NE(find_format(GgmlType::Q8_K)->quantize_activation, nullptr);
}

}  // namespace
}  // namespace qlm
