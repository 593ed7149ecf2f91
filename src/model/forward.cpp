// The forward pass, top to bottom (llama2.c's run.c, batched):
//   embed (× embd_scale) -> per layer: rmsnorm -> q,k,v (+bias) -> [q/k norm] -> rope [-> q scale]
//   -> KV store -> causal GQA attention per sequence [sliding window] -> o-proj [-> post-norm] -> residual
//   -> rmsnorm -> SwiGLU or GeGLU FFN [-> post-norm] -> residual;  final rmsnorm -> logits
//   [-> soft-cap]. The bracketed steps are architecture options of Hparams (qwen3, phi3, gemma3).
// A prompt chunk of up to n_batch tokens goes through each layer at once, so every projection
// is one matrix x matrix product; a decode step is the same code with one token.
// Attention (attention.h) is tiled over the KV cache: by default with llama.cpp's numerics (each
// row's scores softmax'ed at once; with the F16 KV cache the queries are rounded to f16 for the
// K·Q dots and the probabilities for V), with --flash-attn as an online softmax.
#include "src/model/forward.h"

#include <algorithm>
#include <initializer_list>
#include <span>
#include <vector>

#include "quant/formats.h"
#include "quant/matmul.h"
#include "quant/thread_pool.h"
#include "src/model/attention_decode.h"
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

// One token's q, k and v as attention takes them: biases, the per-head q/k norms, RoPE with the
// position's cos/sin table cs, and q times the attention scale where the architecture scales q
// (in llama.cpp's order).
void prepare_qkv(const Hparams& hp, const LayerWeights& L, const float* cs, float* q, float* k, float* v) {
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

// The RoPE cos/sin of each row's position: cs for the global layers, cs_swa for the
// sliding-window layers' own base and scale.
void rope_tables(const Hparams& hp, const float* freq_factors, const int64_t* pos, int64_t n, float* cs,
                 float* cs_swa) {
    for (int64_t t = 0; t < n; ++t) {
        ops::rope_cache(cs + t * hp.n_rot, hp.n_rot, pos[t], hp.rope_freq_base, hp.rope_freq_scale, freq_factors);
        if (hp.has_swa())
            ops::rope_cache(cs_swa + t * hp.n_rot, hp.n_rot, pos[t], hp.rope_freq_base_swa, hp.rope_freq_scale_swa,
                            freq_factors);
    }
}

// One token's gated FFN activation: gate = act(gate) · up over n_ff values.
void gated_activation(const Hparams& hp, float* gate, const float* up) {
    if (hp.ffn_activation == FfnActivation::GeluTanh)
        ops::geglu(gate, up, hp.n_ff);
    else
        ops::swiglu(gate, up, hp.n_ff);
}

// One token's embedding row, scaled where the architecture scales it (Gemma).
void embed(const Hparams& hp, const WeightView& token_embd, int32_t token, float* x) {
    dequantize_row(token_embd, token, x);
    if (hp.embd_scale != 1.f)
        for (int64_t i = 0; i < hp.n_embd; ++i) x[i] *= hp.embd_scale;
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
      gate(floats(l.ffn_rows, l.n_ff)),
      up(floats(l.ffn_rows, l.n_ff)),
      rope_cs(floats(l.n_batch, l.n_rot * l.n_rope_tables)),
      act(static_cast<size_t>(l.matmul_input_bytes)),
      attention(l.attention),
      moe(l.moe) {}

uint64_t ForwardBuffers::bytes() const {
    uint64_t b = act.capacity() + attention.bytes() + moe.bytes();
    for (const std::vector<float>* f : {&x, &xn, &tmp, &q, &attn, &k, &v, &gate, &up, &rope_cs})
        b += f->capacity() * sizeof(float);
    return b;
}

// Every step below is either a loop shared out over the context's thread pool (matmuls,
// attention, per-token and per-element work) or done by this thread, and each loop has ended
// before the next step starts. Nothing inside allocates or throws: every buffer was allocated
// with the context, the weights' shapes were checked then, the tokens and positions by decode,
// which also reserved the cache slots (a throw inside a pool's loop would end the process).
void forward_chunk(const Model& model, KvCache& kv, ForwardBuffers& s, const ForwardSettings& settings,
                   const ChunkInput& chunk, float* logits_out) {
    const int64_t n = chunk.n;
    const Hparams& hp = model.hparams();
    const ModelWeights& w = model.weights();
    const int64_t E = hp.n_embd, QD = hp.n_head * hp.head_dim, KVD = hp.n_head_kv * hp.head_dim, F = hp.n_ff;
    float *x = s.x.data(), *xn = s.xn.data(), *q = s.q.data(), *k = s.k.data(), *v = s.v.data();
    float *attn = s.attn.data(), *tmp = s.tmp.data(), *gate = s.gate.data(), *up = s.up.data();
    float* cs = s.rope_cs.data();
    float* cs_swa = hp.has_swa() ? cs + n * hp.n_rot : cs;  // the sliding-window layers' RoPE
    uint8_t* act = s.act.data();
    const Isa isa = active_isa();
    MatmulObserver* obs = settings.observer;
    // A decode step of a small model is faster on one thread than with the handovers between threads.
    ThreadPool alone;
    ThreadPool& pool = n > 1 || hp.n_embd >= 256 ? settings.pool : alone;
    // y_k = in · W_kᵀ for weights sharing one input; the optional observer sees each input first.
    const auto matmul = [&](std::initializer_list<const WeightView*> ws, std::initializer_list<float*> ys,
                            const float* in, int64_t nt) {
        if (obs)
            for (const WeightView* wv : ws) obs->on_matmul(*wv, in, nt);
        matmul_team(pool, std::span(ws.begin(), ws.size()), std::span(ys.begin(), ys.size()), in, nt, act, isa);
    };
    const auto n_out = static_cast<int64_t>(chunk.outputs.size());

    // Token embeddings (or the state the earlier layers left) and the RoPE cos/sin of each position.
    const int64_t l_end = chunk.layer_end < 0 ? hp.n_layer : chunk.layer_end;
    if (chunk.layer_begin == 0)
        for (int64_t t = 0; t < n; ++t) embed(hp, w.token_embd, chunk.tokens[t], x + t * E);
    else
        std::copy(chunk.hidden_in, chunk.hidden_in + n * E, x);
    rope_tables(hp, w.rope_freqs, chunk.pos, n, cs, cs_swa);

    for (int64_t l = chunk.layer_begin; l < l_end; ++l) {
        const LayerWeights& L = w.layers[static_cast<size_t>(l)];
        const float* layer_cs = hp.is_swa(l) ? cs_swa : cs;
        // Attention block.
        pool.for_each(n, [&](int64_t t) { ops::rmsnorm(x + t * E, L.attn_norm, xn + t * E, E, hp.rms_eps); });
        matmul({&L.wq, &L.wk, &L.wv}, {q, k, v}, xn, n);
        pool.for_each(n, [&](int64_t t) {
            prepare_qkv(hp, L, layer_cs + t * hp.n_rot, q + t * QD, k + t * KVD, v + t * KVD);
        });
        for (const SeqRun& r : chunk.runs) kv.store(r.seq, l, r.p0, r.n, k + r.row0 * KVD, v + r.row0 * KVD);
        // Each sequence attends to its own positions only; decode steps of several at once.
        attention_runs(pool, hp, kv, l, chunk.runs, q, attn, s.attention);
        matmul({&L.wo}, {tmp}, attn, n);
        pool.for_each(n, [&](int64_t t) {
            add_bias(tmp + t * E, L.bo, 1, E);
            if (L.post_attn_norm) ops::rmsnorm(tmp + t * E, L.post_attn_norm, tmp + t * E, E, hp.rms_eps);
            for (int64_t i = t * E; i < (t + 1) * E; ++i) x[i] += tmp[i];
            // Feed-forward block: its norm right away, on the same token.
            ops::rmsnorm(x + t * E, L.ffn_norm, xn + t * E, E, hp.rms_eps);
        });
        if (hp.is_moe()) {
            moe_ffn_team(pool, hp, L.moe, n, {xn, x, gate, up, tmp, act, isa, obs}, s.moe);
            continue;
        }
        matmul({&L.gate, &L.up}, {gate, up}, xn, n);
        pool.for_each(n, [&](int64_t t) { gated_activation(hp, gate + t * F, up + t * F); });
        matmul({&L.down}, {tmp}, gate, n);
        pool.for_each(n, [&](int64_t t) {
            if (L.post_ffn_norm) ops::rmsnorm(tmp + t * E, L.post_ffn_norm, tmp + t * E, E, hp.rms_eps);
            for (int64_t i = t * E; i < (t + 1) * E; ++i) x[i] += tmp[i];
        });
    }

    if (chunk.hidden_out) std::copy(x, x + n * E, chunk.hidden_out);
    if (logits_out && n_out > 0) {
        pool.for_each(n_out, [&](int64_t i) {
            ops::rmsnorm(x + chunk.outputs[static_cast<size_t>(i)] * E, w.output_norm, xn + i * E, E, hp.rms_eps);
        });
        matmul({&w.output}, {logits_out}, xn, n_out);
        if (hp.final_logit_softcap > 0.f)
            pool.for_each(n_out, [&](int64_t t) {
                ops::softcap(logits_out + t * hp.n_vocab, hp.n_vocab, hp.final_logit_softcap);
            });
    }
}

}  // namespace qlm
