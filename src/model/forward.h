// The forward pass of one chunk of tokens through every layer (forward.cpp), on buffers the
// inference context allocated (context.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "src/model/attention.h"
#include "src/model/context_layout.h"
#include "src/model/kv_cache.h"
#include "src/model/matmul_observer.h"
#include "src/model/model.h"
#include "src/model/moe_ffn.h"

namespace qlm {

// The activations of one chunk of up to n_batch tokens, and the scratch its steps share: the
// buffers of a ContextLayout but the KV cache and the logits.
struct ForwardBuffers {
    explicit ForwardBuffers(const ContextLayout& layout);  // throws std::bad_alloc
    uint64_t bytes() const;  // what it holds

    std::vector<float> x, xn, tmp;  // n_batch × n_embd
    std::vector<float> q, attn;     // n_batch × q_dim
    std::vector<float> k, v;        // n_batch × kv_dim
    std::vector<float> gate, up;    // ffn_rows × n_ff
    std::vector<float> rope_cs;     // n_batch × n_rot
    std::vector<uint8_t> act;       // activations converted for the matmuls (matmul_scratch_bytes)
    AttentionScratch attention;
    MoeBuffers moe;                 // routing buffers (empty for a dense model)
};

struct ForwardSettings {
    ThreadPool& pool;  // the context's threads; at most the attention scratch's n_threads
    MatmulObserver* observer = nullptr;
};

// Runs n tokens at positions kv.n_past().. through every layer, storing their K and V rows in
// `kv`; writes logits for all of them (all_logits) or the last one into logits_out when it is not
// nullptr. Tokens must be in the vocabulary, n within the buffers' n_batch and the positions
// within the cache (the context checks all three); nothing here allocates or throws.
void forward_chunk(const Model& model, KvCache& kv, ForwardBuffers& buf, const ForwardSettings& settings,
                   const int32_t* tokens, int64_t n, bool all_logits, float* logits_out);

}  // namespace qlm
