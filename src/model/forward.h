// The forward pass of one chunk of tokens through every layer (forward.cpp), on buffers the
// inference context allocated (context.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "src/model/attention.h"
#include "src/model/kv_cache.h"
#include "src/model/matmul_observer.h"
#include "src/model/model.h"

namespace qlm {

// The activations of one chunk of up to n_batch tokens, and the scratch its steps share.
struct ForwardBuffers {
    std::vector<float> x, xn, q, k, v, attn, tmp, gate, up, rope_cs;
    std::vector<uint8_t> act;  // activations converted for the matmuls (matmul_scratch_bytes)
    AttentionScratch attention;
};

struct ForwardSettings {
    AttentionKernel kernel = AttentionKernel::Exact;
    MatmulObserver* observer = nullptr;
};

// Runs n tokens at positions kv.n_past().. through every layer, storing their K and V rows in
// `kv`; writes logits for all of them (all_logits) or the last one into logits_out when it is not
// nullptr. Tokens must be in the vocabulary and fit the cache (the context checks both).
void forward_chunk(const Model& model, KvCache& kv, ForwardBuffers& buf, const ForwardSettings& settings,
                   const int32_t* tokens, int64_t n, bool all_logits, float* logits_out);

}  // namespace qlm
