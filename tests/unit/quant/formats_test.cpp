// Block formats: hand-computed blocks, conversions over every bit pattern, the §3 quantization rule,
// and the format table.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "quant/format_bf16.h"
#include "quant/format_f16.h"
#include "quant/format_f32.h"
#include "quant/format_q8_0.h"
#include "quant/formats.h"
#include "src/gguf/gguf_file.h"

namespace qlm {
namespace {

TEST(FormatQ8_0, DequantizeHandBlock) {
    // d = f16 0x3800 = 0.5, codes e - 16: x(e) = 0.5·(e − 16).
    std::vector<uint8_t> bytes = {0x00, 0x38};
    for (int e = 0; e < 32; ++e) bytes.push_back(static_cast<uint8_t>(static_cast<int8_t>(e - 16)));
    ASSERT_EQ(bytes.size(), 34u);
    float y[32];
    format_ops(GgmlType::Q8_0).dequantize_row(bytes.data(), y, 32);
    EXPECT_EQ(y[0], -8.0f);
    EXPECT_EQ(y[16], 0.0f);
    EXPECT_EQ(y[17], 0.5f);
    EXPECT_EQ(y[31], 7.5f);
}

TEST(FormatQ8_0, DequantizeNegativeScaleAndExtremes) {
    // d = f16 0xC000 = −2; codes −128, 127, 1.
    std::vector<uint8_t> bytes(34, 0);
    bytes[0] = 0x00;
    bytes[1] = 0xC0;
    bytes[2] = 0x80;
    bytes[3] = 0x7F;
    bytes[4] = 0x01;
    float y[32];
    format_ops(GgmlType::Q8_0).dequantize_row(bytes.data(), y, 32);
    EXPECT_EQ(y[0], 256.0f);
    EXPECT_EQ(y[1], -254.0f);
    EXPECT_EQ(y[2], -2.0f);
    EXPECT_EQ(y[3], 0.0f);
}

TEST(FormatQ8_0, QuantizeFollowsReferenceRule) {
    // amax = 127 gives d = 1 exactly, so codes are roundf(x): halves round away from zero.
    float x[32] = {};
    x[0] = 127.f;
    x[1] = 2.5f;
    x[2] = -2.5f;
    x[3] = 0.49f;
    x[4] = -126.6f;
    x[5] = 0.5f;
    x[6] = -0.5f;
    BlockQ8_0 b;
    FormatQ8_0::quantize_row(x, &b, 32);
    EXPECT_EQ(b.d, 0x3C00);  // 1.0
    const int expected[7] = {127, 3, -3, 0, -127, 1, -1};
    for (int i = 0; i < 7; ++i) EXPECT_EQ(b.qs[i], expected[i]) << i;
    for (int i = 7; i < 32; ++i) EXPECT_EQ(b.qs[i], 0);

    // An all-zero block stores d = 0 and codes 0.
    float z[32] = {};
    FormatQ8_0::quantize_row(z, &b, 32);
    EXPECT_EQ(b.d, 0);
    for (int i = 0; i < 32; ++i) EXPECT_EQ(b.qs[i], 0);

    // amax = 2: d = 2/127 = 1.00787·2^-6 stored as f16: exponent 9, mantissa round(0.00787·1024) = 8
    // -> 0x2408 = 0.0157470703125.
    float y[32] = {};
    y[9] = -2.f;
    y[10] = 1.f;
    FormatQ8_0::quantize_row(y, &b, 32);
    EXPECT_EQ(b.d, 0x2408);
    EXPECT_EQ(b.qs[9], -127);
    EXPECT_EQ(b.qs[10], 64);  // 63.5 rounds away from zero
}

TEST(FormatQ8_0, ActivationRuleRoundsTiesToEven) {
    // amax = 127: id = 127/127 = 1 and ties go to even (2.5 -> 2, -2.5 -> -2, 3.5 -> 4), unlike
    // the weight rule's roundf.
    float x[32] = {};
    x[0] = 127.f;
    x[1] = 2.5f;
    x[2] = -2.5f;
    x[3] = 3.5f;
    x[4] = 0.5f;
    BlockQ8_0 b;
    format_ops(GgmlType::Q8_0).quantize_activation(x, &b, 32);
    EXPECT_EQ(b.d, 0x3C00);
    const int expected[5] = {127, 2, -2, 4, 0};
    for (int i = 0; i < 5; ++i) EXPECT_EQ(b.qs[i], expected[i]) << i;
}

// llama.cpp's Q8_0 stories260K file is the §3 rule applied to the F32 file: re-quantizing
// token_embd must reproduce its bytes exactly.
TEST(FormatQ8_0, QuantizeReproducesLlamaCppFile) {
    auto f32 = gguf::GgufFile::open(test::shared_file("models/stories260K-F32.gguf").string());
    auto q8 = gguf::GgufFile::open(test::shared_file("models/stories260K-Q8_0.gguf").string());
    for (const char* name : {"token_embd.weight", "blk.0.attn_q.weight", "blk.4.ffn_gate.weight"}) {
        const auto* a = f32->find_tensor(name);
        const auto* b = q8->find_tensor(name);
        ASSERT_TRUE(a && b) << name;
        ASSERT_EQ(a->type, GgmlType::F32);
        ASSERT_EQ(b->type, GgmlType::Q8_0);
        const auto n = static_cast<int64_t>(a->n_elements);
        std::vector<float> x(static_cast<size_t>(n));
        std::memcpy(x.data(), a->data, x.size() * 4);
        std::vector<uint8_t> out(static_cast<size_t>(n / 32 * 34));
        format_ops(GgmlType::Q8_0).quantize_row(x.data(), out.data(), n);
        ASSERT_EQ(b->n_bytes, out.size());
        EXPECT_EQ(0, std::memcmp(out.data(), b->data, out.size())) << name;
    }
}

TEST(FormatF16, HandValues) {
    const uint16_t bits[] = {0x3C00, 0xC000, 0x0001, 0x7BFF, 0x8000, 0x3555};
    const float vals[] = {1.0f, -2.0f, 5.9604644775390625e-8f, 65504.0f, -0.0f, 0.333251953125f};
    float y[6];
    FormatF16::dequantize_row(bits, y, 6);
    for (int i = 0; i < 6; ++i) EXPECT_EQ(y[i], vals[i]) << i;
    EXPECT_TRUE(std::signbit(y[4]));
    uint16_t back[6];
    FormatF16::quantize_row(vals, back, 6);
    for (int i = 0; i < 6; ++i) EXPECT_EQ(back[i], bits[i]) << i;
    // Round to nearest even: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 -> 1.
    const float tie[2] = {1.0f + 1.0f / 2048.0f, 1.0f + 3.0f / 2048.0f};
    FormatF16::quantize_row(tie, back, 2);
    EXPECT_EQ(back[0], 0x3C00);
    EXPECT_EQ(back[1], 0x3C02);
}

TEST(FormatF16, AllBitPatternsRoundTrip) {
    std::vector<uint16_t> bits(65536), back(65536);
    for (uint32_t i = 0; i < 65536; ++i) bits[i] = static_cast<uint16_t>(i);
    std::vector<float> f(65536);
    FormatF16::dequantize_row(bits.data(), f.data(), 65536);
    FormatF16::quantize_row(f.data(), back.data(), 65536);
    for (uint32_t i = 0; i < 65536; ++i) {
        const bool nan = ((i >> 10) & 0x1f) == 0x1f && (i & 0x3ff) != 0;
        if (nan)
            EXPECT_TRUE(std::isnan(f[i])) << i;
        else
            ASSERT_EQ(back[i], bits[i]) << "f16 pattern " << i;
    }
}

TEST(FormatBF16, AllBitPatternsRoundTrip) {
    std::vector<uint16_t> bits(65536), back(65536);
    for (uint32_t i = 0; i < 65536; ++i) bits[i] = static_cast<uint16_t>(i);
    std::vector<float> f(65536);
    FormatBF16::dequantize_row(bits.data(), f.data(), 65536);
    FormatBF16::quantize_row(f.data(), back.data(), 65536);
    for (uint32_t i = 0; i < 65536; ++i) {
        const bool nan = ((i >> 7) & 0xff) == 0xff && (i & 0x7f) != 0;
        if (nan) {
            EXPECT_TRUE(std::isnan(f[i])) << i;
            EXPECT_NE(back[i] & 0x40, 0) << "NaN stays quiet: " << i;
        } else {
            ASSERT_EQ(back[i], bits[i]) << "bf16 pattern " << i;
        }
    }
    // bf16(1.0) = 0x3F80; 1 + 2^-8 is a tie between 0x3F80 and 0x3F81 -> even (0x3F80).
    const float x[2] = {1.0f, 1.0f + 1.0f / 256.0f};
    FormatBF16::quantize_row(x, back.data(), 2);
    EXPECT_EQ(back[0], 0x3F80);
    EXPECT_EQ(back[1], 0x3F80);
}

TEST(FormatTable, GeometryMatchesGgmlTypes) {
    for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0}) {
        const FormatOps* f = find_format(t);
        ASSERT_NE(f, nullptr);
        EXPECT_EQ(f->type, t);
        EXPECT_EQ(static_cast<uint64_t>(f->block_size), type_info(t).block_size);
        EXPECT_EQ(f->block_bytes, type_info(t).type_size);
        EXPECT_NE(find_format(f->vec_dot_type), nullptr);
    }
    EXPECT_EQ(find_format(GgmlType::F16)->vec_dot_type, GgmlType::F16);
    EXPECT_EQ(find_format(GgmlType::Q8_0)->vec_dot_type, GgmlType::Q8_0);
    EXPECT_EQ(find_format(GgmlType::IQ2_XXS), nullptr);
    EXPECT_THROW(format_ops(GgmlType::IQ2_XXS), std::exception);
}

// The table is complete as compiled: every format has its reference rules (the K-quants' weight
// quantizers included, with no registration step), its activation format in the table, and the
// geometry ggml gives its type id; weight_format is false exactly for the activation formats.
TEST(FormatTable, EveryEntryComplete) {
    ASSERT_EQ(all_formats().size(), 17u);
    for (const FormatOps& f : all_formats()) {
        SCOPED_TRACE(std::string(type_name(f.type)));
        EXPECT_EQ(find_format(f.type), &f);
        EXPECT_EQ(static_cast<uint64_t>(f.block_size), type_info(f.type).block_size);
        EXPECT_EQ(f.block_bytes, type_info(f.type).type_size);
        EXPECT_NE(find_format(f.vec_dot_type), nullptr);
        EXPECT_NE(f.dequantize_row, nullptr);
        EXPECT_NE(f.quantize_row, nullptr);
        EXPECT_NE(f.quantize_activation, nullptr);
        EXPECT_NE(f.vec_dot_scalar, nullptr);
        EXPECT_EQ(f.weight_format, f.type != GgmlType::Q8_1 && f.type != GgmlType::Q8_K);
    }
}

TEST(FormatScalarDot, HandComputed) {
    // Q8_0: d_w = 0.5, d_a = 2, Σ q_w·q_a = 1·2 + (−3)·4 = −10 -> −10.
    BlockQ8_0 w{}, a{};
    w.d = 0x3800;
    a.d = 0x4000;
    w.qs[0] = 1;
    w.qs[31] = -3;
    a.qs[0] = 2;
    a.qs[31] = 4;
    EXPECT_EQ(FormatQ8_0::vec_dot(32, &w, &a), -10.0f);
    const float x[3] = {1, 2, 3}, y[3] = {4, -5, 6};
    EXPECT_EQ(FormatF32::vec_dot(3, x, y), 12.0f);
    const uint16_t hx[2] = {0x3C00, 0x4000}, hy[2] = {0x4200, 0xBC00};  // (1,2)·(3,−1) = 1
    EXPECT_EQ(FormatF16::vec_dot(2, hx, hy), 1.0f);
}

}  // namespace
}  // namespace qlm
