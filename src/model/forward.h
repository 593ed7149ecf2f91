// The forward pass of one chunk of tokens through every layer (forward.cpp), on buffers the
// inference context allocated (context.cpp), each layer on the ops set (layer_ops.h) the context
// chose for it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "src/model/attention.h"
#include "src/model/context_layout.h"
#include "src/model/kv_cache.h"
#include "src/model/layer_ops.h"
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

// Rows row0 .. row0+n-1 of a chunk: one sequence's tokens at positions p0 .. p0+n-1.
struct SeqRun {
    int32_t seq = 0;
    int64_t row0 = 0, n = 0, p0 = 0;
};

// One chunk of a batch (batch.h): n rows, each sequence's rows one run.
struct ChunkInput {
    const int32_t* tokens = nullptr;   // n tokens
    const int64_t* pos = nullptr;      // each row's position in its sequence
    int64_t n = 0;
    std::span<const SeqRun> runs;      // covering rows 0..n-1, their positions reserved in the cache
    std::span<const int64_t> outputs;  // the rows whose logits are wanted, ascending
    // The layers to run, [layer_begin, layer_end): all of them by default. From layer_begin > 0
    // the rows enter as hidden_in (n rows of n_embd floats: the state a pass over the layers
    // before it left) instead of as embeddings; hidden_out, when set, receives the rows' state
    // after the last layer run. The logits come from that state through the final norm and head.
    int64_t layer_begin = 0, layer_end = -1;  // layer_end < 0: n_layer
    const float* hidden_in = nullptr;
    float* hidden_out = nullptr;
};

// Which ops set runs each layer, and the output head.
struct OpsPlan {
    std::span<LayerOps* const> layers;  // n_layer entries
    LayerOps* head = nullptr;
};

// Runs a chunk through its layers (every layer unless the input names a range): each row at its own position (RoPE), its K and V rows stored
// in its sequence's reserved cache slots, its attention over its own sequence's positions up to
// its own. Writes the logits of the output rows, in order, to logits_out (n_vocab floats each).
// Tokens must be in the vocabulary, n within the buffers' n_batch and the positions reserved (the
// context checks and reserves); nothing here allocates or throws. The embeddings and the RoPE
// tables are computed on the host, in `buf`, and enter the first layer's ops set from there.
void forward_chunk(const Model& model, ForwardBuffers& buf, const OpsPlan& plan, const ChunkInput& in,
                   float* logits_out);

}  // namespace qlm
