// The CPU's ops set (layer_ops.h): each op is a loop shared out over the context's thread pool
// (matmul_team, attention_runs, moe_ffn_team, and per-token loops for the element-wise steps) or
// done by the calling thread, and each loop has ended before the next op starts. The per-ISA
// kernel tables are chosen inside (matmul_team, the KV cache's conversions, attention), once per
// chunk. It works in the context's host buffers (ForwardBuffers) and host KV cache, so entering
// it and leaving it copy nothing.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "quant/kernel_set.h"
#include "quant/thread_pool.h"
#include "src/model/forward.h"
#include "src/model/layer_ops.h"

namespace qlm {

class CpuOps final : public LayerOps {
public:
    // The observer, when set, sees every matrix product's input first. The references must
    // outlive the ops set.
    CpuOps(const Model& model, KvCache& kv, ForwardBuffers& buffers, ThreadPool& pool, MatmulObserver* observer);

    std::string_view name() const override { return "cpu"; }
    void enter(const ChunkInput& chunk, ForwardBuffers& host) override;
    void to_host(ForwardBuffers&) override {}  // its rows are the host's

    void attention_norm(int64_t layer) override;
    void matmul(int64_t layer, LayerMatmul m) override;
    void prepare_qkv(int64_t layer) override;
    void store_kv(int64_t layer) override;
    void attention(int64_t layer) override;
    void attention_residual(int64_t layer) override;
    void ffn_activation(int64_t layer) override;
    void ffn_residual(int64_t layer) override;
    void moe_ffn(int64_t layer) override;
    void output(float* logits_host) override;

private:
    // y_k = in · W_kᵀ for weights sharing one input, on the chunk's pool.
    void mm(std::initializer_list<const WeightView*> ws, std::initializer_list<float*> ys, const float* in,
            int64_t n_tokens);

    const Model& model_;
    KvCache& kv_;
    ForwardBuffers& s_;
    ThreadPool& team_;
    ThreadPool alone_;  // a decode step of a small model: one thread beats the handovers between threads
    MatmulObserver* observer_;
    // The chunk entered last.
    const ChunkInput* chunk_ = nullptr;
    ThreadPool* pool_ = &alone_;
    int64_t n_ = 0;
    Isa isa_ = Isa::Scalar;
    const float* cs_ = nullptr;      // each row's RoPE cos/sin
    const float* cs_swa_ = nullptr;  // the sliding-window layers' own
};

}  // namespace qlm
