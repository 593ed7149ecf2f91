// An inference context: one sequence's KV cache, the buffers of the forward pass, and the logits
// of the last eval, all allocated when it is made (sized by plan_context, context_layout.h); its
// own pool of n_threads threads (quant/thread_pool.h) runs a Model (model.h) chunk by chunk.
//
//   InferenceContext ctx(*model, {.n_ctx = 512, .n_threads = 2});
//   ctx.eval(prompt_ids, /*all_logits=*/false);                       // batched prefill
//   std::span<const float> last = ctx.logits(ctx.n_outputs() - 1);  // n_vocab floats
//   ctx.eval(std::vector<int32_t>{next}, false);                      // one decode step
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "src/model/context_layout.h"
#include "src/model/kv_cache.h"
#include "src/model/matmul_observer.h"
#include "src/model/model.h"

namespace qlm {

struct ForwardBuffers;  // forward.h
class ThreadPool;      // quant/thread_pool.h

class InferenceContext {
public:
    // Throws qlm::Error when n_ctx exceeds the model's training context, the thread count is out
    // of range or its threads cannot be started, or the buffers do not fit in the memory
    // available (available_memory_bytes) or cannot be allocated. The context's threads run its
    // forward passes only.
    InferenceContext(const Model& model, const ContextOptions& opts);
    ~InferenceContext();

    // Runs tokens at positions n_past() .. n_past()+tokens.size()-1, appending to the KV cache.
    // all_logits: keep logits for every token (n_outputs() == tokens.size(), at most the options'
    // n_outputs), else only the last. Throws qlm::Error for a token id outside the vocabulary,
    // when the context is full, or for more all_logits tokens than n_outputs. Allocates nothing.
    void eval(std::span<const int32_t> tokens, bool all_logits);

    int64_t n_outputs() const { return n_outputs_; }
    std::span<const float> logits(int64_t i) const;  // i < n_outputs(); n_vocab floats

    int64_t n_past() const;
    int64_t n_ctx() const;
    // Forget positions >= n_past; a model with sliding-window layers may forget everything
    // (n_past() is 0 then) when their rings no longer hold the window of the new end.
    void truncate(int64_t n_past);

    const Model& model() const { return model_; }
    const ContextLayout& layout() const { return layout_; }
    // Bytes of the buffers it holds (KV cache, forward buffers, logits), counted from the buffers
    // themselves: equal to layout().total_bytes.
    uint64_t allocated_bytes() const;

private:
    const Model& model_;
    ContextLayout layout_;
    MatmulObserver* observer_;
    std::unique_ptr<KvCache> kv_;
    std::vector<float> logits_;
    int64_t n_outputs_ = 0;
    std::unique_ptr<ForwardBuffers> buffers_;
    std::unique_ptr<ThreadPool> pool_;
};

}  // namespace qlm
