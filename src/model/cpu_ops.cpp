// The CPU ops of the forward pass, in llama.cpp's order of operations (forward.cpp lists them).
#include "src/model/cpu_ops.h"

#include <span>

#include "quant/matmul.h"
#include "src/model/attention_decode.h"
#include "src/model/ops.h"
#include "src/model/weights.h"

namespace qlm {
namespace {

void add_bias(float* y, const float* b, int64_t n_tokens, int64_t dim) {
    if (!b) return;
    for (int64_t t = 0; t < n_tokens; ++t)
        for (int64_t i = 0; i < dim; ++i) y[t * dim + i] += b[i];
}

// One token's q, k and v as attention takes them: biases, the per-head q/k norms, RoPE with the
// position's cos/sin table cs, and q times the attention scale where the architecture scales q
// (in llama.cpp's order).
void prepare_row(const Hparams& hp, const LayerWeights& L, const float* cs, float* q, float* k, float* v) {
    const int64_t hd = hp.head_dim, QD = hp.n_head * hd, KVD = hp.n_head_kv * hd;
    add_bias(q, L.bq, 1, QD);
    add_bias(k, L.bk, 1, KVD);
    add_bias(v, L.bv, 1, KVD);
    for (int64_t h = 0; h < hp.n_head; ++h) {
        if (L.q_norm) ops::rmsnorm(q + h * hd, L.q_norm, q + h * hd, hd, hp.rms_eps);
        ops::rope_apply(q + h * hd, cs, hp.n_rot, hp.rope_style);
    }
    for (int64_t h = 0; h < hp.n_head_kv; ++h) {
        if (L.k_norm) ops::rmsnorm(k + h * hd, L.k_norm, k + h * hd, hd, hp.rms_eps);
        ops::rope_apply(k + h * hd, cs, hp.n_rot, hp.rope_style);
    }
    if (hp.scale_q)
        for (int64_t i = 0; i < QD; ++i) q[i] *= hp.attn_scale;
}

// One token's gated FFN activation: gate = act(gate) · up over n_ff values.
void gated_activation(const Hparams& hp, float* gate, const float* up) {
    if (hp.ffn_activation == FfnActivation::GeluTanh)
        ops::geglu(gate, up, hp.n_ff);
    else
        ops::swiglu(gate, up, hp.n_ff);
}

}  // namespace

CpuOps::CpuOps(const Model& model, KvCache& kv, ForwardBuffers& buffers, ThreadPool& pool, MatmulObserver* observer)
    : model_(model), kv_(kv), s_(buffers), team_(pool), observer_(observer) {}

void CpuOps::enter(const ChunkInput& chunk, ForwardBuffers&) {
    const Hparams& hp = model_.hparams();
    chunk_ = &chunk;
    n_ = chunk.n;
    pool_ = n_ > 1 || hp.n_embd >= 256 ? &team_ : &alone_;
    isa_ = active_isa();
    cs_ = s_.rope_cs.data();
    cs_swa_ = hp.has_swa() ? cs_ + n_ * hp.n_rot : cs_;
}

void CpuOps::mm(std::initializer_list<const WeightView*> ws, std::initializer_list<float*> ys, const float* in,
                int64_t n_tokens) {
    if (observer_)
        for (const WeightView* w : ws) observer_->on_matmul(*w, in, n_tokens);
    matmul_team(*pool_, std::span(ws.begin(), ws.size()), std::span(ys.begin(), ys.size()), in, n_tokens,
                s_.act.data(), isa_);
}

void CpuOps::attention_norm(int64_t layer) {
    const Hparams& hp = model_.hparams();
    const float* w = model_.weights().layers[static_cast<size_t>(layer)].attn_norm;
    const int64_t E = hp.n_embd;
    float *x = s_.x.data(), *xn = s_.xn.data();
    pool_->for_each(n_, [&](int64_t t) { ops::rmsnorm(x + t * E, w, xn + t * E, E, hp.rms_eps); });
}

void CpuOps::matmul(int64_t layer, LayerMatmul m) {
    const LayerWeights& L = model_.weights().layers[static_cast<size_t>(layer)];
    ForwardBuffers& s = s_;
    switch (m) {
        case LayerMatmul::Qkv: mm({&L.wq, &L.wk, &L.wv}, {s.q.data(), s.k.data(), s.v.data()}, s.xn.data(), n_); break;
        case LayerMatmul::O: mm({&L.wo}, {s.tmp.data()}, s.attn.data(), n_); break;
        case LayerMatmul::GateUp: mm({&L.gate, &L.up}, {s.gate.data(), s.up.data()}, s.xn.data(), n_); break;
        case LayerMatmul::Down: mm({&L.down}, {s.tmp.data()}, s.gate.data(), n_); break;
    }
}

void CpuOps::prepare_qkv(int64_t layer) {
    const Hparams& hp = model_.hparams();
    const LayerWeights& L = model_.weights().layers[static_cast<size_t>(layer)];
    const int64_t QD = hp.n_head * hp.head_dim, KVD = hp.n_head_kv * hp.head_dim;
    const float* cs = hp.is_swa(layer) ? cs_swa_ : cs_;
    float *q = s_.q.data(), *k = s_.k.data(), *v = s_.v.data();
    pool_->for_each(n_, [&](int64_t t) { prepare_row(hp, L, cs + t * hp.n_rot, q + t * QD, k + t * KVD, v + t * KVD); });
}

void CpuOps::store_kv(int64_t layer) {
    const Hparams& hp = model_.hparams();
    const int64_t KVD = hp.n_head_kv * hp.head_dim;
    const float *k = s_.k.data(), *v = s_.v.data();
    for (const SeqRun& r : chunk_->runs) kv_.store(r.seq, layer, r.p0, r.n, k + r.row0 * KVD, v + r.row0 * KVD);
}

void CpuOps::attention(int64_t layer) {
    attention_runs(*pool_, model_.hparams(), kv_, layer, chunk_->runs, s_.q.data(), s_.attn.data(), s_.attention);
}

void CpuOps::attention_residual(int64_t layer) {
    const Hparams& hp = model_.hparams();
    const LayerWeights& L = model_.weights().layers[static_cast<size_t>(layer)];
    const int64_t E = hp.n_embd;
    float *x = s_.x.data(), *xn = s_.xn.data(), *tmp = s_.tmp.data();
    pool_->for_each(n_, [&](int64_t t) {
        add_bias(tmp + t * E, L.bo, 1, E);
        if (L.post_attn_norm) ops::rmsnorm(tmp + t * E, L.post_attn_norm, tmp + t * E, E, hp.rms_eps);
        for (int64_t i = t * E; i < (t + 1) * E; ++i) x[i] += tmp[i];
        // The feed-forward block's norm right away, on the same token.
        ops::rmsnorm(x + t * E, L.ffn_norm, xn + t * E, E, hp.rms_eps);
    });
}

void CpuOps::ffn_activation(int64_t) {
    const Hparams& hp = model_.hparams();
    const int64_t F = hp.n_ff;
    float *gate = s_.gate.data(), *up = s_.up.data();
    pool_->for_each(n_, [&](int64_t t) { gated_activation(hp, gate + t * F, up + t * F); });
}

void CpuOps::ffn_residual(int64_t layer) {
    const Hparams& hp = model_.hparams();
    const float* post = model_.weights().layers[static_cast<size_t>(layer)].post_ffn_norm;
    const int64_t E = hp.n_embd;
    float *x = s_.x.data(), *tmp = s_.tmp.data();
    pool_->for_each(n_, [&](int64_t t) {
        if (post) ops::rmsnorm(tmp + t * E, post, tmp + t * E, E, hp.rms_eps);
        for (int64_t i = t * E; i < (t + 1) * E; ++i) x[i] += tmp[i];
    });
}

void CpuOps::moe_ffn(int64_t layer) {
    ForwardBuffers& s = s_;
    moe_ffn_team(*pool_, model_.hparams(), model_.weights().layers[static_cast<size_t>(layer)].moe, n_,
                 {s.xn.data(), s.x.data(), s.gate.data(), s.up.data(), s.tmp.data(), s.act.data(), isa_, observer_},
                 s.moe);
}

void CpuOps::output(float* logits) {
    const Hparams& hp = model_.hparams();
    const ModelWeights& w = model_.weights();
    const int64_t E = hp.n_embd;
    const auto n_out = static_cast<int64_t>(chunk_->outputs.size());
    const float* x = s_.x.data();
    float* xn = s_.xn.data();
    const std::span<const int64_t> rows = chunk_->outputs;
    pool_->for_each(n_out, [&](int64_t i) {
        ops::rmsnorm(x + rows[static_cast<size_t>(i)] * E, w.output_norm, xn + i * E, E, hp.rms_eps);
    });
    mm({&w.output}, {logits}, xn, n_out);
    if (hp.final_logit_softcap > 0.f)
        pool_->for_each(n_out, [&](int64_t t) { ops::softcap(logits + t * hp.n_vocab, hp.n_vocab, hp.final_logit_softcap); });
}

}  // namespace qlm
