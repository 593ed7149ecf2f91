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
// Each layer's steps are the ops of the set the context chose for it (layer_ops.h: the CPU's,
// cpu_ops.cpp, or a device's); this file is their order.
#include "src/model/forward.h"

#include <algorithm>
#include <initializer_list>
#include <vector>

#include "quant/matmul.h"
#include "src/model/ops.h"
#include "src/model/weights.h"

namespace qlm {

namespace {
std::vector<float> floats(int64_t rows, int64_t width) {
    return std::vector<float>(static_cast<size_t>(rows) * static_cast<size_t>(width));
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

namespace {
// One layer, as every ops set runs it.
void run_layer(LayerOps& ops, int64_t l, bool moe) {
    // Attention block.
    ops.attention_norm(l);
    ops.matmul(l, LayerMatmul::Qkv);
    ops.prepare_qkv(l);
    ops.store_kv(l);
    // Each sequence attends to its own positions only; decode steps of several at once.
    ops.attention(l);
    ops.matmul(l, LayerMatmul::O);
    ops.attention_residual(l);  // and the feed-forward block's norm
    if (moe) {
        ops.moe_ffn(l);
        return;
    }
    ops.matmul(l, LayerMatmul::GateUp);
    ops.ffn_activation(l);
    ops.matmul(l, LayerMatmul::Down);
    ops.ffn_residual(l);
}
}  // namespace

// The chunk's embeddings, the hidden state it starts from, and the RoPE tables are the host's;
// the rows then go through each layer's ops set, crossing to the host and into the next set
// where the set changes.
void forward_chunk(const Model& model, ForwardBuffers& s, const OpsPlan& plan, const ChunkInput& chunk,
                   float* logits_out) {
    const int64_t n = chunk.n;
    const Hparams& hp = model.hparams();
    const ModelWeights& w = model.weights();
    const int64_t E = hp.n_embd;
    float* x = s.x.data();
    float* cs = s.rope_cs.data();
    float* cs_swa = hp.has_swa() ? cs + n * hp.n_rot : cs;  // the sliding-window layers' RoPE

    const int64_t l_end = chunk.layer_end < 0 ? hp.n_layer : chunk.layer_end;
    if (chunk.layer_begin == 0)
        for (int64_t t = 0; t < n; ++t) embed(hp, w.token_embd, chunk.tokens[t], x + t * E);
    else
        std::copy(chunk.hidden_in, chunk.hidden_in + n * E, x);
    rope_tables(hp, w.rope_freqs, chunk.pos, n, cs, cs_swa);

    LayerOps* cur = nullptr;  // the set holding the rows
    bool host_current = true;  // s.x holds the rows' state as cur does
    const auto use = [&](LayerOps* next) {
        if (next == cur) return;
        if (!host_current) cur->to_host(s);
        next->enter(chunk, s);
        cur = next;
        host_current = false;
    };
    const bool moe = hp.is_moe();
    for (int64_t l = chunk.layer_begin; l < l_end; ++l) {
        use(plan.layers[static_cast<size_t>(l)]);
        run_layer(*cur, l, moe);
    }
    if (chunk.hidden_out) {
        cur->to_host(s);
        host_current = true;
        std::copy(x, x + n * E, chunk.hidden_out);
    }
    if (logits_out && !chunk.outputs.empty()) {
        use(plan.head);
        cur->output(logits_out);
    }
}

}  // namespace qlm
