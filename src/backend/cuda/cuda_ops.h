// The CUDA ops set (layer_ops.h) of one context: the ops of the layers the device holds enqueued
// on one stream, on device weights (device_weights.h), device activations sized by the context's
// layout, and a device KV cache for those layers in the same blocks as the host cache's block
// tables (the host cache keeps the tables and reserves the positions; its copy-on-write copies
// are repeated here, from its log, when the rows enter). The chunk's rows, positions, block
// tables and RoPE tables are uploaded when they enter; the residual stream comes back to the host
// in to_host, the logits in output. A CUDA failure is a qlm::Error. Compiled, not yet run on a GPU.
#pragma once

#include <cstdint>
#include <vector>

#include "quant/kernels/cuda/cuda_kernels.h"
#include "src/backend/cuda/device_memory.h"
#include "src/backend/cuda/device_weights.h"
#include "src/model/context_layout.h"
#include "src/model/forward.h"
#include "src/model/layer_ops.h"

namespace qlm::cuda {

class CudaOps final : public LayerOps {
public:
    // Throws qlm::Error for a q8_0 KV cache (no device kernels for it) or when device memory runs out.
    // on_device: the layers it runs; head: whether it runs the output head.
    CudaOps(const Model& model, const DeviceWeights& weights, const std::vector<bool>& on_device, bool head,
            const ContextLayout& layout, KvCache& kv);
    ~CudaOps() override;

    std::string_view name() const override { return "cuda"; }
    void enter(const ChunkInput& chunk, ForwardBuffers& host) override;
    void to_host(ForwardBuffers& host) override;

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
    void mv(const DevMatrix& w, const float* x, float* y, int64_t n_tokens);
    void copy_blocks();  // the host cache's copy-on-write copies since the last chunk
    void upload_rows(const ChunkInput& chunk);

    const Model& model_;
    const DeviceWeights& w_;
    KvCache& kv_;
    Stream stream_;
    int64_t n_ = 0;
    const ChunkInput* chunk_ = nullptr;
    // Activations, as ForwardBuffers'.
    DeviceBuffer x_, xn_, tmp_, q_, attn_, k_, v_, gate_, up_, rope_cs_, logits_;
    // The chunk's rows: KV slots, positions, where each row's block table starts, the tables, the output rows.
    DeviceBuffer slots_, pos_, table_at_, tables_, out_rows_;
    std::vector<int64_t> h_slots_, h_pos_, h_table_at_, h_out_rows_;
    std::vector<int32_t> h_tables_;
    int64_t table_capacity_ = 0;
    // The device KV cache: K then V of each device layer (empty for the others).
    std::vector<DeviceBuffer> kv_k_, kv_v_;
    std::vector<DevKvLayer> kv_layer_;
    uint64_t block_bytes_ = 0;
};

}  // namespace qlm::cuda
