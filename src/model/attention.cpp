#include "src/model/attention.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "quant/formats.h"
#include "quant/fp16.h"
#include "src/model/attention_common.h"
#include "src/model/attention_decode.h"
#include "src/model/kv_cache.h"
#include "src/model/hparams.h"
#include "src/model/ops.h"
#include "src/model/plan_math.h"

namespace qlm {

namespace {
using namespace attention_detail;

// q·k of f16 rows in the order of llama.cpp's batched f16 matmul (llamafile's tinyBLAS: lane
// i mod 8 over the row, the lanes reduced as one AVX register; dot_f16_batch). A head size that is
// not whole groups of 8 goes through ggml's f16 dot instead, which adds the products in double.
inline float dot_f16_order(int64_t n, const uint16_t* q, const uint16_t* k) {
    if (n % 8 == 0) return dot_f16_batch(n, q, k);
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(fp16_to_fp32(q[i]) * fp16_to_fp32(k[i]));
    return static_cast<float>(s);
}

// Rows of one work item: row r = tt·group + gi is token t0 + tt, query head g·group + gi.
struct Item {
    int64_t g;    // kv head
    int64_t t0;   // first query token of the tile
    int64_t nt;   // tokens in the tile
    int64_t sp;   // KV split index
};

// KV positions per partial result of a call of n tokens at p0: decoding a context longer than
// kSplitKv is split so that every thread has work; otherwise one split covers everything.
int64_t split_size(int64_t n, int64_t p0) { return n < kTileTokens && p0 + n > kSplitKv ? kSplitKv : p0 + n; }

// What every item of one call shares: shapes, kernels, the converted queries and the work split.
struct Plan {
    KvSeqView kv;            // the sequence's K and V rows of this layer
    int64_t layer, n, p0, hd, n_head, group;
    int64_t window;             // a sliding-window layer's n_swa; 0: the whole causal context
    float scale;
    const FormatOps& kf;
    VecDotFn dot;
    QuantizeRowFn to_q;
    size_t q_bytes;
    bool v_f16, v_f32;
    int64_t n_kv_end, split, n_split;
    bool k_f16;
    uint8_t* qc;                // queries in K's dot type, one row per (t, h)
    std::vector<Item>& items;   // the scratch's, cleared and refilled within its capacity

    Plan(const Hparams& hp, const KvSeqView& kv_, int64_t layer_, int64_t n_, int64_t p0_, uint8_t* qc_,
         std::vector<Item>& items_)
        : kv(kv_), layer(layer_), n(n_), p0(p0_), hd(hp.head_dim), n_head(hp.n_head),
          group(hp.n_head / hp.n_head_kv), window(hp.is_swa(layer_) ? hp.n_swa : 0), scale(hp.scale_q ? 1.0f : hp.kq_scale()),
          kf(*kv_.format), dot(vec_dot_for(kf, active_isa())),
          to_q(quantize_activation_for(format_ops(kf.vec_dot_type), active_isa())),
          q_bytes(static_cast<size_t>(format_row_bytes(format_ops(kf.vec_dot_type), hd))),
          v_f16(kf.type == GgmlType::F16), v_f32(kf.type == GgmlType::F32), n_kv_end(p0_ + n_),
          split(split_size(n_, p0_)),
          n_split((n_kv_end + split - 1) / split), k_f16(kf.type == GgmlType::F16), qc(qc_), items(items_) {
        items.clear();
        const int64_t n_qt = (n + kTileTokens - 1) / kTileTokens;
        // Later query tiles see more of the causal context: schedule them first.
        for (int64_t qt = n_qt - 1; qt >= 0; --qt)
            for (int64_t g = 0; g < hp.n_head_kv; ++g)
                for (int64_t sp = 0; sp < n_split; ++sp) {
                    const int64_t t0 = qt * kTileTokens, nt = std::min(kTileTokens, n - t0);
                    // Skip a split in every row's future, or wholly before every row's window.
                    if (sp * split <= p0 + t0 + nt - 1 && (sp + 1) * split > first_visible_of_token(t0))
                        items.push_back({g, t0, nt, sp});
                }
    }
    int64_t rows_all() const { return n * n_head; }
    int64_t row_of(const Item& w, int64_t r) const { return (w.t0 + r / group) * n_head + w.g * group + r % group; }
    int64_t visible(int64_t row) const { return p0 + row / n_head + 1; }  // positions row may attend to
    int64_t first_visible_of_token(int64_t t) const { return window > 0 ? std::max<int64_t>(0, p0 + t + 1 - window) : 0; }
    int64_t first_visible(int64_t row) const { return first_visible_of_token(row / n_head); }
    // llama.cpp's softmax adds a row's exps in groups of 8 positions from position 0; positions
    // before a window are -inf there and add 0. A row's softmax starts at its window's group.
    int64_t softmax_begin(int64_t row) const { return first_visible(row) / kLanes * kLanes; }
    // The item's first position: the group where its first token's window starts (the lowest).
    int64_t j_begin(const Item& w) const {
        return std::max(w.sp * split, first_visible_of_token(w.t0) / kLanes * kLanes);
    }
    int64_t j_end(const Item& w) const { return std::min((w.sp + 1) * split, p0 + w.t0 + w.nt); }
    const uint8_t* q_row(int64_t row) const { return qc + static_cast<size_t>(row) * q_bytes; }

    // Scores of the item's rows for positions [j0, j1): dst(r)[j - j0]; positions a row does not
    // see (future ones, those before its window) get -inf.
    // Each K row is read once for all rows of the item.
    template <class Dst>
    void scores(const Item& w, int64_t j0, int64_t j1, Dst dst) const {
        const int64_t rows = w.nt * group;
        for (int64_t j = j0; j < j1; ++j) {
            const void* kr = kv.k_head(j, w.g);
            for (int64_t r = 0; r < rows; ++r) {
                const int64_t row = row_of(w, r);
                if (!(j < visible(row)) || j < first_visible(row)) {
                    dst(r)[j - j0] = kNegInf;
                    continue;
                }
                const float d = k_f16 ? dot_f16_order(hd, reinterpret_cast<const uint16_t*>(q_row(row)),
                                                      static_cast<const uint16_t*>(kr))
                                      : dot(hd, kr, q_row(row));
                dst(r)[j - j0] = d * scale;
            }
        }
    }

    // o(r) += Σ_j p(r)[j - j0] · v_j over positions [j0, j1) visible to row r, j ascending per row;
    // with Lanes, o(r) is a lane buffer and v_j goes to its lane j mod 8 (reduce_lanes).
    // vt: scratch for kTileKv dequantized V rows (q8_0 caches).
    template <bool Lanes, class P, class O>
    void accumulate_v(const Item& w, int64_t j0, int64_t j1, P p, O o, float* vt) const {
        const int64_t rows = w.nt * group;
        const void* vrow[kTileKv];  // the tile's V rows, looked up in the block table once for all rows
        const uint16_t* v16[kTileKv];
        for (int64_t t0 = j0; t0 < j1; t0 += kTileKv) {
            const int64_t t1 = std::min(t0 + kTileKv, j1);
            for (int64_t j = t0; j < t1; ++j) {
                vrow[j - t0] = kv.v_head(j, w.g);
                v16[j - t0] = static_cast<const uint16_t*>(vrow[j - t0]);
            }
            if (!v_f16 && !v_f32)
                for (int64_t j = t0; j < t1; ++j)
                    if (vrow[j - t0]) kf.dequantize_row(vrow[j - t0], vt + (j - t0) * hd, hd);
            for (int64_t r = 0; r < rows; ++r) {
                const float* pr = p(r);
                float* orow = o(r);
                const int64_t begin = std::max(t0, first_visible(row_of(w, r)));
                const int64_t end = std::min(t1, visible(row_of(w, r)));
                if (v_f16) {  // one kernel call for the tile, the row's output (or lanes) in registers
                    if (begin < end) {
                        if (Lanes)
                            axpy_f16_lanes(hd, end - begin, v16 + (begin - t0), pr + (begin - j0), begin, orow);
                        else
                            axpy_f16_seq(hd, end - begin, v16 + (begin - t0), pr + (begin - j0), orow);
                    }
                    continue;
                }
                for (int64_t j = begin; j < end; ++j) {
                    const float pj = pr[j - j0];
                    float* dst = Lanes ? orow + (j % kLanes) * hd : orow;
                    if (v_f16)
                        axpy_f16(hd, pj, static_cast<const uint16_t*>(vrow[j - t0]), dst);
                    else if (v_f32)
                        axpy_f32(hd, pj, static_cast<const float*>(vrow[j - t0]), dst);
                    else
                        axpy_f32(hd, pj, vt + (j - t0) * hd, dst);
                }
            }
        }
    }

    // llama.cpp's softmax of one row's visible scores (s: the row's scores from position j0, at
    // most softmax_begin(row)); with an f16 V the probabilities are rounded to f16, as its V·P
    // product converts them.
    void softmax_row(float* s, int64_t j0, int64_t row) const {
        float* seen = s + (softmax_begin(row) - j0);
        const int64_t count = visible(row) - softmax_begin(row);
        ops::softmax(seen, count);
        if (v_f16)
            round_to_f16(seen, count);
    }
};

}  // namespace

// What attention_team keeps between calls: the plan of the current call, the buffers all threads
// share and one set of buffers per thread of the pool, all allocated from the layout.
struct AttentionScratch::Impl {
    struct PerThread {
        Buffer<float> scores, out, v, lanes;
        Buffer<RowAcc> rows;
    };
    AttentionLayout layout;
    std::optional<Plan> plan;
    Buffer<uint8_t> queries;
    std::vector<Item> items;
    Buffer<float> row_scores, split_out, split_max, split_sum;
    std::vector<PerThread> threads;
    std::unique_ptr<DecodeScratch> decode;
};

AttentionLayout attention_layout(const Hparams& hp, KvType kv_type, int64_t n_ctx, int64_t n_batch,
                                 AttentionKernel kernel, int n_threads, int64_t n_seq) {
    using plan_math::add, plan_math::mul, plan_math::u;
    AttentionLayout l;
    l.kernel = kernel;
    l.n_threads = std::max(n_threads, 1);
    const FormatOps& kf = kv_format(kv_type);
    const uint64_t hd = u(hp.head_dim), n_head = u(hp.n_head), group = u(hp.n_head / std::max<int64_t>(hp.n_head_kv, 1));
    const uint64_t tile_rows = group * u(std::min(kTileTokens, n_batch));  // rows of one item
    // Decoding (fewer than kTileTokens query tokens) splits a context longer than kSplitKv.
    const bool can_split = n_ctx > kSplitKv;
    const uint64_t n_split = can_split ? u((n_ctx + kSplitKv - 1) / kSplitKv) : 1;
    const uint64_t split_rows = can_split ? n_head * u(std::min(kTileTokens - 1, n_batch)) : 0;
    l.query_bytes = mul({u(n_batch), n_head, format_row_bytes(format_ops(kf.vec_dot_type), hp.head_dim)});
    l.max_items = u(hp.n_head_kv) * std::max(u((n_batch + kTileTokens - 1) / kTileTokens), n_split);
    l.split_out = mul({n_split, split_rows, hd});
    if (kernel == AttentionKernel::Exact) {
        l.row_scores = mul({split_rows, u(n_ctx)});
        // An item without a split scores its rows over the positions they see: up to n_ctx for a
        // prompt tile, up to kSplitKv for a decode step that is not split.
        l.thread_scores = mul({tile_rows, u(n_batch >= kTileTokens ? n_ctx : std::min(n_ctx, kSplitKv))});
        l.thread_lanes = mul({tile_rows, u(kLanes), hd});
    } else {
        l.split_stats = mul({n_split, split_rows});
        l.thread_scores = mul({tile_rows, u(kTileKv)});
        l.thread_out = mul({tile_rows, hd});
        l.thread_rows = tile_rows;
    }
    if (kf.type != GgmlType::F16 && kf.type != GgmlType::F32) l.thread_v = mul({u(kTileKv), hd});
    plan_decode(l, hp, kf, n_ctx, n_batch, n_seq);
    l.shared_bytes = add({l.query_bytes, mul({l.max_items, sizeof(Item)}),
                          mul({sizeof(float), add({l.row_scores, l.split_out, l.split_stats, l.split_stats})}),
                          decode_shared_bytes(l)});
    l.thread_bytes = add({mul({sizeof(float), add({l.thread_scores, l.thread_out, l.thread_v, l.thread_lanes})}),
                          mul({l.thread_rows, sizeof(RowAcc)}), decode_thread_bytes(l)});
    l.bytes = add({l.shared_bytes, mul({l.thread_bytes, u(l.n_threads)})});
    return l;
}

AttentionScratch::AttentionScratch(const AttentionLayout& layout) : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    m.layout = layout;
    m.queries.allocate(layout.query_bytes);
    m.items.reserve(layout.max_items);
    m.row_scores.allocate(layout.row_scores);
    m.split_out.allocate(layout.split_out);
    m.split_max.allocate(layout.split_stats);
    m.split_sum.allocate(layout.split_stats);
    m.threads.resize(static_cast<size_t>(layout.n_threads));
    for (Impl::PerThread& t : m.threads) {
        t.scores.allocate(layout.thread_scores);
        t.out.allocate(layout.thread_out);
        t.v.allocate(layout.thread_v);
        t.lanes.allocate(layout.thread_lanes);
        t.rows.allocate(layout.thread_rows);
    }
    if (layout.decode_seqs > 0) m.decode = std::make_unique<DecodeScratch>(layout);
}

DecodeScratch* AttentionScratch::decode() { return impl_->decode.get(); }

AttentionScratch::~AttentionScratch() = default;

uint64_t AttentionScratch::bytes() const {
    const Impl& m = *impl_;
    uint64_t b = m.queries.bytes() + m.items.capacity() * sizeof(Item) + m.row_scores.bytes() + m.split_out.bytes() +
                 m.split_max.bytes() + m.split_sum.bytes();
    for (const Impl::PerThread& t : m.threads)
        b += t.scores.bytes() + t.out.bytes() + t.v.bytes() + t.lanes.bytes() + t.rows.bytes();
    return b + (m.decode ? m.decode->bytes() : 0);
}

namespace {
// Converts every query row to K's dot type (on the pool's threads).
void convert_queries(ThreadPool& pool, Plan& P, const float* q) {
    pool.for_each(P.rows_all(), [&](int64_t row) { P.to_q(q + row * P.hd, P.qc + static_cast<size_t>(row) * P.q_bytes, P.hd); });
}

// Exact kernel. Without a split each item owns its rows' whole context: scores, softmax, V. With
// an f16 cache it computes what llama.cpp's CPU backend computes for a prompt batch, to the bit
// where its AVX2 kernels do the same additions: q·k and V·P in the lane order of dot_f16_order,
// softmax as ops::softmax, probabilities rounded to f16.
// With a split (decoding), every row's scores go to one buffer first, each row is softmax'ed over
// its whole context, then the items weight V and the splits' sums are added in split order.
// Items run on any thread of the pool, each with that thread's buffers; prepare_shared set up the
// plan and the shared buffers.
void attention_exact(ThreadPool& pool, Plan& P, const float* q, float* out, AttentionScratch::Impl& sh) {
    const int64_t hd = P.hd, rows_all = P.rows_all(), ld = P.n_kv_end;
    const auto uhd = static_cast<size_t>(hd);
    const auto n_items = static_cast<int64_t>(P.items.size());
    float* const all_scores = sh.row_scores.data();
    float* const part = sh.split_out.data();
    // The lane buffers of one item's rows in thread th's buffers, zeroed; lane_buf(r) is row r's.
    auto lane_bufs = [hd](AttentionScratch::Impl::PerThread& th, int64_t rows) {
        float* const lanes = th.lanes.data();
        std::fill(lanes, lanes + rows * kLanes * hd, 0.f);
        return [lanes, hd](int64_t r) { return lanes + r * kLanes * hd; };
    };
    convert_queries(pool, P, q);
    if (P.n_split == 1) {
        pool.for_each_dynamic(n_items, [&](int64_t it, int thread) {
            AttentionScratch::Impl::PerThread& th = sh.threads[static_cast<size_t>(thread)];
            float* const s = th.scores.data();
            const Item& w = P.items[static_cast<size_t>(it)];
            const int64_t j0 = P.j_begin(w), span = P.j_end(w) - j0, rows = w.nt * P.group;
            auto srow = [&](int64_t r) { return s + r * span; };
            P.scores(w, j0, j0 + span, srow);
            for (int64_t r = 0; r < rows; ++r) P.softmax_row(srow(r), j0, P.row_of(w, r));
            auto lane_buf = lane_bufs(th, rows);
            P.accumulate_v<true>(w, j0, j0 + span, srow, lane_buf, th.v.data());
            for (int64_t r = 0; r < rows; ++r) reduce_lanes(lane_buf(r), hd, out + P.row_of(w, r) * hd);
        });
        return;
    }
    auto grow = [&](int64_t row) { return all_scores + row * ld; };
    pool.for_each_dynamic(n_items, [&](int64_t it) {
        const Item& w = P.items[static_cast<size_t>(it)];
        const int64_t j0 = P.j_begin(w);
        P.scores(w, j0, P.j_end(w), [&](int64_t r) { return grow(P.row_of(w, r)) + j0; });
    });
    pool.for_each(rows_all, [&](int64_t row) { P.softmax_row(grow(row), 0, row); });
    pool.for_each_dynamic(n_items, [&](int64_t it, int thread) {
        AttentionScratch::Impl::PerThread& th = sh.threads[static_cast<size_t>(thread)];
        const Item& w = P.items[static_cast<size_t>(it)];
        const int64_t j0 = P.j_begin(w);
        float* base = part + static_cast<size_t>(w.sp * rows_all) * uhd;
        auto lane_buf = lane_bufs(th, w.nt * P.group);
        P.accumulate_v<true>(
            w, j0, P.j_end(w), [&](int64_t r) { return grow(P.row_of(w, r)) + j0; }, lane_buf, th.v.data());
        for (int64_t r = 0; r < w.nt * P.group; ++r) reduce_lanes(lane_buf(r), hd, base + P.row_of(w, r) * hd);
    });
    pool.for_each(rows_all, [&](int64_t row) {
        float* dst = out + row * hd;
        std::fill(dst, dst + hd, 0.f);
        for (int64_t sp = 0; sp < P.n_split; ++sp)
            axpy_f32(hd, 1.f, part + static_cast<size_t>(sp * rows_all + row) * uhd, dst);
    });
}

// Flash kernel, one item: online softmax over tiles of kTileKv positions into the thread's
// running outputs o and (max, normaliser) acc.
void flash_item(const Plan& P, const Item& w, float* s, float* o, RowAcc* acc, float* vt) {
    const int64_t hd = P.hd, rows = w.nt * P.group, j_end = P.j_end(w);
    auto srow = [&](int64_t r) { return s + r * kTileKv; };
    auto orow = [&](int64_t r) { return o + r * hd; };
    std::fill(o, o + rows * hd, 0.f);
    std::fill(acc, acc + rows, RowAcc{});
    for (int64_t j0 = P.j_begin(w); j0 < j_end; j0 += kTileKv) {
        const int64_t j1 = std::min(j0 + kTileKv, j_end);
        P.scores(w, j0, j1, srow);
        // Rescale each row to the tile's new max and turn its scores into weights.
        for (int64_t r = 0; r < rows; ++r) {
            float* sr = srow(r);
            RowAcc& a = acc[r];
            const float mt = *std::max_element(sr, sr + (j1 - j0));
            if (mt > a.m) {
                const float c = std::exp(a.m - mt);  // 0 for the row's first tile
                a.l *= c;
                for (int64_t i = 0; i < hd; ++i) orow(r)[i] *= c;
                a.m = mt;
            }
            for (int64_t j = 0; j < j1 - j0; ++j) {
                sr[j] = sr[j] == kNegInf ? 0.f : std::exp(sr[j] - a.m);
                a.l += sr[j];
            }
        }
        P.accumulate_v<false>(w, j0, j1, srow, orow, vt);
    }
}

// Flash kernel: online softmax over tiles of kTileKv positions. Splits keep (max, normaliser,
// unnormalised output) per row and are merged with the usual rescaling.
// Items run on any thread of the pool, each with that thread's buffers; prepare_shared set up the
// plan and the shared buffers.
void attention_flash(ThreadPool& pool, Plan& P, const float* q, float* out, AttentionScratch::Impl& sh) {
    const int64_t hd = P.hd, rows_all = P.rows_all();
    const auto uhd = static_cast<size_t>(hd);
    float* const part_o = sh.split_out.data();
    float* const part_m = sh.split_max.data();
    float* const part_l = sh.split_sum.data();
    convert_queries(pool, P, q);
    pool.for_each_dynamic(static_cast<int64_t>(P.items.size()), [&](int64_t it, int thread) {
        AttentionScratch::Impl::PerThread& th = sh.threads[static_cast<size_t>(thread)];
        float* const o = th.out.data();
        RowAcc* const acc = th.rows.data();
        const Item& w = P.items[static_cast<size_t>(it)];
        flash_item(P, w, th.scores.data(), o, acc, th.v.data());
        for (int64_t r = 0; r < w.nt * P.group; ++r) {
            const int64_t row = P.row_of(w, r);
            const RowAcc& a = acc[r];
            const float* orow = o + r * hd;
            if (P.n_split == 1) {
                const float inv = a.l > 0.f ? 1.0f / a.l : 0.f;
                for (int64_t i = 0; i < hd; ++i) out[row * hd + i] = orow[i] * inv;
            } else {
                const auto pr = static_cast<size_t>(w.sp * rows_all + row);
                part_m[pr] = a.m;
                part_l[pr] = a.l;
                std::copy(orow, orow + hd, part_o + pr * uhd);
            }
        }
    });
    if (P.n_split == 1) return;
    pool.for_each(rows_all, [&](int64_t row) {
        merge_splits(part_m, part_l, part_o, P.n_split, rows_all, row, hd, out + row * hd);
    });
}

// A call the layout was not sized for is a bug in the caller: stop before writing past a buffer.
[[noreturn]] void layout_exceeded(const char* what) {
    std::fprintf(stderr, "qlm: internal error: attention call exceeds its scratch layout (%s)\n", what);
    std::abort();
}

// The pool's owner: the plan of this call, and the shared buffers set to what the kernel expects.
void prepare_shared(AttentionScratch::Impl& sh, const Hparams& hp, const KvSeqView& kv, int64_t layer, int64_t n,
                    int64_t p0) {
    if (static_cast<uint64_t>(n) * static_cast<uint64_t>(hp.n_head) * format_row_bytes(format_ops(kv.format->vec_dot_type), hp.head_dim) >
        sh.layout.query_bytes)
        layout_exceeded("queries");
    const int64_t split = split_size(n, p0);
    if (static_cast<uint64_t>(hp.n_head_kv) * static_cast<uint64_t>((n + kTileTokens - 1) / kTileTokens) *
            static_cast<uint64_t>((p0 + n + split - 1) / split) > sh.layout.max_items)
        layout_exceeded("work items");
    const Plan& P = sh.plan.emplace(hp, kv, layer, n, p0, sh.queries.data(), sh.items);
    if (P.n_split <= 1) return;
    const auto rows = static_cast<size_t>(P.n_split * P.rows_all());
    const auto uhd = static_cast<size_t>(P.hd);
    if (rows * uhd > sh.split_out.n) layout_exceeded("split outputs");
    if (sh.layout.kernel == AttentionKernel::Flash) {
        std::fill(sh.split_out.data(), sh.split_out.data() + rows * uhd, 0.f);
        std::fill(sh.split_max.data(), sh.split_max.data() + rows, kNegInf);
        std::fill(sh.split_sum.data(), sh.split_sum.data() + rows, 0.f);
    } else {
        if (static_cast<uint64_t>(P.rows_all() * P.n_kv_end) > sh.row_scores.n) layout_exceeded("row scores");
        std::fill(sh.split_out.data(), sh.split_out.data() + rows * uhd, 0.f);
    }
}
}  // namespace

void attention_team(ThreadPool& pool, const Hparams& hp, const KvSeqView& kv, int64_t layer, const float* q, int64_t n,
                    int64_t p0, float* out, AttentionScratch& scratch) {
    if (n <= 0) return;
    AttentionScratch::Impl& sh = *scratch.impl_;
    if (static_cast<size_t>(pool.size()) > sh.threads.size()) layout_exceeded("threads");
    prepare_shared(sh, hp, kv, layer, n, p0);
    if (sh.layout.kernel == AttentionKernel::Flash)
        attention_flash(pool, *sh.plan, q, out, sh);
    else
        attention_exact(pool, *sh.plan, q, out, sh);
}

void attention_reference(const Hparams& hp, const KvSeqView& kv, int64_t layer, const float* q, int64_t n, int64_t p0,
                         float* out) {
    const int64_t hd = hp.head_dim, n_head = hp.n_head;
    const FormatOps& kf = *kv.format;
    std::vector<float> kj(static_cast<size_t>(hd)), vj(static_cast<size_t>(hd));
    std::vector<double> scores;
    for (int64_t t = 0; t < n; ++t)
        for (int64_t h = 0; h < n_head; ++h) {
            const int64_t g = ops::kv_head_for(h, n_head, hp.n_head_kv);
            const float* qh = q + (t * n_head + h) * hd;
            const int64_t n_kv = p0 + t + 1;
            const int64_t first = hp.is_swa(layer) ? std::max<int64_t>(0, n_kv - hp.n_swa) : 0;  // the window
            scores.assign(static_cast<size_t>(n_kv), -std::numeric_limits<double>::infinity());
            double mx = -std::numeric_limits<double>::infinity();
            for (int64_t j = first; j < n_kv; ++j) {
                kf.dequantize_row(kv.k_head(j, g), kj.data(), hd);
                double d = 0;
                for (int64_t i = 0; i < hd; ++i) d += static_cast<double>(qh[i]) * kj[static_cast<size_t>(i)];
                scores[static_cast<size_t>(j)] = d * (hp.scale_q ? 1.0 : static_cast<double>(hp.kq_scale()));
                mx = std::max(mx, scores[static_cast<size_t>(j)]);
            }
            double sum = 0;
            for (double& sc : scores) sum += (sc = std::exp(sc - mx));
            std::vector<double> acc(static_cast<size_t>(hd), 0.0);
            for (int64_t j = first; j < n_kv; ++j) {
                kf.dequantize_row(kv.v_head(j, g), vj.data(), hd);
                for (int64_t i = 0; i < hd; ++i) acc[static_cast<size_t>(i)] += scores[static_cast<size_t>(j)] * vj[static_cast<size_t>(i)];
            }
            float* dst = out + (t * n_head + h) * hd;
            for (int64_t i = 0; i < hd; ++i) dst[i] = static_cast<float>(acc[static_cast<size_t>(i)] / sum);
        }
}

}  // namespace qlm
