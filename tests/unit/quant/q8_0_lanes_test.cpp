// The AVX-512 Q8_0 batch with 16 rows in the lanes (gemm_q8_0_lanes) against the scalar reference
// dot, bit for bit: random blocks and scales, extreme codes (−128, 127, all zero), extreme scales
// (f16 max, subnormal, zero, negative), activations at ±127 and with outliers; 1..8 tokens; block counts
// around its chunk of 32 blocks; row counts with a tail it must leave alone (it returns the rows
// done); padded and odd strides. And through gemm_batch_q8_0, which uses it from
// kQ8_0LanesMinTokens tokens on, the same bits for every row.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "quant/format_q8_0.h"
#include "quant/formats.h"
#include "quant/fp16.h"
#include "quant/kernel_set.h"
#include "quant/kernels/kernels.h"

namespace qlm {
namespace {

enum class Kind { Random, Max, Min, Zero, WildScales };

// Activation codes stay in [−127, 127], as quantize_activation writes them (the dots may take
// their sign); weight codes take every byte.
void fill_block(uint8_t* p, Kind kind, bool act, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-0.05f, 0.05f);
    float d = u(rng);
    const uint16_t wild[] = {0x7BFF, 0xFBFF, 0x0001, 0x8001, 0x0000, 0x3C00, 0x0400};
    uint16_t h = fp32_to_fp16(d);
    if (kind == Kind::WildScales) h = wild[rng() % 7];
    if (kind == Kind::Max || kind == Kind::Min) h = 0x3C00;
    std::memcpy(p, &h, 2);
    for (int i = 0; i < 32; ++i) {
        int8_t c = static_cast<int8_t>(rng());
        if (kind == Kind::Max) c = 127;
        if (kind == Kind::Min) c = -128;
        if (kind == Kind::Zero) c = 0;
        if (act && c == -128) c = -127;
        p[2 + i] = static_cast<uint8_t>(c);
    }
}

struct Case {
    std::vector<uint8_t> w, a;
    uint64_t ws, as;
};

// rows x nb weight blocks at odd addresses with padded strides; 8 activation rows.
Case make_case(int64_t rows, int64_t nb, Kind wk, Kind ak, std::mt19937& rng) {
    Case c;
    c.ws = 34 * static_cast<uint64_t>(nb) + 3;
    c.as = 34 * static_cast<uint64_t>(nb) + 5;
    c.w.assign(c.ws * static_cast<uint64_t>(rows) + 1, 0xA5);
    c.a.assign(c.as * 8 + 1, 0x5A);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t b = 0; b < nb; ++b) fill_block(c.w.data() + 1 + c.ws * static_cast<uint64_t>(r) + 34 * b, wk, false, rng);
    for (int64_t t = 0; t < 8; ++t)
        for (int64_t b = 0; b < nb; ++b) {
            uint8_t* p = c.a.data() + 1 + c.as * static_cast<uint64_t>(t) + 34 * b;
            fill_block(p, ak, true, rng);
            if (ak == Kind::Random && rng() % 5 == 0) p[2 + rng() % 32] = rng() % 2 ? 0x81 : 0x7F;  // an outlier, ±127
        }
    return c;
}

class Q8_0Lanes : public ::testing::Test {
protected:
    void SetUp() override {
        if (!cpu_supports(Isa::Avx512)) GTEST_SKIP() << "this CPU has no avx512";
    }
};

void check(const Case& c, int64_t rows, int64_t nb, int64_t nt, bool direct) {
    const FormatOps& f = format_ops(GgmlType::Q8_0);
    const int64_t n = 32 * nb, ys = rows + 3;
    constexpr float kSentinel = -777.f;
    std::vector<float> y(static_cast<size_t>(ys * 9), kSentinel);
    const uint8_t* w = c.w.data() + 1;
    const uint8_t* a = c.a.data() + 1;
    int64_t done = rows;
    if (direct) {
        done = kernels::avx512::gemm_q8_0_lanes(n, rows, w, c.ws, a, c.as, nt, y.data(), ys);
        ASSERT_EQ(done, rows / 16 * 16);
    } else {
        kernels::avx512::gemm_batch_q8_0(n, rows, w, c.ws, a, c.as, nt, y.data(), ys);
    }
    for (int64_t t = 0; t < 9; ++t)
        for (int64_t r = 0; r < ys; ++r) {
            const float got = y[static_cast<size_t>(t * ys + r)];
            if (t >= nt || r >= done) {
                ASSERT_EQ(got, kSentinel) << "wrote outside: t=" << t << " r=" << r << " rows=" << rows << " nt=" << nt;
                continue;
            }
            const float ref = f.vec_dot_scalar(n, w + c.ws * static_cast<uint64_t>(r), a + c.as * static_cast<uint64_t>(t));
            const float dot = kernels::avx512::dot_q8_0(n, w + c.ws * static_cast<uint64_t>(r), a + c.as * static_cast<uint64_t>(t));
            ASSERT_EQ(std::memcmp(&ref, &dot, 4), 0) << "the dot itself differs from the reference";
            ASSERT_EQ(std::memcmp(&got, &ref, 4), 0) << "blocks=" << nb << " rows=" << rows << " nt=" << nt << " r=" << r
                                                     << " t=" << t << " got " << got << " want " << ref
                                                     << (direct ? " (lanes)" : " (batch)");
        }
}

TEST_F(Q8_0Lanes, RandomBlocksGiveTheDotsBits) {
    std::mt19937 rng(99);
    for (int64_t nb : {1, 2, 5, 18, 31, 32, 33, 64, 65})
        for (int64_t rows : {16, 17, 31, 32, 48, 63}) {
            const Case c = make_case(rows, nb, Kind::Random, Kind::Random, rng);
            for (int64_t nt = 1; nt <= 8; ++nt) {
                check(c, rows, nb, nt, true);
                check(c, rows, nb, nt, false);
            }
        }
}

TEST_F(Q8_0Lanes, ExtremeCodesAndScales) {
    std::mt19937 rng(5);
    const Kind kinds[] = {Kind::Max, Kind::Min, Kind::Zero, Kind::WildScales, Kind::Random};
    for (Kind wk : kinds)
        for (Kind ak : kinds) {
            const Case c = make_case(33, 3, wk, ak, rng);
            for (int64_t nt : {1, 3, 4, 7, 8}) {
                check(c, 33, 3, nt, true);
                check(c, 33, 3, nt, false);
            }
        }
}

TEST_F(Q8_0Lanes, FewerThanSixteenRowsAreLeftToTheCaller) {
    std::mt19937 rng(8);
    for (int64_t rows : {1, 7, 15}) {
        const Case c = make_case(rows, 2, Kind::Random, Kind::Random, rng);
        check(c, rows, 2, 8, true);
        check(c, rows, 2, 8, false);
    }
}

}  // namespace
}  // namespace qlm
