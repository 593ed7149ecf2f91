// Every tensor of a llama/qwen2 model bound by its llama.cpp name, with shape and type checked.
// Matrices are views into the mmap, except tensors whose rows are not whole blocks (the legacy
// stories260K-Q8_0 ffn_down, ne0 = 172) and vectors that are not F32, which are dequantized once
// into buffers owned here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "quant/matmul.h"
#include "src/model/hparams.h"

namespace qlm {

struct LayerWeights {
    const float* attn_norm = nullptr;  // [n_embd]
    WeightView wq, wk, wv, wo;
    const float* bq = nullptr;  // optional biases (required for qwen2 q/k/v)
    const float* bk = nullptr;
    const float* bv = nullptr;
    const float* bo = nullptr;
    const float* ffn_norm = nullptr;  // [n_embd]
    WeightView gate, up, down;
};

// Weights that multiply the same input (their activation conversions share one buffer).
using MatmulGroup = std::vector<WeightView>;

// The matrix products of a forward pass grouped by shared input, in the order forward_chunk runs
// them: per layer {q, k, v}, {o}, {gate, up}, {down}; then {output}.
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
    std::vector<LayerWeights> layers;

    std::vector<MatmulGroup> matmul_groups() const { return qlm::matmul_groups(layers, output); }

private:
    const gguf::TensorInfo& find(const std::string& name, bool required) const;
    WeightView matrix(const std::string& name, int64_t cols, int64_t rows);
    const float* vector(const std::string& name, int64_t n, bool required);

    const gguf::GgufFile& file_;
    std::vector<std::unique_ptr<float[]>> owned_;  // dequantized copies
};

}  // namespace qlm
