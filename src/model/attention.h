// Causal grouped-query attention over the KV cache, in two kernels that share one work split.
//
// Work is cut into items of (kv head, up to 8 query tokens, a range of KV positions): the query
// heads that share the kv head and the tokens of the tile are the item's rows, so each K and V
// row is loaded once per item and used by every row. When decoding (fewer than 8 query tokens) a
// context longer than 512 positions is also split into ranges of 512, so every thread has work
// even with a single kv head; the partial results are merged afterwards. The split depends only
// on the shapes, never on the thread count, so results are the same for any -t.
//
// - Exact (the default): llama.cpp's CPU numerics without flash attention — each row's scores are
//   kept for its whole visible context, softmax'ed at once, and with an f16 cache the
//   probabilities are rounded to f16 before they weight V. The golden logits are computed this way.
// - Flash (`--flash-attn`): an online softmax over tiles of 64 positions — running max, running
//   normaliser, rescaled output — so scratch memory is O(tile) whatever the context length. Same
//   function, different rounding (probabilities stay f32).
#pragma once

#include <cstdint>
#include <memory>

#include "quant/thread_pool.h"

namespace qlm {

struct Hparams;
class KvCache;

enum class AttentionKernel { Exact, Flash };

// For the n tokens of a chunk at positions p0..p0+n-1 (whose K and V rows are already stored in
// `kv`): out[t·n_head + h] (head_dim floats) = Σ_j softmax_j(q_th · k_j / √head_dim) · v_j over
// positions j = 0..p0+t, with k_j, v_j the rows of query head h's kv head. q and out hold n rows
// of n_head·head_dim floats. Queries are converted to the cache's dot type first (f16 for an f16
// cache, as llama.cpp does; q8_0 for a q8_0 cache). Runs on the calling thread.
void attention(const Hparams& hp, const KvCache& kv, int64_t layer, const float* q, int64_t n, int64_t p0,
               float* out, AttentionKernel kernel = AttentionKernel::Exact);

// What attention_team keeps between calls (its plan and split buffers).
class AttentionScratch {
public:
    AttentionScratch();
    ~AttentionScratch();
    struct Impl;

private:
    friend void attention_team(ThreadPool&, const Hparams&, const KvCache&, int64_t, const float*, int64_t, int64_t,
                               float*, AttentionKernel, AttentionScratch&);
    std::unique_ptr<Impl> impl_;
};

// The same on the threads of `pool` (called by its owner); `scratch` keeps the plan and split
// buffers between calls.
void attention_team(ThreadPool& pool, const Hparams& hp, const KvCache& kv, int64_t layer, const float* q, int64_t n,
                    int64_t p0, float* out, AttentionKernel kernel, AttentionScratch& scratch);

// The same function computed the direct way in double (all scores of a row, softmax, weighted sum
// of V) from the cache's dequantized rows and q as given: the reference both kernels are tested
// against.
void attention_reference(const Hparams& hp, const KvCache& kv, int64_t layer, const float* q, int64_t n, int64_t p0,
                         float* out);

}  // namespace qlm
