// A model's hyperparameters, read from its GGUF metadata with range checks (hparams.cpp).
//
//   Hparams hp = read_hparams(file);   // throws qlm::Error naming the missing or invalid key
#pragma once

#include <cstdint>
#include <string>

#include "src/gguf/gguf_file.h"

namespace qlm {

enum class RopeStyle { Norm, Neox };  // adjacent pairs (llama) / halves (qwen2, qwen3, phi3, gemma3)

// The gated feed-forward's activation: silu(gate)·up (SwiGLU) or gelu_tanh(gate)·up (GeGLU, Gemma).
enum class FfnActivation { Silu, GeluTanh };

// Every field is set from the file's metadata by read_hparams, as llama.cpp's loader sets it for
// the architecture; the architecture options default to what llama and qwen2 do.
struct Hparams {
    std::string arch;           // "llama" | "qwen2" | "qwen3" | "qwen3moe" | "phi3" | "gemma3"
    std::string name;           // general.name
    int64_t n_vocab = 0;
    int64_t n_ctx_train = 0;
    int64_t n_embd = 0;
    int64_t n_layer = 0;
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t n_ff = 0;
    int64_t head_dim = 0;       // key/value head size
    int64_t n_rot = 0;          // rope.dimension_count
    float rms_eps = 1e-5f;
    float rope_freq_base = 10000.f;
    float rope_freq_scale = 1.f;
    RopeStyle rope_style = RopeStyle::Norm;
    bool qkv_bias = false;
    bool tied_output = false;   // no output.weight: logits use token_embd

    // Architecture options (see forward.cpp for where each applies).
    bool qk_norm = false;       // per-head RMS norm of q and k before RoPE (attn_q_norm, attn_k_norm)
    bool post_norms = false;    // RMS norm of the attention and FFN outputs before each residual add
    FfnActivation ffn_activation = FfnActivation::Silu;
    float embd_scale = 1.f;     // token embeddings are multiplied by it (Gemma: √n_embd)
    // The q·k scale (0: 1/√head_dim). With scale_q it multiplies q before the dots instead of the
    // scores, as llama.cpp does for phi3 and gemma (the query is rounded to the cache's type after).
    float attn_scale = 0.f;
    bool scale_q = false;
    float final_logit_softcap = 0.f;  // 0: none; else logits = c·tanh(logits / c)
    // Sliding-window attention: a layer l with is_swa(l) attends to the n_swa most recent
    // positions (its own included) and uses the _swa RoPE parameters. swa_period p > 0: every
    // p-th layer (l % p == p - 1) attends to the whole context, the others slide; 0: all slide.
    int64_t n_swa = 0;
    int64_t swa_period = 0;
    float rope_freq_base_swa = 10000.f;
    float rope_freq_scale_swa = 1.f;

    bool is_swa(int64_t layer) const {
        return n_swa > 0 && (swa_period == 0 || layer % swa_period < swa_period - 1);
    }
    bool has_swa() const { return n_swa > 0 && swa_period != 1; }  // some layer slides
    float kq_scale() const;     // attn_scale, or 1/√head_dim

    // Mixture of experts (qwen3moe; llama with expert_count, i.e. Mixtral): each layer's
    // feed-forward is n_expert SwiGLU experts of n_ff_exp rows, of which a router picks
    // n_expert_used per token. n_expert == 0: a dense feed-forward of n_ff rows.
    int64_t n_expert = 0;
    int64_t n_expert_used = 0;
    int64_t n_ff_exp = 0;
    float expert_weights_scale = 0.f;  // 0 or 1: the routing weights are not scaled

    bool is_moe() const { return n_expert > 0; }
    // The width of the feed-forward activations one token produces in one expert or dense FFN.
    int64_t ffn_width() const { return is_moe() ? n_ff_exp : n_ff; }
};

// general.architecture when it is one qlm runs (llama, qwen2, qwen3, qwen3moe, phi3, gemma3); else
// qlm::Error saying what the file is not.
std::string model_architecture(const gguf::GgufFile& file);

// Reads the architecture's hyperparameters; qlm::Error names the missing/invalid key, or says
// that the file is not a model of an architecture qlm runs.
Hparams read_hparams(const gguf::GgufFile& file);

}  // namespace qlm
