// A model's hyperparameters, read from its GGUF metadata with range checks (hparams.cpp).
//
//   Hparams hp = read_hparams(file);   // throws qlm::Error naming the missing or invalid key
#pragma once

#include <cstdint>
#include <string>

#include "src/gguf/gguf_file.h"

namespace qlm {

enum class RopeStyle { Norm, Neox };  // adjacent pairs (llama) / halves (qwen2)

struct Hparams {
    std::string arch;           // "llama" | "qwen2"
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
};

// general.architecture when it is one qlm runs (llama, qwen2); else qlm::Error saying what the
// file is not.
std::string model_architecture(const gguf::GgufFile& file);

// Reads the architecture's hyperparameters; qlm::Error names the missing/invalid key, or says
// that the file is not a model of an architecture qlm runs.
Hparams read_hparams(const gguf::GgufFile& file);

}  // namespace qlm
