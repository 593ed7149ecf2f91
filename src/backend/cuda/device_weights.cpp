#include "src/backend/cuda/device_weights.h"

#include <fmt/format.h>

#include "quant/kernels/cuda/cuda_kernels.h"

namespace qlm::cuda {

std::string layer_gap(const Hparams& hp, const LayerWeights& L, int64_t layer) {
    if (hp.is_moe()) return "a mixture-of-experts feed-forward";
    if (hp.is_swa(layer)) return "sliding-window attention";
    if (hp.ffn_activation != FfnActivation::Silu) return "a GeGLU feed-forward";
    if (hp.head_dim > kMaxAttentionHeadDim) return fmt::format("heads of {} values", hp.head_dim);
    for (const WeightView* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.gate, &L.up, &L.down})
        if (!has_matvec(w->type)) return fmt::format("{} weights", type_name(w->type));
    return "";
}

std::string head_gap(const ModelWeights& w) {
    return has_matvec(w.output.type) ? "" : fmt::format("{} weights", type_name(w.output.type));
}

const float* DeviceWeights::vec(const float* host, int64_t n) {
    if (!host) return nullptr;
    const size_t bytes = static_cast<size_t>(n) * sizeof(float);
    buffers_.push_back(upload(host, bytes, "uploading a norm or bias"));
    bytes_ += bytes;
    return buffers_.back().as<const float>();
}

DevMatrix DeviceWeights::mat(const WeightView& w) {
    const size_t bytes = static_cast<size_t>(w.rows) * w.row_stride;
    buffers_.push_back(upload(w.data, bytes, "uploading a weight matrix"));
    bytes_ += bytes;
    return {.type = w.type, .data = buffers_.back().as<const void>(), .row_bytes = w.row_stride, .rows = w.rows,
            .cols = w.cols};
}

DeviceWeights::DeviceWeights(const Model& model, const std::vector<bool>& on_device, bool head) {
    const Hparams& hp = model.hparams();
    const ModelWeights& w = model.weights();
    const int64_t E = hp.n_embd, hd = hp.head_dim, QD = hp.n_head * hd, KVD = hp.n_head_kv * hd;
    layers_.resize(static_cast<size_t>(hp.n_layer));
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        if (!on_device[static_cast<size_t>(l)]) continue;
        const LayerWeights& L = w.layers[static_cast<size_t>(l)];
        DevLayer& d = layers_[static_cast<size_t>(l)];
        d.attn_norm = vec(L.attn_norm, E);
        d.bq = vec(L.bq, QD), d.bk = vec(L.bk, KVD), d.bv = vec(L.bv, KVD), d.bo = vec(L.bo, E);
        d.q_norm = vec(L.q_norm, hd), d.k_norm = vec(L.k_norm, hd);
        d.ffn_norm = vec(L.ffn_norm, E);
        d.post_attn_norm = vec(L.post_attn_norm, E), d.post_ffn_norm = vec(L.post_ffn_norm, E);
        d.wq = mat(L.wq), d.wk = mat(L.wk), d.wv = mat(L.wv), d.wo = mat(L.wo);
        d.gate = mat(L.gate), d.up = mat(L.up), d.down = mat(L.down);
    }
    if (head) {
        output_norm_ = vec(w.output_norm, E);
        output_ = mat(w.output);
    }
}

}  // namespace qlm::cuda
