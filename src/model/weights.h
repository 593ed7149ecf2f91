// Every tensor of a model bound by its llama.cpp name, with shape and type checked; a tensor the
// architecture does not use is an error (it would change what the model computes). Matrices are
// views into the mmap, except tensors whose rows are not whole blocks (the legacy stories260K-Q8_0
// ffn_down, ne0 = 172) and vectors that are not F32, which are dequantized once into buffers owned
// here. Fused tensors (attn_qkv; Phi-3's ffn_up, gate rows then up rows) are bound as views of
// their row ranges, so the forward pass sees q, k, v, gate and up as separate matrices.
#pragma once

#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "quant/matmul.h"
#include "quant/x16.h"
#include "src/model/hparams.h"
#include "src/model/moe_ffn.h"

namespace qlm {

struct LayerWeights {
    const float* attn_norm = nullptr;  // [n_embd]
    WeightView wq, wk, wv, wo;
    const float* bq = nullptr;  // optional biases (required for qwen2 q/k/v)
    const float* bk = nullptr;
    const float* bv = nullptr;
    const float* bo = nullptr;
    const float* q_norm = nullptr;  // [head_dim], with hp.qk_norm
    const float* k_norm = nullptr;
    const float* ffn_norm = nullptr;  // [n_embd]
    WeightView gate, up, down;              // dense feed-forward (empty in a MoE model)
    MoeWeights moe;                         // the router and experts of a MoE model
    const float* post_attn_norm = nullptr;  // [n_embd], with hp.post_norms
    const float* post_ffn_norm = nullptr;
};

// Weights that multiply the same input (their activation conversions share one buffer).
using MatmulGroup = std::vector<WeightView>;

// The matrix products of a forward pass grouped by shared input, in the order forward_chunk runs
// them: per layer {q, k, v}, {o}, {gate, up}, {down} (MoE: {router}, and expert 0's {gate, up},
// {down} standing for every expert); then {output}.
std::vector<MatmulGroup> matmul_groups(const std::vector<LayerWeights>& layers, const WeightView& output);
// The same shapes for a model that is not loaded (a config.json): every matrix of `type`, one
// layer standing for all (they have the same shapes); the views have no data.
std::vector<MatmulGroup> matmul_groups(const Hparams& hp, GgmlType type);

class ModelWeights {
public:
    // Binds all tensors; throws qlm::Error naming the missing or malformed tensor.
    ModelWeights(const gguf::GgufFile& file, const Hparams& hp);

    WeightView token_embd;            // n_vocab rows of n_embd
    const float* output_norm = nullptr;
    WeightView output;                // token_embd when tied
    // Llama 3.1+ (rope_freqs.weight, n_rot/2 values): rotary frequency i is divided by
    // rope_freqs[i]; nullptr: none.
    const float* rope_freqs = nullptr;
    std::vector<LayerWeights> layers;

    std::vector<MatmulGroup> matmul_groups() const { return qlm::matmul_groups(layers, output); }

private:
    void bind_attention(const Hparams& hp, const std::string& prefix, LayerWeights& L);
    void bind_ffn(const Hparams& hp, const std::string& prefix, LayerWeights& L);
    void check_all_used() const;
    // The dense matrices of formats with a repacked layout (Q4_0, Q4_K, F16) in groups of 16 rows when
    // the active kernel set computes that layout (weights_x16.cpp).
    void repack_x16();
    const gguf::TensorInfo& find(const std::string& name, bool required);
    WeightView matrix(const std::string& name, int64_t cols, int64_t rows);
    // A 3-D tensor [cols, rows, n_mat] (the experts of a MoE layer).
    ExpertMatrix experts(const std::string& name, int64_t cols, int64_t rows, int64_t n_mat);
    WeightView bind(const gguf::TensorInfo& t, int64_t cols, int64_t rows);
    const float* vector(const std::string& name, int64_t n, bool required);

    const gguf::GgufFile& file_;
    std::string arch_;
    std::unordered_set<std::string> used_;  // names bound so far
    std::vector<std::unique_ptr<float[]>> owned_;  // dequantized copies
    AlignedBytes x16_;                             // repacked Q4_0/Q4_K/Q6_K/Q8_0/F16 matrices (WeightView::x16)
};

}  // namespace qlm
