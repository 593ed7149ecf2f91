// The memory plan's arithmetic on hand-computed numbers (Qwen2-7B's shape, bf16 weights), and
// the limits it enforces. That an InferenceContext allocates exactly the plan is checked on real
// models in tests/integration/memory_plan_test.cpp.
#include <gtest/gtest.h>

#include "src/model/hf_config.h"
#include "src/model/memory_plan.h"
#include "src/model/weights.h"
#include "src/util/error.h"

namespace qlm {
namespace {

Hparams qwen2_7b() {
    ModelShape s;
    s.arch = "qwen2";
    s.n_vocab = 152064; s.n_embd = 3584; s.n_ff = 18944; s.n_layer = 28;
    s.n_head = 28; s.n_head_kv = 4; s.head_dim = 128; s.n_ctx_train = 32768;
    return hparams_from_shape(s);
}

const std::vector<MatmulGroup>& bf16_groups() {
    static const std::vector<MatmulGroup> g = matmul_groups(qwen2_7b(), GgmlType::BF16);
    return g;
}

TEST(MemoryPlan, KvBytesFollowTheFormula) {
    // 2 × 28 layers × 4096 positions × 4 kv heads × 128 × 2 bytes = 234,881,024 (224 MiB)
    EXPECT_EQ(kv_layout(qwen2_7b(), 4096, KvType::F16).bytes, 234881024u);
    EXPECT_EQ(kv_layout(qwen2_7b(), 4096, KvType::F32).bytes, 2u * 234881024u);
    EXPECT_EQ(kv_layout(qwen2_7b(), 4096, KvType::Q8_0).bytes, 234881024u / 64 * 34);
    // stories260K: 2 × 5 × 512 × 4 × 8 × 4 = 655,360
    Hparams st;
    st.n_layer = 5; st.n_head_kv = 4; st.head_dim = 8;
    EXPECT_EQ(kv_layout(st, 512, KvType::F32).bytes, 655360u);
}

TEST(MemoryPlan, ZeroContextMeansTheModelsAndTotalsAddUp) {
    const MemoryPlan p = plan_memory(qwen2_7b(), bf16_groups(), 1000, {.n_ctx = 0, .n_batch = 512, .n_threads = 2});
    const ContextLayout& c = p.context;
    EXPECT_EQ(c.n_ctx, 32768);
    EXPECT_EQ(c.kv.bytes, 8u * 234881024u);
    EXPECT_EQ(p.weight_bytes, 1000u);
    // x, xn, tmp (3·3584) + q, attn (2·28·128) + k, v (2·4·128) + gate, up (2·18944) + rope (128)
    EXPECT_EQ(c.activation_bytes, 4ull * 512 * (3 * 3584 + 2 * 3584 + 2 * 512 + 2 * 18944 + 128));
    // bf16 weights dot bf16 activations; the widest input is ffn_down's 18944 columns.
    EXPECT_EQ(c.matmul_input_row_bytes, 2u * 18944);
    EXPECT_EQ(c.matmul_input_bytes, 512u * 2 * 18944);
    EXPECT_EQ(c.logits_bytes, 4u * 152064);  // one row: generation keeps the last token's logits
    EXPECT_EQ(c.attention.bytes, c.attention.shared_bytes + 2 * c.attention.thread_bytes);
    EXPECT_EQ(c.scratch_bytes,
              c.activation_bytes + c.matmul_input_bytes + c.attention.bytes + c.logits_bytes + c.kv.table_bytes);
    // One table of 2048 blocks of 16 positions, and the pool's reference counts and free list.
    EXPECT_EQ(c.kv.table_bytes, 4u * (2048 + 2 * 2048));
    EXPECT_EQ(c.total_bytes, c.kv.bytes + c.scratch_bytes);
    EXPECT_EQ(p.total_bytes, p.weight_bytes + c.total_bytes);
}

TEST(MemoryPlan, OutputsThreadsAndKernelChangeWhatIsPlanned) {
    const ContextOptions base{.n_ctx = 4096, .n_batch = 512, .n_threads = 1};
    const ContextLayout one = plan_context(qwen2_7b(), bf16_groups(), base);
    ContextOptions o = base;
    o.n_outputs = 512;
    EXPECT_EQ(plan_context(qwen2_7b(), bf16_groups(), o).logits_bytes, 512 * one.logits_bytes);
    o = base;
    o.n_threads = 4;
    const ContextLayout four = plan_context(qwen2_7b(), bf16_groups(), o);
    EXPECT_EQ(four.attention.bytes - one.attention.bytes, 3 * one.attention.thread_bytes);
    // The exact kernel keeps a prompt tile's scores over the whole context (7 query heads per kv
    // head × 8 tokens × 4096 positions per thread); the flash kernel's tiles are 64 positions.
    EXPECT_EQ(one.attention.thread_scores, 7u * 8 * 4096);
    o = base;
    o.flash_attn = true;
    EXPECT_EQ(plan_context(qwen2_7b(), bf16_groups(), o).attention.thread_scores, 7u * 8 * 64);
}

TEST(MemoryPlan, BatchAndOutputsAreCappedAtTheContext) {
    const ContextLayout c = plan_context(qwen2_7b(), bf16_groups(), {.n_ctx = 16, .n_batch = 512, .n_outputs = 100});
    EXPECT_EQ(c.n_batch, 16);
    EXPECT_EQ(c.n_outputs, 16);
}

TEST(MemoryPlan, LargestContextThatFits) {
    const ContextOptions o{.n_ctx = 32768, .n_batch = 512, .n_threads = 2};
    const uint64_t need_4096 = plan_context(qwen2_7b(), bf16_groups(), {.n_ctx = 4096, .n_batch = 512, .n_threads = 2}).total_bytes;
    const int64_t fit = largest_context_that_fits(qwen2_7b(), bf16_groups(), o, need_4096);
    EXPECT_EQ(fit, 4096);
    EXPECT_THROW(check_context_fits(qwen2_7b(), bf16_groups(), o, need_4096), Error);
    EXPECT_NO_THROW(check_context_fits(qwen2_7b(), bf16_groups(), {.n_ctx = 4096, .n_batch = 512, .n_threads = 2}, need_4096));
    try {
        check_context_fits(qwen2_7b(), bf16_groups(), o, need_4096);
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("e.g. -c 4096"), std::string::npos) << e.what();
    }
}

TEST(MemoryPlan, RejectsNegativeContextAndOverflow) {
    EXPECT_THROW(plan_context(qwen2_7b(), bf16_groups(), {.n_ctx = -1}), Error);
    EXPECT_THROW(plan_context(qwen2_7b(), bf16_groups(), {.n_ctx = 1, .n_batch = 0}), Error);
    EXPECT_THROW(plan_context(qwen2_7b(), bf16_groups(), {.n_ctx = 1, .n_outputs = 0}), Error);
    EXPECT_THROW(plan_context(qwen2_7b(), bf16_groups(), {.n_ctx = 1, .n_threads = -1}), Error);
    EXPECT_THROW(kv_layout(qwen2_7b(), INT64_MAX, KvType::F32), Error);
    EXPECT_THROW(plan_context(qwen2_7b(), bf16_groups(), {.n_ctx = INT64_MAX / 2}), Error);
}

TEST(MemoryPlan, ContextSizeIsResolvedAgainstTheModel) {
    const Hparams hp = qwen2_7b();
    EXPECT_EQ(resolve_context_size(hp, 0), 32768);
    EXPECT_EQ(resolve_context_size(hp, 100), 100);
    EXPECT_THROW(resolve_context_size(hp, -1), Error);
    Hparams odd = hp;
    odd.n_ctx_train = 2049;
    try {
        resolve_context_size(odd, 4096, 2);
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("use -c 2048 or less"), std::string::npos) << e.what();
    }
}

TEST(MemoryPlan, FormatBytes) {
    EXPECT_EQ(format_bytes(17), "17 B");
    EXPECT_EQ(format_bytes(1536), "1.50 KiB");
    EXPECT_EQ(format_bytes(3ull << 30), "3.00 GiB");
}

}  // namespace
}  // namespace qlm
