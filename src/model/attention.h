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
//   probabilities are rounded to f16 before they weight V; the dot products and the softmax sum
//   add their terms in the order of llama.cpp's x86 kernels for a prompt batch. The golden
//   logits are computed this way.
// - Flash (`--flash-attn`): an online softmax over tiles of 64 positions — running max, running
//   normaliser, rescaled output — so scratch memory is O(tile) whatever the context length. Same
//   function, different rounding (probabilities stay f32).
#pragma once

#include <cstdint>
#include <memory>

#include "quant/thread_pool.h"
#include "src/model/kv_cache.h"

namespace qlm {

struct Hparams;

enum class AttentionKernel { Exact, Flash };

// The buffers attention_team needs, sized for the largest call a context makes (up to n_batch
// query tokens, positions up to n_ctx) and a pool of up to n_threads threads: the shared buffers
// once, the per-thread ones n_threads times. attention_layout computes it, an
// AttentionScratch allocates exactly that.
struct AttentionLayout {
    AttentionKernel kernel = AttentionKernel::Exact;
    int n_threads = 1;
    uint64_t query_bytes = 0;     // shared: the chunk's queries in K's dot type
    uint64_t max_items = 0;       // shared: work items of one call
    uint64_t row_scores = 0;      // shared, exact kernel: every row's scores when decoding is split
    uint64_t split_out = 0;       // shared: the splits' partial outputs (floats)
    uint64_t split_stats = 0;     // shared, flash kernel: max and normaliser per split row (floats each)
    uint64_t thread_scores = 0;   // per thread: one item's scores (floats)
    uint64_t thread_out = 0;      // per thread, flash kernel: one item's running outputs (floats)
    uint64_t thread_v = 0;        // per thread: a tile of dequantized V rows (q8_0 caches; floats)
    uint64_t thread_lanes = 0;    // per thread, exact kernel: one item's V·P sums, 8 lanes per row (floats)
    uint64_t thread_rows = 0;     // per thread, flash kernel: one item's running (max, normaliser)
    // Several sequences' decode steps in one call (attention_decode.h): up to decode_seqs of them.
    int64_t decode_seqs = 0;      // 0: no such call
    uint64_t decode_query = 0;    // shared: their queries in K's dot type and as floats, in bytes
    uint64_t decode_scores = 0;   // shared, exact kernel: every row's scores over the context
    uint64_t decode_part = 0;     // shared: the splits' partial outputs (floats)
    uint64_t decode_stats = 0;    // shared, flash kernel: max and normaliser per split row (floats each)
    uint64_t thread_decode_rows = 0;  // per thread: the rows of one kv head (decode_seqs × group)
    uint64_t thread_decode = 0;   // per thread: their V·P lanes (exact) or scores and outputs (flash), floats
    uint64_t shared_bytes = 0;    // the buffers all threads share, in bytes
    uint64_t thread_bytes = 0;    // one thread's buffers, in bytes
    uint64_t bytes = 0;           // shared_bytes + n_threads × thread_bytes
};

// n_seq: the most sequences a call may decode at once (attention_decode_team; up to
// kDecodeSeqs of them are planned for, more go in several calls). Throws qlm::Error when a size
// overflows 64 bits.
AttentionLayout attention_layout(const Hparams& hp, KvType kv_type, int64_t n_ctx, int64_t n_batch,
                                 AttentionKernel kernel, int n_threads, int64_t n_seq = 1);

struct DecodeScratch;  // attention_decode.h

// What attention_team keeps between calls: the plan of the current call
// and every buffer of an AttentionLayout, allocated once.
class AttentionScratch {
public:
    explicit AttentionScratch(const AttentionLayout& layout);  // throws std::bad_alloc
    ~AttentionScratch();
    uint64_t bytes() const;  // what it holds
    DecodeScratch* decode();  // the buffers of attention_decode_team; nullptr when not planned
    struct Impl;

private:
    friend void attention_team(ThreadPool&, const Hparams&, const KvSeqView&, int64_t, const float*, int64_t, int64_t,
                               float*, AttentionScratch&);
    std::unique_ptr<Impl> impl_;
};

// For the n tokens of one sequence's run at positions p0..p0+n-1 (whose K and V rows are already
// stored in the cache `kv` views: the sequence's blocks of layer `layer`): out[t·n_head + h] (head_dim floats) = Σ_j softmax_j(q_th · k_j · s) · v_j over
// positions j = 0..p0+t, with k_j, v_j the rows of query head h's kv head, and s = hp.kq_scale(),
// or 1 when the forward pass scaled q already (hp.scale_q). q and out hold n rows
// of n_head·head_dim floats. Queries are converted to the cache's dot type first (f16 for an f16
// cache, as llama.cpp does; q8_0 for a q8_0 cache). The kernel is the scratch layout's.
// On the threads of `pool` (called by its owner; at most the layout's n_threads), with one
// `scratch` kept between calls; returns when every thread is done. n and p0 + n must be
// within the layout's n_batch and n_ctx. Nothing here allocates or throws.
void attention_team(ThreadPool& pool, const Hparams& hp, const KvSeqView& kv, int64_t layer, const float* q, int64_t n,
                    int64_t p0, float* out, AttentionScratch& scratch);

// The same function computed the direct way in double (all scores of a row, softmax, weighted sum
// of V) from the cache's dequantized rows and q as given: the reference both kernels are tested
// against.
void attention_reference(const Hparams& hp, const KvSeqView& kv, int64_t layer, const float* q, int64_t n, int64_t p0,
                         float* out);

}  // namespace qlm
