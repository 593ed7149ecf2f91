// The K-quant reference quantizers against llama-quantize's output: quantizing the synthetic mini
// model's F32 weights must give the bytes of models/synth/mini-*.gguf (llama.cpp, no imatrix) for
// every tensor stored there in a K-quant type.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "quant/formats.h"
#include "src/gguf/gguf_file.h"

namespace qlm {
namespace {

bool is_kquant(GgmlType t) {
    return t == GgmlType::Q2_K || t == GgmlType::Q3_K || t == GgmlType::Q4_K || t == GgmlType::Q5_K ||
           t == GgmlType::Q6_K;
}

class KQuantOracle : public ::testing::TestWithParam<std::string> {};

TEST_P(KQuantOracle, BlocksEqualLlamaQuantize) {
    auto src = gguf::GgufFile::open(test::synth_model("mini-f32.gguf").string());
    auto ref = gguf::GgufFile::open(test::shared_file("models/synth/mini-" + GetParam() + ".gguf").string());
    uint64_t blocks = 0, equal = 0;
    int tensors = 0;
    for (const auto& r : ref->tensors()) {
        if (!is_kquant(r.type)) continue;
        const gguf::TensorInfo* s = src->find_tensor(r.name);
        ASSERT_NE(s, nullptr) << r.name;
        ASSERT_EQ(s->type, GgmlType::F32);
        const QuantizeRowFn q = format_ops(r.type).quantize_row;
        const TypeInfo& ti = type_info(r.type);
        const uint64_t ne0 = s->ne[0], rows = s->n_elements / ne0;
        std::vector<float> row(ne0);
        std::vector<uint8_t> out(row_bytes(ti, ne0));
        for (uint64_t i = 0; i < rows; ++i) {
            std::memcpy(row.data(), s->data + i * ne0 * 4, ne0 * 4);
            q(row.data(), out.data(), static_cast<int64_t>(ne0));
            const uint8_t* want = r.data + i * out.size();
            for (uint64_t b = 0; b < ne0 / ti.block_size; ++b) {
                ++blocks;
                equal += std::memcmp(out.data() + b * ti.type_size, want + b * ti.type_size, ti.type_size) == 0;
            }
        }
        ++tensors;
    }
    ASSERT_GT(tensors, 0);
    RecordProperty("blocks", static_cast<int>(blocks));
    std::printf("%s: %d K-quant tensors, %llu of %llu blocks equal\n", GetParam().c_str(), tensors,
                static_cast<unsigned long long>(equal), static_cast<unsigned long long>(blocks));
    EXPECT_EQ(equal, blocks);
}

INSTANTIATE_TEST_SUITE_P(Synth, KQuantOracle, ::testing::Values("Q2_K", "Q3_K_S", "Q4_K_M", "Q5_K_S", "Q6_K"));

// Edge blocks: all zeros decode to zeros, constant and one-hot blocks stay finite and close.
TEST(KQuant, EdgeBlocksRoundTrip) {
    for (GgmlType t : {GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
        const FormatOps* f = find_format(t);
        ASSERT_NE(f, nullptr) << type_name(t);
        const TypeInfo& ti = type_info(t);
        std::vector<uint8_t> buf(ti.type_size);
        std::vector<float> x(256, 0.f), y(256);
        f->quantize_row(x.data(), buf.data(), 256);
        f->dequantize_row(buf.data(), y.data(), 256);
        for (float v : y) EXPECT_EQ(v, 0.f) << type_name(t);
        for (int i = 0; i < 256; ++i) x[i] = std::sin(0.37f * i) * (1 + (i % 16));
        f->quantize_row(x.data(), buf.data(), 256);
        f->dequantize_row(buf.data(), y.data(), 256);
        double err = 0, ref = 0;
        for (int i = 0; i < 256; ++i) {
            ASSERT_TRUE(std::isfinite(y[i]));
            err += (y[i] - x[i]) * (y[i] - x[i]);
            ref += x[i] * x[i];
        }
        EXPECT_LT(std::sqrt(err / ref), 0.4) << type_name(t);
    }
}

}  // namespace
}  // namespace qlm
