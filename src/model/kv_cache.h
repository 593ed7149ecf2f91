// The KV cache: per layer, K and V rows of n_head_kv heads × head_dim values for each position,
// stored in the cache's element type (F32, F16 — llama.cpp's default — or Q8_0). Each head's
// head_dim values are one row of that weight format, so attention dots them with the format's
// own kernels. Positions 0..n_past-1 are filled.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "quant/formats.h"
#include "src/model/hparams.h"

namespace qlm {

// KV cache element type: llama.cpp's f16 default, f32, or q8_0 (blocks of 32 per head row,
// 34 bytes each: about half of f16; needs a head size that is a multiple of 32).
enum class KvType { F32, F16, Q8_0 };

// "f32" | "f16" | "q8_0", and back (nullopt for any other name).
std::string_view kv_type_name(KvType t);
std::optional<KvType> kv_type_from_name(std::string_view name);
// The weight format each head row is stored in (F32, F16, Q8_0).
const FormatOps& kv_format(KvType t);
// Bytes that 32 cached values take: 128 (f32), 64 (f16), 34 (q8_0).
uint32_t kv_bytes_per_32(KvType t);

// Where a cache's bytes go: for each layer, K then V, each n_ctx positions of n_head_kv head rows
// of head_dim values in the cache's format.
struct KvLayout {
    KvType type = KvType::F16;
    int64_t n_layer = 0, n_ctx = 0, n_head_kv = 0, head_dim = 0;
    uint64_t head_bytes = 0;  // one head row
    uint64_t bytes = 0;       // 2 × n_layer × n_ctx × n_head_kv × head_bytes
};

// Throws qlm::Error when the type cannot hold this model's heads (q8_0 and a head size that is
// not a multiple of 32) or the size overflows 64 bits.
KvLayout kv_layout(const Hparams& hp, int64_t n_ctx, KvType type);

class KvCache {
public:
    // Allocates layout.bytes; throws qlm::Error when that is not possible.
    explicit KvCache(const KvLayout& layout);

    KvType type() const { return type_; }
    const FormatOps& format() const { return *format_; }  // the element format of every head row
    int64_t n_ctx() const { return n_ctx_; }
    int64_t n_past() const { return n_past_; }
    int64_t row_size() const { return row_; }             // values per position (n_head_kv·head_dim)
    uint64_t head_bytes() const { return head_bytes_; }   // bytes of one head's head_dim values

    // Stores rows for positions pos .. pos+n-1 of layer `layer` (k and v: n rows of row_size()).
    void store(int64_t layer, int64_t pos, int64_t n, const float* k, const float* v);
    // Layer's K (or V) values of kv head `head` at position pos, in format().
    const void* k_head(int64_t layer, int64_t pos, int64_t head) const { return at(layer, false, pos) + head * head_bytes_; }
    const void* v_head(int64_t layer, int64_t pos, int64_t head) const { return at(layer, true, pos) + head * head_bytes_; }

    void set_n_past(int64_t n) { n_past_ = n; }  // after a forward pass has stored its rows
    void truncate(int64_t n_past);                // forget positions >= n_past

    uint64_t bytes() const { return bytes_; }     // what it holds

private:
    uint8_t* at(int64_t layer, bool v, int64_t pos) const;

    KvType type_;
    const FormatOps* format_;
    int64_t n_layer_, n_ctx_, row_;
    uint64_t head_bytes_, pos_bytes_, bytes_;
    int64_t n_past_ = 0;
    std::unique_ptr<uint8_t[]> data_;
};

}  // namespace qlm
