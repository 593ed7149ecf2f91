// InferenceContext: checks the options, allocates the KV cache and the forward pass's buffers,
// and runs eval() as chunks of n_batch tokens through forward_chunk (forward.h).
#include "src/model/context.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <new>
#include <optional>
#include <span>
#include <vector>

#include "quant/formats.h"
#include "quant/matmul.h"
#include "src/model/forward.h"
#include "src/model/memory_plan.h"
#include "src/model/weights.h"
#include "src/util/checked_math.h"
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
}  // namespace

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
    opts_.n_batch = std::min(opts_.n_batch, opts_.n_ctx);
    kv_ = std::make_unique<KvCache>(hp, opts_.n_ctx, opts_.kv_type);

    const auto nb = static_cast<uint64_t>(opts_.n_batch);
    const auto E = static_cast<uint64_t>(hp.n_embd), Q = static_cast<uint64_t>(hp.n_head * hp.head_dim),
               KV = static_cast<uint64_t>(hp.n_head_kv * hp.head_dim), F = static_cast<uint64_t>(hp.n_ff);
    buffers_ = std::make_unique<ForwardBuffers>();
    ForwardBuffers& s = *buffers_;
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
    if (opts_.n_threads > 0) omp_set_num_threads(opts_.n_threads);

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
        forward_chunk(model_, *kv_, *buffers_,
                      {.kernel = opts_.flash_attn ? AttentionKernel::Flash : AttentionKernel::Exact,
                       .observer = opts_.matmul_observer},
                      tokens.data() + c0, n, all_logits, out);
        kv_->set_n_past(kv_->n_past() + n);
    }
    n_outputs_ = n_out;
}

}  // namespace qlm
