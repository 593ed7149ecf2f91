// The paged KV cache (PagedAttention): K and V rows live in fixed-size blocks of block_size
// positions, and each sequence has a block table mapping its positions to blocks (position p is
// slot p mod block_size of block table[p / block_size]). Blocks come from a pool with reference
// counts (kv_blocks.h): seq_cp shares a sequence's blocks with another (a prompt is stored once
// for every sequence forked from it) and a shared block is copied before it is written
// (copy-on-write). Each position holds, per layer, n_head_kv head rows of head_dim values in the
// cache's element type (F32, F16 — llama.cpp's default — or Q8_0), each head row one row of that
// weight format, so attention dots them with the format's own kernels.
//
// A sequence holds positions 0 .. n_pos(seq)-1. Sliding-window layers (hp.is_swa) have their own
// pool and tables: each sequence keeps at most swa_seq_blocks of them, enough for the window of
// its next n_batch queries, and drops its oldest blocks to make room, so their memory is bounded
// by the window and the batch, not the context.
//
//   KvCache kv(kv_layout(hp, 2048, KvType::F16, 512, /*n_seq_max=*/4));
//   int64_t p0 = kv.reserve(0, n);            // positions p0 .. p0+n-1 of sequence 0
//   kv.store(0, layer, p0, n, k, v);          // per layer, by the forward pass
//   kv.seq_cp(0, 1);                          // sequence 1 shares sequence 0's blocks
//   kv.seq_rm(1, 10);                         // and forgets its positions from 10 on
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "quant/formats.h"
#include "src/model/hparams.h"
#include "src/model/kv_blocks.h"

namespace qlm {

// KV cache element type: llama.cpp's f16 default, f32, or q8_0 (blocks of 32 per head row,
// 34 bytes each: about half of f16; needs a head size that is a multiple of 32).
enum class KvType { F32, F16, Q8_0 };

// "f32" | "f16" | "q8_0", and back (nullopt for any other name).
std::string_view kv_type_name(KvType t);
std::optional<KvType> kv_type_from_name(std::string_view name);
// The weight format each head row is stored in (F32, F16, Q8_0).
const FormatOps& kv_format(KvType t);
// Bytes that 32 cached values take: 128 (f32), 64 (f16), 34 (q8_0).
uint32_t kv_bytes_per_32(KvType t);

constexpr int64_t kKvBlockSize = 16;  // positions per block by default (as vLLM's)

// Where a cache's bytes go: for each layer, K then V, each pool_blocks(l) blocks of block_size
// positions of n_head_kv head rows of head_dim values in the cache's format.
struct KvLayout {
    KvType type = KvType::F16;
    int64_t n_layer = 0, n_ctx = 0, n_head_kv = 0, head_dim = 0;
    int64_t n_swa = 0, swa_period = 0;  // the model's sliding window (Hparams::is_swa); n_swa 0: none
    int64_t block_size = kKvBlockSize;
    int64_t n_batch = 0;        // the most positions one reserve call appends to a sequence
    int64_t n_seq_max = 1;      // sequence ids 0 .. n_seq_max-1
    int64_t n_blocks = 0;       // the global layers' pool: ceil(n_ctx / block_size), shared by all sequences
    int64_t swa_seq_blocks = 0; // a sliding layer's blocks per sequence: any min(n_ctx, n_swa − 1 + n_batch) positions
    int64_t n_swa_blocks = 0;   // the sliding layers' pool: n_seq_max × swa_seq_blocks
    int64_t swa_cells = 0;      // swa_seq_blocks × block_size: positions one sequence keeps in a sliding layer
    uint64_t head_bytes = 0;    // one head row
    uint64_t block_bytes = 0;   // K (or V) of one block in one layer: block_size × n_head_kv × head_bytes
    uint64_t bytes = 0;         // 2 × block_bytes × Σ pool_blocks(l): the K and V data
    uint64_t table_bytes = 0;   // the block tables and the pools' bookkeeping

    bool slides(int64_t layer) const;          // a sliding-window layer (Hparams::is_swa)
    int64_t pool_blocks(int64_t layer) const;  // n_blocks, or n_swa_blocks for a sliding layer
    // Positions one sequence can hold in layer l: n_blocks × block_size, or swa_cells.
    int64_t cells(int64_t layer) const;
};

// n_batch: the most positions one forward chunk stores per sequence (0: n_ctx). Throws qlm::Error
// when the type cannot hold this model's heads (q8_0 and a head size that is not a multiple of 32),
// for a block size that is not a power of two of at least 8 (attention reads groups of 8
// positions, and finds a position's block with a shift), n_seq_max outside 1..INT32_MAX, or a
// size that overflows 64 bits.
KvLayout kv_layout(const Hparams& hp, int64_t n_ctx, KvType type, int64_t n_batch = 0, int64_t n_seq_max = 1,
                   int64_t block_size = kKvBlockSize);

// One sequence's K and V rows of one layer, as attention reads them: through its block table.
struct KvSeqView {
    const FormatOps* format = nullptr;
    const uint8_t* k = nullptr;      // the layer's K blocks
    const uint8_t* v = nullptr;      // the layer's V blocks
    const int32_t* table = nullptr;  // block of positions [i·block_size, (i+1)·block_size); -1: not held
    int block_shift = 0;             // log2(block_size)
    uint64_t pos_bytes = 0, head_bytes = 0;

    // Head `head`'s K (or V) row at position pos in format(); nullptr for a position not held
    // (a sliding layer's dropped block).
    const void* k_head(int64_t pos, int64_t head) const { return at(k, pos, head); }
    const void* v_head(int64_t pos, int64_t head) const { return at(v, pos, head); }
    const uint8_t* at(const uint8_t* base, int64_t pos, int64_t head) const {
        const int32_t b = table[pos >> block_shift];
        if (b < 0) return nullptr;
        const auto slot = (static_cast<uint64_t>(b) << block_shift) | static_cast<uint64_t>(pos & ((int64_t{1} << block_shift) - 1));
        return base + slot * pos_bytes + static_cast<uint64_t>(head) * head_bytes;
    }
};

// A block copied before it was written (copy-on-write, KvCache::reserve), in the global pool or
// the sliding layers' own.
struct KvBlockCopy {
    bool sliding = false;
    int32_t from = 0, to = 0;
};

class KvCache {
public:
    // Allocates layout.bytes and the tables; throws qlm::Error when that is not possible.
    explicit KvCache(const KvLayout& layout);

    const KvLayout& layout() const { return layout_; }
    KvType type() const { return layout_.type; }
    const FormatOps& format() const { return *format_; }  // the element format of every head row
    int64_t n_ctx() const { return layout_.n_ctx; }      // positions one sequence can hold
    int64_t n_seq_max() const { return layout_.n_seq_max; }
    int64_t block_size() const { return layout_.block_size; }
    int64_t row_size() const { return row_; }             // values per position (n_head_kv·head_dim)
    uint64_t head_bytes() const { return layout_.head_bytes; }
    uint64_t bytes() const { return layout_.bytes; }      // K and V data
    uint64_t table_bytes() const;                         // tables and bookkeeping, counted from them

    int64_t n_pos(int32_t seq) const;  // positions sequence seq holds (0 .. n_pos-1)

    // Global-pool blocks that reserve(seq, n) would take: new blocks for the positions past the
    // sequence's last block, plus one when its last block is shared and must be copied first.
    int64_t blocks_needed(int32_t seq, int64_t n) const;
    int64_t free_blocks() const { return pool_.n_free(); }  // of the global pool
    int64_t n_blocks() const { return pool_.size(); }
    int32_t block_refs(int32_t seq, int64_t pos) const;     // references to the global block holding pos

    // Appends n positions to sequence seq and returns the first, n_pos(seq) before the call: makes
    // its blocks writable (copies a shared last block), allocates the new ones, and in the sliding
    // layers drops the sequence's oldest blocks that its new queries no longer see. Throws
    // qlm::Error, changing nothing, for a sequence id out of range, when the sequence would exceed
    // n_ctx positions, the pool has too few free blocks, or the sliding layers' window of the n
    // new positions does not fit in a sequence's share of their blocks (n at most the layout's
    // n_batch always fits).
    int64_t reserve(int32_t seq, int64_t n);
    // Stores rows for positions pos .. pos+n-1 of sequence seq in layer `layer` (k and v: n rows of
    // row_size()), positions that reserve handed out. Does not allocate or throw.
    void store(int32_t seq, int64_t layer, int64_t pos, int64_t n, const float* k, const float* v);
    KvSeqView view(int32_t seq, int64_t layer) const;
    // The block table of sequence seq for a global (sliding: false) or sliding layer: entry i is
    // the block of positions [i·block_size, (i+1)·block_size), -1 where none is held.
    std::span<const int32_t> table(int32_t seq, bool sliding) const;

    // A device that keeps some layers' K and V in blocks of its own (layer_ops.h) copies what
    // reserve copies: with logging on, each copy is also recorded, in order, until
    // clear_block_copies. Off by default (the log would grow without a reader).
    void log_block_copies(bool on) { log_copies_ = on; }
    std::span<const KvBlockCopy> block_copies() const { return copies_; }
    void clear_block_copies() { copies_.clear(); }

    // Forgets positions p0 .. p1-1 of sequence seq (p1 < 0: to its end); only a sequence's tail can
    // be removed (throws qlm::Error otherwise). When a sliding layer has dropped a block that the
    // next query at p0 would see, the whole sequence is forgotten (n_pos(seq) is 0 then).
    void seq_rm(int32_t seq, int64_t p0, int64_t p1 = -1);
    // Makes sequence dst a copy of the first n positions of src (n < 0: all of them) by sharing its
    // blocks; dst's previous positions are forgotten. Throws qlm::Error for ids out of range, n
    // beyond src's end, or when src's sliding layers no longer hold the window of position n.
    void seq_cp(int32_t src, int32_t dst, int64_t n = -1);
    void clear();  // every sequence empty, every block free

private:
    struct Seq {
        int64_t n_pos = 0;
        int64_t swa_kept_from = 0;  // the first position its sliding tables still hold
        std::vector<int32_t> table, swa_table;
    };
    void check_seq(int32_t seq) const;
    uint8_t* block_data(int64_t layer, bool v, int32_t block) const;
    // Makes block index bi of a table writable and present: copies a shared block, allocates a
    // missing one.
    void make_writable(std::vector<int32_t>& table, BlockPool& pool, bool sliding, int64_t bi);
    void drop_blocks(Seq& s, int64_t from_block);  // releases every block at index >= from_block
    void evict_swa(Seq& s, int64_t p0, int64_t n);

    KvLayout layout_;
    const FormatOps* format_;
    int64_t row_ = 0;
    uint64_t pos_bytes_ = 0;
    int64_t max_seq_blocks_ = 0;    // table entries per sequence
    std::vector<uint64_t> offset_;  // each layer's K blocks; its V blocks follow them
    std::vector<Seq> seqs_;
    BlockPool pool_, swa_pool_;
    std::unique_ptr<uint8_t[]> data_;
    bool log_copies_ = false;
    std::vector<KvBlockCopy> copies_;
};

}  // namespace qlm
