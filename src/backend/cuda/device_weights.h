// A model's weights on the device for the layers (and head) placed there: each tensor copied once
// into device memory, in the host's format, so that the CUDA kernels read the same bytes the CPU
// kernels read. Layers not placed have empty entries.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quant/ggml_type.h"
#include "src/backend/cuda/device_memory.h"
#include "src/model/model.h"
#include "src/model/weights.h"

namespace qlm::cuda {

struct DevMatrix {
    GgmlType type = GgmlType::F32;
    const void* data = nullptr;
    size_t row_bytes = 0;
    int64_t rows = 0, cols = 0;
};

struct DevLayer {
    const float *attn_norm = nullptr, *bq = nullptr, *bk = nullptr, *bv = nullptr, *bo = nullptr;
    const float *q_norm = nullptr, *k_norm = nullptr, *ffn_norm = nullptr;
    const float *post_attn_norm = nullptr, *post_ffn_norm = nullptr;
    DevMatrix wq, wk, wv, wo, gate, up, down;
};

// Why the CUDA backend cannot run layer `layer` of this model ("" when it can): a mixture of
// experts, sliding-window attention, GeGLU, a head size over the attention kernel's, or a weight
// type without a matvec kernel.
std::string layer_gap(const Hparams& hp, const LayerWeights& L, int64_t layer);
// The same for the output head.
std::string head_gap(const ModelWeights& w);

class DeviceWeights {
public:
    // Uploads the layers with on_device[l] and, with head, the output norm and matrix. Throws
    // qlm::Error when device memory runs out.
    DeviceWeights(const Model& model, const std::vector<bool>& on_device, bool head);

    const DevLayer& layer(int64_t l) const { return layers_[static_cast<size_t>(l)]; }
    const float* output_norm() const { return output_norm_; }
    const DevMatrix& output() const { return output_; }
    uint64_t bytes() const { return bytes_; }

private:
    const float* vec(const float* host, int64_t n);  // nullptr for nullptr
    DevMatrix mat(const WeightView& w);

    std::vector<DevLayer> layers_;
    const float* output_norm_ = nullptr;
    DevMatrix output_;
    std::vector<DeviceBuffer> buffers_;
    uint64_t bytes_ = 0;
};

}  // namespace qlm::cuda
