// The CUDA kernels' block decoders (quant/kernels/cuda/block_decode.h) compiled for the host:
// every element of random, extreme and raw-byte blocks decodes to exactly the scalar
// dequantize_row's value (a one-hot activation picks it out of the parts' dot products), and the
// parts' dot products of a whole row agree with the reference dot within the f32 rounding bound.
// The kernels around them (launches, the warp sum) need a GPU: tests/cuda.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "common/block_cases.h"
#include "quant/formats.h"
#include "quant/kernels/cuda/block_decode.h"

namespace qlm {
namespace {

using test::BlockCase;

// The value decoder of a format: element k of a row.
template <class D>
float decode_block_format(const uint8_t* row, int64_t k, std::vector<float>& onehot) {
    const int64_t b = k / D::kBlock;
    std::fill(onehot.begin(), onehot.end(), 0.f);
    onehot[static_cast<size_t>(k % D::kBlock)] = 1.f;
    float s = 0.f;
    for (int p = 0; p < D::kParts; ++p) s += D::dot_part(row + b * D::kBytes, p, onehot.data());
    return s;
}

template <class D>
float dot_block_format(const uint8_t* row, int64_t cols, const float* x) {
    float s = 0.f;
    for (int64_t b = 0; b < cols / D::kBlock; ++b)
        for (int p = 0; p < D::kParts; ++p) s += D::dot_part(row + b * D::kBytes, p, x + b * D::kBlock);
    return s;
}

struct Decoder {
    float (*value)(const uint8_t* row, int64_t k, std::vector<float>& scratch);
    float (*dot)(const uint8_t* row, int64_t cols, const float* x);
    int depth_per_block;  // sequential roundings a block adds to a sum (the bound's length)
};

template <class D>
Decoder block_decoder() {
    return {&decode_block_format<D>, &dot_block_format<D>, D::kParts * (D::kBlock / D::kParts)};
}

template <class D>
Decoder value_decoder() {
    return {[](const uint8_t* row, int64_t k, std::vector<float>&) { return D::load(row, k); },
            [](const uint8_t* row, int64_t cols, const float* x) {
                float s = 0.f;
                for (int64_t k = 0; k < cols; ++k) s = cuda::fma_rn(D::load(row, k), x[k], s);
                return s;
            },
            1};
}

Decoder decoder(GgmlType t) {
    using enum GgmlType;
    switch (t) {
        case F32: return value_decoder<cuda::DevF32>();
        case F16: return value_decoder<cuda::DevF16>();
        case BF16: return value_decoder<cuda::DevBF16>();
        case Q8_0: return block_decoder<cuda::DevQ8_0>();
        case Q4_0: return block_decoder<cuda::DevQ4_0>();
        case Q4_K: return block_decoder<cuda::DevQ4_K>();
        case Q5_K: return block_decoder<cuda::DevQ5_K>();
        case Q6_K: return block_decoder<cuda::DevQ6_K>();
        default: ADD_FAILURE() << "no CUDA decoder"; return {};
    }
}

TEST(CudaBlockDecode, BlockBytesAreTheFormatsBytes) {
    EXPECT_EQ(format_ops(GgmlType::Q4_0).block_bytes, size_t{cuda::DevQ4_0::kBytes});
    EXPECT_EQ(format_ops(GgmlType::Q8_0).block_bytes, size_t{cuda::DevQ8_0::kBytes});
    EXPECT_EQ(format_ops(GgmlType::Q4_K).block_bytes, size_t{cuda::DevQ4_K::kBytes});
    EXPECT_EQ(format_ops(GgmlType::Q5_K).block_bytes, size_t{cuda::DevQ5_K::kBytes});
    EXPECT_EQ(format_ops(GgmlType::Q6_K).block_bytes, size_t{cuda::DevQ6_K::kBytes});
}

TEST(CudaBlockDecode, EveryElementIsTheReferenceValue) {
    std::mt19937 rng(16);
    for (GgmlType t : test::cuda_matvec_types()) {
        const FormatOps& f = format_ops(t);
        const Decoder d = decoder(t);
        const int64_t cols = f.block_size * 7;  // every extreme pattern, and more
        for (BlockCase c : {BlockCase::Random, BlockCase::Extreme, BlockCase::RawBytes}) {
            SCOPED_TRACE(std::string(type_name(t)) + " " + test::block_case_name(c));
            const std::vector<uint8_t> row = test::make_rows(t, 1, cols, c, rng);
            std::vector<float> ref(static_cast<size_t>(cols)), onehot(static_cast<size_t>(f.block_size));
            f.dequantize_row(row.data(), ref.data(), cols);
            int64_t wrong = 0;
            for (int64_t k = 0; k < cols; ++k) {
                const float v = d.value(row.data(), k, onehot);
                if (!(v == ref[static_cast<size_t>(k)]) && wrong++ < 5)
                    ADD_FAILURE() << "element " << k << ": " << v << " vs " << ref[static_cast<size_t>(k)];
            }
            EXPECT_EQ(wrong, 0);
        }
    }
}

TEST(CudaBlockDecode, RowDotsAgreeWithTheReferenceWithinTheRoundingBound) {
    std::mt19937 rng(61);
    for (GgmlType t : test::cuda_matvec_types()) {
        const FormatOps& f = format_ops(t);
        const Decoder d = decoder(t);
        for (int64_t nb : {1, 3, 33}) {
            const int64_t cols = f.block_size * nb + (f.block_size == 1 ? 5 : 0);  // odd lengths for F32/F16/BF16
            for (BlockCase c : {BlockCase::Random, BlockCase::Extreme, BlockCase::RawBytes}) {
                SCOPED_TRACE(std::string(type_name(t)) + " cols " + std::to_string(cols) + " " + test::block_case_name(c));
                const std::vector<uint8_t> row = test::make_rows(t, 1, cols, c, rng);
                const std::vector<float> x = test::make_activations(cols, rng);
                std::vector<float> w(static_cast<size_t>(cols));
                f.dequantize_row(row.data(), w.data(), cols);
                double ref = 0, mag = 0;
                for (int64_t k = 0; k < cols; ++k) {
                    ref += static_cast<double>(w[static_cast<size_t>(k)]) * x[static_cast<size_t>(k)];
                    mag += std::fabs(static_cast<double>(w[static_cast<size_t>(k)]) * x[static_cast<size_t>(k)]);
                }
                const double depth = static_cast<double>(cols / f.block_size * d.depth_per_block + 2);
                EXPECT_LE(std::fabs(d.dot(row.data(), cols, x.data()) - ref), depth * 0x1p-24 * mag + 1e-30);
            }
        }
    }
}

}  // namespace
}  // namespace qlm
