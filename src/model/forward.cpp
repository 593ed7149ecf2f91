// The forward pass, top to bottom (llama2.c's run.c, batched):
//   embed -> per layer: rmsnorm -> q,k,v (+bias) -> rope -> KV append -> causal GQA attention
//   -> o-proj -> residual -> rmsnorm -> SwiGLU FFN -> residual;  final rmsnorm -> logits.
// A prompt chunk of up to n_batch tokens goes through each layer at once, so every projection
// is one matrix x matrix product; a decode step is the same code with one token.
// Attention (attention.h) is tiled with an online softmax over the KV cache; with the F16 KV cache
// the queries are rounded to f16 for the K·Q dots, as llama.cpp does.
#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <new>
#include <optional>
#include <span>
#include <vector>

#include "quant/formats.h"
#include "quant/matmul.h"
#include "quant/thread_pool.h"
#include "src/model/attention.h"
#include "src/model/kv_cache.h"
#include "src/model/memory_plan.h"
#include "src/model/model.h"
#include "src/model/ops.h"
#include "src/model/weights.h"
#include "src/util/checked_math.h"
#include "src/util/cpu_info.h"
#include "src/util/error.h"

namespace qlm {

namespace {
constexpr int64_t kMaxContext = int64_t{1} << 20;

// Resizes v to `count` floats, with a qlm::Error (not bad_alloc) when that cannot be done.
void resize_checked(std::vector<float>& v, uint64_t a, uint64_t b, const char* what) {
    const auto n = checked_mul(a, b);
    const auto bytes = n ? checked_mul(*n, sizeof(float)) : std::nullopt;
    const uint64_t avail = available_memory_bytes().value_or(0);
    if (!bytes || (avail != 0 && *bytes > avail))
        throw_error("the {} buffer needs {} x {} floats, more than the available memory (use a smaller batch or "
                    "context)",
                    what, a, b);
    try {
        v.resize(static_cast<size_t>(*n));
    } catch (const std::bad_alloc&) {
        throw_error("the {} buffer ({} bytes) could not be allocated (use a smaller batch or context)", what, *bytes);
    }
}

void add_bias(float* y, const float* b, int64_t n_tokens, int64_t dim) {
    if (!b) return;
    for (int64_t t = 0; t < n_tokens; ++t)
        for (int64_t i = 0; i < dim; ++i) y[t * dim + i] += b[i];
}
}  // namespace

struct InferenceContext::Scratch {
    std::vector<float> x, xn, q, k, v, attn, tmp, gate, up, rope_cs;
    std::vector<uint8_t> act;  // activations converted for the matmuls (matmul_scratch_bytes)
    AttentionScratch attention;
};

InferenceContext::InferenceContext(const Model& model, const ContextOptions& opts) : model_(model), opts_(opts) {
    const Hparams& hp = model.hparams();
    if (opts_.n_ctx < 0) throw_error("context size {} is negative", opts_.n_ctx);
    if (opts_.n_ctx == 0) opts_.n_ctx = std::min(hp.n_ctx_train, kMaxContext);
    if (opts_.n_ctx > hp.n_ctx_train)
        throw_error("context size {} exceeds the model's training context of {} tokens (use at most {})", opts_.n_ctx,
                    hp.n_ctx_train, hp.n_ctx_train);
    if (opts_.n_ctx > kMaxContext)
        throw_error("context size {} exceeds qlm's limit of {} tokens", opts_.n_ctx, kMaxContext);
    if (opts_.n_batch <= 0) throw_error("batch size {} must be at least 1", opts_.n_batch);
    if (opts_.n_threads < 0) throw_error("thread count {} is negative", opts_.n_threads);
    if (opts_.n_threads > max_threads())
        throw_error("thread count {} is more than {}x the {} logical cores (use at most {})", opts_.n_threads,
                    kMaxThreadsPerCore, logical_cores(), max_threads());
    if (opts_.n_threads == 0) opts_.n_threads = physical_cores();
    opts_.n_batch = std::min(opts_.n_batch, opts_.n_ctx);
    kv_ = std::make_unique<KvCache>(hp, opts_.n_ctx, opts_.kv_type);

    const auto nb = static_cast<uint64_t>(opts_.n_batch);
    const auto E = static_cast<uint64_t>(hp.n_embd), Q = static_cast<uint64_t>(hp.n_head * hp.head_dim),
               KV = static_cast<uint64_t>(hp.n_head_kv * hp.head_dim), F = static_cast<uint64_t>(hp.n_ff);
    scratch_ = std::make_unique<Scratch>();
    Scratch& s = *scratch_;
    resize_checked(s.x, nb, E, "activation");
    resize_checked(s.xn, nb, E, "activation");
    resize_checked(s.tmp, nb, E, "activation");
    resize_checked(s.q, nb, Q, "query");
    resize_checked(s.attn, nb, Q, "attention output");
    resize_checked(s.k, nb, KV, "key");
    resize_checked(s.v, nb, KV, "value");
    resize_checked(s.gate, nb, F, "feed-forward");
    resize_checked(s.up, nb, F, "feed-forward");
    resize_checked(s.rope_cs, nb, static_cast<uint64_t>(hp.n_rot), "rope");

    // Every weight is checked here, once, so nothing inside the forward's parallel region throws;
    // the conversion scratch is sized for the largest group of weights sharing an input.
    const ModelWeights& w = model.weights();
    uint64_t act_bytes = 0;
    auto group = [&](std::initializer_list<const WeightView*> ws) {
        for (const WeightView* v : ws) check_matmul_shape(*v);
        act_bytes = std::max(act_bytes, matmul_scratch_bytes(std::span(ws.begin(), ws.size()), opts_.n_batch));
    };
    for (const LayerWeights& L : w.layers) {
        group({&L.wq, &L.wk, &L.wv});
        group({&L.wo});
        group({&L.gate, &L.up});
        group({&L.down});
    }
    group({&w.output});
    try {
        s.act.resize(act_bytes);
    } catch (const std::bad_alloc&) {
        throw_error("the activation buffer ({} bytes) could not be allocated (use a smaller batch)", act_bytes);
    }
    pool_ = std::make_unique<ThreadPool>(opts_.n_threads);
}

InferenceContext::~InferenceContext() = default;

int64_t InferenceContext::n_past() const { return kv_->n_past(); }
int64_t InferenceContext::n_ctx() const { return kv_->n_ctx(); }
void InferenceContext::truncate(int64_t n_past) { kv_->truncate(n_past); }

std::span<const float> InferenceContext::logits(int64_t i) const {
    if (i < 0 || i >= n_outputs_) throw_error("logits({}) requested, but only {} outputs exist", i, n_outputs_);
    const auto nv = static_cast<size_t>(model_.hparams().n_vocab);
    return {logits_.data() + static_cast<size_t>(i) * nv, nv};
}

void InferenceContext::eval(std::span<const int32_t> tokens, bool all_logits) {
    const Hparams& hp = model_.hparams();
    const auto n_tok = static_cast<int64_t>(tokens.size());
    n_outputs_ = 0;
    if (n_tok == 0) {
        logits_.clear();
        return;
    }
    for (int64_t i = 0; i < n_tok; ++i)
        if (tokens[i] < 0 || tokens[i] >= hp.n_vocab)
            throw_error("token id {} at index {} is outside the vocabulary (0..{})", tokens[i], i, hp.n_vocab - 1);
    if (n_tok > kv_->n_ctx() - kv_->n_past())
        throw_error("the context is full: {} tokens already, {} more do not fit in a context of {}", kv_->n_past(),
                    n_tok, kv_->n_ctx());
    const int64_t n_out = all_logits ? n_tok : 1;
    resize_checked(logits_, static_cast<uint64_t>(n_out), static_cast<uint64_t>(hp.n_vocab), "logits");
    for (int64_t c0 = 0; c0 < n_tok; c0 += opts_.n_batch) {
        const int64_t n = std::min(opts_.n_batch, n_tok - c0);
        const bool last_chunk = c0 + n == n_tok;
        float* out = nullptr;
        if (all_logits)
            out = logits_.data() + c0 * hp.n_vocab;
        else if (last_chunk)
            out = logits_.data();
        forward_chunk(tokens.data() + c0, n, all_logits, out);
        kv_->set_n_past(kv_->n_past() + n);
    }
    n_outputs_ = n_out;
}

// Every step below is either a loop shared out over the context's thread pool (matmuls,
// attention, per-token and per-element work) or done by this thread, and each loop has ended
// before the next step starts. Nothing inside throws (shapes were checked when the context was
// made, tokens and positions by eval).
void InferenceContext::forward_chunk(const int32_t* tokens, int64_t n, bool all_logits, float* logits_out) {
    const Model& model = model_;
    KvCache& kv = *kv_;
    Scratch& s = *scratch_;
    const int64_t p0 = kv.n_past();
    const Hparams& hp = model.hparams();
    const ModelWeights& w = model.weights();
    const int64_t E = hp.n_embd, hd = hp.head_dim, QD = hp.n_head * hd, KVD = hp.n_head_kv * hd, F = hp.n_ff;
    float *x = s.x.data(), *xn = s.xn.data(), *q = s.q.data(), *k = s.k.data(), *v = s.v.data();
    float *attn = s.attn.data(), *tmp = s.tmp.data(), *gate = s.gate.data(), *up = s.up.data();
    float* cs = s.rope_cs.data();
    uint8_t* act = s.act.data();
    const Isa isa = active_isa();
    const AttentionKernel kernel = opts_.flash_attn ? AttentionKernel::Flash : AttentionKernel::Exact;
    MatmulObserver* obs = opts_.matmul_observer;
    // A decode step of a small model is faster on one thread than with the handovers between threads.
    ThreadPool alone;
    ThreadPool& pool = n > 1 || hp.n_embd >= 256 ? *pool_ : alone;
    // y_k = in · W_kᵀ for weights sharing one input; the optional observer sees each input first.
    const auto matmul = [&](std::initializer_list<const WeightView*> ws, std::initializer_list<float*> ys,
                            const float* in, int64_t nt) {
        if (obs)
            for (const WeightView* wv : ws) obs->on_matmul(*wv, in, nt);
        matmul_team(pool, std::span(ws.begin(), ws.size()), std::span(ys.begin(), ys.size()), in, nt, act, isa);
    };
    const int64_t first = all_logits ? 0 : n - 1;  // the rows whose logits are wanted

    // Token embeddings and the RoPE cos/sin of each position of this chunk.
    for (int64_t t = 0; t < n; ++t) dequantize_row(w.token_embd, tokens[t], x + t * E);
    for (int64_t t = 0; t < n; ++t) ops::rope_cache(cs + t * hp.n_rot, hp.n_rot, p0 + t, hp.rope_freq_base, hp.rope_freq_scale);

    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const LayerWeights& L = w.layers[static_cast<size_t>(l)];
        // Attention block.
        pool.for_each(n, [&](int64_t t) { ops::rmsnorm(x + t * E, L.attn_norm, xn + t * E, E, hp.rms_eps); });
        matmul({&L.wq, &L.wk, &L.wv}, {q, k, v}, xn, n);
        pool.for_each(n, [&](int64_t t) {
            add_bias(q + t * QD, L.bq, 1, QD);
            add_bias(k + t * KVD, L.bk, 1, KVD);
            add_bias(v + t * KVD, L.bv, 1, KVD);
            for (int64_t h = 0; h < hp.n_head; ++h) ops::rope_apply(q + t * QD + h * hd, cs + t * hp.n_rot, hp.n_rot, hp.rope_style);
            for (int64_t h = 0; h < hp.n_head_kv; ++h) ops::rope_apply(k + t * KVD + h * hd, cs + t * hp.n_rot, hp.n_rot, hp.rope_style);
        });
        kv.store(l, p0, n, k, v);
        attention_team(pool, hp, kv, l, q, n, p0, attn, kernel, s.attention);
        matmul({&L.wo}, {tmp}, attn, n);
        pool.for_each(n, [&](int64_t t) {
            add_bias(tmp + t * E, L.bo, 1, E);
            for (int64_t i = t * E; i < (t + 1) * E; ++i) x[i] += tmp[i];
            // Feed-forward block (SwiGLU): its norm right away, on the same token.
            ops::rmsnorm(x + t * E, L.ffn_norm, xn + t * E, E, hp.rms_eps);
        });
        matmul({&L.gate, &L.up}, {gate, up}, xn, n);
        pool.for_each(n * F, [&](int64_t i) { gate[i] = ops::silu(gate[i]) * up[i]; });
        matmul({&L.down}, {tmp}, gate, n);
        pool.for_each(n * E, [&](int64_t i) { x[i] += tmp[i]; });
    }

    if (logits_out) {
        pool.for_each(n - first, [&](int64_t i) {
            ops::rmsnorm(x + (first + i) * E, w.output_norm, xn + i * E, E, hp.rms_eps);
        });
        matmul({&w.output}, {logits_out}, xn, n - first);
    }
}

}  // namespace qlm
