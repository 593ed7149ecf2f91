#include "src/model/attention_decode.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>

#include "quant/formats.h"
#include "quant/quantize_search.h"
#include "src/model/plan_math.h"
#include "src/util/prefetch.h"

namespace qlm {

using namespace attention_detail;

void plan_decode(AttentionLayout& l, const Hparams& hp, const FormatOps& kf, int64_t n_ctx, int64_t n_batch,
                 int64_t n_seq) {
    using plan_math::mul, plan_math::add, plan_math::u;
    const int64_t seqs = std::min({n_seq, kDecodeSeqs, n_batch});
    if (seqs < 2) return;
    l.decode_seqs = seqs;
    const uint64_t hd = u(hp.head_dim), group = u(hp.n_head / std::max<int64_t>(hp.n_head_kv, 1));
    const uint64_t rows = mul({u(seqs), u(hp.n_head)}), n_split = u((n_ctx + kSplitKv - 1) / kSplitKv);
    l.decode_query = mul({rows, add({format_row_bytes(format_ops(kf.vec_dot_type), hp.head_dim), mul({hd, 4})})});
    l.decode_part = mul({n_split, rows, hd});
    l.thread_decode_rows = mul({u(seqs), group});
    if (l.kernel == AttentionKernel::Exact) {
        l.decode_scores = mul({rows, u(n_ctx)});
        l.thread_decode = mul({l.thread_decode_rows, u(kLanes), hd});
    } else {
        l.decode_stats = mul({n_split, rows});
        l.thread_decode = mul({l.thread_decode_rows, add({u(kTileKv), hd})});
    }
}

uint64_t decode_shared_bytes(const AttentionLayout& l) {
    using plan_math::mul, plan_math::add;
    return add({l.decode_query, mul({sizeof(float), add({l.decode_scores, l.decode_part, l.decode_stats, l.decode_stats})})});
}

// The row lists of one kernel call: a query (or output) pointer, a coefficient, a dot and a row
// index per row; and dequantized V rows (q8_0 caches: the layout's thread_v).
uint64_t decode_thread_bytes(const AttentionLayout& l) {
    using plan_math::mul, plan_math::add;
    if (l.decode_seqs == 0) return 0;
    const uint64_t per_row = sizeof(RowAcc) + sizeof(const float*) + sizeof(float*) + 2 * sizeof(float) + sizeof(int64_t);
    return add({mul({sizeof(float), add({l.thread_decode, l.thread_v})}), mul({l.thread_decode_rows, per_row})});
}

DecodeScratch::DecodeScratch(const AttentionLayout& l) : layout(l) {
    queries.allocate(l.decode_query);
    scores.allocate(l.decode_scores);
    part.allocate(l.decode_part);
    part_m.allocate(l.decode_stats);
    part_l.allocate(l.decode_stats);
    threads.resize(static_cast<size_t>(l.n_threads));
    for (PerThread& t : threads) {
        t.work.allocate(l.thread_decode);
        t.acc.allocate(l.thread_decode_rows);
        t.q.allocate(l.thread_decode_rows);
        t.y.allocate(l.thread_decode_rows);
        t.coef.allocate(l.thread_decode_rows);
        t.dots.allocate(l.thread_decode_rows);
        t.rows.allocate(l.thread_decode_rows);
        t.v.allocate(l.thread_v);
    }
}

uint64_t DecodeScratch::bytes() const {
    uint64_t b = queries.bytes() + scores.bytes() + part.bytes() + part_m.bytes() + part_l.bytes();
    for (const PerThread& t : threads)
        b += t.work.bytes() + t.acc.bytes() + t.q.bytes() + t.y.bytes() + t.coef.bytes() + t.dots.bytes() +
             t.rows.bytes() + t.v.bytes();
    return b;
}

namespace {

// One sequence of a call: its view, the positions its token sees [first, vis) (vis = pos + 1,
// first > 0 in a sliding window), where its softmax starts (llama.cpp adds a row's exps in groups
// of 8 from the group of the window's start) and its number of KV splits.
struct SeqState {
    KvSeqView kv;
    int64_t vis, first, soft, n_split;
    const float* q;
    float* out;
};

struct DecodePlan {
    int64_t hd, n_head, n_kv, group, n_seq, ld, n_split;
    float scale;
    const FormatOps* kf;
    VecDotFn dot;
    QuantizeRowFn to_q;
    DotF16RowsFn dot_rows;
    DotF16SpanFn dot_span;
    AxpyF16Fn axpy16;
    AxpyF16LanesFn axpy_lanes;
    AxpyF16LanesRowsFn axpy_lanes_rows;
    size_t q_bytes, head_bytes;
    bool k_f16, v_f16, v_f32;
    uint8_t* qc;  // queries in K's dot type, row s·n_head + h
    float* qf;    // the same widened to floats (f16 cache)
    SeqState seq[kDecodeSeqs];

    int64_t rows_all() const { return n_seq * n_head; }

    // The head rows of a span (row(i), i < count), all requested before the kernel reads the
    // first: a span's rows lie in several blocks, each position's head a stride apart, and read
    // one after another they wait for memory one at a time.
    template <class Row>
    void prefetch_rows(int64_t count, Row row) const {
        for (int64_t i = 0; i < count; ++i) {
            const char* p = static_cast<const char*>(row(i));
            if (!p) continue;
            for (size_t o = 0; o < head_bytes; o += 64) prefetch_line(p + o);
            if (reinterpret_cast<uintptr_t>(p) % 64 != 0) prefetch_line(p + head_bytes - 1);  // the row's last line
        }
    }
    // The head rows of the span after [a, b) that sequence s sees (as many positions), requested
    // while [a, b) is worked on: the cache is read once per step, from memory (the weights stream
    // through the caches in between), and a span's rows requested only just before the kernel
    // reads them leave it waiting for most of their latency.
    template <class Row>
    void prefetch_next(int s, int64_t a, int64_t b, Row row) const {
        const int64_t e = std::min(b + (b - a), seq[s].vis);
        if (b < e) prefetch_rows(e - b, [&](int64_t i) { return row(b + i); });
    }
    int64_t row(int64_t s, int64_t g, int64_t gi) const { return s * n_head + g * group + gi; }
    bool sees(int64_t s, int64_t j) const { return j >= seq[s].first && j < seq[s].vis; }

    // The sets of sequences whose rows read [a, b) (take(s, a, b); within the block of a) and
    // whose tables map that block to the same physical block, as bit masks in order of their first
    // sequence; returns their number.
    template <class Take>
    int sharing(int64_t a, int64_t b, Take take, uint32_t* sets) const {
        const int64_t bi = a >> seq[0].kv.block_shift;
        uint32_t left = 0;
        for (int64_t s = 0; s < n_seq; ++s)
            if (take(s, a, b)) left |= 1u << s;
        int n = 0;
        while (left) {
            const int s0 = std::countr_zero(left);
            const int32_t block = seq[s0].kv.table[bi];
            uint32_t set = 0;
            for (int s = s0; s < n_seq; ++s)
                if ((left >> s & 1u) && seq[s].kv.table[bi] == block) set |= 1u << s;
            left &= ~set;
            sets[n++] = set;
        }
        return n;
    }

    // f(members, count, a, b) for each span [a, b) of [j0, j1) (at most kTileKv positions), once
    // per set of sequences whose rows read the span and whose tables map each of its blocks to
    // the same physical block: those read it once for all. A span runs over consecutive blocks as
    // long as every block has the same sets (the shared prompt: up to kTileKv positions per call).
    template <class Take, class F>
    void for_each_shared(int64_t j0, int64_t j1, Take take, F f) const {
        const int64_t block = int64_t{1} << seq[0].kv.block_shift;
        int members[kDecodeSeqs];
        uint32_t sets[kDecodeSeqs], next[kDecodeSeqs];
        for (int64_t a = j0; a < j1;) {
            const int64_t limit = std::min(j1, a + kTileKv);
            int64_t b = std::min(limit, (a / block + 1) * block);
            const int n = sharing(a, b, take, sets);
            while (b < limit) {
                const int64_t e = std::min(limit, b + block);
                if (sharing(b, e, take, next) != n || !std::equal(sets, sets + n, next)) break;
                b = e;
            }
            for (int i = 0; i < n; ++i) {
                int count = 0;
                for (uint32_t left = sets[i]; left; left &= left - 1) members[count++] = std::countr_zero(left);
                f(members, count, a, b);
            }
            a = b;
        }
    }

    // Scores of the rows of kv head g, sequences `members` (who share the block of [a, b)), for
    // the positions of [a, b) each sees: score(s, gi)[j - off]. The sequences that see all of
    // [a, b) go through one kernel call per position, each K row dotted with all their queries; a
    // sequence that sees part of it (its last positions, its window's start) alone.
    template <class Score>
    void score_run(int64_t g, const int* members, int count, int64_t a, int64_t b, int64_t off,
                   DecodeScratch::PerThread& th, Score score) const {
        int64_t n = 0;
        auto add_rows = [&](int s) {
            for (int64_t gi = 0; gi < group; ++gi) {
                const int64_t r = row(s, g, gi);
                th.rows.data()[n] = r;
                th.q.data()[n] = qf + r * hd;
                th.y.data()[n++] = score(s, gi);
            }
        };
        for (int m = 0; m < count; ++m)
            if (seq[members[m]].first <= a && seq[members[m]].vis >= b) add_rows(members[m]);
        score_positions(g, members[0], n, a, b, off, th);
        for (int m = 0; m < count; ++m) {
            const SeqState& q = seq[members[m]];
            if (q.first <= a && q.vis >= b) continue;
            n = 0;
            add_rows(members[m]);
            score_positions(g, members[m], n, std::max(a, q.first), std::min(b, q.vis), off, th);
        }
    }

    // The scores of th's n rows for positions [a, b) of sequence s's blocks, into th.y[r][j - off].
    void score_positions(int64_t g, int s, int64_t n, int64_t a, int64_t b, int64_t off,
                         DecodeScratch::PerThread& th) const {
        if (n == 0) return;
        float* d = th.dots.data();
        prefetch_rows(b - a, [&](int64_t i) { return seq[s].kv.k_head(a + i, g); });
        prefetch_next(s, a, b, [&](int64_t j) { return seq[s].kv.k_head(j, g); });
        if (k_f16) {
            // The span's K rows widened once for all n rows (at most kTileKv positions).
            const uint16_t* kr[kTileKv];
            for (int64_t j = a; j < b; ++j) kr[j - a] = static_cast<const uint16_t*>(seq[s].kv.k_head(j, g));
            dot_span(hd, b - a, kr, n, th.q.data(), scale, a - off, th.y.data());
            return;
        }
        for (int64_t j = a; j < b; ++j) {
            const void* kr = seq[s].kv.k_head(j, g);
            if (k_f16) {
                dot_rows(hd, static_cast<const uint16_t*>(kr), th.q.data(), n, d);
            } else {
                for (int64_t r = 0; r < n; ++r) d[r] = dot(hd, kr, qc + static_cast<size_t>(th.rows.data()[r]) * q_bytes);
            }
            for (int64_t r = 0; r < n; ++r) th.y.data()[r][j - off] = d[r] * scale;
        }
    }

    // out(s, gi) += Σ_j prob(s, gi)[j - off] · v_j over the positions of [a, b) (at most kTileKv,
    // shared by `members`) each row sees, j ascending per row; with lanes, position j goes to lane
    // j mod 8 of the row's lane buffer. The span's V rows are looked up (and dequantized, q8_0)
    // once for all rows and stay in cache while every row adds them; f16 rows that see the whole
    // span go through one kernel call.
    template <class Prob, class Out>
    void value_run(int64_t g, const int* members, int count, int64_t a, int64_t b, int64_t off, bool lanes,
                   DecodeScratch::PerThread& th, Prob prob, Out out) const {
        const void* vrow[kTileKv];
        const uint16_t* v16[kTileKv];
        prefetch_rows(b - a, [&](int64_t i) { return seq[members[0]].kv.v_head(a + i, g); });
        prefetch_next(members[0], a, b, [&](int64_t j) { return seq[members[0]].kv.v_head(j, g); });
        for (int64_t j = a; j < b; ++j) {
            v16[j - a] = static_cast<const uint16_t*>(seq[members[0]].kv.v_head(j, g));
            vrow[j - a] = seq[members[0]].kv.v_head(j, g);
            if (!v_f16 && !v_f32 && vrow[j - a]) {
                kf->dequantize_row(vrow[j - a], th.v.data() + (j - a) * hd, hd);
                vrow[j - a] = th.v.data() + (j - a) * hd;
            }
        }
        int64_t whole = 0;
        for (int m = 0; m < count; ++m) {
            const SeqState& q = seq[members[m]];
            const int64_t lo = std::max(a, q.first), hi = std::min(b, q.vis);
            for (int64_t gi = 0; gi < group; ++gi) {
                const float* p = prob(members[m], gi);
                float* o = out(members[m], gi);
                if (lanes && v_f16 && lo == a && hi == b) {
                    th.q.data()[whole] = p + (a - off);
                    th.y.data()[whole++] = o;
                    continue;
                }
                if (lanes && v_f16) {
                    if (lo < hi) axpy_lanes(hd, hi - lo, v16 + (lo - a), p + (lo - off), lo, o);
                    continue;
                }
                for (int64_t j = lo; j < hi; ++j) {
                    float* dst = lanes ? o + (j % kLanes) * hd : o;
                    if (v_f16)
                        axpy16(hd, p[j - off], static_cast<const uint16_t*>(vrow[j - a]), dst);
                    else
                        axpy_f32(hd, p[j - off], static_cast<const float*>(vrow[j - a]), dst);
                }
            }
        }
        if (whole > 0) axpy_lanes_rows(hd, b - a, v16, whole, th.q.data(), a, th.y.data());
    }
};

// Exact kernel: every row's scores over its context into one buffer (items of kv head × kTileKv
// positions), each row softmax'ed as attention_team's does, V·P per kv head and split into lanes,
// the splits' sums added in split order.
void decode_exact(ThreadPool& pool, const DecodePlan& P, DecodeScratch& sc) {
    const int64_t hd = P.hd, ld = P.ld, rows_all = P.rows_all();
    float* const scores = sc.scores.data();
    float* const part = sc.part.data();
    const int64_t n_tiles = (ld + kTileKv - 1) / kTileKv;
    pool.for_each_dynamic(P.n_kv * n_tiles, [&](int64_t it, int thread) {
        DecodeScratch::PerThread& th = sc.threads[static_cast<size_t>(thread)];
        const int64_t g = it / n_tiles, j0 = it % n_tiles * kTileKv, j1 = std::min(j0 + kTileKv, ld);
        auto take = [&](int64_t s, int64_t a, int64_t b) { return a < P.seq[s].vis && b > P.seq[s].first; };
        P.for_each_shared(j0, j1, take, [&](const int* members, int count, int64_t a, int64_t b) {
            P.score_run(g, members, count, a, b, 0, th, [&](int s, int64_t gi) { return scores + P.row(s, g, gi) * ld; });
        });
    });
    pool.for_each(rows_all, [&](int64_t row) {
        const SeqState& q = P.seq[row / P.n_head];
        float* sr = scores + row * ld;
        std::fill(sr + q.soft, sr + q.first, kNegInf);
        ops::softmax(sr + q.soft, q.vis - q.soft);
        if (P.v_f16)
            round_to_f16(sr + q.soft, q.vis - q.soft);
    });
    pool.for_each_dynamic(P.n_kv * P.n_split, [&](int64_t it, int thread) {
        DecodeScratch::PerThread& th = sc.threads[static_cast<size_t>(thread)];
        const int64_t g = it / P.n_split, sp = it % P.n_split, j0 = sp * kSplitKv;
        const int64_t j1 = std::min(j0 + kSplitKv, ld);
        float* const lanes = th.work.data();
        auto in_split = [&](int64_t s) { return P.seq[s].vis > j0 && P.seq[s].first < j0 + kSplitKv; };
        std::fill(lanes, lanes + P.n_seq * P.group * kLanes * hd, 0.f);
        auto take = [&](int64_t s, int64_t a, int64_t b) { return a < P.seq[s].vis && b > P.seq[s].first; };
        P.for_each_shared(j0, j1, take, [&](const int* members, int count, int64_t a, int64_t b) {
            P.value_run(
                g, members, count, a, b, 0, true, th, [&](int s, int64_t gi) { return scores + P.row(s, g, gi) * ld; },
                [&](int s, int64_t gi) { return lanes + (s * P.group + gi) * kLanes * hd; });
        });
        for (int64_t s = 0; s < P.n_seq; ++s)
            if (in_split(s))
                for (int64_t gi = 0; gi < P.group; ++gi)
                    reduce_lanes(lanes + (s * P.group + gi) * kLanes * hd, hd,
                                 part + (sp * rows_all + P.row(s, g, gi)) * hd);
    });
    pool.for_each(rows_all, [&](int64_t row) {
        const SeqState& q = P.seq[row / P.n_head];
        float* dst = q.out + row % P.n_head * hd;
        if (q.n_split == 1) {
            std::copy(part + row * hd, part + (row + 1) * hd, dst);
            return;
        }
        // attention_team adds every split's sum to zeros, a split before the window as zeros:
        // adding +0 to a sum that started at +0 changes nothing, so those are left out.
        std::fill(dst, dst + hd, 0.f);
        for (int64_t sp = 0; sp < q.n_split; ++sp)
            if (q.first < (sp + 1) * kSplitKv) axpy_f32(hd, 1.f, part + (sp * rows_all + row) * hd, dst);
    });
}

// Flash kernel, the rows of kv head g in split sp: attention_team's tiles of kTileKv positions from
// the split's start, each row's online softmax updated with the tile's positions it sees.
void flash_split(const DecodePlan& P, int64_t g, int64_t sp, DecodeScratch::PerThread& th, DecodeScratch& sc) {
    const int64_t hd = P.hd, rows = P.n_seq * P.group, j0 = sp * kSplitKv;
    const int64_t j_end = std::min(j0 + kSplitKv, P.ld);
    float* const s = th.work.data();  // rows × kTileKv scores, then rows × hd outputs
    float* const o = s + rows * kTileKv;
    RowAcc* const acc = th.acc.data();
    auto srow = [&](int64_t local) { return s + local * kTileKv; };
    auto orow = [&](int64_t local) { return o + local * hd; };
    std::fill(o, o + rows * hd, 0.f);
    std::fill(acc, acc + rows, RowAcc{});
    auto take = [&](int64_t q, int64_t a, int64_t) { return a < P.seq[q].vis; };
    for (int64_t t0 = j0; t0 < j_end; t0 += kTileKv) {
        const int64_t t1 = std::min(t0 + kTileKv, j_end);
        std::fill(s, s + rows * kTileKv, kNegInf);
        P.for_each_shared(t0, t1, take, [&](const int* members, int count, int64_t a, int64_t b) {
            P.score_run(g, members, count, a, b, t0, th, [&](int q, int64_t gi) { return srow(q * P.group + gi); });
        });
        for (int64_t local = 0; local < rows; ++local) {
            const int64_t e = std::min(t1, P.seq[local / P.group].vis) - t0;
            if (e <= 0) continue;
            float* sr = srow(local);
            RowAcc& a = acc[local];
            const float mt = *std::max_element(sr, sr + e);
            if (mt > a.m) {
                const float c = std::exp(a.m - mt);  // 0 for the row's first tile
                a.l *= c;
                for (int64_t i = 0; i < hd; ++i) orow(local)[i] *= c;
                a.m = mt;
            }
            for (int64_t j = 0; j < e; ++j) {
                sr[j] = sr[j] == kNegInf ? 0.f : std::exp(sr[j] - a.m);
                a.l += sr[j];
            }
        }
        P.for_each_shared(t0, t1, take, [&](const int* members, int count, int64_t a, int64_t b) {
            P.value_run(
                g, members, count, a, b, t0, false, th, [&](int q, int64_t gi) { return srow(q * P.group + gi); },
                [&](int q, int64_t gi) { return orow(q * P.group + gi); });
        });
    }
    for (int64_t local = 0; local < rows; ++local) {
        const SeqState& q = P.seq[local / P.group];
        if (q.vis <= j0) continue;
        const int64_t row = P.row(local / P.group, g, local % P.group);
        const RowAcc& a = acc[local];
        if (q.n_split == 1) {
            const float inv = a.l > 0.f ? 1.0f / a.l : 0.f;
            float* dst = q.out + row % P.n_head * hd;
            for (int64_t i = 0; i < hd; ++i) dst[i] = orow(local)[i] * inv;
            continue;
        }
        const auto pr = static_cast<size_t>(sp * P.rows_all() + row);
        sc.part_m.data()[pr] = a.m;
        sc.part_l.data()[pr] = a.l;
        std::copy(orow(local), orow(local) + hd, sc.part.data() + pr * static_cast<size_t>(hd));
    }
}

// Flash kernel: items of kv head × split, then the splits of each row merged with the usual
// rescaling (as attention_team merges them).
void decode_flash(ThreadPool& pool, const DecodePlan& P, DecodeScratch& sc) {
    const int64_t hd = P.hd, rows_all = P.rows_all();
    pool.for_each_dynamic(P.n_kv * P.n_split, [&](int64_t it, int thread) {
        flash_split(P, it / P.n_split, it % P.n_split, sc.threads[static_cast<size_t>(thread)], sc);
    });
    if (P.n_split == 1) return;
    const float* part_m = sc.part_m.data();
    const float* part_l = sc.part_l.data();
    const float* part_o = sc.part.data();
    pool.for_each(rows_all, [&](int64_t row) {
        const SeqState& q = P.seq[row / P.n_head];
        if (q.n_split == 1) return;
        merge_splits(part_m, part_l, part_o, q.n_split, rows_all, row, hd, q.out + row % P.n_head * hd);
    });
}

[[noreturn]] void decode_layout_exceeded(const char* what) {
    std::fprintf(stderr, "qlm: internal error: decode attention call exceeds its scratch layout (%s)\n", what);
    std::abort();
}

}  // namespace

void attention_decode_team(ThreadPool& pool, const Hparams& hp, int64_t layer, std::span<const DecodeQuery> seqs,
                           AttentionScratch& scratch) {
    DecodeScratch* sc = scratch.decode();
    const auto n_seq = static_cast<int64_t>(seqs.size());
    if (!sc || n_seq > sc->layout.decode_seqs) decode_layout_exceeded("sequences");
    if (static_cast<size_t>(pool.size()) > sc->threads.size()) decode_layout_exceeded("threads");
    const FormatOps& kf = *seqs[0].kv.format;
    const FormatOps& qf = format_ops(kf.vec_dot_type);
    const size_t q_bytes = format_row_bytes(qf, hp.head_dim);
    const int64_t rows_all = n_seq * hp.n_head, hd = hp.head_dim;
    auto* qfl = reinterpret_cast<float*>(sc->queries.data());  // the floats, then the dot-type rows
    uint8_t* qc = sc->queries.data() + rows_all * hd * sizeof(float);
    DecodePlan P{hd, hp.n_head, hp.n_head_kv, hp.n_head / hp.n_head_kv, n_seq, 0, 1,
                 hp.scale_q ? 1.0f : hp.kq_scale(), &kf, vec_dot_for(kf, active_isa()),
                 quantize_activation_for(qf, active_isa()), active_kernels().dot_f16_rows, active_kernels().dot_f16_span,
                 active_kernels().axpy_f16, active_kernels().axpy_f16_lanes,
                 active_kernels().axpy_f16_lanes_rows, q_bytes, seqs[0].kv.head_bytes, kf.type == GgmlType::F16,
                 kf.type == GgmlType::F16, kf.type == GgmlType::F32, qc, qfl, {}};
    const int64_t window = hp.is_swa(layer) ? hp.n_swa : 0;
    for (int64_t s = 0; s < n_seq; ++s) {
        const DecodeQuery& d = seqs[static_cast<size_t>(s)];
        const int64_t vis = d.pos + 1, first = window > 0 ? std::max<int64_t>(0, vis - window) : 0;
        P.seq[s] = {d.kv, vis, first, first / kLanes * kLanes, (vis + kSplitKv - 1) / kSplitKv, d.q, d.out};
        P.ld = std::max(P.ld, vis);
        P.n_split = std::max(P.n_split, P.seq[s].n_split);
    }
    if (static_cast<uint64_t>(rows_all * P.ld) > sc->scores.n && sc->layout.kernel == AttentionKernel::Exact)
        decode_layout_exceeded("scores");
    if (static_cast<uint64_t>(P.n_split * rows_all * hd) > sc->part.n) decode_layout_exceeded("split outputs");
    pool.for_each(rows_all, [&](int64_t row) {
        const float* src = P.seq[row / P.n_head].q + row % P.n_head * hd;
        uint8_t* dst = qc + static_cast<size_t>(row) * q_bytes;
        P.to_q(src, dst, hd);
        if (P.k_f16) f16_to_f32_row(reinterpret_cast<const uint16_t*>(dst), qfl + row * hd, hd);
    });
    if (sc->layout.kernel == AttentionKernel::Flash)
        decode_flash(pool, P, *sc);
    else
        decode_exact(pool, P, *sc);
}

void attention_runs(ThreadPool& pool, const Hparams& hp, const KvCache& kv, int64_t layer,
                    std::span<const SeqRun> runs, const float* q, float* out, AttentionScratch& scratch) {
    const int64_t qd = hp.n_head * hp.head_dim;
    const DecodeScratch* sc = scratch.decode();
    const bool flash = sc && sc->layout.kernel == AttentionKernel::Flash;
    const bool batched = sc && !(flash && hp.is_swa(layer)) && !(kv.type() == KvType::F16 && hp.head_dim % 8 != 0);
    DecodeQuery group[kDecodeSeqs];
    size_t n = 0;
    auto flush = [&] {
        if (n == 1)
            attention_team(pool, hp, group[0].kv, layer, group[0].q, 1, group[0].pos, group[0].out, scratch);
        else if (n > 1)
            attention_decode_team(pool, hp, layer, std::span<const DecodeQuery>(group, n), scratch);
        n = 0;
    };
    for (const SeqRun& r : runs) {
        if (!batched || r.n != 1) {
            attention_team(pool, hp, kv.view(r.seq, layer), layer, q + r.row0 * qd, r.n, r.p0, out + r.row0 * qd,
                           scratch);
            continue;
        }
        group[n++] = {kv.view(r.seq, layer), r.p0, q + r.row0 * qd, out + r.row0 * qd};
        if (static_cast<int64_t>(n) == sc->layout.decode_seqs) flush();
    }
    flush();
}

}  // namespace qlm
