// IQ4_NL and IQ4_XS: hand-built blocks (every grid value, every bit of the IQ4_XS scale packing),
// the scalar dots against dequantize-then-dot, the reference quantizer's edge cases, and its bytes
// against llama-quantize's mini-IQ4_NL / mini-IQ4_XS files (../shared/models/synth).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "common/test_support.h"
#include "format_random_dot.h"
#include "quant/format_iq4_nl.h"
#include "quant/format_iq4_xs.h"
#include "src/gguf/gguf_file.h"

namespace qlm {
namespace {

TEST(FormatIQ4_NL, HandBlockEveryGridValue) {
    BlockIQ4_NL b{};
    b.d = 0x3800;  // 0.5
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    float y[32];
    FormatIQ4_NL::dequantize_row(&b, y, 32);
    for (int j = 0; j < 16; ++j) {
        EXPECT_EQ(y[j], 0.5f * kIq4Values[j]) << j;
        EXPECT_EQ(y[16 + j], 0.5f * kIq4Values[15 - j]) << j;
    }
    EXPECT_EQ(y[0], -63.5f);
    EXPECT_EQ(y[16], 56.5f);
}

// Bytes 4..7 hold the low nibbles of the scale codes (sub-block j in byte 4 + j/2, nibble j%2),
// bytes 2..3 (little-endian u16) their top two bits (bits 2j, 2j+1).
TEST(FormatIQ4_XS, EveryScaleBitLandsInItsCode) {
    for (int k = 0; k < 6; ++k)
        for (int bit = 0; bit < 8; ++bit) {
            uint8_t raw[136] = {};
            raw[2 + k] = static_cast<uint8_t>(1u << bit);
            BlockIQ4_XS blk;
            std::memcpy(&blk, raw, sizeof blk);
            int want[8] = {};
            if (k < 2) {
                const int j = (8 * k + bit) / 2;
                want[j] = 1 << (4 + bit % 2);
            } else {
                want[2 * (k - 2) + bit / 4] = 1 << (bit % 4);
            }
            for (int j = 0; j < 8; ++j)
                EXPECT_EQ(FormatIQ4_XS::sub_scale(blk, j), want[j] - 32) << "byte " << k << " bit " << bit << " j " << j;
        }
}

TEST(FormatIQ4_XS, HandBlock) {
    BlockIQ4_XS b{};
    b.d = 0x3C00;            // 1
    b.scales_l[0] = 0x1F;    // s_0 low 15, s_1 low 1
    b.scales_h = 0x0002 | (3u << 14);  // s_0 high 2 -> 47 (scale 15); s_7 high 3 -> 48 (scale 16)
    b.qs[0] = 0x80;          // element 0: index 0, element 16: index 8
    b.qs[16] = 0x0F;         // element 32: index 15 (sub-block 1: scale 1 − 32 = −31)
    b.qs[127] = 0xF0;        // element 255: index 15 (sub-block 7)
    float y[256];
    FormatIQ4_XS::dequantize_row(&b, y, 256);
    EXPECT_EQ(y[0], 15.f * -127);
    EXPECT_EQ(y[16], 15.f * 1);
    EXPECT_EQ(y[32], -31.f * 113);
    EXPECT_EQ(y[255], 16.f * 113);
    EXPECT_EQ(y[100], -32.f * -127);  // sub-block 3: code 0 -> scale −32, index 0
}

void fill_iq4_nl(uint8_t* p, std::mt19937& rng) {
    test::random_bytes(p, 18, rng);
    const uint16_t d = test::random_f16(rng, 0.01f);
    std::memcpy(p, &d, 2);
}

void fill_iq4_xs(uint8_t* p, std::mt19937& rng) {
    test::random_bytes(p, 136, rng);
    const uint16_t d = test::random_f16(rng, 0.001f);
    std::memcpy(p, &d, 2);
}

TEST(FormatIQ4, DotMatchesDequantizedOnRandomBlocks) {
    for (int nb : {1, 3, 7})
        for (uint32_t seed : {21u, 22u, 23u}) {
            test::check_dot_against_dequantized(GgmlType::IQ4_NL, fill_iq4_nl, nb, seed);
            test::check_dot_against_dequantized(GgmlType::IQ4_XS, fill_iq4_xs, nb, seed);
        }
}

TEST(FormatIQ4, TableEntries) {
    for (auto [t, act] : {std::pair{GgmlType::IQ4_NL, GgmlType::Q8_0}, std::pair{GgmlType::IQ4_XS, GgmlType::Q8_K}}) {
        const FormatOps* f = find_format(t);
        ASSERT_NE(f, nullptr) << type_name(t);
        EXPECT_EQ(static_cast<uint64_t>(f->block_size), type_info(t).block_size);
        EXPECT_EQ(f->block_bytes, type_info(t).type_size);
        EXPECT_EQ(f->vec_dot_type, act);
        EXPECT_TRUE(f->weight_format);
    }
}

// An all-zero group has scale 0 and the index of the grid value nearest 0 (8, value 1).
TEST(FormatIQ4, ZeroBlocks) {
    std::vector<float> x(256, 0.f), y(256, 1.f);
    BlockIQ4_NL nl[8];
    FormatIQ4_NL::quantize_row(x.data(), nl, 256);
    for (const auto& b : nl) {
        EXPECT_EQ(fp16_to_fp32(b.d), 0.f);
        for (uint8_t q : b.qs) EXPECT_EQ(q, 0x88);
    }
    BlockIQ4_XS xs;
    FormatIQ4_XS::quantize_row(x.data(), &xs, 256);
    EXPECT_EQ(fp16_to_fp32(xs.d), 0.f);
    FormatIQ4_XS::dequantize_row(&xs, y.data(), 256);
    for (float v : y) EXPECT_EQ(v, 0.f);
}

// Quantize -> dequantize keeps random rows within a 4-bit format's error, and a row that is
// exactly d·grid values is reproduced exactly.
TEST(FormatIQ4, RoundTrip) {
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> x(1024), y(1024);
    for (float& v : x) v = normal(rng);
    double err = 0, norm = 0;
    std::vector<BlockIQ4_NL> nl(32);
    FormatIQ4_NL::quantize_row(x.data(), nl.data(), 1024);
    FormatIQ4_NL::dequantize_row(nl.data(), y.data(), 1024);
    for (size_t i = 0; i < x.size(); ++i) {
        err += (x[i] - y[i]) * (x[i] - y[i]);
        norm += x[i] * x[i];
    }
    EXPECT_LT(std::sqrt(err / norm), 0.12);
    std::vector<BlockIQ4_XS> xs(4);
    FormatIQ4_XS::quantize_row(x.data(), xs.data(), 1024);
    FormatIQ4_XS::dequantize_row(xs.data(), y.data(), 1024);
    err = 0;
    for (size_t i = 0; i < x.size(); ++i) err += (x[i] - y[i]) * (x[i] - y[i]);
    EXPECT_LT(std::sqrt(err / norm), 0.12);

    for (int i = 0; i < 32; ++i) x[i] = 0.25f * kIq4Values[(i * 7) % 16];
    FormatIQ4_NL::quantize_row(x.data(), nl.data(), 32);
    FormatIQ4_NL::dequantize_row(nl.data(), y.data(), 32);
    for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], x[i]) << i;
}

// llama-quantize's mini-IQ4_NL / mini-IQ4_XS files are the reference rule applied to mini-f32:
// re-quantizing their IQ4 tensors reproduces the bytes (four of each shape here; the whole files
// through `qlm quantize` in tests/integration/quantize_test.cpp).
void check_matches_llama_file(const char* file, GgmlType type) {
    auto f32 = gguf::GgufFile::open(test::synth_model("mini-f32.gguf").string());
    auto q = gguf::GgufFile::open(test::shared_file(std::string("models/synth/") + file).string());
    const FormatOps& ops = format_ops(type);
    int compared = 0;
    for (const char* name : {"token_embd.weight", "blk.0.attn_k.weight", "blk.0.ffn_down.weight", "blk.1.ffn_up.weight"}) {
        const gguf::TensorInfo* tp = q->find_tensor(name);
        ASSERT_NE(tp, nullptr) << name;
        const gguf::TensorInfo& t = *tp;
        ASSERT_EQ(t.type, type) << name;
        const gguf::TensorInfo* src = f32->find_tensor(t.name);
        ASSERT_TRUE(src && src->type == GgmlType::F32) << t.name;
        const auto n = static_cast<int64_t>(src->n_elements);
        std::vector<float> x(static_cast<size_t>(n));
        std::memcpy(x.data(), src->data, x.size() * 4);
        std::vector<uint8_t> out(format_row_bytes(ops, n));
        ops.quantize_row(x.data(), out.data(), n);
        ASSERT_EQ(out.size(), t.n_bytes) << t.name;
        size_t first_diff = 0;
        while (first_diff < out.size() && out[first_diff] == t.data[first_diff]) ++first_diff;
        EXPECT_EQ(first_diff, out.size()) << file << " " << t.name << ": first differing byte";
        ++compared;
    }
    EXPECT_EQ(compared, 4) << file;
}

TEST(FormatIQ4, QuantizeReproducesLlamaQuantizeFiles) {
    check_matches_llama_file("mini-IQ4_NL.gguf", GgmlType::IQ4_NL);
    check_matches_llama_file("mini-IQ4_XS.gguf", GgmlType::IQ4_XS);
}

}  // namespace
}  // namespace qlm
