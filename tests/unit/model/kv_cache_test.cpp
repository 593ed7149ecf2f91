// The paged KV cache: the block pool (reference counts, free list, exhaustion), the block tables
// of several sequences (reserve, store, view), sharing with seq_cp and copy-on-write, seq_rm, and
// the sliding-window layers' bounded share of blocks.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "src/model/kv_blocks.h"
#include "src/model/kv_cache.h"
#include "src/util/error.h"

namespace qlm {
namespace {

std::string error_of(auto&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(BlockPool, CountsReferencesAndRecyclesBlocks) {
    BlockPool pool(3);
    EXPECT_EQ(pool.n_free(), 3);
    const int32_t a = pool.allocate(), b = pool.allocate();
    EXPECT_EQ(a, 0);
    EXPECT_EQ(b, 1);
    EXPECT_EQ(pool.refs(a), 1);
    EXPECT_FALSE(pool.shared(a));
    pool.retain(a);
    EXPECT_TRUE(pool.shared(a));
    pool.release(a);
    EXPECT_EQ(pool.refs(a), 1);
    EXPECT_EQ(pool.n_free(), 1);
    pool.release(a);
    EXPECT_EQ(pool.n_free(), 2);
    EXPECT_EQ(pool.allocate(), a);  // the block released last is handed out first
    EXPECT_EQ(pool.allocate(), 2);
    const std::string err = error_of([&] { pool.allocate(); });
    EXPECT_NE(err.find("all 3 blocks are in use"), std::string::npos) << err;
    pool.reset();
    EXPECT_EQ(pool.n_free(), 3);
}

Hparams tiny(int64_t n_layer = 2) {
    Hparams hp;
    hp.n_layer = n_layer;
    hp.n_head_kv = 1;
    hp.head_dim = 4;
    return hp;
}

// n rows of 4 floats, row i all equal to base + i.
std::vector<float> rows(int64_t n, float base) {
    std::vector<float> r(static_cast<size_t>(n * 4));
    for (size_t i = 0; i < r.size(); ++i) r[i] = base + static_cast<float>(i / 4);
    return r;
}

// Appends n positions to sequence seq in every layer, position p holding base + p − p0.
void append(KvCache& kv, int32_t seq, int64_t n, float base) {
    const int64_t p0 = kv.reserve(seq, n);
    const std::vector<float> r = rows(n, base);
    for (int64_t l = 0; l < kv.layout().n_layer; ++l) kv.store(seq, l, p0, n, r.data(), r.data());
}

float k_at(const KvCache& kv, int32_t seq, int64_t layer, int64_t pos) {
    return static_cast<const float*>(kv.view(seq, layer).k_head(pos, 0))[0];
}

TEST(KvCache, StoresThroughTheBlockTable) {
    KvCache kv(kv_layout(tiny(), 64, KvType::F16, 0, 1, 8));
    EXPECT_EQ(kv.n_blocks(), 8);
    const float k[8] = {1.f, 2.f, 0.1f, -3.f, 5.f, 6.f, 7.f, 8.f};
    EXPECT_EQ(kv.reserve(0, 2), 0);
    kv.store(0, 1, 0, 2, k, k);
    const auto* k1 = static_cast<const uint16_t*>(kv.view(0, 1).k_head(0, 0));
    EXPECT_EQ(k1[2], 0x2E66);  // f16(0.1)
    EXPECT_EQ(k1[3], 0xC200);  // −3
    EXPECT_EQ(static_cast<const uint16_t*>(kv.view(0, 1).v_head(1, 0))[1], 0x4600);  // 6
    EXPECT_EQ(kv.free_blocks(), 7);
    EXPECT_EQ(kv.reserve(0, 15), 2);  // positions 2..16: two more blocks
    EXPECT_EQ(kv.free_blocks(), 5);
    EXPECT_EQ(kv.n_pos(0), 17);
}

TEST(KvCache, ForkSharesBlocksAndCopiesOnWrite) {
    KvCache kv(kv_layout(tiny(), 64, KvType::F32, 0, 3, 8));
    append(kv, 0, 12, 100.f);  // blocks 0 (full) and 1 (4 of 8)
    kv.seq_cp(0, 1);
    kv.seq_cp(0, 2, 8);        // the first block only
    EXPECT_EQ(kv.free_blocks(), 6);  // nothing copied
    EXPECT_EQ(kv.block_refs(0, 0), 3);
    EXPECT_EQ(kv.block_refs(0, 11), 2);
    EXPECT_EQ(kv.n_pos(1), 12);
    EXPECT_EQ(kv.n_pos(2), 8);
    EXPECT_EQ(kv.blocks_needed(1, 1), 1);  // its last block is shared: a copy first
    append(kv, 1, 2, 500.f);   // copy-on-write of the half-filled block
    EXPECT_EQ(kv.free_blocks(), 5);
    EXPECT_EQ(kv.block_refs(0, 11), 1);
    EXPECT_EQ(kv.block_refs(1, 11), 1);
    for (int64_t l = 0; l < 2; ++l) {
        EXPECT_EQ(k_at(kv, 0, l, 11), 111.f);  // the copy kept the shared positions
        EXPECT_EQ(k_at(kv, 1, l, 11), 111.f);
        EXPECT_EQ(k_at(kv, 1, l, 12), 500.f);
        EXPECT_EQ(k_at(kv, 1, l, 13), 501.f);
    }
    EXPECT_EQ(kv.blocks_needed(0, 1), 0);  // the original is the block's only owner now
    append(kv, 0, 1, 900.f);
    EXPECT_EQ(k_at(kv, 0, 0, 12), 900.f);
    EXPECT_EQ(k_at(kv, 1, 0, 12), 500.f);  // the fork's own copy is untouched
    append(kv, 2, 3, 700.f);   // sequence 2 starts a new block: no copy
    EXPECT_EQ(kv.block_refs(2, 0), 3);
    EXPECT_EQ(k_at(kv, 2, 1, 8), 700.f);
    EXPECT_EQ(k_at(kv, 0, 1, 8), 108.f);
}

// A device keeping some layers' blocks repeats the copies reserve makes: with logging on, each
// copy-on-write is recorded (pool, from, to) in order, and the table names the block written.
TEST(KvCache, LogsItsCopiesOnWriteForADevice) {
    KvCache kv(kv_layout(tiny(), 64, KvType::F32, 0, 2, 8));
    append(kv, 0, 12, 100.f);
    kv.seq_cp(0, 1);
    append(kv, 1, 1, 500.f);  // a copy, but no log yet
    EXPECT_TRUE(kv.block_copies().empty());
    kv.log_block_copies(true);
    kv.seq_cp(0, 1);
    const int32_t shared = kv.table(1, false)[1];
    append(kv, 1, 1, 600.f);
    ASSERT_EQ(kv.block_copies().size(), 1u);
    const KvBlockCopy c = kv.block_copies()[0];
    EXPECT_FALSE(c.sliding);
    EXPECT_EQ(c.from, shared);
    EXPECT_EQ(c.to, kv.table(1, false)[1]);
    EXPECT_NE(c.to, c.from);
    EXPECT_EQ(kv.table(0, false)[1], shared);  // the original keeps its block
    append(kv, 1, 1, 700.f);                   // its own block now: nothing copied
    EXPECT_EQ(kv.block_copies().size(), 1u);
    kv.clear_block_copies();
    EXPECT_TRUE(kv.block_copies().empty());
    EXPECT_THROW((void)kv.table(2, false), Error);
}

TEST(KvCache, SeqRmForgetsTheTailAndFreesItsBlocks) {
    KvCache kv(kv_layout(tiny(), 64, KvType::F32, 0, 2, 8));
    append(kv, 0, 20, 0.f);  // 3 blocks
    kv.seq_cp(0, 1);
    kv.seq_rm(1, 9);  // keeps blocks 0 and 1 (shared), drops its reference to block 2
    EXPECT_EQ(kv.n_pos(1), 9);
    EXPECT_EQ(kv.block_refs(0, 16), 1);
    EXPECT_EQ(kv.block_refs(0, 8), 2);
    EXPECT_EQ(kv.free_blocks(), 5);
    kv.seq_rm(0, 0);
    EXPECT_EQ(kv.n_pos(0), 0);
    EXPECT_EQ(kv.free_blocks(), 6);  // sequence 1 still holds two blocks
    EXPECT_EQ(k_at(kv, 1, 0, 8), 8.f);
    kv.seq_rm(1, 30);  // past the end: nothing to do
    EXPECT_EQ(kv.n_pos(1), 9);
    const std::string mid = error_of([&] { kv.seq_rm(1, 2, 4); });
    EXPECT_NE(mid.find("only a sequence's tail"), std::string::npos) << mid;
    EXPECT_EQ(kv.n_pos(1), 9);
    kv.seq_rm(1, 4, 9);  // a range that reaches the end is a tail
    EXPECT_EQ(kv.n_pos(1), 4);
    kv.clear();
    EXPECT_EQ(kv.free_blocks(), 8);
}

TEST(KvCache, RefusesWhatItCannotHold) {
    KvCache kv(kv_layout(tiny(), 32, KvType::F32, 0, 2, 8));  // 4 blocks shared by 2 sequences
    append(kv, 0, 20, 0.f);
    const std::string full = error_of([&] { kv.reserve(1, 16); });
    EXPECT_NE(full.find("only 1 of 4 are free"), std::string::npos) << full;
    EXPECT_EQ(kv.n_pos(1), 0);        // nothing changed
    EXPECT_EQ(kv.free_blocks(), 1);
    const std::string ctx = error_of([&] { kv.reserve(0, 13); });
    EXPECT_NE(ctx.find("the context is full"), std::string::npos) << ctx;
    const std::string id = error_of([&] { kv.reserve(2, 1); });
    EXPECT_NE(id.find("sequence id 2 is out of range"), std::string::npos) << id;
    EXPECT_THROW(kv.seq_cp(0, 1, 21), Error);
    EXPECT_THROW(kv.seq_cp(-1, 1), Error);
}

// A sliding layer keeps a bounded share of blocks per sequence and drops its oldest; cutting a
// sequence back to where that layer no longer holds the window forgets the whole sequence.
TEST(KvCache, SlidingLayersKeepABoundedWindow) {
    Hparams hp = tiny();
    hp.n_swa = 4;
    hp.swa_period = 2;  // layer 0 slides, layer 1 sees everything
    const KvLayout l = kv_layout(hp, 96, KvType::F32, 3, 2, 8);
    EXPECT_TRUE(l.slides(0));
    EXPECT_FALSE(l.slides(1));
    EXPECT_EQ(l.swa_seq_blocks, 2);  // any 4 − 1 + 3 = 6 positions touch at most 2 blocks of 8
    EXPECT_EQ(l.cells(0), 16);
    EXPECT_EQ(l.cells(1), 96);
    EXPECT_EQ(l.n_swa_blocks, 4);   // 2 per sequence
    EXPECT_EQ(l.bytes, 2u * (4 + 12) * 8 * 4 * sizeof(float));
    KvCache kv(l);
    for (int64_t p = 0; p < 40; p += 3) append(kv, 0, std::min<int64_t>(3, 40 - p), static_cast<float>(p));
    // Its two sliding blocks hold positions 24..39; blocks 0..2 went back to the pool.
    for (int64_t p = 24; p < 40; ++p) EXPECT_EQ(k_at(kv, 0, 0, p), static_cast<float>(p)) << p;
    EXPECT_EQ(kv.view(0, 0).k_head(23, 0), nullptr);
    EXPECT_EQ(k_at(kv, 0, 1, 3), 3.f);  // the global layer holds everything
    kv.seq_cp(0, 1);
    append(kv, 1, 3, 1000.f);  // positions 40..42 in a new block: the fork drops its reference to block 3
    EXPECT_EQ(k_at(kv, 1, 0, 41), 1001.f);
    EXPECT_EQ(kv.view(1, 0).k_head(31, 0), nullptr);
    EXPECT_EQ(k_at(kv, 0, 0, 31), 31.f);  // still held by sequence 0
    kv.seq_rm(0, 37);  // the next query, at 37, sees 34..37: held
    EXPECT_EQ(kv.n_pos(0), 37);
    kv.seq_rm(0, 27);  // 24..27: held
    EXPECT_EQ(kv.n_pos(0), 27);
    kv.seq_rm(0, 26);  // it would see 23..26, and 23 is gone
    EXPECT_EQ(kv.n_pos(0), 0);
    EXPECT_THROW(kv.seq_cp(1, 0, 30), Error);  // nor can a fork start where the window is gone
    EXPECT_THROW(kv.reserve(0, 17), Error);    // more positions at once than the window's blocks hold
    EXPECT_EQ(kv.n_pos(0), 0);
}

}  // namespace
}  // namespace qlm
