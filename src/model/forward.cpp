// The forward pass, top to bottom (llama2.c's run.c, batched):
//   embed -> per layer: rmsnorm -> q,k,v (+bias) -> rope -> KV append -> causal GQA attention
//   -> o-proj -> residual -> rmsnorm -> SwiGLU FFN -> residual;  final rmsnorm -> logits.
// A prompt chunk of up to n_batch tokens goes through each layer at once, so every projection
// is one matrix x matrix product; a decode step is the same code with one token.
// Attention (attention.h) is tiled over the KV cache: by default with llama.cpp's numerics (each
// row's scores softmax'ed at once; with the F16 KV cache the queries are rounded to f16 for the
// K·Q dots and the probabilities for V), with --flash-attn as an online softmax.
#include "src/model/forward.h"

#include <initializer_list>
#include <span>
#include <vector>

#include "quant/formats.h"
#include "quant/matmul.h"
#include "src/model/ops.h"
#include "src/model/weights.h"

namespace qlm {

namespace {
std::vector<float> floats(int64_t rows, int64_t width) {
    return std::vector<float>(static_cast<size_t>(rows) * static_cast<size_t>(width));
}

void add_bias(float* y, const float* b, int64_t n_tokens, int64_t dim) {
    if (!b) return;
    for (int64_t t = 0; t < n_tokens; ++t)
        for (int64_t i = 0; i < dim; ++i) y[t * dim + i] += b[i];
}
}  // namespace

ForwardBuffers::ForwardBuffers(const ContextLayout& l)
    : x(floats(l.n_batch, l.n_embd)),
      xn(floats(l.n_batch, l.n_embd)),
      tmp(floats(l.n_batch, l.n_embd)),
      q(floats(l.n_batch, l.q_dim)),
      attn(floats(l.n_batch, l.q_dim)),
      k(floats(l.n_batch, l.kv_dim)),
      v(floats(l.n_batch, l.kv_dim)),
      gate(floats(l.n_batch, l.n_ff)),
      up(floats(l.n_batch, l.n_ff)),
      rope_cs(floats(l.n_batch, l.n_rot)),
      act(static_cast<size_t>(l.matmul_input_bytes)),
      attention(l.attention) {}

uint64_t ForwardBuffers::bytes() const {
    uint64_t b = act.capacity() + attention.bytes();
    for (const std::vector<float>* f : {&x, &xn, &tmp, &q, &attn, &k, &v, &gate, &up, &rope_cs})
        b += f->capacity() * sizeof(float);
    return b;
}

// One parallel region for the whole chunk: every step below is either a worksharing loop split
// over the team (matmuls, attention, per-token and per-element work) or done by one thread, and
// the loops' barriers order the steps. Nothing inside allocates or throws: every buffer was
// allocated with the context, the weights' shapes were checked then, the tokens and positions by
// eval (an exception cannot leave an OpenMP region).
void forward_chunk(const Model& model, KvCache& kv, ForwardBuffers& s, const ForwardSettings& settings,
                   const int32_t* tokens, int64_t n, bool all_logits, float* logits_out) {
    const int64_t p0 = kv.n_past();
    const Hparams& hp = model.hparams();
    const ModelWeights& w = model.weights();
    const int64_t E = hp.n_embd, hd = hp.head_dim, QD = hp.n_head * hd, KVD = hp.n_head_kv * hd, F = hp.n_ff;
    float *x = s.x.data(), *xn = s.xn.data(), *q = s.q.data(), *k = s.k.data(), *v = s.v.data();
    float *attn = s.attn.data(), *tmp = s.tmp.data(), *gate = s.gate.data(), *up = s.up.data();
    float* cs = s.rope_cs.data();
    uint8_t* act = s.act.data();
    const Isa isa = active_isa();
    MatmulObserver* obs = settings.observer;
    // y_k = in · W_kᵀ for weights sharing one input; the optional observer sees each input first.
    const auto matmul = [&](std::initializer_list<const WeightView*> ws, std::initializer_list<float*> ys,
                            const float* in, int64_t nt) {
        if (obs) {
#pragma omp single
            for (const WeightView* wv : ws) obs->on_matmul(*wv, in, nt);
        }
        matmul_team(std::span(ws.begin(), ws.size()), std::span(ys.begin(), ys.size()), in, nt, act, isa);
    };
    const int64_t first = all_logits ? 0 : n - 1;  // the rows whose logits are wanted

    // Token embeddings and the RoPE cos/sin of each position of this chunk.
    for (int64_t t = 0; t < n; ++t) dequantize_row(w.token_embd, tokens[t], x + t * E);
    for (int64_t t = 0; t < n; ++t) ops::rope_cache(cs + t * hp.n_rot, hp.n_rot, p0 + t, hp.rope_freq_base, hp.rope_freq_scale);

#pragma omp parallel num_threads(settings.n_threads) if (n > 1 || hp.n_embd >= 256)
    {
        for (int64_t l = 0; l < hp.n_layer; ++l) {
            const LayerWeights& L = w.layers[static_cast<size_t>(l)];
            // Attention block.
#pragma omp for schedule(static)
            for (int64_t t = 0; t < n; ++t) ops::rmsnorm(x + t * E, L.attn_norm, xn + t * E, E, hp.rms_eps);
            matmul({&L.wq, &L.wk, &L.wv}, {q, k, v}, xn, n);
#pragma omp for schedule(static)
            for (int64_t t = 0; t < n; ++t) {
                add_bias(q + t * QD, L.bq, 1, QD);
                add_bias(k + t * KVD, L.bk, 1, KVD);
                add_bias(v + t * KVD, L.bv, 1, KVD);
                for (int64_t h = 0; h < hp.n_head; ++h) ops::rope_apply(q + t * QD + h * hd, cs + t * hp.n_rot, hp.n_rot, hp.rope_style);
                for (int64_t h = 0; h < hp.n_head_kv; ++h) ops::rope_apply(k + t * KVD + h * hd, cs + t * hp.n_rot, hp.n_rot, hp.rope_style);
            }
#pragma omp single
            kv.store(l, p0, n, k, v);
            attention_team(hp, kv, l, q, n, p0, attn, s.attention);
            matmul({&L.wo}, {tmp}, attn, n);
#pragma omp for schedule(static)
            for (int64_t t = 0; t < n; ++t) {
                add_bias(tmp + t * E, L.bo, 1, E);
                for (int64_t i = t * E; i < (t + 1) * E; ++i) x[i] += tmp[i];
                // Feed-forward block (SwiGLU): its norm right away, on the same token.
                ops::rmsnorm(x + t * E, L.ffn_norm, xn + t * E, E, hp.rms_eps);
            }
            matmul({&L.gate, &L.up}, {gate, up}, xn, n);
#pragma omp for schedule(static)
            for (int64_t i = 0; i < n * F; ++i) gate[i] = ops::silu(gate[i]) * up[i];
            matmul({&L.down}, {tmp}, gate, n);
#pragma omp for schedule(static)
            for (int64_t i = 0; i < n * E; ++i) x[i] += tmp[i];
        }

        if (logits_out) {
#pragma omp for schedule(static)
            for (int64_t t = first; t < n; ++t) ops::rmsnorm(x + t * E, w.output_norm, xn + (t - first) * E, E, hp.rms_eps);
            matmul({&w.output}, {logits_out}, xn, n - first);
        }
    }
}

}  // namespace qlm
