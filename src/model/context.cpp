// InferenceContext: resolves the options into a ContextLayout, allocates its buffers, and runs
// eval() as chunks of n_batch tokens through forward_chunk (forward.h).
#include "src/model/context.h"

#include <algorithm>
#include <new>
#include <vector>

#include "quant/matmul.h"
#include "quant/thread_pool.h"
#include "src/model/forward.h"
#include "src/model/memory_plan.h"
#include "src/model/weights.h"
#include "src/util/error.h"

namespace qlm {

InferenceContext::InferenceContext(const Model& model, const ContextOptions& opts)
    : model_(model), observer_(opts.matmul_observer) {
    const Hparams& hp = model.hparams();
    ContextOptions o = opts;
    o.n_ctx = resolve_context_size(hp, opts.n_ctx);
    const std::vector<MatmulGroup> groups = model.weights().matmul_groups();
    for (const MatmulGroup& g : groups)
        for (const WeightView& w : g) check_matmul_shape(w);
    layout_ = plan_context(hp, groups, o);
    if (const auto avail = available_memory_bytes()) check_context_fits(hp, groups, o, *avail);
    try {
        kv_ = std::make_unique<KvCache>(layout_.kv);
        buffers_ = std::make_unique<ForwardBuffers>(layout_);
        logits_.resize(static_cast<size_t>(layout_.n_outputs) * static_cast<size_t>(layout_.n_vocab));
    } catch (const std::bad_alloc&) {
        throw_error("the buffers of a context of {} tokens ({} bytes) could not be allocated (use a smaller context "
                    "or batch)",
                    layout_.n_ctx, layout_.total_bytes);
    }
    pool_ = std::make_unique<ThreadPool>(layout_.n_threads);
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

uint64_t InferenceContext::allocated_bytes() const {
    return kv_->bytes() + buffers_->bytes() + logits_.capacity() * sizeof(float);
}

void InferenceContext::eval(std::span<const int32_t> tokens, bool all_logits) {
    const Hparams& hp = model_.hparams();
    const auto n_tok = static_cast<int64_t>(tokens.size());
    n_outputs_ = 0;
    if (n_tok == 0) return;
    for (int64_t i = 0; i < n_tok; ++i)
        if (tokens[i] < 0 || tokens[i] >= hp.n_vocab)
            throw_error("token id {} at index {} is outside the vocabulary (0..{})", tokens[i], i, hp.n_vocab - 1);
    if (n_tok > kv_->n_ctx() - kv_->n_past())
        throw_error("the context is full: {} tokens already, {} more do not fit in a context of {}", kv_->n_past(),
                    n_tok, kv_->n_ctx());
    if (all_logits && n_tok > layout_.n_outputs)
        throw_error("logits of all {} tokens were asked for, but the context keeps {} rows per eval (set "
                    "ContextOptions::n_outputs)",
                    n_tok, layout_.n_outputs);

    const ForwardSettings settings{.pool = *pool_, .observer = observer_};
    for (int64_t c0 = 0; c0 < n_tok; c0 += layout_.n_batch) {
        const int64_t n = std::min(layout_.n_batch, n_tok - c0);
        const bool last_chunk = c0 + n == n_tok;
        float* out = nullptr;
        if (all_logits)
            out = logits_.data() + c0 * hp.n_vocab;
        else if (last_chunk)
            out = logits_.data();
        forward_chunk(model_, *kv_, *buffers_, settings, tokens.data() + c0, n, all_logits, out);
        kv_->set_n_past(kv_->n_past() + n);
    }
    n_outputs_ = all_logits ? n_tok : 1;
}

}  // namespace qlm
