// What an inference context is asked for (ContextOptions) and every buffer it allocates for that
// (ContextLayout). plan_context computes the layout from the model's dimensions and weights;
// InferenceContext allocates exactly its buffers, and `qlm info` / the memory checks print and
// sum the same numbers, so the plan and the allocation cannot drift apart.
//
//   ContextLayout l = plan_context(hp, model.weights().matmul_groups(), {.n_ctx = 2048});
//   l.kv.bytes + l.scratch_bytes == the bytes an InferenceContext with these options holds
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "src/model/attention.h"
#include "src/model/hparams.h"
#include "src/model/kv_cache.h"
#include "src/model/moe_ffn.h"
#include "src/model/weights.h"

namespace qlm {

class DeviceOffload;   // layer_ops.h
class MatmulObserver;  // matmul_observer.h

struct ContextOptions {
    int64_t n_ctx = 0;        // 0: the model's training context
    int64_t n_batch = 512;    // prompt tokens per forward chunk
    // Logits rows one eval keeps: 1 is enough to generate (the last token's); an eval with
    // all_logits needs one per token (perplexity: n_batch; a dump of every prompt position: the
    // prompt's length).
    int64_t n_outputs = 1;
    int n_threads = 0;        // 0: one per physical core; at most max_threads() (src/util/cpu_info.h)
    KvType kv_type = KvType::F16;
    int64_t n_seq_max = 1;    // sequences the context decodes (ids 0 .. n_seq_max-1); they share its n_ctx positions
    int64_t kv_block_size = kKvBlockSize;  // positions per KV cache block (a power of two, at least 8)
    bool flash_attn = false;  // online-softmax attention (attention.h); default: llama.cpp's exact numerics
    MatmulObserver* matmul_observer = nullptr;  // optional; not owned, must outlive the context
    // Optional: the device that runs the layers (and head) it names; every other one runs on the
    // CPU. Not owned, must outlive the context. An observer sees CPU layers only, so the two do
    // not go together.
    const DeviceOffload* device = nullptr;
};

struct ContextLayout {
    // The options as resolved: n_ctx >= 1, 1 <= n_batch <= n_ctx, 1 <= n_outputs <= n_ctx,
    // n_threads >= 1.
    int64_t n_ctx = 0, n_batch = 0, n_outputs = 0;
    int n_threads = 1;
    bool flash_attn = false;
    KvLayout kv;
    // The forward pass's activations: n_batch rows of f32 each, of these widths
    // (x, xn, tmp: n_embd; q, attn: q_dim; k, v: kv_dim; the rope cos/sin: n_rot per table, a
    // second table for the sliding-window layers' RoPE), and gate, up: ffn_rows rows of n_ff (one
    // expert's width in a MoE model; ffn_rows = moe_ffn_rows).
    int64_t n_embd = 0, q_dim = 0, kv_dim = 0, n_ff = 0, n_rot = 0, n_rope_tables = 1, ffn_rows = 0;
    uint64_t activation_bytes = 0;
    MoeLayout moe;                        // the routing buffers of a MoE model (moe_ffn.h)
    uint64_t matmul_input_row_bytes = 0;  // one token's activations converted for the largest group
    uint64_t matmul_input_bytes = 0;      // n_batch × matmul_input_row_bytes
    AttentionLayout attention;
    int64_t n_vocab = 0;
    uint64_t logits_bytes = 0;        // n_outputs × n_vocab floats
    uint64_t scratch_bytes = 0;       // everything but the KV cache's data (its block tables included)
    uint64_t total_bytes = 0;         // kv.bytes + scratch_bytes
};

// Throws qlm::Error for a negative n_ctx or n_threads, more threads than max_threads(), n_batch,
// n_outputs or n_seq_max below 1, a KV type that cannot hold the model's heads, a block size that
// is not a power of two of at least 8, or a size that overflows 64 bits. It does not compare n_ctx
// with the model's training context (see resolve_context_size).
ContextLayout plan_context(const Hparams& hp, std::span<const MatmulGroup> matmul_groups, const ContextOptions& opts);

// The context size a request gets: 0 is the model's training context. Throws qlm::Error for a
// negative size or one larger than the training context, suggesting the largest that is a
// multiple of `multiple_of`.
int64_t resolve_context_size(const Hparams& hp, int64_t n_ctx, int64_t multiple_of = 1);

}  // namespace qlm
