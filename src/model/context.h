// An inference context: a paged KV cache for up to n_seq_max sequences, the buffers of the forward
// pass, and the logits of the last decode, all allocated when it is made (sized by plan_context,
// context_layout.h); its own pool of n_threads threads (quant/thread_pool.h) runs a Model
// (model.h) chunk by chunk.
//
//   InferenceContext ctx(*model, {.n_ctx = 512, .n_threads = 2});
//   ctx.eval(prompt_ids, /*all_logits=*/false);                       // sequence 0's prefill
//   std::span<const float> last = ctx.logits(ctx.n_outputs() - 1);  // n_vocab floats
//   ctx.eval(std::vector<int32_t>{next}, false);                      // one decode step
//
//   InferenceContext two(*model, {.n_ctx = 512, .n_outputs = 2, .n_seq_max = 2});
//   two.eval(prompt_ids, false);  two.seq_cp(0, 1);                   // sequence 1 shares the prompt
//   Batch b;  b.add(a, n, 0, true);  b.add(c, n, 1, true);             // one step of each
//   two.decode(b);  two.seq_logits(1);
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "src/model/batch.h"
#include "src/model/context_layout.h"
#include "src/model/kv_cache.h"
#include "src/model/matmul_observer.h"
#include "src/model/model.h"

namespace qlm {

struct ForwardBuffers;  // forward.h
struct SeqRun;          // forward.h
class LayerOps;         // layer_ops.h
class ThreadPool;       // quant/thread_pool.h

// A part of the forward pass for decode: layers [begin, end) (an early exit, or the rest of a pass
// an early exit began). From begin > 0 the rows enter as hidden_in, the state (n_embd floats a
// row, in batch order) a decode over layers [0, begin) of the same rows left in its hidden_out;
// their positions are the ones that decode reserved, and this one writes their K and V in its own
// layers. The logits of a range are those of the state after its last layer (final norm, head).
struct LayerRange {
    int64_t begin = 0, end = -1;  // end < 0: n_layer
    const float* hidden_in = nullptr;
    float* hidden_out = nullptr;  // optional: each row's state after layer end-1
};

class InferenceContext {
public:
    // Throws qlm::Error when n_ctx exceeds the model's training context, the thread count is out
    // of range or its threads cannot be started, the buffers do not fit in the memory available
    // (available_memory_bytes) or cannot be allocated, the options' device cannot allocate its
    // part, or a device comes with a matmul observer. The context's threads run its forward
    // passes only.
    InferenceContext(const Model& model, const ContextOptions& opts);
    ~InferenceContext();

    // Runs a batch (batch.h) in chunks of n_batch rows: every row at its position, attending to
    // its own sequence's positions up to its own; keeps the logits of the rows that ask for them,
    // in row order (n_outputs()). Throws qlm::Error, before anything runs and leaving the cache as
    // it was, for a token id outside the vocabulary, a sequence id out of range, a sequence whose
    // rows are not one run continuing its positions, more logits rows than the options' n_outputs,
    // a sequence that would exceed n_ctx positions, or too few free cache blocks (the check counts
    // a copy for every sequence that writes into a shared block). Allocates nothing once its
    // bookkeeping has grown to the largest batch.
    void decode(const Batch& batch);
    // decode over a range of layers (LayerRange). From begin > 0 each sequence's rows must be
    // positions it holds already (reserved by a decode from layer 0); throws qlm::Error, before
    // anything runs, for a range outside 0..n_layer, a missing hidden_in, or rows outside what the
    // sequence holds.
    void decode(const Batch& batch, const LayerRange& range);

    // decode of one sequence's tokens at positions n_pos(seq) .. n_pos(seq)+tokens.size()-1, with
    // logits for every token (all_logits) or the last.
    void eval(std::span<const int32_t> tokens, bool all_logits, int32_t seq = 0);

    int64_t n_outputs() const { return n_outputs_; }
    std::span<const float> logits(int64_t i) const;  // i < n_outputs(); n_vocab floats
    // The logits of sequence seq's last output row in the last decode; throws qlm::Error when it
    // had none.
    std::span<const float> seq_logits(int32_t seq) const;

    int64_t n_pos(int32_t seq) const { return kv_->n_pos(seq); }  // positions sequence seq holds
    int64_t n_past() const { return n_pos(0); }                    // sequence 0's
    int64_t n_ctx() const { return kv_->n_ctx(); }
    int64_t n_seq_max() const { return kv_->n_seq_max(); }
    // The cache's sequence operations (kv_cache.h): forget a sequence's tail (a model with
    // sliding-window layers may forget all of it when they no longer hold the window of the new
    // end), make one sequence share another's first n positions.
    void seq_rm(int32_t seq, int64_t p0, int64_t p1 = -1) { kv_->seq_rm(seq, p0, p1); }
    void seq_cp(int32_t src, int32_t dst, int64_t n = -1) { kv_->seq_cp(src, dst, n); }
    const KvCache& kv() const { return *kv_; }

    // The ops set (layer_ops.h) that runs layer `layer`, and the output head: "cpu", or the
    // options' device.
    std::string_view layer_ops_name(int64_t layer) const;
    std::string_view head_ops_name() const;

    const Model& model() const { return model_; }
    const ContextLayout& layout() const { return layout_; }
    // Bytes of the buffers it holds (KV cache and its tables, forward buffers, logits), counted
    // from the buffers themselves: equal to layout().total_bytes.
    uint64_t allocated_bytes() const;

private:
    void check_batch(const Batch& batch);
    void check_held_rows(const Batch& batch, const LayerRange& range);

    const Model& model_;
    ContextLayout layout_;
    MatmulObserver* observer_;
    std::unique_ptr<KvCache> kv_;
    std::vector<float> logits_;
    int64_t n_outputs_ = 0;
    std::vector<int32_t> output_seq_;  // each output row's sequence
    std::unique_ptr<ForwardBuffers> buffers_;
    // Bookkeeping of decode, kept between calls so that decoding allocates nothing.
    Batch one_seq_;
    std::vector<SeqRun> runs_;
    std::vector<int64_t> chunk_outputs_;
    std::vector<uint8_t> seq_seen_;
    std::unique_ptr<ThreadPool> pool_;
    std::unique_ptr<LayerOps> cpu_ops_, device_ops_;
    std::vector<LayerOps*> layer_ops_;  // per layer: cpu_ops_ or device_ops_
    LayerOps* head_ops_ = nullptr;
};

}  // namespace qlm
