#include "src/model/kv_cache.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "src/model/plan_math.h"
#include "src/util/error.h"

namespace qlm {

namespace {
GgmlType kv_format_type(KvType t) {
    switch (t) {
        case KvType::F32: return GgmlType::F32;
        case KvType::F16: return GgmlType::F16;
        case KvType::Q8_0: return GgmlType::Q8_0;
    }
    return GgmlType::F16;
}

// a ≥ 0, b > 0; no a + b − 1 that could overflow for a context near INT64_MAX.
int64_t ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0 ? 1 : 0); }

// A store the cache did not reserve is a bug in the caller: stop before writing past a block.
[[noreturn]] void unreserved_store(int32_t seq, int64_t pos) {
    std::fprintf(stderr, "qlm: internal error: KV store to position %lld of sequence %d, which was not reserved\n",
                 static_cast<long long>(pos), seq);
    std::abort();
}
}  // namespace

std::string_view kv_type_name(KvType t) {
    switch (t) {
        case KvType::F32: return "f32";
        case KvType::F16: return "f16";
        case KvType::Q8_0: return "q8_0";
    }
    return "f16";
}

std::optional<KvType> kv_type_from_name(std::string_view name) {
    for (KvType t : {KvType::F32, KvType::F16, KvType::Q8_0})
        if (kv_type_name(t) == name) return t;
    return std::nullopt;
}

const FormatOps& kv_format(KvType t) { return format_ops(kv_format_type(t)); }

uint32_t kv_bytes_per_32(KvType t) {
    const FormatOps& f = kv_format(t);
    return static_cast<uint32_t>(32 / f.block_size * f.block_bytes);
}

KvLayout kv_layout(const Hparams& hp, int64_t n_ctx, KvType type, int64_t n_batch, int64_t n_seq_max,
                   int64_t block_size) {
    const FormatOps& f = format_ops(kv_format_type(type));
    if (hp.head_dim <= 0 || hp.head_dim % f.block_size != 0)
        throw_error("a {} KV cache needs a head size that is a multiple of {}, but this model's is {} (use --kv-type "
                    "f16)",
                    kv_type_name(type), f.block_size, hp.head_dim);
    if (block_size < 8 || (block_size & (block_size - 1)) != 0 || block_size > (int64_t{1} << 20))
        throw_error("KV cache block size {} must be a power of two from 8 to 2^20", block_size);
    if (n_seq_max < 1 || n_seq_max > INT32_MAX)
        throw_error("the number of sequences ({}) must be from 1 to {}", n_seq_max, INT32_MAX);
    KvLayout l;
    l.type = type;
    l.n_layer = hp.n_layer;
    l.n_ctx = n_ctx;
    l.n_head_kv = hp.n_head_kv;
    l.head_dim = hp.head_dim;
    l.block_size = block_size;
    l.n_batch = n_batch > 0 ? std::min(n_batch, n_ctx) : n_ctx;
    l.n_seq_max = n_seq_max;
    l.head_bytes = format_row_bytes(f, hp.head_dim);
    using plan_math::add, plan_math::mul, plan_math::u;
    l.block_bytes = mul({u(block_size), u(hp.n_head_kv), l.head_bytes});
    l.n_blocks = ceil_div(std::max<int64_t>(n_ctx, 0), block_size);
    int64_t n_sliding = 0;  // layers that slide: all but every swa_period-th
    if (hp.has_swa()) {
        l.n_swa = hp.n_swa;
        l.swa_period = hp.swa_period;
        // Any run of w consecutive positions touches at most ceil((w − 1) / block_size) + 1 blocks.
        const int64_t w = std::min(n_ctx, hp.n_swa - 1 + l.n_batch);
        l.swa_seq_blocks = std::min(l.n_blocks, ceil_div(std::max<int64_t>(w - 1, 0), block_size) + 1);
        l.swa_cells = l.swa_seq_blocks * block_size;
        l.n_swa_blocks = static_cast<int64_t>(mul({u(n_seq_max), u(l.swa_seq_blocks)}));
        n_sliding = hp.swa_period == 0 ? hp.n_layer : hp.n_layer - hp.n_layer / hp.swa_period;
    }
    const uint64_t blocks = add({mul({u(hp.n_layer - n_sliding), u(l.n_blocks)}), mul({u(n_sliding), u(l.n_swa_blocks)})});
    l.bytes = mul({2, blocks, l.block_bytes});
    const uint64_t tables = mul({u(n_seq_max), u(l.n_blocks), l.n_swa > 0 ? 2u : 1u, sizeof(int32_t)});
    l.table_bytes = add({tables, BlockPool::bookkeeping_bytes(l.n_blocks), BlockPool::bookkeeping_bytes(l.n_swa_blocks)});
    return l;
}

bool KvLayout::slides(int64_t layer) const {
    return n_swa > 0 && (swa_period == 0 || layer % swa_period < swa_period - 1);
}

int64_t KvLayout::pool_blocks(int64_t layer) const { return slides(layer) ? n_swa_blocks : n_blocks; }

int64_t KvLayout::cells(int64_t layer) const { return slides(layer) ? swa_cells : n_blocks * block_size; }

KvCache::KvCache(const KvLayout& layout)
    : layout_(layout),
      format_(&format_ops(kv_format_type(layout.type))),
      row_(layout.n_head_kv * layout.head_dim),
      pos_bytes_(layout.head_bytes * static_cast<uint64_t>(layout.n_head_kv)),
      max_seq_blocks_(layout.n_blocks),
      pool_(layout.n_blocks),
      swa_pool_(layout.n_swa_blocks) {
    data_.reset(new (std::nothrow) uint8_t[layout_.bytes]);
    if (!data_)
        throw_error("the KV cache for a context of {} tokens needs {} bytes, which could not be allocated (use a "
                    "smaller context size)",
                    layout_.n_ctx, layout_.bytes);
    uint64_t off = 0;
    for (int64_t layer = 0; layer < layout_.n_layer; ++layer) {
        offset_.push_back(off);
        off += 2 * static_cast<uint64_t>(layout_.pool_blocks(layer)) * layout_.block_bytes;
    }
    seqs_.resize(static_cast<size_t>(layout_.n_seq_max));
    for (Seq& s : seqs_) {
        s.table.assign(static_cast<size_t>(max_seq_blocks_), -1);
        if (layout_.n_swa > 0) s.swa_table.assign(static_cast<size_t>(max_seq_blocks_), -1);
    }
}

uint64_t KvCache::table_bytes() const {
    uint64_t b = BlockPool::bookkeeping_bytes(pool_.size()) + BlockPool::bookkeeping_bytes(swa_pool_.size());
    for (const Seq& s : seqs_) b += (s.table.capacity() + s.swa_table.capacity()) * sizeof(int32_t);
    return b;
}

void KvCache::check_seq(int32_t seq) const {
    if (seq < 0 || seq >= layout_.n_seq_max)
        throw_error("sequence id {} is out of range: this context holds {} sequence{} (0..{})", seq,
                    layout_.n_seq_max, layout_.n_seq_max == 1 ? "" : "s", layout_.n_seq_max - 1);
}

int64_t KvCache::n_pos(int32_t seq) const {
    check_seq(seq);
    return seqs_[static_cast<size_t>(seq)].n_pos;
}

int32_t KvCache::block_refs(int32_t seq, int64_t pos) const {
    check_seq(seq);
    const Seq& s = seqs_[static_cast<size_t>(seq)];
    if (pos < 0 || pos >= s.n_pos) return 0;
    return pool_.refs(s.table[static_cast<size_t>(pos / layout_.block_size)]);
}

uint8_t* KvCache::block_data(int64_t layer, bool v, int32_t block) const {
    const auto l = static_cast<size_t>(layer);
    const uint64_t pool = static_cast<uint64_t>(layout_.pool_blocks(layer)) * layout_.block_bytes;
    return data_.get() + offset_[l] + (v ? pool : 0) + static_cast<uint64_t>(block) * layout_.block_bytes;
}

int64_t KvCache::blocks_needed(int32_t seq, int64_t n) const {
    check_seq(seq);
    const Seq& s = seqs_[static_cast<size_t>(seq)];
    if (n <= 0) return 0;
    const int64_t bs = layout_.block_size, p0 = s.n_pos;
    const int64_t held = ceil_div(p0, bs);  // blocks the sequence has
    int64_t need = ceil_div(p0 + n, bs) - held;
    if (p0 % bs != 0 && pool_.shared(s.table[static_cast<size_t>(p0 / bs)])) ++need;  // copy-on-write
    return need;
}

void KvCache::make_writable(std::vector<int32_t>& table, BlockPool& pool, bool sliding, int64_t bi) {
    int32_t& b = table[static_cast<size_t>(bi)];
    if (b >= 0 && !pool.shared(b)) return;
    const int32_t fresh = pool.allocate();
    if (b >= 0) {
        for (int64_t l = 0; l < layout_.n_layer; ++l) {
            if (layout_.slides(l) != sliding) continue;
            std::memcpy(block_data(l, false, fresh), block_data(l, false, b), layout_.block_bytes);
            std::memcpy(block_data(l, true, fresh), block_data(l, true, b), layout_.block_bytes);
        }
        if (log_copies_) copies_.push_back({.sliding = sliding, .from = b, .to = fresh});
        pool.release(b);
    }
    b = fresh;
}

void KvCache::evict_swa(Seq& s, int64_t p0, int64_t n) {
    const int64_t bs = layout_.block_size;
    const int64_t first_needed = std::max<int64_t>(0, p0 - layout_.n_swa + 1) / bs;  // the first new query's window
    const int64_t last = (p0 + n - 1) / bs;
    if (last - first_needed + 1 > layout_.swa_seq_blocks)
        throw_error("KV cache: {} positions at once do not fit in the {} blocks of a sliding-window layer (use a "
                    "smaller batch)",
                    n, layout_.swa_seq_blocks);
    int64_t held = 0, added = 0;
    for (int64_t i = 0; i <= last; ++i) {
        const bool present = s.swa_table[static_cast<size_t>(i)] >= 0;
        held += present;
        added += !present && i * bs + bs > p0;
    }
    // Keep as much of the past as the sequence's share of the pool allows (a later seq_rm can
    // then keep more), dropping the oldest blocks first.
    for (int64_t i = s.swa_kept_from / bs; i < first_needed && held + added > layout_.swa_seq_blocks; ++i) {
        int32_t& b = s.swa_table[static_cast<size_t>(i)];
        if (b >= 0) {
            swa_pool_.release(b);
            b = -1;
            --held;
        }
        s.swa_kept_from = (i + 1) * bs;
    }
}

int64_t KvCache::reserve(int32_t seq, int64_t n) {
    check_seq(seq);
    Seq& s = seqs_[static_cast<size_t>(seq)];
    const int64_t p0 = s.n_pos, bs = layout_.block_size;
    if (n <= 0) return p0;
    if (n > layout_.n_ctx - p0)
        throw_error("the context is full: sequence {} holds {} tokens, {} more do not fit in a context of {}", seq, p0,
                    n, layout_.n_ctx);
    if (const int64_t need = blocks_needed(seq, n); need > pool_.n_free())
        throw_error("KV cache: {} more blocks of {} positions are needed but only {} of {} are free (use a larger "
                    "context size -c, or fewer sequences)",
                    need, bs, pool_.n_free(), pool_.size());
    if (layout_.n_swa > 0) evict_swa(s, p0, n);
    for (int64_t bi = p0 / bs; bi <= (p0 + n - 1) / bs; ++bi) {
        make_writable(s.table, pool_, false, bi);
        if (layout_.n_swa > 0) make_writable(s.swa_table, swa_pool_, true, bi);
    }
    s.n_pos = p0 + n;
    return p0;
}

void KvCache::store(int32_t seq, int64_t layer, int64_t pos, int64_t n, const float* k, const float* v) {
    const Seq& s = seqs_[static_cast<size_t>(seq)];
    const bool sliding = layout_.slides(layer);
    const std::vector<int32_t>& table = sliding ? s.swa_table : s.table;
    const int64_t bs = layout_.block_size;
    // As llama.cpp converts K and V when it copies them into its cache (the activation rule).
    const QuantizeRowFn convert =
        layout_.type == KvType::F32 ? nullptr : quantize_activation_for(*format_, active_isa());
    // Rows of consecutive positions are contiguous within a block, and head rows are whole
    // format blocks: one call per block.
    for (int64_t done = 0; done < n;) {
        const int64_t p = pos + done, run = std::min(n - done, bs - p % bs);
        if (p < 0 || p + run > s.n_pos) unreserved_store(seq, p);
        const int32_t b = table[static_cast<size_t>(p / bs)];
        if (b < 0) unreserved_store(seq, p);
        const uint64_t off = static_cast<uint64_t>(p % bs) * pos_bytes_;
        uint8_t *kd = block_data(layer, false, b) + off, *vd = block_data(layer, true, b) + off;
        const int64_t count = run * row_;
        const float *kr = k + done * row_, *vr = v + done * row_;
        if (!convert) {
            std::memcpy(kd, kr, static_cast<size_t>(count) * sizeof(float));
            std::memcpy(vd, vr, static_cast<size_t>(count) * sizeof(float));
        } else {
            convert(kr, kd, count);
            convert(vr, vd, count);
        }
        done += run;
    }
}

std::span<const int32_t> KvCache::table(int32_t seq, bool sliding) const {
    check_seq(seq);
    const Seq& s = seqs_[static_cast<size_t>(seq)];
    return sliding ? std::span<const int32_t>(s.swa_table) : std::span<const int32_t>(s.table);
}

KvSeqView KvCache::view(int32_t seq, int64_t layer) const {
    const Seq& s = seqs_[static_cast<size_t>(seq)];
    const bool sliding = layout_.slides(layer);
    return {.format = format_,
            .k = block_data(layer, false, 0),
            .v = block_data(layer, true, 0),
            .table = sliding ? s.swa_table.data() : s.table.data(),
            .block_shift = std::countr_zero(static_cast<uint64_t>(layout_.block_size)),
            .pos_bytes = pos_bytes_,
            .head_bytes = layout_.head_bytes};
}

void KvCache::drop_blocks(Seq& s, int64_t from_block) {
    for (int64_t i = std::max<int64_t>(from_block, 0); i < max_seq_blocks_; ++i) {
        int32_t& b = s.table[static_cast<size_t>(i)];
        if (b >= 0) pool_.release(b);
        b = -1;
        if (layout_.n_swa > 0) {
            int32_t& sb = s.swa_table[static_cast<size_t>(i)];
            if (sb >= 0) swa_pool_.release(sb);
            sb = -1;
        }
    }
}

void KvCache::seq_rm(int32_t seq, int64_t p0, int64_t p1) {
    check_seq(seq);
    Seq& s = seqs_[static_cast<size_t>(seq)];
    p0 = std::max<int64_t>(p0, 0);
    if (p1 >= 0 && p1 < s.n_pos && p0 < p1)
        throw_error("KV cache: only a sequence's tail can be removed, not positions {}..{} of the {} of sequence {}",
                    p0, p1 - 1, s.n_pos, seq);
    if (p0 >= s.n_pos) return;
    // The next query, at p0, sees positions from p0 − n_swa + 1: still in the sliding tables?
    if (layout_.n_swa > 0 && p0 > 0 && std::max<int64_t>(0, p0 - layout_.n_swa + 1) < s.swa_kept_from) p0 = 0;
    drop_blocks(s, (p0 + layout_.block_size - 1) / layout_.block_size);
    s.n_pos = p0;
    if (p0 == 0) s.swa_kept_from = 0;
}

void KvCache::seq_cp(int32_t src, int32_t dst, int64_t n) {
    check_seq(src);
    check_seq(dst);
    if (src == dst) return;
    const Seq& a = seqs_[static_cast<size_t>(src)];
    if (n < 0) n = a.n_pos;
    if (n > a.n_pos)
        throw_error("KV cache: cannot copy {} positions of sequence {}, which holds {}", n, src, a.n_pos);
    if (layout_.n_swa > 0 && n > 0 && std::max<int64_t>(0, n - layout_.n_swa + 1) < a.swa_kept_from)
        throw_error("KV cache: sequence {} no longer holds the sliding window of position {}, so its first {} "
                    "positions cannot be copied",
                    src, n, n);
    Seq& b = seqs_[static_cast<size_t>(dst)];
    drop_blocks(b, 0);
    for (int64_t i = 0; i < (n + layout_.block_size - 1) / layout_.block_size; ++i) {
        const auto iu = static_cast<size_t>(i);
        if ((b.table[iu] = a.table[iu]) >= 0) pool_.retain(b.table[iu]);
        if (layout_.n_swa > 0 && (b.swa_table[iu] = a.swa_table[iu]) >= 0) swa_pool_.retain(b.swa_table[iu]);
    }
    b.n_pos = n;
    b.swa_kept_from = n > 0 ? a.swa_kept_from : 0;
}

void KvCache::clear() {
    for (Seq& s : seqs_) {
        std::fill(s.table.begin(), s.table.end(), -1);
        std::fill(s.swa_table.begin(), s.swa_table.end(), -1);
        s.n_pos = 0;
        s.swa_kept_from = 0;
    }
    pool_.reset();
    swa_pool_.reset();
}

}  // namespace qlm
