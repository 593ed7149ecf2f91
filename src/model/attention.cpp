#include "src/model/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "quant/formats.h"
#include "quant/fp16.h"
#include "src/model/kv_cache.h"
#include "src/model/model.h"
#include "src/model/ops.h"

namespace qlm {

namespace {
constexpr int64_t kTileTokens = 8;   // query tokens per work item
constexpr int64_t kTileKv = 64;      // KV positions per tile
constexpr int64_t kSplitKv = 512;    // decode: KV positions per partial result
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

inline void axpy_f32(int64_t n, float a, const float* x, float* y) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// The running softmax state of one row (flash kernel): max m and normaliser l.
struct RowAcc {
    float m = kNegInf;
    float l = 0.f;
};

// Rows of one work item: row r = tt·group + gi is token t0 + tt, query head g·group + gi.
struct Item {
    int64_t g;    // kv head
    int64_t t0;   // first query token of the tile
    int64_t nt;   // tokens in the tile
    int64_t sp;   // KV split index
};

// What every item of one call shares: shapes, kernels, the converted queries and the work split.
struct Plan {
    const KvCache& kv;
    int64_t layer, n, p0, hd, n_head, group;
    float scale;
    const FormatOps& kf;
    VecDotFn dot;
    QuantizeRowFn to_q;
    size_t q_bytes;
    bool v_f16, v_f32;
    int64_t n_kv_end, split, n_split;
    std::vector<uint8_t> qc;  // queries in K's dot type, one row per (t, h)
    std::vector<Item> items;

    Plan(const Hparams& hp, const KvCache& kv_, int64_t layer_, int64_t n_, int64_t p0_)
        : kv(kv_), layer(layer_), n(n_), p0(p0_), hd(hp.head_dim), n_head(hp.n_head),
          group(hp.n_head / hp.n_head_kv), scale(1.0f / std::sqrt(static_cast<float>(hp.head_dim))),
          kf(kv_.format()), dot(vec_dot_for(kf, active_isa())),
          to_q(quantize_activation_for(format_ops(kf.vec_dot_type), active_isa())),
          q_bytes(static_cast<size_t>(format_row_bytes(format_ops(kf.vec_dot_type), hd))),
          v_f16(kf.type == GgmlType::F16), v_f32(kf.type == GgmlType::F32), n_kv_end(p0_ + n_),
          split(n_ < kTileTokens && p0_ + n_ > kSplitKv ? kSplitKv : p0_ + n_),
          n_split((n_kv_end + split - 1) / split), qc(static_cast<size_t>(n_ * n_head) * q_bytes) {
        const int64_t n_qt = (n + kTileTokens - 1) / kTileTokens;
        // Later query tiles see more of the causal context: schedule them first.
        for (int64_t qt = n_qt - 1; qt >= 0; --qt)
            for (int64_t g = 0; g < hp.n_head_kv; ++g)
                for (int64_t sp = 0; sp < n_split; ++sp) {
                    const int64_t t0 = qt * kTileTokens, nt = std::min(kTileTokens, n - t0);
                    if (sp * split <= p0 + t0 + nt - 1)  // else the split is in every row's future
                        items.push_back({g, t0, nt, sp});
                }
    }
    int64_t rows_all() const { return n * n_head; }
    int64_t row_of(const Item& w, int64_t r) const { return (w.t0 + r / group) * n_head + w.g * group + r % group; }
    int64_t visible(int64_t row) const { return p0 + row / n_head + 1; }  // positions row may attend to
    int64_t j_begin(const Item& w) const { return w.sp * split; }
    int64_t j_end(const Item& w) const { return std::min((w.sp + 1) * split, p0 + w.t0 + w.nt); }
    const uint8_t* q_row(int64_t row) const { return qc.data() + static_cast<size_t>(row) * q_bytes; }

    // Scores of the item's rows for positions [j0, j1): dst(r)[j - j0]; future positions get -inf.
    // Each K row is read once for all rows of the item.
    template <class Dst>
    void scores(const Item& w, int64_t j0, int64_t j1, Dst dst) const {
        const int64_t rows = w.nt * group;
        for (int64_t j = j0; j < j1; ++j) {
            const void* kr = kv.k_head(layer, j, w.g);
            for (int64_t r = 0; r < rows; ++r) {
                const int64_t row = row_of(w, r);
                dst(r)[j - j0] = j < visible(row) ? dot(hd, kr, q_row(row)) * scale : kNegInf;
            }
        }
    }

    // o(r) += Σ_j p(r)[j - j0] · v_j over positions [j0, j1) visible to row r, j ascending per row.
    // vt: scratch for kTileKv dequantized V rows (q8_0 caches).
    template <class P, class O>
    void accumulate_v(const Item& w, int64_t j0, int64_t j1, P p, O o, float* vt) const {
        const int64_t rows = w.nt * group;
        for (int64_t t0 = j0; t0 < j1; t0 += kTileKv) {
            const int64_t t1 = std::min(t0 + kTileKv, j1);
            if (!v_f16 && !v_f32)
                for (int64_t j = t0; j < t1; ++j) kf.dequantize_row(kv.v_head(layer, j, w.g), vt + (j - t0) * hd, hd);
            for (int64_t r = 0; r < rows; ++r) {
                const float* pr = p(r);
                float* orow = o(r);
                const int64_t end = std::min(t1, visible(row_of(w, r)));
                for (int64_t j = t0; j < end; ++j) {
                    const float pj = pr[j - j0];
                    if (v_f16)
                        axpy_f16(hd, pj, static_cast<const uint16_t*>(kv.v_head(layer, j, w.g)), orow);
                    else if (v_f32)
                        axpy_f32(hd, pj, static_cast<const float*>(kv.v_head(layer, j, w.g)), orow);
                    else
                        axpy_f32(hd, pj, vt + (j - t0) * hd, orow);
                }
            }
        }
    }

    // llama.cpp's softmax of one row's visible scores; with an f16 V the probabilities are
    // rounded to f16, as its V·P product converts them.
    void softmax_row(float* s, int64_t count) const {
        ops::softmax(s, count);
        if (v_f16)
            for (int64_t j = 0; j < count; ++j) s[j] = fp16_to_fp32(fp32_to_fp16(s[j]));
    }
};

}  // namespace

// What attention_team keeps between calls: the plan and the split buffers.
struct AttentionScratch::Impl {
    std::optional<Plan> plan;
    std::vector<float> all_scores, part, part_o, part_m, part_l;
};

namespace {
// Converts every query row to K's dot type (on the pool's threads).
void convert_queries(ThreadPool& pool, Plan& P, const float* q) {
    pool.for_each(P.rows_all(), [&](int64_t row) { P.to_q(q + row * P.hd, P.qc.data() + static_cast<size_t>(row) * P.q_bytes, P.hd); });
}

// Exact kernel. Without a split each item owns its rows' whole context: scores, softmax, V.
// With a split (decoding), every row's scores go to one buffer first, each row is softmax'ed over
// its whole context, then the items weight V and the splits' sums are added in split order.
// Items run on any thread of the pool, so each has its own scratch; the shared buffers were sized
// by prepare_shared.
void attention_exact(ThreadPool& pool, Plan& P, const float* q, float* out, AttentionScratch::Impl& sh) {
    const int64_t hd = P.hd, rows_all = P.rows_all(), ld = P.n_kv_end;
    const auto uhd = static_cast<size_t>(hd);
    const bool split = P.n_split > 1;
    std::vector<float>& all_scores = sh.all_scores;
    std::vector<float>& part = sh.part;
    {
        const size_t vt_size = P.v_f16 || P.v_f32 ? 0 : static_cast<size_t>(kTileKv * hd);  // q8_0 V rows
        convert_queries(pool, P, q);
        if (!split) {
            pool.for_each_dynamic(static_cast<int64_t>(P.items.size()), [&](int64_t it) {
                const Item& w = P.items[static_cast<size_t>(it)];
                const int64_t span = P.j_end(w), rows = w.nt * P.group;
                std::vector<float> s(static_cast<size_t>(rows * span)), vt(vt_size);
                auto srow = [&](int64_t r) { return s.data() + r * span; };
                P.scores(w, 0, span, srow);
                for (int64_t r = 0; r < rows; ++r) P.softmax_row(srow(r), P.visible(P.row_of(w, r)));
                auto orow = [&](int64_t r) { return out + P.row_of(w, r) * hd; };
                for (int64_t r = 0; r < rows; ++r) std::fill(orow(r), orow(r) + hd, 0.f);
                P.accumulate_v(w, 0, span, srow, orow, vt.data());
            });
        } else {
            auto grow = [&](int64_t row) { return all_scores.data() + row * ld; };
            pool.for_each_dynamic(static_cast<int64_t>(P.items.size()), [&](int64_t it) {
                const Item& w = P.items[static_cast<size_t>(it)];
                const int64_t j0 = P.j_begin(w);
                P.scores(w, j0, P.j_end(w), [&](int64_t r) { return grow(P.row_of(w, r)) + j0; });
            });
            pool.for_each(rows_all, [&](int64_t row) { P.softmax_row(grow(row), P.visible(row)); });
            pool.for_each_dynamic(static_cast<int64_t>(P.items.size()), [&](int64_t it) {
                const Item& w = P.items[static_cast<size_t>(it)];
                const int64_t j0 = P.j_begin(w);
                std::vector<float> vt(vt_size);
                float* base = part.data() + static_cast<size_t>(w.sp * rows_all) * uhd;
                P.accumulate_v(
                    w, j0, P.j_end(w), [&](int64_t r) { return grow(P.row_of(w, r)) + j0; },
                    [&](int64_t r) { return base + P.row_of(w, r) * hd; }, vt.data());
            });
            pool.for_each(rows_all, [&](int64_t row) {
                float* dst = out + row * hd;
                std::fill(dst, dst + hd, 0.f);
                for (int64_t sp = 0; sp < P.n_split; ++sp)
                    axpy_f32(hd, 1.f, part.data() + static_cast<size_t>(sp * rows_all + row) * uhd, dst);
            });
        }
    }
}

// Flash kernel: online softmax over tiles of kTileKv positions. Splits keep (max, normaliser,
// unnormalised output) per row and are merged with the usual rescaling.
// Items run on any thread of the pool, so each has its own scratch; the shared buffers were sized
// by prepare_shared.
void attention_flash(ThreadPool& pool, Plan& P, const float* q, float* out, AttentionScratch::Impl& sh) {
    const int64_t hd = P.hd, rows_all = P.rows_all();
    const auto uhd = static_cast<size_t>(hd);
    std::vector<float>& part_o = sh.part_o;
    std::vector<float>& part_m = sh.part_m;
    std::vector<float>& part_l = sh.part_l;
    const int64_t max_rows = P.group * kTileTokens;
    {
        const size_t vt_size = P.v_f16 || P.v_f32 ? 0 : static_cast<size_t>(kTileKv * hd);  // q8_0 V rows
        convert_queries(pool, P, q);
        pool.for_each_dynamic(static_cast<int64_t>(P.items.size()), [&](int64_t it) {
            std::vector<float> s(static_cast<size_t>(max_rows * kTileKv)), o(static_cast<size_t>(max_rows * hd));
            std::vector<float> vt(vt_size);
            std::vector<RowAcc> acc(static_cast<size_t>(max_rows));
            const Item& w = P.items[static_cast<size_t>(it)];
            const int64_t rows = w.nt * P.group, j_end = P.j_end(w);
            auto srow = [&](int64_t r) { return s.data() + r * kTileKv; };
            auto orow = [&](int64_t r) { return o.data() + r * hd; };
            std::fill(o.begin(), o.begin() + rows * hd, 0.f);
            std::fill(acc.begin(), acc.begin() + rows, RowAcc{});
            for (int64_t j0 = P.j_begin(w); j0 < j_end; j0 += kTileKv) {
                const int64_t j1 = std::min(j0 + kTileKv, j_end);
                P.scores(w, j0, j1, srow);
                // Rescale each row to the tile's new max and turn its scores into weights.
                for (int64_t r = 0; r < rows; ++r) {
                    float* sr = srow(r);
                    RowAcc& a = acc[static_cast<size_t>(r)];
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
                P.accumulate_v(w, j0, j1, srow, orow, vt.data());
            }
            for (int64_t r = 0; r < rows; ++r) {
                const int64_t row = P.row_of(w, r);
                const RowAcc& a = acc[static_cast<size_t>(r)];
                if (P.n_split == 1) {
                    const float inv = a.l > 0.f ? 1.0f / a.l : 0.f;
                    for (int64_t i = 0; i < hd; ++i) out[row * hd + i] = orow(r)[i] * inv;
                } else {
                    const auto pr = static_cast<size_t>(w.sp * rows_all + row);
                    part_m[pr] = a.m;
                    part_l[pr] = a.l;
                    std::copy(orow(r), orow(r) + hd, part_o.begin() + static_cast<ptrdiff_t>(pr * uhd));
                }
            }
        });
        if (P.n_split > 1) {
            pool.for_each(rows_all, [&](int64_t row) {
                float m = kNegInf, l = 0.f;
                for (int64_t sp = 0; sp < P.n_split; ++sp) m = std::max(m, part_m[static_cast<size_t>(sp * rows_all + row)]);
                float* dst = out + row * hd;
                std::fill(dst, dst + hd, 0.f);
                for (int64_t sp = 0; sp < P.n_split; ++sp) {
                    const auto pr = static_cast<size_t>(sp * rows_all + row);
                    if (part_m[pr] == kNegInf) continue;  // a split wholly in this row's future
                    const float c = std::exp(part_m[pr] - m);
                    l += part_l[pr] * c;
                    axpy_f32(hd, c, part_o.data() + pr * uhd, dst);
                }
                const float inv = l > 0.f ? 1.0f / l : 0.f;
                for (int64_t i = 0; i < hd; ++i) dst[i] *= inv;
            });
        }
    }
}
// One thread: the plan of this call and the shared buffers its kernel needs.
void prepare_shared(AttentionScratch::Impl& sh, const Hparams& hp, const KvCache& kv, int64_t layer, int64_t n,
                    int64_t p0, AttentionKernel kernel) {
    const Plan& P = sh.plan.emplace(hp, kv, layer, n, p0);
    if (P.n_split <= 1) return;
    const auto rows = static_cast<size_t>(P.n_split * P.rows_all());
    const auto uhd = static_cast<size_t>(P.hd);
    if (kernel == AttentionKernel::Flash) {
        sh.part_o.assign(rows * uhd, 0.f);
        sh.part_m.assign(rows, kNegInf);
        sh.part_l.assign(rows, 0.f);
    } else {
        sh.all_scores.resize(static_cast<size_t>(P.rows_all() * P.n_kv_end));
        sh.part.assign(rows * uhd, 0.f);
    }
}

void run_kernel(ThreadPool& pool, AttentionScratch::Impl& sh, const float* q, float* out, AttentionKernel kernel) {
    if (kernel == AttentionKernel::Flash)
        attention_flash(pool, *sh.plan, q, out, sh);
    else
        attention_exact(pool, *sh.plan, q, out, sh);
}
}  // namespace

AttentionScratch::AttentionScratch() : impl_(std::make_unique<Impl>()) {}
AttentionScratch::~AttentionScratch() = default;

void attention(const Hparams& hp, const KvCache& kv, int64_t layer, const float* q, int64_t n, int64_t p0,
               float* out, AttentionKernel kernel) {
    if (n <= 0) return;
    AttentionScratch::Impl sh;
    prepare_shared(sh, hp, kv, layer, n, p0, kernel);
    ThreadPool alone;
    run_kernel(alone, sh, q, out, kernel);
}

void attention_team(ThreadPool& pool, const Hparams& hp, const KvCache& kv, int64_t layer, const float* q, int64_t n,
                    int64_t p0, float* out, AttentionKernel kernel, AttentionScratch& scratch) {
    if (n <= 0) return;
    prepare_shared(*scratch.impl_, hp, kv, layer, n, p0, kernel);
    run_kernel(pool, *scratch.impl_, q, out, kernel);
}

void attention_reference(const Hparams& hp, const KvCache& kv, int64_t layer, const float* q, int64_t n, int64_t p0,
                         float* out) {
    const int64_t hd = hp.head_dim, n_head = hp.n_head;
    const FormatOps& kf = kv.format();
    std::vector<float> kj(static_cast<size_t>(hd)), vj(static_cast<size_t>(hd));
    std::vector<double> scores;
    for (int64_t t = 0; t < n; ++t)
        for (int64_t h = 0; h < n_head; ++h) {
            const int64_t g = ops::kv_head_for(h, n_head, hp.n_head_kv);
            const float* qh = q + (t * n_head + h) * hd;
            const int64_t n_kv = p0 + t + 1;
            scores.assign(static_cast<size_t>(n_kv), 0.0);
            double mx = -std::numeric_limits<double>::infinity();
            for (int64_t j = 0; j < n_kv; ++j) {
                kf.dequantize_row(kv.k_head(layer, j, g), kj.data(), hd);
                double d = 0;
                for (int64_t i = 0; i < hd; ++i) d += static_cast<double>(qh[i]) * kj[static_cast<size_t>(i)];
                scores[static_cast<size_t>(j)] = d / std::sqrt(static_cast<double>(hd));
                mx = std::max(mx, scores[static_cast<size_t>(j)]);
            }
            double sum = 0;
            for (double& sc : scores) sum += (sc = std::exp(sc - mx));
            std::vector<double> acc(static_cast<size_t>(hd), 0.0);
            for (int64_t j = 0; j < n_kv; ++j) {
                kf.dequantize_row(kv.v_head(layer, j, g), vj.data(), hd);
                for (int64_t i = 0; i < hd; ++i) acc[static_cast<size_t>(i)] += scores[static_cast<size_t>(j)] * vj[static_cast<size_t>(i)];
            }
            float* dst = out + (t * n_head + h) * hd;
            for (int64_t i = 0; i < hd; ++i) dst[i] = static_cast<float>(acc[static_cast<size_t>(i)] / sum);
        }
}

}  // namespace qlm
