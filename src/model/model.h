// The model: hyperparameters + weights bound to a GGUF file, and an inference context that owns
// a KV cache and runs the forward pass. This header is the contract the generate loop, the CLI
// and the tests use; hparams.h / weights.h / kv_cache.h / forward.cpp hold the parts.
//
//   auto file  = std::shared_ptr<gguf::GgufFile>(gguf::GgufFile::open(path));
//   auto model = Model::load(file);                                  // throws qlm::Error
//   InferenceContext ctx(*model, {.n_ctx = 512, .n_threads = 2});
//   ctx.eval(prompt_ids, /*all_logits=*/true);                        // batched prefill
//   std::span<const float> last = ctx.logits(ctx.n_outputs() - 1);  // n_vocab floats
//   ctx.eval(std::vector<int32_t>{next}, false);                      // one decode step
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "src/gguf/gguf_file.h"

namespace qlm {

// KV cache element type: llama.cpp's f16 default, f32, or q8_0 (blocks of 32 per head row,
// 34 bytes each: about half of f16; needs a head size that is a multiple of 32).
enum class KvType { F32, F16, Q8_0 };

// "f32" | "f16" | "q8_0", and back (nullopt for any other name).
std::string_view kv_type_name(KvType t);
std::optional<KvType> kv_type_from_name(std::string_view name);
// Bytes that 32 cached values take: 128 (f32), 64 (f16), 34 (q8_0).
uint32_t kv_bytes_per_32(KvType t);

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

// Reads the architecture's hyperparameters; qlm::Error names the missing/invalid key.
Hparams read_hparams(const gguf::GgufFile& file);

class ModelWeights;  // weights.h

class Model {
public:
    static std::unique_ptr<Model> load(std::shared_ptr<const gguf::GgufFile> file);
    ~Model();

    const Hparams& hparams() const { return hp_; }
    const gguf::GgufFile& file() const { return *file_; }
    std::shared_ptr<const gguf::GgufFile> file_ptr() const { return file_; }
    const ModelWeights& weights() const { return *weights_; }

private:
    Model() = default;
    std::shared_ptr<const gguf::GgufFile> file_;
    Hparams hp_;
    std::unique_ptr<ModelWeights> weights_;
};

struct WeightView;  // quant/matmul.h

// Sees the input of every matrix product of the forward pass (e.g. to collect an importance
// matrix): x is n_tokens rows of w.cols floats, multiplied by w next. Called on the thread that
// runs eval(), in forward order.
class MatmulObserver {
public:
    virtual ~MatmulObserver() = default;
    virtual void on_matmul(const WeightView& w, const float* x, int64_t n_tokens) = 0;
};

struct ContextOptions {
    int64_t n_ctx = 0;        // 0: the model's training context
    int64_t n_batch = 512;    // prompt tokens per forward chunk
    int n_threads = 0;        // 0: one per physical core; at most max_threads() (src/util/cpu_info.h)
    KvType kv_type = KvType::F16;
    bool flash_attn = false;  // online-softmax attention (attention.h); default: llama.cpp's exact numerics
    MatmulObserver* matmul_observer = nullptr;  // optional; not owned, must outlive the context
};

// Bytes of KV cache for n_ctx positions: 2 (K and V) * n_layer * n_ctx * n_head_kv * head_dim
// * kv_bytes_per_32 / 32 (UINT64_MAX on overflow).
uint64_t kv_cache_bytes(const Hparams& hp, int64_t n_ctx, KvType kv_type);

class KvCache;     // kv_cache.h
class ThreadPool;  // quant/thread_pool.h

class InferenceContext {
public:
    // Throws qlm::Error when n_ctx exceeds the model's limit, the KV cache can't be allocated or
    // the thread count is out of range. The context's threads run its forward passes only.
    InferenceContext(const Model& model, const ContextOptions& opts);
    ~InferenceContext();

    // Runs tokens at positions n_past() .. n_past()+tokens.size()-1, appending to the KV cache.
    // all_logits: keep logits for every token (n_outputs() == tokens.size()), else only the last.
    // Throws qlm::Error for a token id outside the vocabulary or when the context is full.
    void eval(std::span<const int32_t> tokens, bool all_logits);

    int64_t n_outputs() const { return n_outputs_; }
    std::span<const float> logits(int64_t i) const;  // i < n_outputs(); n_vocab floats

    int64_t n_past() const;
    int64_t n_ctx() const;
    void truncate(int64_t n_past);  // forget positions >= n_past

    const Model& model() const { return model_; }

private:
    // Runs n tokens at positions n_past().. through every layer; writes logits for all of them
    // (all_logits) or the last one into logits_out when it is not nullptr.
    void forward_chunk(const int32_t* tokens, int64_t n, bool all_logits, float* logits_out);

    const Model& model_;
    ContextOptions opts_;
    std::unique_ptr<KvCache> kv_;
    std::vector<float> logits_;
    int64_t n_outputs_ = 0;
    struct Scratch;
    std::unique_ptr<Scratch> scratch_;
    std::unique_ptr<ThreadPool> pool_;
};

}  // namespace qlm
