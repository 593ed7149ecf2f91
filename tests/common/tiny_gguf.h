// A complete, tiny llama model (SentencePiece vocabulary with byte tokens, one layer, n_embd 8)
// built in memory with GgufWriter: a small valid starting point for fuzzing seeds and for
// hand-made hostile variants (tests/integration/malformed_gguf*). Header-only so the fuzz build,
// which has no GoogleTest, can use it too.
//
//   qlm::test::TinyModel m;                 // fields are the knobs
//   m.n_layer = 2;
//   gguf::GgufWriter w = m.writer();         // add or override keys/tensors, then
//   std::vector<uint8_t> bytes = w.to_bytes();
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "quant/formats.h"
#include "src/gguf/gguf_writer.h"

namespace qlm::test {

struct TinyModel {
    int64_t n_embd = 8, n_head = 2, n_head_kv = 1, n_ff = 16, n_layer = 1, n_ctx = 16;
    bool with_vocab = true;
    GgmlType matrix_type = GgmlType::F32;  // F32 or Q8_0 (then n_embd and n_ff must be multiples of 32)
    // n_expert > 0: a Mixtral-style mixture of experts (llama with expert_count): a router and
    // 3-D expert tensors of n_ff rows in place of the dense feed-forward.
    int64_t n_expert = 0, n_expert_used = 2;
    // Called with each tensor's name and F32 bytes before it is added (to plant NaNs, say).
    std::function<void(const std::string&, std::vector<uint8_t>&)> edit_tensor;

    // <unk> <s> </s>, the 256 byte tokens <0x00>..<0xFF>, then a few word pieces.
    static std::vector<std::string> tokens() {
        std::vector<std::string> t = {"<unk>", "<s>", "</s>"};
        for (int b = 0; b < 256; ++b) t.push_back(fmt::format("<0x{:02X}>", b));
        for (const char* w : {"\xE2\x96\x81", "\xE2\x96\x81h", "i", "\xE2\x96\x81hi", "e", "l", "o", "\xE2\x96\x81t"})
            t.push_back(w);
        return t;
    }
    int64_t n_vocab() const { return static_cast<int64_t>(tokens().size()); }

    // Deterministic small weights (a linear congruential sequence in [-0.5, 0.5)).
    static std::vector<uint8_t> f32_bytes(uint64_t n, uint32_t seed, float base = 0.0f) {
        std::vector<uint8_t> out(n * 4);
        uint32_t s = seed * 2654435761u + 1;
        for (uint64_t i = 0; i < n; ++i) {
            s = s * 1664525u + 1013904223u;
            const float v = base != 0.0f ? base : static_cast<float>(s >> 8) / 16777216.0f - 0.5f;
            std::memcpy(out.data() + 4 * i, &v, 4);
        }
        return out;
    }

    gguf::GgufWriter writer() const {
        gguf::GgufWriter w;
        w.set_string("general.architecture", "llama");
        w.set_string("general.name", "tiny");
        w.set_u32("llama.context_length", static_cast<uint32_t>(n_ctx));
        w.set_u32("llama.embedding_length", static_cast<uint32_t>(n_embd));
        w.set_u32("llama.block_count", static_cast<uint32_t>(n_layer));
        w.set_u32("llama.feed_forward_length", static_cast<uint32_t>(n_ff));
        w.set_u32("llama.attention.head_count", static_cast<uint32_t>(n_head));
        w.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(n_head_kv));
        w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        if (n_expert > 0) {
            w.set_u32("llama.expert_count", static_cast<uint32_t>(n_expert));
            w.set_u32("llama.expert_used_count", static_cast<uint32_t>(n_expert_used));
        }
        const auto toks = tokens();
        const uint64_t V = toks.size(), E = static_cast<uint64_t>(n_embd);
        if (with_vocab) {
            w.set_string("tokenizer.ggml.model", "llama");
            w.set_string_array("tokenizer.ggml.tokens", toks);
            std::vector<double> scores(V);
            std::vector<int64_t> types(V, 1);
            for (uint64_t i = 0; i < V; ++i) scores[i] = -static_cast<double>(i);
            types[0] = 2;
            types[1] = types[2] = 3;
            for (uint64_t i = 3; i < 259; ++i) types[i] = 6;
            w.set_float_array("tokenizer.ggml.scores", gguf::ValueType::FLOAT32, scores);
            w.set_int_array("tokenizer.ggml.token_type", gguf::ValueType::INT32, types);
            w.set_u32("tokenizer.ggml.bos_token_id", 1);
            w.set_u32("tokenizer.ggml.eos_token_id", 2);
            w.set_u32("tokenizer.ggml.unknown_token_id", 0);
        }
        const uint64_t hd = E / static_cast<uint64_t>(n_head), kv = hd * static_cast<uint64_t>(n_head_kv);
        const uint64_t F = static_cast<uint64_t>(n_ff);
        uint32_t seed = 1;
        auto add = [&](const std::string& name, std::vector<uint64_t> shape, std::vector<uint8_t> bytes) {
            if (edit_tensor) edit_tensor(name, bytes);
            w.add_tensor(name, shape, GgmlType::F32, bytes);
        };
        // A matrix, or `mats` of them as one 3-D tensor.
        auto mat = [&](const std::string& name, uint64_t cols, uint64_t rows, uint64_t mats = 1) {
            std::vector<uint8_t> b = f32_bytes(cols * rows * mats, seed++);
            if (edit_tensor) edit_tensor(name, b);
            std::vector<uint64_t> shape = {cols, rows};
            if (mats > 1) shape.push_back(mats);
            if (matrix_type == GgmlType::F32) {
                w.add_tensor(name, shape, GgmlType::F32, b);
                return;
            }
            const FormatOps& f = format_ops(matrix_type);
            std::vector<uint8_t> q(format_row_bytes(f, static_cast<int64_t>(cols)) * rows * mats);
            f.quantize_row(reinterpret_cast<const float*>(b.data()), q.data(),
                           static_cast<int64_t>(cols * rows * mats));
            w.add_tensor(name, shape, matrix_type, q);
        };
        auto norm = [&](const std::string& name) { add(name, {E}, f32_bytes(E, seed++, 1.0f)); };
        mat("token_embd.weight", E, V);
        norm("output_norm.weight");
        mat("output.weight", E, V);
        for (int64_t l = 0; l < n_layer; ++l) {
            const std::string p = "blk." + std::to_string(l) + ".";
            norm(p + "attn_norm.weight");
            mat(p + "attn_q.weight", E, E);
            mat(p + "attn_k.weight", E, kv);
            mat(p + "attn_v.weight", E, kv);
            mat(p + "attn_output.weight", E, E);
            norm(p + "ffn_norm.weight");
            if (n_expert > 0) {
                const auto X = static_cast<uint64_t>(n_expert);
                add(p + "ffn_gate_inp.weight", {E, X}, f32_bytes(E * X, seed++));
                mat(p + "ffn_gate_exps.weight", E, F, X);
                mat(p + "ffn_up_exps.weight", E, F, X);
                mat(p + "ffn_down_exps.weight", F, E, X);
                continue;
            }
            mat(p + "ffn_gate.weight", E, F);
            mat(p + "ffn_up.weight", E, F);
            mat(p + "ffn_down.weight", F, E);
        }
        return w;
    }
};

}  // namespace qlm::test
