// Several sequences' decode steps in one call (attention_decode_team, attention_runs) give each
// sequence the bits attention_team gives it alone: sequences forked from one prompt share its
// blocks (a prefix of several blocks, its partial last block copied on write), diverge into tails
// of different lengths, one holds a text of its own; contexts below one KV split, across it, and
// across the second split boundary for some sequences only; sliding windows; f32, f16 and q8_0
// caches; both kernels; more sequences than one call takes. The kernels are the active set's (the
// isa tests run this file again with QLM_ISA=scalar and avx2).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "quant/thread_pool.h"
#include "src/model/attention.h"
#include "src/model/attention_decode.h"
#include "src/model/kv_cache.h"
#include "src/model/model.h"

namespace qlm {
namespace {

struct Shape {
    int64_t n_head, n_head_kv, head_dim;
    int64_t prefix;              // positions of the shared prompt
    std::vector<int64_t> tails;  // per sequence: positions after the prompt (the last is its token)
    int64_t window = 0;          // every layer's sliding window (0: none)
    bool own_text = true;        // the last sequence holds a text of its own, sharing nothing
};

constexpr int64_t kBatch = 64, kLayer = 1;

Hparams hparams(const Shape& c) {
    Hparams hp;
    hp.n_layer = 2;
    hp.n_head = c.n_head;
    hp.n_head_kv = c.n_head_kv;
    hp.head_dim = c.head_dim;
    hp.n_swa = c.window;
    hp.swa_period = 0;
    return hp;
}

std::vector<float> randn(int64_t n, std::mt19937& rng, float sd) {
    std::normal_distribution<float> d(0.f, sd);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = d(rng);
    return v;
}

// Appends n random positions to sequence s, at most kBatch at a time (as a forward pass does).
void append(KvCache& kv, const Hparams& hp, int32_t s, int64_t n, std::mt19937& rng) {
    const int64_t row = hp.n_head_kv * hp.head_dim;
    for (int64_t done = 0; done < n;) {
        const int64_t m = std::min(kBatch, n - done);
        const int64_t p = kv.reserve(s, m);
        const auto k = randn(m * row, rng, 1.f), v = randn(m * row, rng, 1.f);
        for (int64_t l = 0; l < hp.n_layer; ++l) kv.store(s, l, p, m, k.data(), v.data());
        done += m;
    }
}

// The cache of a Shape: the prompt in sequence 0, forked into every other sequence, each
// extended by its tail; the last one (own_text) replaced by a text of its own of the same length.
KvCache build_cache(const Shape& c, const Hparams& hp, KvType type, std::mt19937& rng) {
    const auto n_seq = static_cast<int64_t>(c.tails.size());
    // The blocks of every sequence's own positions come from one pool sized by n_ctx.
    int64_t positions = 2 * c.prefix + 32;
    for (int64_t t : c.tails) positions += t + 16;
    KvCache kv(kv_layout(hp, positions, type, kBatch, n_seq));
    append(kv, hp, 0, c.prefix, rng);
    for (int32_t s = 1; s < n_seq; ++s) kv.seq_cp(0, s);
    for (int32_t s = 0; s < n_seq; ++s) {
        if (c.own_text && s == n_seq - 1 && n_seq > 1) {
            kv.seq_rm(s, 0);
            append(kv, hp, s, c.prefix + c.tails[static_cast<size_t>(s)], rng);
            continue;
        }
        append(kv, hp, s, c.tails[static_cast<size_t>(s)], rng);
    }
    return kv;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b, std::string* where) {
    for (size_t i = 0; i < a.size(); ++i)
        if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            *where = "element " + std::to_string(i) + ": " + std::to_string(a[i]) + " vs " + std::to_string(b[i]);
            return false;
        }
    return true;
}

// Every sequence's last token attended in one attention_runs call (one-token runs: batched in
// groups of up to kDecodeSeqs) against attention_team per sequence.
void check(const Shape& c, KvType type, AttentionKernel kernel, uint32_t seed) {
    const Hparams hp = hparams(c);
    std::mt19937 rng(seed);
    const KvCache kv = build_cache(c, hp, type, rng);
    const auto n_seq = static_cast<int64_t>(c.tails.size());
    const int64_t qd = hp.n_head * hp.head_dim;
    const auto q = randn(n_seq * qd, rng, 2.f);
    std::vector<SeqRun> runs;
    for (int32_t s = 0; s < n_seq; ++s) runs.push_back({.seq = s, .row0 = s, .n = 1, .p0 = kv.n_pos(s) - 1});
    const int threads = 3;
    AttentionScratch scratch(attention_layout(hp, type, kv.n_ctx(), kBatch, kernel, threads, n_seq));
    ThreadPool pool(threads);
    std::vector<float> together(q.size(), -1.f), alone(q.size(), -2.f);
    attention_runs(pool, hp, kv, kLayer, runs, q.data(), together.data(), scratch);
    for (const SeqRun& r : runs)
        attention_team(pool, hp, kv.view(r.seq, kLayer), kLayer, q.data() + r.row0 * qd, 1, r.p0,
                       alone.data() + r.row0 * qd, scratch);
    std::string where;
    EXPECT_TRUE(same_bits(together, alone, &where))
        << "kv " << kv_type_name(type) << (kernel == AttentionKernel::Flash ? " flash" : " exact") << ", heads "
        << c.n_head << "/" << c.n_head_kv << " head_dim " << c.head_dim << " prefix " << c.prefix << " window "
        << c.window << " sequences " << n_seq << ": " << where;
}

const Shape kShapes[] = {
    {4, 2, 32, 53, {1, 2, 9, 16, 30}},               // three shared blocks and a copied partial one
    {8, 2, 64, 600, {1, 5, 12, 40, 3, 7, 2, 19}},    // one KV split shared, the second split per sequence
    {6, 6, 32, 1020, {1, 3, 4, 9, 25}},              // some sequences cross the second split boundary
    {8, 1, 32, 100, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},  // MQA, more sequences than one call takes
    {8, 4, 8, 40, {1, 17, 2}},                       // stories260K's shape: head size 8
    {4, 1, 32, 600, {1, 20, 64, 3}, 100},            // sliding window: the first split wholly outside it
    {4, 2, 32, 37, {1, 4, 30}, 16, false},           // window inside the shared prompt
    {2, 1, 32, 16, {1, 1}},                          // the prompt fills exactly one block
};

TEST(AttentionDecode, ManySequencesGiveTheBitsOfEachAlone) {
    uint32_t seed = 1;
    for (KvType type : {KvType::F32, KvType::F16, KvType::Q8_0})
        for (AttentionKernel kernel : {AttentionKernel::Exact, AttentionKernel::Flash})
            for (const Shape& c : kShapes) {
                if (type == KvType::Q8_0 && c.head_dim % 32 != 0) continue;
                check(c, type, kernel, seed++);
            }
}

// Runs of several tokens go to attention_team between the batched one-token runs; an f16 cache
// whose head size is not whole groups of 8 (its dots add in double) is attended per sequence.
TEST(AttentionDecode, MixedRunsAndUnbatchedShapesStayExact) {
    for (AttentionKernel kernel : {AttentionKernel::Exact, AttentionKernel::Flash}) {
        const Shape c{4, 2, 12, 40, {1, 6, 1, 3}};
        const Hparams hp = hparams(c);
        std::mt19937 rng(77);
        const KvCache kv = build_cache(c, hp, KvType::F16, rng);
        const int64_t qd = hp.n_head * hp.head_dim;
        // Sequence 1's run is its last 6 positions, the others' their last token.
        std::vector<SeqRun> runs;
        int64_t row = 0;
        for (int32_t s = 0; s < 4; ++s) {
            const int64_t n = s == 1 ? 6 : 1;
            runs.push_back({.seq = s, .row0 = row, .n = n, .p0 = kv.n_pos(s) - n});
            row += n;
        }
        const auto q = randn(row * qd, rng, 2.f);
        AttentionScratch scratch(attention_layout(hp, KvType::F16, kv.n_ctx(), kBatch, kernel, 2, 4));
        ThreadPool pool(2);
        std::vector<float> together(q.size()), alone(q.size());
        attention_runs(pool, hp, kv, kLayer, runs, q.data(), together.data(), scratch);
        for (const SeqRun& r : runs)
            attention_team(pool, hp, kv.view(r.seq, kLayer), kLayer, q.data() + r.row0 * qd, r.n, r.p0,
                           alone.data() + r.row0 * qd, scratch);
        std::string where;
        EXPECT_TRUE(same_bits(together, alone, &where)) << where;
    }
}

// The decode buffers are planned only for contexts of several sequences, and their size grows
// with the sequences one call takes (up to kDecodeSeqs).
TEST(AttentionDecode, LayoutPlansDecodeBuffersForSeveralSequences) {
    const Hparams hp = hparams({8, 2, 64, 0, {}});
    const AttentionLayout one = attention_layout(hp, KvType::F16, 4096, 512, AttentionKernel::Exact, 2, 1);
    const AttentionLayout four = attention_layout(hp, KvType::F16, 4096, 512, AttentionKernel::Exact, 2, 4);
    const AttentionLayout many = attention_layout(hp, KvType::F16, 4096, 512, AttentionKernel::Exact, 2, 64);
    EXPECT_EQ(one.decode_seqs, 0);
    EXPECT_EQ(four.decode_seqs, 4);
    EXPECT_EQ(many.decode_seqs, kDecodeSeqs);
    EXPECT_EQ(four.decode_scores, 4u * 8u * 4096u);
    EXPECT_LT(one.bytes, four.bytes);
    EXPECT_LT(four.bytes, many.bytes);
    AttentionScratch scratch(four);
    EXPECT_EQ(scratch.bytes(), four.bytes);
    EXPECT_NE(scratch.decode(), nullptr);
    EXPECT_EQ(AttentionScratch(one).decode(), nullptr);
}

}  // namespace
}  // namespace qlm
