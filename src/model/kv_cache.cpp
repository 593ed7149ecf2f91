#include "src/model/kv_cache.h"

#include <cstring>
#include <new>

#include "src/model/plan_math.h"
#include "src/util/error.h"

namespace qlm {

namespace {
GgmlType kv_format_type(KvType t) {
    switch (t) {
        case KvType::F32: return GgmlType::F32;
        case KvType::F16: return GgmlType::F16;
        case KvType::Q8_0: return GgmlType::Q8_0;
    }
    return GgmlType::F16;
}
}  // namespace

std::string_view kv_type_name(KvType t) {
    switch (t) {
        case KvType::F32: return "f32";
        case KvType::F16: return "f16";
        case KvType::Q8_0: return "q8_0";
    }
    return "f16";
}

std::optional<KvType> kv_type_from_name(std::string_view name) {
    for (KvType t : {KvType::F32, KvType::F16, KvType::Q8_0})
        if (kv_type_name(t) == name) return t;
    return std::nullopt;
}

const FormatOps& kv_format(KvType t) { return format_ops(kv_format_type(t)); }

uint32_t kv_bytes_per_32(KvType t) {
    const FormatOps& f = kv_format(t);
    return static_cast<uint32_t>(32 / f.block_size * f.block_bytes);
}

KvLayout kv_layout(const Hparams& hp, int64_t n_ctx, KvType type) {
    const FormatOps& f = format_ops(kv_format_type(type));
    if (hp.head_dim <= 0 || hp.head_dim % f.block_size != 0)
        throw_error("a {} KV cache needs a head size that is a multiple of {}, but this model's is {} (use --kv-type "
                    "f16)",
                    kv_type_name(type), f.block_size, hp.head_dim);
    KvLayout l{.type = type, .n_layer = hp.n_layer, .n_ctx = n_ctx, .n_head_kv = hp.n_head_kv, .head_dim = hp.head_dim};
    l.head_bytes = format_row_bytes(f, hp.head_dim);
    using plan_math::mul, plan_math::u;
    l.bytes = mul({2, u(hp.n_layer), u(n_ctx), u(hp.n_head_kv), l.head_bytes});
    return l;
}

KvCache::KvCache(const KvLayout& layout)
    : type_(layout.type),
      format_(&format_ops(kv_format_type(layout.type))),
      n_layer_(layout.n_layer),
      n_ctx_(layout.n_ctx),
      row_(layout.n_head_kv * layout.head_dim),
      head_bytes_(layout.head_bytes),
      pos_bytes_(layout.head_bytes * static_cast<uint64_t>(layout.n_head_kv)),
      bytes_(layout.bytes) {
    data_.reset(new (std::nothrow) uint8_t[bytes_]);
    if (!data_)
        throw_error("the KV cache for a context of {} tokens needs {} bytes, which could not be allocated (use a "
                    "smaller context size)",
                    n_ctx_, bytes_);
}

uint8_t* KvCache::at(int64_t layer, bool v, int64_t pos) const {
    const uint64_t per_tensor = pos_bytes_ * static_cast<uint64_t>(n_ctx_);
    return data_.get() + (static_cast<uint64_t>(layer) * 2 + (v ? 1 : 0)) * per_tensor +
           static_cast<uint64_t>(pos) * pos_bytes_;
}

void KvCache::store(int64_t layer, int64_t pos, int64_t n, const float* k, const float* v) {
    if (layer < 0 || layer >= n_layer_ || pos < 0 || n < 0 || pos + n > n_ctx_)
        throw_error("KV cache: positions {}..{} of layer {} are outside the context of {}", pos, pos + n - 1, layer,
                    n_ctx_);
    // Rows of consecutive positions are contiguous, and head rows are whole blocks: one call each.
    const int64_t count = n * row_;
    if (type_ == KvType::F32) {
        std::memcpy(at(layer, false, pos), k, static_cast<size_t>(count) * sizeof(float));
        std::memcpy(at(layer, true, pos), v, static_cast<size_t>(count) * sizeof(float));
    } else {
        // As llama.cpp converts K and V when it copies them into its cache (the activation rule).
        const QuantizeRowFn convert = quantize_activation_for(*format_, active_isa());
        convert(k, at(layer, false, pos), count);
        convert(v, at(layer, true, pos), count);
    }
}

void KvCache::truncate(int64_t n_past) {
    if (n_past < 0) n_past = 0;
    if (n_past < n_past_) n_past_ = n_past;
}

}  // namespace qlm
