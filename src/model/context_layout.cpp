#include "src/model/context_layout.h"

#include <algorithm>
#include <initializer_list>

#include "quant/matmul.h"
#include "src/model/plan_math.h"
#include "src/util/cpu_info.h"
#include "src/util/error.h"

namespace qlm {
namespace {

using plan_math::add, plan_math::mul, plan_math::u;

// One row of the conversion buffer matmul_team needs: the largest group's (matmul_scratch_bytes
// is linear in the row count).
uint64_t matmul_input_row_bytes(std::span<const MatmulGroup> groups) {
    uint64_t per_row = 0;
    std::vector<const WeightView*> ptrs;
    for (const MatmulGroup& g : groups) {
        ptrs.clear();
        for (const WeightView& w : g) ptrs.push_back(&w);
        per_row = std::max(per_row, matmul_scratch_bytes(ptrs, 1));
    }
    return per_row;
}

}  // namespace

ContextLayout plan_context(const Hparams& hp, std::span<const MatmulGroup> matmul_groups, const ContextOptions& o) {
    if (o.n_ctx < 0) throw_error("context size {} is negative (use -c 0 for the model's {})", o.n_ctx, hp.n_ctx_train);
    if (o.n_batch <= 0) throw_error("batch size {} must be at least 1", o.n_batch);
    if (o.n_outputs <= 0) throw_error("the number of logits rows per eval ({}) must be at least 1", o.n_outputs);
    if (o.n_threads < 0) throw_error("thread count {} is negative", o.n_threads);
    if (o.n_threads > max_threads())
        throw_error("thread count {} is more than {}x the {} logical cores (use at most {})", o.n_threads,
                    kMaxThreadsPerCore, logical_cores(), max_threads());
    ContextLayout l;
    l.n_ctx = o.n_ctx == 0 ? hp.n_ctx_train : o.n_ctx;
    l.n_batch = std::min(o.n_batch, std::max<int64_t>(l.n_ctx, 1));
    l.n_outputs = std::min(o.n_outputs, std::max<int64_t>(l.n_ctx, 1));
    l.n_threads = o.n_threads > 0 ? o.n_threads : physical_cores();
    l.flash_attn = o.flash_attn;
    l.kv = kv_layout(hp, l.n_ctx, o.kv_type, l.n_batch, o.n_seq_max, o.kv_block_size);

    l.n_embd = hp.n_embd;
    l.q_dim = hp.n_head * hp.head_dim;
    l.kv_dim = hp.n_head_kv * hp.head_dim;
    l.n_ff = hp.ffn_width();
    l.n_rot = hp.n_rot;
    l.n_rope_tables = hp.has_swa() ? 2 : 1;
    l.ffn_rows = moe_ffn_rows(hp, l.n_batch);
    const uint64_t row_floats = add({mul({3, u(l.n_embd)}), mul({2, u(l.q_dim)}), mul({2, u(l.kv_dim)}),
                                     mul({u(l.n_rot), u(l.n_rope_tables)})});
    l.activation_bytes =
        mul({sizeof(float), add({mul({u(l.n_batch), row_floats}), mul({2, u(l.ffn_rows), u(l.n_ff)})})});
    l.moe = moe_layout(hp, l.n_batch);
    l.matmul_input_row_bytes = matmul_input_row_bytes(matmul_groups);
    l.matmul_input_bytes = mul({l.matmul_input_row_bytes, u(l.n_batch)});
    l.attention = attention_layout(hp, o.kv_type, l.n_ctx, l.n_batch,
                                   o.flash_attn ? AttentionKernel::Flash : AttentionKernel::Exact, l.n_threads,
                                   o.n_seq_max);
    l.n_vocab = hp.n_vocab;
    l.logits_bytes = mul({sizeof(float), u(l.n_outputs), u(l.n_vocab)});
    l.scratch_bytes =
        add({l.activation_bytes, l.matmul_input_bytes, l.moe.bytes, l.attention.bytes, l.logits_bytes, l.kv.table_bytes});
    l.total_bytes = add({l.kv.bytes, l.scratch_bytes});
    return l;
}

int64_t resolve_context_size(const Hparams& hp, int64_t n_ctx, int64_t multiple_of) {
    if (n_ctx < 0) throw_error("-c {}: the context size cannot be negative (0 = the model's)", n_ctx);
    if (n_ctx == 0) return hp.n_ctx_train;
    if (n_ctx > hp.n_ctx_train)
        throw_error("-c {} is larger than the model's context length {}: use -c {} or less", n_ctx, hp.n_ctx_train,
                    hp.n_ctx_train - hp.n_ctx_train % std::max<int64_t>(multiple_of, 1));
    return n_ctx;
}

}  // namespace qlm
