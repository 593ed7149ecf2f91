// The tiled attention kernels (exact and online-softmax) against the direct reference (all
// scores, softmax, weighted sum in double), for every KV cache type, GQA ratios, chunk shapes and
// context lengths that cross the tile (64) and decode-split (512) boundaries. The kernels run as
// the forward pass runs them: attention_team on a thread pool, on a scratch sized by
// attention_layout for the call, reading a sequence's K and V through its block table (a paged
// cache of 16-position blocks). Sliding-window cases keep only the blocks of their last
// window − 1 + n positions, filled chunk by chunk as a forward pass fills them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "quant/formats.h"
#include "quant/thread_pool.h"
#include "src/model/attention.h"
#include "src/model/kv_cache.h"
#include "src/model/model.h"

namespace qlm {
namespace {

struct Case {
    int64_t n_head, n_head_kv, head_dim, p0, n;
    int64_t window = 0;  // sliding window of every layer (0: none)
};

Hparams shape(const Case& c) {
    Hparams hp;
    hp.n_layer = 2;
    hp.n_head = c.n_head;
    hp.n_head_kv = c.n_head_kv;
    hp.head_dim = c.head_dim;
    hp.n_swa = c.window;
    hp.swa_period = 0;  // every layer slides
    return hp;
}

std::vector<float> randn(size_t n, std::mt19937& rng, float sd) {
    std::normal_distribution<float> d(0.f, sd);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
}

// A cache of `total` positions for chunks of up to n_batch tokens (0: all at once) whose layer
// `layer` holds k and v, stored a chunk at a time.
KvCache filled_cache(const Hparams& hp, int64_t total, KvType type, int64_t layer, const std::vector<float>& k,
                     const std::vector<float>& v, int64_t n_batch = 0) {
    KvCache kv(kv_layout(hp, total, type, n_batch));
    const int64_t row = hp.n_head_kv * hp.head_dim, chunk = n_batch > 0 ? n_batch : total;
    for (int64_t p = 0; p < total; p += chunk) {
        const int64_t m = std::min(chunk, total - p);
        EXPECT_EQ(kv.reserve(0, m), p);
        kv.store(0, layer, p, m, k.data() + p * row, v.data() + p * row);
    }
    return kv;
}

// attention_team on a pool of `threads`, with a scratch planned for exactly this call.
void attention(const Hparams& hp, const KvCache& kv, int64_t layer, const float* q, int64_t n, int64_t p0, float* out,
               AttentionKernel kernel, int threads = 3) {
    AttentionScratch scratch(attention_layout(hp, kv.type(), kv.n_ctx(), n, kernel, threads));
    ThreadPool pool(threads);
    attention_team(pool, hp, kv.view(0, layer), layer, q, n, p0, out, scratch);
}

double rms(const std::vector<float>& v) {
    double s = 0;
    for (float x : v) s += double{x} * x;
    return std::sqrt(s / static_cast<double>(v.size()));
}

// Fills layer 1 of a cache with p0 + n random positions, runs both kernels for the last n tokens
// and returns max |tiled - reference| / rms(reference).
double relative_error(const Case& c, KvType type, uint32_t seed, AttentionKernel kernel) {
    const Hparams hp = shape(c);
    std::mt19937 rng(seed);
    const int64_t total = c.p0 + c.n, kvd = c.n_head_kv * c.head_dim, qd = c.n_head * c.head_dim;
    // Scores of a few units, so softmax is neither flat nor one-hot.
    const auto k = randn(static_cast<size_t>(total * kvd), rng, 1.0f);
    const auto v = randn(static_cast<size_t>(total * kvd), rng, 1.0f);
    const KvCache kv = filled_cache(hp, total, type, 1, k, v, c.window > 0 ? c.n : 0);
    if (c.window > 0) {  // blocks enough for any window − 1 + n positions, never more than the context's
        const int64_t w = std::min(total, c.window - 1 + c.n), bs = kKvBlockSize;
        EXPECT_EQ(kv.layout().cells(1), std::min((total + bs - 1) / bs, (w - 1 + bs - 1) / bs + 1) * bs);
    }
    const auto q = randn(static_cast<size_t>(c.n * qd), rng, 2.0f);
    std::vector<float> got(q.size()), want(q.size());
    attention(hp, kv, 1, q.data(), c.n, c.p0, got.data(), kernel);
    // The kernel dots queries converted to the cache's dot type (f16, q8_0): give the reference
    // the same rounded queries, so only the tiling and the online softmax are compared.
    const FormatOps& qf = format_ops(kv.format().vec_dot_type);
    std::vector<uint8_t> qc(format_row_bytes(qf, c.head_dim));
    std::vector<float> q_rounded(q.size());
    for (int64_t r = 0; r < c.n * c.n_head; ++r) {
        qf.quantize_activation(q.data() + r * c.head_dim, qc.data(), c.head_dim);
        qf.dequantize_row(qc.data(), q_rounded.data() + r * c.head_dim, c.head_dim);
    }
    attention_reference(hp, kv.view(0, 1), 1, q_rounded.data(), c.n, c.p0, want.data());
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_TRUE(std::isfinite(got[i])) << i;
        worst = std::max(worst, std::abs(double{got[i]} - want[i]));
    }
    return worst / rms(want);
}

const Case kCases[] = {
    {1, 1, 32, 0, 1},      // first token: softmax of one position
    {4, 4, 32, 0, 13},     // prompt, multi-head, partial last query tile
    {8, 2, 64, 70, 9},     // GQA 4:1, context crossing a KV tile
    {6, 1, 32, 3, 17},     // MQA, three query tiles
    {4, 2, 32, 600, 1},    // decode split in two (512 + 89)
    {2, 2, 64, 1100, 3},   // decode, three splits, several tokens
    {3, 3, 32, 511, 1},    // exactly one split of 512
    {2, 1, 32, 1024, 8},   // eight tokens: no split, long context
    {8, 4, 8, 0, 5},       // stories260K's shape: head size 8
    {8, 4, 8, 5, 1},
    {1, 1, 32, 9, 1, 1},       // window 1: a token sees itself only
    {6, 1, 32, 3, 17, 5},      // window shorter than a query tile
    {8, 2, 64, 70, 9, 16},     // GQA, prompt chunk crossing the window's start
    {4, 1, 32, 600, 1, 100},   // decode: the first split wholly before the window
    {2, 2, 64, 1100, 3, 600},  // decode, three splits, the window over the last two
};

// The exact kernel rounds softmax probabilities to f16 with an f16 cache (llama.cpp's numerics):
// about 2^-12 relative per weight. Otherwise both kernels equal the reference to f32 rounding.
double tolerance(KvType type, AttentionKernel kernel) {
    return type == KvType::F16 && kernel == AttentionKernel::Exact ? 2e-3 : 2e-5;
}

class AttentionKernels : public ::testing::TestWithParam<std::tuple<KvType, AttentionKernel>> {};

TEST_P(AttentionKernels, MatchReference) {
    const auto [type, kernel] = GetParam();
    uint32_t seed = 1 + 100 * static_cast<uint32_t>(type);
    for (const Case& c : kCases) {
        if (type == KvType::Q8_0 && c.head_dim % 32 != 0) continue;
        EXPECT_LT(relative_error(c, type, seed++, kernel), tolerance(type, kernel))
            << "heads " << c.n_head << "/" << c.n_head_kv << " head_dim " << c.head_dim << " p0 " << c.p0 << " n " << c.n
            << " window " << c.window;
    }
}

INSTANTIATE_TEST_SUITE_P(CacheTypes, AttentionKernels,
                         ::testing::Combine(::testing::Values(KvType::F32, KvType::F16, KvType::Q8_0),
                                            ::testing::Values(AttentionKernel::Exact, AttentionKernel::Flash)));

// Items run on whichever thread of the pool takes them, each with its own scratch: the result is
// the same bits for the calling thread alone and pools of 2, 3 and 7 threads, for a decode step
// with the context split in two and a prompt chunk, f16 and q8_0 caches (q8_0 dequantizes V into
// the item's scratch), both kernels.
TEST(Attention, SameBitsForAnyThreadCount) {
    for (const Case& c : {Case{4, 2, 32, 700, 2}, Case{4, 2, 32, 5, 37}})
        for (KvType type : {KvType::F16, KvType::Q8_0}) {
            const Hparams hp = shape(c);
            std::mt19937 rng(7);
            const auto k = randn(static_cast<size_t>((c.p0 + c.n) * 64), rng, 1.f);
            const auto v = randn(k.size(), rng, 1.f);
            const KvCache kv = filled_cache(hp, c.p0 + c.n, type, 0, k, v);
            const auto q = randn(static_cast<size_t>(c.n * 128), rng, 2.f);
            std::vector<float> one(q.size()), many(q.size());
            for (AttentionKernel kernel : {AttentionKernel::Exact, AttentionKernel::Flash}) {
                attention(hp, kv, 0, q.data(), c.n, c.p0, one.data(), kernel, 1);
                for (int threads : {2, 3, 7}) {
                    std::fill(many.begin(), many.end(), -1.f);
                    attention(hp, kv, 0, q.data(), c.n, c.p0, many.data(), kernel, threads);
                    for (size_t i = 0; i < one.size(); ++i)
                        ASSERT_EQ(one[i], many[i]) << i << ", threads " << threads << ", p0 " << c.p0 << ", n " << c.n;
                }
            }
        }
}

TEST(Attention, Q8_0CacheIsAboutHalfOfF16) {
    Hparams hp = shape({8, 4, 64, 0, 1});
    const uint64_t f16 = kv_layout(hp, 1000, KvType::F16).bytes, q8 = kv_layout(hp, 1000, KvType::Q8_0).bytes;
    EXPECT_EQ(q8 * 64, f16 * 34);
    EXPECT_EQ(kv_type_from_name("q8_0"), KvType::Q8_0);
    EXPECT_EQ(kv_type_name(KvType::F16), "f16");
    EXPECT_FALSE(kv_type_from_name("q4_0").has_value());
}

}  // namespace
}  // namespace qlm
