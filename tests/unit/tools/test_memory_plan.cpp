// Memory plan arithmetic: the KV-cache formula on hand-computed numbers.
#include <gtest/gtest.h>

#include "src/model/memory_plan.h"
#include "src/util/error.h"

namespace qlm {
namespace {

ModelShape qwen2_7b() {
    ModelShape s;
    s.arch = "qwen2";
    s.n_vocab = 152064; s.n_embd = 3584; s.n_ff = 18944; s.n_layer = 28;
    s.n_head = 28; s.n_head_kv = 4; s.head_dim = 128; s.n_ctx_train = 32768;
    return s;
}

TEST(MemoryPlan, KvBytesFollowTheFormula) {
    // 2 × 28 layers × 4096 positions × 4 kv heads × 128 × 2 bytes = 234,881,024 (224 MiB)
    EXPECT_EQ(kv_bytes(qwen2_7b(), 4096, KvType::F16), 234881024u);
    EXPECT_EQ(kv_bytes(qwen2_7b(), 4096, KvType::F32), 2u * 234881024u);
    // stories260K: 2 × 5 × 512 × 4 × 8 × 4 = 655,360
    ModelShape st;
    st.n_layer = 5; st.n_head_kv = 4; st.head_dim = 8;
    EXPECT_EQ(kv_bytes(st, 512, KvType::F32), 655360u);
}

TEST(MemoryPlan, ZeroContextMeansTheModelsAndTotalsAddUp) {
    MemoryPlan p = plan_memory(qwen2_7b(), 1000, {.n_ctx = 0, .n_batch = 512, .kv_type = KvType::F16});
    EXPECT_EQ(p.n_ctx, 32768);
    EXPECT_EQ(p.kv_bytes, 8u * 234881024u);
    EXPECT_EQ(p.weight_bytes, 1000u);
    // 4 × [512 × (3·3584 + 3584 + 2·512 + 2·18944) + 28·32768 + 152064·512]
    uint64_t floats = 512ull * (3 * 3584 + 3584 + 2 * 512 + 2 * 18944) + 28ull * 32768 + 152064ull * 512;
    EXPECT_EQ(p.scratch_bytes, 4 * floats);
    EXPECT_EQ(p.total_bytes, p.weight_bytes + p.kv_bytes + p.scratch_bytes);
}

TEST(MemoryPlan, BatchIsCappedAtTheContext) {
    MemoryPlan p = plan_memory(qwen2_7b(), 0, {.n_ctx = 16, .n_batch = 512, .kv_type = KvType::F16});
    EXPECT_EQ(p.n_batch, 16);
}

TEST(MemoryPlan, RejectsNegativeContextAndOverflow) {
    EXPECT_THROW(plan_memory(qwen2_7b(), 0, {.n_ctx = -1}), Error);
    EXPECT_THROW(plan_memory(qwen2_7b(), 0, {.n_ctx = 1, .n_batch = 0}), Error);
    EXPECT_THROW(kv_bytes(qwen2_7b(), INT64_MAX, KvType::F32), Error);
}

TEST(MemoryPlan, FormatBytes) {
    EXPECT_EQ(format_bytes(17), "17 B");
    EXPECT_EQ(format_bytes(1536), "1.50 KiB");
    EXPECT_EQ(format_bytes(3ull << 30), "3.00 GiB");
}

}  // namespace
}  // namespace qlm
