// How much memory running a model takes: the mapped weights plus what an inference context
// allocates (context_layout.h: KV cache, activations, attention scratch, logits), and whether
// that fits in the memory available.
//
//   MemoryPlan p = plan_memory(hp, weights.matmul_groups(), weight_bytes, {.n_ctx = 2048});
//   p.context.kv.bytes == 2 * n_layer * n_ctx * n_head_kv * head_dim * 2   (f16)
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "src/model/context_layout.h"

namespace qlm {

struct MemoryPlan {
    ContextLayout context;       // what an InferenceContext with these options allocates
    uint64_t weight_bytes = 0;   // tensor data (mapped from the file, not copied)
    uint64_t total_bytes = 0;    // weights + context
};

// weight_bytes: bytes of tensor data (from the GGUF tensor table, or param_count × bytes per
// parameter for a config.json). Throws as plan_context does.
MemoryPlan plan_memory(const Hparams& hp, std::span<const MatmulGroup> matmul_groups, uint64_t weight_bytes,
                       const ContextOptions& opts);

// Bytes per cached value, as printed in the formula: "4" (f32), "2" (f16), "34/32" (q8_0).
std::string kv_elem_bytes_text(KvType t);

// The largest n_ctx <= the options' whose context (KV cache and scratch) fits in `available`
// bytes; 0 when none does.
int64_t largest_context_that_fits(const Hparams& hp, std::span<const MatmulGroup> matmul_groups,
                                  const ContextOptions& opts, uint64_t available);

// Throws qlm::Error when a context with these options needs more than `available` bytes: it names
// the bytes needed and available and suggests a -c that fits (and a smaller KV type).
void check_context_fits(const Hparams& hp, std::span<const MatmulGroup> matmul_groups, const ContextOptions& opts,
                        uint64_t available);

// Memory the OS says is available now (MemAvailable), capped by $QLM_MEMORY_LIMIT (bytes) when
// set; nullopt when neither is known.
std::optional<uint64_t> available_memory_bytes();

// "1.23 GiB", "512.0 KiB", "17 B".
std::string format_bytes(uint64_t bytes);

}  // namespace qlm
