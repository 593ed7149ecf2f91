#include "src/model/kv_cache.h"

#include <algorithm>
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

KvLayout kv_layout(const Hparams& hp, int64_t n_ctx, KvType type, int64_t n_batch) {
    const FormatOps& f = format_ops(kv_format_type(type));
    if (hp.head_dim <= 0 || hp.head_dim % f.block_size != 0)
        throw_error("a {} KV cache needs a head size that is a multiple of {}, but this model's is {} (use --kv-type "
                    "f16)",
                    kv_type_name(type), f.block_size, hp.head_dim);
    KvLayout l;
    l.type = type;
    l.n_layer = hp.n_layer;
    l.n_ctx = n_ctx;
    l.n_head_kv = hp.n_head_kv;
    l.head_dim = hp.head_dim;
    l.head_bytes = format_row_bytes(f, hp.head_dim);
    using plan_math::add, plan_math::mul, plan_math::u;
    int64_t n_sliding = 0;  // layers that slide: all but every swa_period-th
    if (hp.has_swa()) {
        l.n_swa = hp.n_swa;
        l.swa_period = hp.swa_period;
        const int64_t batch = n_batch > 0 ? std::min(n_batch, n_ctx) : n_ctx;
        l.swa_cells = std::min(n_ctx, hp.n_swa - 1 + batch);
        n_sliding = hp.swa_period == 0 ? hp.n_layer : hp.n_layer - hp.n_layer / hp.swa_period;
    }
    const uint64_t cells = add({mul({u(hp.n_layer - n_sliding), u(n_ctx)}), mul({u(n_sliding), u(l.swa_cells)})});
    l.bytes = mul({2, cells, u(hp.n_head_kv), l.head_bytes});
    return l;
}

int64_t KvLayout::cells(int64_t layer) const {
    const bool slides = n_swa > 0 && (swa_period == 0 || layer % swa_period < swa_period - 1);
    return slides ? swa_cells : n_ctx;
}

KvCache::KvCache(const KvLayout& layout)
    : type_(layout.type),
      format_(&format_ops(kv_format_type(layout.type))),
      n_layer_(layout.n_layer),
      n_ctx_(layout.n_ctx),
      row_(layout.n_head_kv * layout.head_dim),
      n_swa_(layout.n_swa),
      head_bytes_(layout.head_bytes),
      pos_bytes_(layout.head_bytes * static_cast<uint64_t>(layout.n_head_kv)),
      bytes_(layout.bytes) {
    data_.reset(new (std::nothrow) uint8_t[bytes_]);
    if (!data_)
        throw_error("the KV cache for a context of {} tokens needs {} bytes, which could not be allocated (use a "
                    "smaller context size)",
                    n_ctx_, bytes_);
    uint64_t off = 0;
    for (int64_t layer = 0; layer < n_layer_; ++layer) {
        cells_.push_back(layout.cells(layer));
        offset_.push_back(off);
        off += 2 * static_cast<uint64_t>(cells_.back()) * pos_bytes_;
    }
}

uint8_t* KvCache::at(int64_t layer, bool v, int64_t pos) const {
    const auto l = static_cast<size_t>(layer);
    const auto cells = static_cast<uint64_t>(cells_[l]);
    return data_.get() + offset_[l] + (v ? cells * pos_bytes_ : 0) + static_cast<uint64_t>(pos) % cells * pos_bytes_;
}

void KvCache::store(int64_t layer, int64_t pos, int64_t n, const float* k, const float* v) {
    if (layer < 0 || layer >= n_layer_ || pos < 0 || n < 0 || pos + n > n_ctx_)
        throw_error("KV cache: positions {}..{} of layer {} are outside the context of {}", pos, pos + n - 1, layer,
                    n_ctx_);
    // A ring must hold the chunk and the n_swa − 1 positions before it that its first query sees.
    if (cells(layer) < n_ctx_ && n > cells(layer) - (n_swa_ - 1))
        throw_error("KV cache: {} positions at once do not fit in the {} cells of sliding-window layer {}", n,
                    cells(layer), layer);
    if (cells(layer) < n_ctx_) swa_kept_from_ = std::max(swa_kept_from_, pos + n - cells(layer));
    // Rows of consecutive positions are contiguous up to the end of a ring, and head rows are
    // whole blocks: one call per contiguous run.
    const QuantizeRowFn convert =
        type_ == KvType::F32 ? nullptr : quantize_activation_for(*format_, active_isa());
    for (int64_t done = 0; done < n;) {
        const int64_t p = pos + done, run = std::min(n - done, cells(layer) - p % cells(layer));
        const int64_t count = run * row_;
        const float *kr = k + done * row_, *vr = v + done * row_;
        if (!convert) {
            std::memcpy(at(layer, false, p), kr, static_cast<size_t>(count) * sizeof(float));
            std::memcpy(at(layer, true, p), vr, static_cast<size_t>(count) * sizeof(float));
        } else {
            // As llama.cpp converts K and V when it copies them into its cache (the activation rule).
            convert(kr, at(layer, false, p), count);
            convert(vr, at(layer, true, p), count);
        }
        done += run;
    }
}

void KvCache::truncate(int64_t n_past) {
    if (n_past < 0) n_past = 0;
    if (n_past >= n_past_) return;
    // The next query, at n_past, sees positions from n_past − n_swa + 1: still in every ring?
    if (n_swa_ > 0 && n_past > 0 && std::max<int64_t>(0, n_past - n_swa_ + 1) < swa_kept_from_) n_past = 0;
    n_past_ = n_past;
    if (n_past_ == 0) swa_kept_from_ = 0;
}

}  // namespace qlm
