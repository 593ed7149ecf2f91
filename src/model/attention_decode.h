// Attention for the decode steps of several sequences at once (qlm run --parallel N): one token
// per sequence, their query rows attended in one call instead of one call per sequence. Sequences
// forked from one prompt share its KV blocks (seq_cp copies the block table, not the data), so
// each shared block is read once for all of them: a K row is dotted with the queries of every
// sequence that holds it (and every query head of its kv head) in one kernel call
// (dot_f16_rows), and the block's V rows, loaded once, are added into each of their outputs while
// they stay in cache (axpy_f16_lanes); each sequence's own blocks are read for it alone.
//
// The result is, bit for bit, what attention_team gives each sequence alone: every row keeps its
// own scores, softmax, positions in ascending order, KV splits of kSplitKv positions and flash
// tiles of kTileKv positions (all on absolute positions, the same for every sequence), so only
// which row is computed next to which changes. What it does not cover goes to attention_team:
// runs of more than one token, a flash-kernel layer with a sliding window (its tiles start at
// each row's window), and an f16 cache whose head size is not whole groups of 8.
#pragma once

#include <cstdint>
#include <span>

#include "src/model/attention.h"
#include "src/model/attention_common.h"
#include "src/model/forward.h"

namespace qlm {

constexpr int64_t kDecodeSeqs = 8;  // the most sequences one attention_decode_team call attends

// The decode fields of an AttentionLayout for calls of up to min(n_seq, kDecodeSeqs, n_batch)
// sequences (none for n_seq < 2), and the bytes they add to the shared and per-thread buffers.
void plan_decode(AttentionLayout& l, const Hparams& hp, const FormatOps& kf, int64_t n_ctx, int64_t n_batch,
                 int64_t n_seq);
uint64_t decode_shared_bytes(const AttentionLayout& l);
uint64_t decode_thread_bytes(const AttentionLayout& l);

// The buffers of attention_decode_team, allocated once from the layout (AttentionScratch owns it).
struct DecodeScratch {
    explicit DecodeScratch(const AttentionLayout& layout);  // throws std::bad_alloc
    uint64_t bytes() const;

    struct PerThread {
        attention_detail::Buffer<float> work;  // V·P lanes (exact) or scores and outputs (flash)
        attention_detail::Buffer<attention_detail::RowAcc> acc;
        attention_detail::Buffer<const float*> q;  // the rows of one kernel call
        attention_detail::Buffer<float*> y;
        attention_detail::Buffer<float> coef, dots, v;
        attention_detail::Buffer<int64_t> rows;
    };
    AttentionLayout layout;
    attention_detail::Buffer<uint8_t> queries;
    attention_detail::Buffer<float> scores, part, part_m, part_l;
    std::vector<PerThread> threads;
};

// One sequence's decode token: its layer view, position, query row (n_head·head_dim floats) and
// where its output goes (as many floats).
struct DecodeQuery {
    KvSeqView kv;
    int64_t pos = 0;
    const float* q = nullptr;
    float* out = nullptr;
};

// attention_team's result for each sequence's token (n = 1 at p0 = pos), for 2 to decode_seqs
// sequences of one cache and layer. Same contract as attention_team: on the pool's threads,
// nothing allocates or throws.
void attention_decode_team(ThreadPool& pool, const Hparams& hp, int64_t layer, std::span<const DecodeQuery> seqs,
                           AttentionScratch& scratch);

// Attention of every run of a forward chunk: the one-token runs in groups of up to decode_seqs
// through attention_decode_team where it applies (see the top), every other run through
// attention_team.
void attention_runs(ThreadPool& pool, const Hparams& hp, const KvCache& kv, int64_t layer,
                    std::span<const SeqRun> runs, const float* q, float* out, AttentionScratch& scratch);

}  // namespace qlm
