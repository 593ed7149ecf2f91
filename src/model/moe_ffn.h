// The mixture-of-experts feed-forward of qwen3moe and Mixtral layers, as llama.cpp's
// build_moe_ffn computes it with softmax gating and normalised weights:
//
//   p      = softmax(router · x)                       (n_expert probabilities)
//   S      = the n_expert_used largest p, best first
//   w_s    = p_s / max(Σ_S p, 2⁻¹⁴)  (× expert_weights_scale when it is neither 0 nor 1)
//   ffn(x) = Σ_{s ∈ S, in order} w_s · down_s(silu(gate_s · x) ⊙ (up_s · x))
//
// Only the chosen experts' rows are read. A prompt chunk is grouped by expert: the rows of all
// tokens routed to one expert are multiplied by its matrices together (one matrix × matrix product
// per expert and matrix). A single token multiplies all its experts' gate and up matrices in one
// pass over its input.
#pragma once

#include <cstdint>
#include <vector>

#include "quant/matmul.h"
#include "src/model/hparams.h"

namespace qlm {

class MatmulObserver;

// One 3-D expert tensor [cols, rows, n_expert] of a layer: n_expert matrices stored one after
// another, expert_stride bytes apart.
struct ExpertMatrix {
    WeightView first;  // expert 0
    uint64_t expert_stride = 0;
    int64_t n_expert = 0;

    WeightView expert(int64_t e) const {
        WeightView w = first;
        w.data = static_cast<const uint8_t*>(first.data) + static_cast<uint64_t>(e) * expert_stride;
        return w;
    }
    uint64_t expert_bytes() const { return first.row_stride * static_cast<uint64_t>(first.rows); }
};

struct MoeWeights {
    WeightView router;            // ffn_gate_inp: n_embd -> n_expert
    ExpertMatrix gate, up, down;  // ffn_{gate,up,down}_exps: n_embd -> n_ff_exp, n_ff_exp -> n_embd
};

// The routing buffers a context plans for its MoE layers, beyond the forward pass's
// activations (context_layout.h): per chunk of up to n_batch tokens.
struct MoeLayout {
    int64_t n_batch = 0, n_expert = 0, n_used = 0, n_embd = 0;
    uint64_t bytes = 0;  // 0 for a dense model

    bool empty() const { return n_expert == 0; }
};
MoeLayout moe_layout(const Hparams& hp, int64_t n_batch);  // throws qlm::Error on overflow

// The rows of the forward pass's gate/up buffers a MoE layer needs: n_batch, or n_expert_used
// when larger (one token's experts side by side).
int64_t moe_ffn_rows(const Hparams& hp, int64_t n_batch);

// The buffers of a MoeLayout, allocated once with the context.
struct MoeBuffers {
    explicit MoeBuffers(const MoeLayout& layout);  // throws std::bad_alloc
    uint64_t bytes() const;

    std::vector<float> probs;      // n_batch × n_expert: router logits, then probabilities
    std::vector<int32_t> chosen;   // n_batch × n_used: expert ids, best first
    std::vector<float> weights;    // n_batch × n_used: their normalised weights
    std::vector<int32_t> offsets;  // n_expert + 1: where each expert's assignments start in `order`
    std::vector<int32_t> order;    // n_batch × n_used: assignments (t·n_used + slot) grouped by expert
    std::vector<float> in;         // n_batch × n_embd: one expert's input rows, gathered
    std::vector<float> out;        // n_batch × n_used × n_embd: each assignment's weighted output
};

// The forward pass's buffers a MoE layer works in (their sizes: context_layout.h).
struct MoeStep {
    const float* xn;   // n × n_embd: the normalised input
    float* x;          // n × n_embd: the residual stream, to which the layer's output is added
    float* gate;       // moe_ffn_rows × n_ff_exp
    float* up;         // moe_ffn_rows × n_ff_exp
    float* tmp;        // n × n_embd
    uint8_t* act;      // the matmuls' activation scratch
    Isa isa;
    MatmulObserver* observer;  // may be nullptr
};

// x += ffn(xn) for the n tokens of a chunk (n within the layout's n_batch), on the threads of
// `pool` (called by its owner). Nothing here allocates or throws (shapes were checked when the
// model was loaded).
void moe_ffn_team(ThreadPool& pool, const Hparams& hp, const MoeWeights& w, int64_t n, const MoeStep& step,
                  MoeBuffers& buf);

// The routing of one token: its n_expert_used experts, best first, and their weights, from the
// router's logits (overwritten with the probabilities). The part of moe_ffn_team that tests check
// against a direct computation.
void moe_route(const Hparams& hp, float* logits, int32_t* chosen, float* weights);

}  // namespace qlm
