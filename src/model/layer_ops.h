// The op-level seam of the forward pass: forward_chunk (forward.cpp) is one text that runs every
// layer as a fixed sequence of ops (norms, matmuls, q/k preparation with RoPE, KV cache storage,
// attention, residuals, feed-forward) on a LayerOps set chosen per layer, and the output head on
// the set chosen for it. The CPU set (cpu_ops.h) is the thread-pool code with the per-ISA kernel
// tables inside it; a device set (src/backend, e.g. CUDA) holds its layers' weights, its own
// activations and a KV cache in device memory, and enqueues the same ops there.
//
// An op acts on the chunk the set was entered with, on buffers the set owns, and names its
// weights by layer and role, so the text never touches a pointer that may be device memory. Each
// op is one virtual call per layer; the loops over tokens and elements stay inside the set. The
// residual stream crosses between sets only where the forward pass changes set (`enter` from the
// host buffers, `to_host` back), so a run with the last N layers on a device copies it once each
// way per chunk.
//
// The seam lives in src/model because the forward pass calls it and src/model must not depend on
// src/backend (src/backend depends on src/model: it reads the model's weights and plans). A
// device plugs in from src/backend through DeviceOffload, which the caller hands to the context
// (ContextOptions::device).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

namespace qlm {

struct ChunkInput;      // forward.h
struct ContextLayout;   // context_layout.h
struct ForwardBuffers;  // forward.h
class KvCache;          // kv_cache.h

// The matrix products of a dense layer, by the input they share.
enum class LayerMatmul {
    Qkv,     // q, k, v = xn · {wq, wk, wv}ᵀ
    O,       // tmp = attn · woᵀ
    GateUp,  // gate, up = xn · {w_gate, w_up}ᵀ
    Down,    // tmp = gate · w_downᵀ
};

// The ops of one backend. The forward pass calls, per chunk: enter, then per layer
// attention_norm, matmul(Qkv), prepare_qkv, store_kv, attention, matmul(O), attention_residual,
// and either moe_ffn or matmul(GateUp), ffn_activation, matmul(Down), ffn_residual; output when
// the set holds the head; to_host when the rows leave the set. Nothing here allocates (the set
// allocated what it needs when it was made, for the context's layout); the CPU's ops do not
// throw, a device's throw qlm::Error when the device fails (the run cannot go on then).
class LayerOps {
public:
    virtual ~LayerOps() = default;
    virtual std::string_view name() const = 0;  // "cpu", "cuda"

    // The chunk's rows enter this set: their residual stream is host.x (n × n_embd floats) and
    // their RoPE cos/sin host.rope_cs, as the forward pass left them on the host.
    virtual void enter(const ChunkInput& chunk, ForwardBuffers& host) = 0;
    // host.x = the rows' residual stream as this set holds it.
    virtual void to_host(ForwardBuffers& host) = 0;

    virtual void attention_norm(int64_t layer) = 0;      // xn = rmsnorm(x) · attn_norm
    virtual void matmul(int64_t layer, LayerMatmul m) = 0;
    // Per row: q, k, v biases, the per-head q/k norms, RoPE at the row's position, q × the
    // attention scale where the architecture scales q.
    virtual void prepare_qkv(int64_t layer) = 0;
    virtual void store_kv(int64_t layer) = 0;            // k, v rows into the cache at each run's positions
    virtual void attention(int64_t layer) = 0;           // attn = each run's causal attention over its sequence
    // tmp = post_attn_norm(tmp + bo); x += tmp; xn = rmsnorm(x) · ffn_norm.
    virtual void attention_residual(int64_t layer) = 0;
    virtual void ffn_activation(int64_t layer) = 0;      // gate = act(gate) · up
    virtual void ffn_residual(int64_t layer) = 0;        // x += post_ffn_norm(tmp)
    virtual void moe_ffn(int64_t layer) = 0;             // x += the mixture of experts of xn
    // logits_host (n_vocab floats per output row, in order) = soft-cap(head(rmsnorm(x) · output_norm))
    // of the chunk's output rows.
    virtual void output(float* logits_host) = 0;
};

// A device that runs some layers of a model, and perhaps its output head (src/backend makes one
// from an offload decision). It outlives the contexts it is handed to; each context asks it for
// its own ops set, which shares the device's weights and keeps the context's device KV cache
// (in the blocks the host cache's block tables name) and activations.
class DeviceOffload {
public:
    virtual ~DeviceOffload() = default;
    virtual std::string_view name() const = 0;
    virtual bool runs_layer(int64_t layer) const = 0;
    virtual bool runs_head() const = 0;
    // Throws qlm::Error when the device memory cannot be allocated.
    virtual std::unique_ptr<LayerOps> make_ops(const ContextLayout& layout, KvCache& kv) const = 0;
};

}  // namespace qlm
