// moe_ffn_team: routing (softmax, top-k, normalised weights), the experts' SwiGLU products
// grouped by expert, and the weighted sum in llama.cpp's order (best expert first, then the
// residual).
#include "src/model/moe_ffn.h"

#include <algorithm>
#include <cmath>

#include "src/model/matmul_observer.h"
#include "src/model/ops.h"
#include "src/model/plan_math.h"

namespace qlm {

namespace {

using plan_math::add, plan_math::mul, plan_math::u;

// ggml's clamp of the weights' sum before the division: the smallest normal f16.
constexpr float kMinWeightSum = 6.103515625e-5f;
// Experts whose gate and up products one decode pass shares the input conversion of.
constexpr int64_t kDecodeExperts = 8;

template <class T>
std::vector<T> sized(int64_t a, int64_t b = 1) {
    return std::vector<T>(static_cast<size_t>(a) * static_cast<size_t>(b));
}

// y = in · Wᵀ for weights sharing one input (matmul_team), with the observer told first; the
// experts' products add in the order of llama.cpp's ggml_mul_mat_id, the router's in ggml_mul_mat's.
void product(ThreadPool& pool, std::initializer_list<const WeightView*> ws, std::initializer_list<float*> ys,
             const float* in, int64_t n, const MoeStep& s, MatmulOrder order = MatmulOrder::MulMatId) {
    if (s.observer)
        for (const WeightView* w : ws) s.observer->on_matmul(*w, in, n);
    matmul_team(pool, std::span(ws.begin(), ws.size()), std::span(ys.begin(), ys.size()), in, n, s.act, s.isa, order);
}

// gate = silu(gate) ⊙ up over `rows` rows of width F, row by row as ggml's swiglu.
void swiglu_team(ThreadPool& pool, float* gate, const float* up, int64_t rows, int64_t F) {
    pool.for_each(rows, [&](int64_t r) { ops::swiglu(gate + r * F, up + r * F, F); });
}

// Assignments (t·n_used + slot) grouped by expert, tokens in order within each expert.
void group_by_expert(const Hparams& hp, int64_t n, MoeBuffers& b) {
    const int64_t k = hp.n_expert_used;
    std::fill(b.offsets.begin(), b.offsets.end(), 0);
    for (int64_t a = 0; a < n * k; ++a) ++b.offsets[static_cast<size_t>(b.chosen[static_cast<size_t>(a)]) + 1];
    for (int64_t e = 0; e < hp.n_expert; ++e) b.offsets[static_cast<size_t>(e) + 1] += b.offsets[static_cast<size_t>(e)];
    // A counting sort: offsets[e] serves as expert e's cursor, ending at expert e + 1's start...
    for (int64_t a = 0; a < n * k; ++a)
        b.order[static_cast<size_t>(b.offsets[static_cast<size_t>(b.chosen[static_cast<size_t>(a)])]++)] =
            static_cast<int32_t>(a);
    // ...so the starts are the cursors shifted by one.
    for (int64_t e = hp.n_expert; e > 0; --e) b.offsets[static_cast<size_t>(e)] = b.offsets[static_cast<size_t>(e) - 1];
    b.offsets[0] = 0;
}

// A prompt chunk: each expert multiplies the rows of the tokens routed to it; its outputs go to
// their assignments' rows of b.out.
void experts_grouped(ThreadPool& pool, const Hparams& hp, const MoeWeights& w, int64_t n, const MoeStep& s,
                     MoeBuffers& b) {
    const int64_t E = hp.n_embd, F = hp.n_ff_exp, k = hp.n_expert_used;
    group_by_expert(hp, n, b);
    for (int64_t e = 0; e < hp.n_expert; ++e) {
        const int32_t* rows = b.order.data() + b.offsets[static_cast<size_t>(e)];
        const int64_t m = b.offsets[static_cast<size_t>(e) + 1] - b.offsets[static_cast<size_t>(e)];
        if (m == 0) continue;
        const float* in = s.xn;  // every token routed here, in order: the input as it is
        if (m != n) {
            pool.for_each(m, [&](int64_t r) { std::copy_n(s.xn + (rows[r] / k) * E, E, b.in.data() + r * E); });
            in = b.in.data();
        }
        const WeightView gate = w.gate.expert(e), up = w.up.expert(e), down = w.down.expert(e);
        product(pool, {&gate, &up}, {s.gate, s.up}, in, m, s);
        swiglu_team(pool, s.gate, s.up, m, F);
        product(pool, {&down}, {s.tmp}, s.gate, m, s);
        pool.for_each(m, [&](int64_t r) {
            std::copy_n(s.tmp + r * E, E, b.out.data() + static_cast<int64_t>(rows[r]) * E);
        });
    }
}

// One token: the gate and up products of its experts share one pass over the input; each down
// product writes its slot's row of b.out.
void experts_one_token(ThreadPool& pool, const Hparams& hp, const MoeWeights& w, const MoeStep& s, MoeBuffers& b) {
    const int64_t E = hp.n_embd, F = hp.n_ff_exp, k = hp.n_expert_used;
    for (int64_t s0 = 0; s0 < k; s0 += kDecodeExperts) {
        const int64_t ns = std::min(kDecodeExperts, k - s0);
        WeightView views[2 * kDecodeExperts];
        const WeightView* ws[2 * kDecodeExperts];
        float* ys[2 * kDecodeExperts];
        for (int64_t i = 0; i < ns; ++i) {
            const int32_t e = b.chosen[static_cast<size_t>(s0 + i)];
            views[2 * i] = w.gate.expert(e);
            views[2 * i + 1] = w.up.expert(e);
            ys[2 * i] = s.gate + (s0 + i) * F;
            ys[2 * i + 1] = s.up + (s0 + i) * F;
        }
        for (int64_t i = 0; i < 2 * ns; ++i) ws[i] = &views[i];
        if (s.observer)
            for (int64_t i = 0; i < 2 * ns; ++i) s.observer->on_matmul(*ws[i], s.xn, 1);
        matmul_team(pool, std::span(ws, static_cast<size_t>(2 * ns)), std::span(ys, static_cast<size_t>(2 * ns)), s.xn, 1,
                    s.act, s.isa, MatmulOrder::MulMatId);
    }
    swiglu_team(pool, s.gate, s.up, k, F);
    for (int64_t slot = 0; slot < k; ++slot) {
        const WeightView down = w.down.expert(b.chosen[static_cast<size_t>(slot)]);
        product(pool, {&down}, {b.out.data() + slot * E}, s.gate + slot * F, 1, s);
    }
}

}  // namespace

MoeLayout moe_layout(const Hparams& hp, int64_t n_batch) {
    MoeLayout l;
    if (!hp.is_moe()) return l;
    l.n_batch = n_batch;
    l.n_expert = hp.n_expert;
    l.n_used = hp.n_expert_used;
    l.n_embd = hp.n_embd;
    const uint64_t nb = u(n_batch), ne = u(l.n_expert), k = u(l.n_used), E = u(l.n_embd);
    const uint64_t floats = add({mul({nb, ne}), mul({nb, k}), mul({nb, E}), mul({nb, k, E})});
    const uint64_t ints = add({mul({nb, k}), ne + 1, mul({nb, k})});
    l.bytes = add({mul({floats, sizeof(float)}), mul({ints, sizeof(int32_t)})});
    return l;
}

int64_t moe_ffn_rows(const Hparams& hp, int64_t n_batch) {
    return hp.is_moe() ? std::max(n_batch, hp.n_expert_used) : n_batch;
}

MoeBuffers::MoeBuffers(const MoeLayout& l)
    : probs(sized<float>(l.n_batch, l.n_expert)),
      chosen(sized<int32_t>(l.n_batch, l.n_used)),
      weights(sized<float>(l.n_batch, l.n_used)),
      offsets(l.empty() ? 0 : static_cast<size_t>(l.n_expert) + 1),
      order(sized<int32_t>(l.n_batch, l.n_used)),
      in(sized<float>(l.n_batch, l.n_embd)),
      out(sized<float>(l.n_batch * l.n_used, l.n_embd)) {}

uint64_t MoeBuffers::bytes() const {
    return (probs.capacity() + weights.capacity() + in.capacity() + out.capacity()) * sizeof(float) +
           (chosen.capacity() + offsets.capacity() + order.capacity()) * sizeof(int32_t);
}

void moe_route(const Hparams& hp, float* logits, int32_t* chosen, float* weights) {
    const int64_t ne = hp.n_expert, k = hp.n_expert_used;
    ops::softmax(logits, ne);
    // The k largest, best first (a partial selection sort: k is small).
    for (int64_t s = 0; s < k; ++s) {
        int32_t best = -1;
        for (int64_t e = 0; e < ne; ++e) {
            if (std::find(chosen, chosen + s, static_cast<int32_t>(e)) != chosen + s) continue;
            if (best < 0 || logits[e] > logits[best]) best = static_cast<int32_t>(e);
        }
        chosen[s] = best;
        weights[s] = logits[best];
    }
    double sum = 0.0;  // ggml's sum_rows accumulates in double
    for (int64_t s = 0; s < k; ++s) sum += static_cast<double>(weights[s]);
    const float denom = std::max(static_cast<float>(sum), kMinWeightSum);
    const float scale = hp.expert_weights_scale;
    for (int64_t s = 0; s < k; ++s) {
        weights[s] /= denom;
        if (scale != 0.f && scale != 1.f) weights[s] *= scale;
    }
}

void moe_ffn_team(ThreadPool& pool, const Hparams& hp, const MoeWeights& w, int64_t n, const MoeStep& s,
                  MoeBuffers& b) {
    const int64_t E = hp.n_embd, ne = hp.n_expert, k = hp.n_expert_used;
    product(pool, {&w.router}, {b.probs.data()}, s.xn, n, s, MatmulOrder::MulMat);
    pool.for_each(n, [&](int64_t t) {
        moe_route(hp, b.probs.data() + t * ne, b.chosen.data() + t * k, b.weights.data() + t * k);
    });
    if (n == 1)
        experts_one_token(pool, hp, w, s, b);
    else
        experts_grouped(pool, hp, w, n, s, b);
    // llama.cpp's order: each expert's output times its weight, summed best first, then the residual.
    pool.for_each(n, [&](int64_t t) {
        const float* wt = b.weights.data() + t * k;
        const float* y = b.out.data() + t * k * E;
        float* xt = s.x + t * E;
        for (int64_t i = 0; i < E; ++i) {
            float acc = y[i] * wt[0];
            for (int64_t slot = 1; slot < k; ++slot) acc += y[slot * E + i] * wt[slot];
            xt[i] += acc;
        }
    });
}

}  // namespace qlm
