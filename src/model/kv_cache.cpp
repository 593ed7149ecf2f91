#include "src/model/kv_cache.h"

#include <cstring>
#include <new>

#include "quant/formats.h"
#include "src/model/memory_plan.h"
#include "src/util/checked_math.h"
#include "src/util/error.h"

namespace qlm {

uint64_t kv_cache_bytes(const Hparams& hp, int64_t n_ctx, KvType kv_type) {
    const uint64_t elem = kv_type == KvType::F16 ? 2 : 4;
    uint64_t b = 2 * elem;
    for (int64_t f : {hp.n_layer, n_ctx, hp.n_head_kv, hp.head_dim}) {
        auto m = checked_mul(b, static_cast<uint64_t>(f < 0 ? 0 : f));
        if (!m) return UINT64_MAX;
        b = *m;
    }
    return b;
}

KvCache::KvCache(const Hparams& hp, int64_t n_ctx, KvType type)
    : type_(type), n_layer_(hp.n_layer), n_ctx_(n_ctx), row_(hp.n_head_kv * hp.head_dim) {
    const uint64_t bytes = kv_cache_bytes(hp, n_ctx, type);
    const uint64_t avail = available_memory_bytes().value_or(0);
    if (bytes == UINT64_MAX || (avail != 0 && bytes > avail))
        throw_error("the KV cache for a context of {} tokens needs {} bytes, but only {} bytes of memory are "
                    "available (use a smaller context size)",
                    n_ctx, bytes, avail);
    data_.reset(new (std::nothrow) uint8_t[bytes]);
    if (!data_)
        throw_error("the KV cache for a context of {} tokens needs {} bytes, which could not be allocated (use a "
                    "smaller context size)",
                    n_ctx, bytes);
}

uint8_t* KvCache::at(int64_t layer, bool v, int64_t pos) const {
    const uint64_t per_pos = static_cast<uint64_t>(row_) * elem_bytes();
    const uint64_t per_tensor = per_pos * static_cast<uint64_t>(n_ctx_);
    return data_.get() + (static_cast<uint64_t>(layer) * 2 + (v ? 1 : 0)) * per_tensor +
           static_cast<uint64_t>(pos) * per_pos;
}

void KvCache::store(int64_t layer, int64_t pos, int64_t n, const float* k, const float* v) {
    if (layer < 0 || layer >= n_layer_ || pos < 0 || n < 0 || pos + n > n_ctx_)
        throw_error("KV cache: positions {}..{} of layer {} are outside the context of {}", pos, pos + n - 1, layer,
                    n_ctx_);
    const int64_t count = n * row_;
    uint8_t* kd = at(layer, false, pos);
    uint8_t* vd = at(layer, true, pos);
    if (type_ == KvType::F32) {
        std::memcpy(kd, k, static_cast<size_t>(count) * sizeof(float));
        std::memcpy(vd, v, static_cast<size_t>(count) * sizeof(float));
    } else {
        const QuantizeRowFn to_f16 = quantize_activation_for(format_ops(GgmlType::F16), active_isa());
        to_f16(k, kd, count);
        to_f16(v, vd, count);
    }
}

const void* KvCache::k_row(int64_t layer, int64_t pos) const { return at(layer, false, pos); }
const void* KvCache::v_row(int64_t layer, int64_t pos) const { return at(layer, true, pos); }

void KvCache::truncate(int64_t n_past) {
    if (n_past < 0) n_past = 0;
    if (n_past < n_past_) n_past_ = n_past;
}

}  // namespace qlm
