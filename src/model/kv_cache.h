// The KV cache: per layer, K and V rows of n_head_kv·head_dim values for each position, stored
// as F32 or F16 (llama.cpp's default is F16). Positions 0..n_past-1 are filled.
#pragma once

#include <cstdint>
#include <memory>

#include "src/model/model.h"

namespace qlm {

class KvCache {
public:
    // Throws qlm::Error when the cache does not fit in available memory (naming the bytes needed).
    KvCache(const Hparams& hp, int64_t n_ctx, KvType type);

    KvType type() const { return type_; }
    int64_t n_ctx() const { return n_ctx_; }
    int64_t n_past() const { return n_past_; }
    int64_t row_size() const { return row_; }  // values per position (n_head_kv·head_dim)
    size_t elem_bytes() const { return type_ == KvType::F16 ? 2 : 4; }

    // Stores rows for positions pos .. pos+n-1 of layer `layer` (k and v: n rows of row_size()).
    void store(int64_t layer, int64_t pos, int64_t n, const float* k, const float* v);
    // Start of layer's K (or V) row for position pos; elements are float or uint16_t (f16).
    const void* k_row(int64_t layer, int64_t pos) const;
    const void* v_row(int64_t layer, int64_t pos) const;

    void set_n_past(int64_t n) { n_past_ = n; }  // after a forward pass has stored its rows
    void truncate(int64_t n_past);                // forget positions >= n_past

private:
    uint8_t* at(int64_t layer, bool v, int64_t pos) const;

    KvType type_;
    int64_t n_layer_, n_ctx_, row_;
    int64_t n_past_ = 0;
    std::unique_ptr<uint8_t[]> data_;
};

}  // namespace qlm
