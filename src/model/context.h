// An inference context: one sequence's KV cache, the buffers of the forward pass, and the logits
// of the last eval. It runs a Model (model.h) token chunk by token chunk.
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

#include "src/model/kv_cache.h"
#include "src/model/matmul_observer.h"
#include "src/model/model.h"

namespace qlm {

struct ContextOptions {
    int64_t n_ctx = 0;        // 0: the model's training context
    int64_t n_batch = 512;    // prompt tokens per forward chunk
    int n_threads = 0;        // 0: OpenMP default
    KvType kv_type = KvType::F16;
    bool flash_attn = false;  // online-softmax attention (attention.h); default: llama.cpp's exact numerics
    MatmulObserver* matmul_observer = nullptr;  // optional; not owned, must outlive the context
};

struct ForwardBuffers;  // forward.h

class InferenceContext {
public:
    // Throws qlm::Error when n_ctx exceeds the model's limit or the KV cache can't be allocated.
    InferenceContext(const Model& model, const ContextOptions& opts);
    ~InferenceContext();

    // Runs tokens at positions n_past() .. n_past()+tokens.size()-1, appending to the KV cache.
    // all_logits: keep logits for every token (n_outputs() == tokens.size()), else only the last.
    // Throws qlm::Error for a token id outside the vocabulary or when the context is full.
    void eval(std::span<const int32_t> tokens, bool all_logits);

    int64_t n_outputs() const { return n_outputs_; }
    std::span<const float> logits(int64_t i) const;  // i < n_outputs(); n_vocab floats

    int64_t n_past() const;
    int64_t n_ctx() const;
    void truncate(int64_t n_past);  // forget positions >= n_past

    const Model& model() const { return model_; }

private:
    const Model& model_;
    ContextOptions opts_;
    std::unique_ptr<KvCache> kv_;
    std::vector<float> logits_;
    int64_t n_outputs_ = 0;
    std::unique_ptr<ForwardBuffers> buffers_;
};

}  // namespace qlm
