// Non-finite inputs (NaN/inf weights in a corrupt model reach the activations) must not be
// undefined behaviour in the int8 quantizers: NaN codes become 0, finite codes are unchanged.
// (Found by tests/fuzz/fuzz_gguf: a model with NaN weights made Q8_0 activation quantization
// cast NaN to int8; the asan preset's UBSan turns a regression into a test failure.)
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "quant/formats.h"
#include "quant/int8_code.h"

namespace qlm {
namespace {

TEST(Int8Code, NanIsZeroAndOutOfRangeSaturates) {
    EXPECT_EQ(int8_code(std::numeric_limits<float>::quiet_NaN()), 0);
    EXPECT_EQ(int8_code(-std::numeric_limits<float>::quiet_NaN()), 0);
    EXPECT_EQ(int8_code(std::numeric_limits<float>::infinity()), 127);
    EXPECT_EQ(int8_code(-std::numeric_limits<float>::infinity()), -128);
    EXPECT_EQ(int8_code(1e9f), 127);
    EXPECT_EQ(int8_code(-127.f), -127);
    EXPECT_EQ(int8_code(5.f), 5);
}

// Q8_0 and Q8_1 rows (weights and activations) with NaN, +inf and -inf among finite values.
TEST(Int8Code, Q8QuantizersAcceptNonFiniteValues) {
    for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q8_1}) {
        const FormatOps* f = find_format(t);
        if (!f) continue;  // Q8_1 is an activation-only type; it may have no table entry
        std::vector<float> x(64);
        for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) / 8.0f - 4.0f;
        x[3] = std::numeric_limits<float>::quiet_NaN();
        x[40] = std::numeric_limits<float>::infinity();
        x[41] = -std::numeric_limits<float>::infinity();
        std::vector<uint8_t> out(format_row_bytes(*f, 64));
        std::vector<float> back(64);
        for (QuantizeRowFn q : {f->quantize_row, f->quantize_activation}) {
            if (!q) continue;
            q(x.data(), out.data(), 64);
            f->dequantize_row(out.data(), back.data(), 64);
            // The first block (NaN only) keeps its finite values close; NaN itself is code 0.
            EXPECT_EQ(back[3], 0.0f) << type_name(t);
            EXPECT_NEAR(back[0], -4.0f, 0.05f) << type_name(t);
            EXPECT_NEAR(back[31], -0.125f, 0.05f) << type_name(t);
        }
    }
}

}  // namespace
}  // namespace qlm
