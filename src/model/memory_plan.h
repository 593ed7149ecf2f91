// How much memory running a model takes: mapped weights + KV cache + scratch buffers.
//
//   MemoryPlan p = plan_memory(shape, weight_bytes, {.n_ctx = 2048, .kv_type = KvType::F16});
//   p.kv_bytes == 2 * n_layer * n_ctx * n_head_kv * head_dim * 2
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "src/model/hf_config.h"
#include "src/model/kv_cache.h"

namespace qlm {

struct MemoryPlanOptions {
    int64_t n_ctx = 0;       // 0: the model's training context
    int64_t n_batch = 512;   // prompt tokens per forward chunk
    KvType kv_type = KvType::F16;
};

struct MemoryPlan {
    int64_t n_ctx = 0;           // the context actually planned for
    int64_t n_batch = 0;
    KvType kv_type = KvType::F16;
    uint64_t weight_bytes = 0;   // tensor data (mapped from the file, not copied)
    uint64_t kv_bytes = 0;       // 2 × n_layer × n_ctx × n_head_kv × head_dim × kv_elem_bytes_text
    uint64_t scratch_bytes = 0;  // activations for one batch + attention scores + logits (f32)
    uint64_t total_bytes = 0;
};

// Bytes per cached value, as printed in the formula: "4" (f32), "2" (f16), "34/32" (q8_0).
std::string kv_elem_bytes_text(KvType t);

// KV cache bytes: 2 (K and V) × n_layer × n_ctx × n_head_kv × head_dim × bytes per value
// (kv_bytes_per_32 / 32, rounded up to a whole byte).
// Throws qlm::Error when the product overflows 64 bits.
uint64_t kv_bytes(const ModelShape& s, int64_t n_ctx, KvType kv_type);

// Scratch estimate (f32):
//   4 × [ n_batch × (3·n_embd + n_head·head_dim + 2·n_head_kv·head_dim + 2·n_ff)
//         + n_head × n_ctx             (attention scores of one token, one row per head/thread)
//         + n_vocab × n_batch ]        (logits, all of a batch at most)
uint64_t scratch_bytes(const ModelShape& s, int64_t n_ctx, int64_t n_batch);

// The whole plan. weight_bytes: bytes of tensor data (from the GGUF tensor table, or
// param_count × bytes per parameter for a config.json). Throws qlm::Error for n_ctx < 0,
// n_batch <= 0 or an overflow.
MemoryPlan plan_memory(const ModelShape& s, uint64_t weight_bytes, const MemoryPlanOptions& opts);

// Memory the OS says is available now (MemAvailable), capped by $QLM_MEMORY_LIMIT (bytes) when
// set; nullopt when neither is known.
std::optional<uint64_t> available_memory_bytes();

// "1.23 GiB", "512.0 KiB", "17 B".
std::string format_bytes(uint64_t bytes);

}  // namespace qlm
