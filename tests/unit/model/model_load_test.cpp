// Hyperparameters and weight binding on small in-memory GGUF files: every error names the key or
// tensor at fault; a valid tiny model runs, and the KV cache truncates.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/test_support.h"
#include "src/gguf/gguf_file.h"
#include "src/gguf/gguf_writer.h"
#include "src/model/kv_cache.h"
#include "src/model/context.h"
#include "src/model/weights.h"
#include "src/util/error.h"

namespace qlm {
namespace {

struct Tiny {
    std::string arch = "llama";
    int64_t n_embd = 8, n_layer = 2, n_head = 2, n_head_kv = 1, n_ff = 16, n_vocab = 10, n_ctx = 64;
    int64_t tensor_layers = -1;  // layers with tensors (default n_layer)
    bool qkv_bias = false;
    GgmlType ffn_type = GgmlType::F32;
    std::function<void(gguf::GgufWriter&)> edit_meta;
    std::vector<uint64_t> q_shape;  // override blk.0.attn_q.weight's shape
    bool fused_qkv = false;      // attn_qkv: the q, k and v rows the file would have had, in one tensor
    bool fused_gate_up = false;  // ffn_up: the gate rows, then the up rows (Phi-3)
    // More tensors (name, shape), F32.
    std::vector<std::pair<std::string, std::vector<uint64_t>>> extra;
};

struct Loaded {
    std::vector<uint8_t> bytes;
    std::shared_ptr<gguf::GgufFile> file;
};

std::vector<uint8_t> f32_bytes(uint64_t n, std::mt19937& rng) {
    std::normal_distribution<float> d(0.f, 0.3f);
    std::vector<uint8_t> b(n * 4);
    for (uint64_t i = 0; i < n; ++i) {
        float v = d(rng);
        std::memcpy(b.data() + i * 4, &v, 4);
    }
    return b;
}

std::unique_ptr<Loaded> build(const Tiny& t) {
    gguf::GgufWriter w;
    const std::string& a = t.arch;
    auto key = [&](const char* suffix) { return fmt::format("{}.{}", a, suffix); };
    w.set_string("general.architecture", a);
    w.set_u32(key("embedding_length"), static_cast<uint32_t>(t.n_embd));
    w.set_u32(key("block_count"), static_cast<uint32_t>(t.n_layer));
    w.set_u32(key("feed_forward_length"), static_cast<uint32_t>(t.n_ff));
    w.set_u32(key("attention.head_count"), static_cast<uint32_t>(t.n_head));
    w.set_u32(key("attention.head_count_kv"), static_cast<uint32_t>(t.n_head_kv));
    w.set_u32(key("context_length"), static_cast<uint32_t>(t.n_ctx));
    w.set_f32(key("attention.layer_norm_rms_epsilon"), 1e-5f);
    std::vector<std::string> toks;
    for (int64_t i = 0; i < t.n_vocab; ++i) toks.push_back("t" + std::to_string(i));
    w.set_string_array("tokenizer.ggml.tokens", toks);
    if (t.edit_meta) t.edit_meta(w);

    std::mt19937 rng(1);
    const uint64_t E = static_cast<uint64_t>(t.n_embd), hd = E / static_cast<uint64_t>(t.n_head);
    const uint64_t kv = hd * static_cast<uint64_t>(t.n_head_kv), F = static_cast<uint64_t>(t.n_ff);
    auto add = [&](const std::string& name, std::vector<uint64_t> shape, GgmlType type = GgmlType::F32) {
        uint64_t n = 1;
        for (auto s : shape) n *= s;
        if (type == GgmlType::F32) {
            w.add_tensor(name, shape, type, f32_bytes(n, rng));
        } else {
            const auto& ti = type_info(type);
            w.add_tensor(name, shape, type, std::vector<uint8_t>(n / ti.block_size * ti.type_size, 0));
        }
    };
    add("token_embd.weight", {E, static_cast<uint64_t>(t.n_vocab)});
    add("output_norm.weight", {E});
    const int64_t layers = t.tensor_layers < 0 ? t.n_layer : t.tensor_layers;
    for (int64_t l = 0; l < layers; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        add(p + "attn_norm.weight", {E});
        if (t.fused_qkv) {
            std::vector<uint8_t> qkv = f32_bytes(E * E, rng), k = f32_bytes(E * kv, rng), v = f32_bytes(E * kv, rng);
            qkv.insert(qkv.end(), k.begin(), k.end());
            qkv.insert(qkv.end(), v.begin(), v.end());
            w.add_tensor(p + "attn_qkv.weight", {E, E + 2 * kv}, GgmlType::F32, qkv);
        } else {
            add(p + "attn_q.weight", l == 0 && !t.q_shape.empty() ? t.q_shape : std::vector<uint64_t>{E, E});
            add(p + "attn_k.weight", {E, kv});
            add(p + "attn_v.weight", {E, kv});
        }
        if (t.qkv_bias) {
            add(p + "attn_q.bias", {E});
            add(p + "attn_k.bias", {kv});
            add(p + "attn_v.bias", {kv});
        }
        add(p + "attn_output.weight", {E, E});
        add(p + "ffn_norm.weight", {E});
        if (t.fused_gate_up) {
            add(p + "ffn_up.weight", {E, 2 * F}, t.ffn_type);
        } else {
            add(p + "ffn_gate.weight", {E, F}, t.ffn_type);
            add(p + "ffn_up.weight", {E, F}, t.ffn_type);
        }
        add(p + "ffn_down.weight", {F, E}, t.ffn_type);
    }
    for (const auto& [name, shape] : t.extra) add(name, shape);
    auto out = std::make_unique<Loaded>();
    out->bytes = w.to_bytes();
    out->file = std::shared_ptr<gguf::GgufFile>(gguf::GgufFile::parse(out->bytes, "tiny.gguf"));
    return out;
}

// The qlm::Error message of loading t (empty when it loads).
std::string load_error(const Tiny& t) {
    try {
        auto l = build(t);
        auto m = Model::load(l->file);
        return "";
    } catch (const Error& e) {
        return e.what();
    }
}

TEST(Hparams, ReadsLlama) {
    auto l = build(Tiny{});
    const Hparams hp = read_hparams(*l->file);
    EXPECT_EQ(hp.arch, "llama");
    EXPECT_EQ(hp.n_embd, 8);
    EXPECT_EQ(hp.n_layer, 2);
    EXPECT_EQ(hp.n_head, 2);
    EXPECT_EQ(hp.n_head_kv, 1);
    EXPECT_EQ(hp.head_dim, 4);
    EXPECT_EQ(hp.n_rot, 4);
    EXPECT_EQ(hp.n_vocab, 10);
    EXPECT_EQ(hp.n_ctx_train, 64);
    EXPECT_FLOAT_EQ(hp.rope_freq_base, 10000.f);
    EXPECT_EQ(hp.rope_style, RopeStyle::Norm);
    EXPECT_TRUE(hp.tied_output);
    EXPECT_FALSE(hp.qkv_bias);
}

TEST(Hparams, Qwen2UsesNeoxAndBiases) {
    Tiny t;
    t.arch = "qwen2";
    t.qkv_bias = true;
    t.edit_meta = [](gguf::GgufWriter& w) { w.set_f32("qwen2.rope.freq_base", 1e6f); };
    auto l = build(t);
    const Hparams hp = read_hparams(*l->file);
    EXPECT_EQ(hp.rope_style, RopeStyle::Neox);
    EXPECT_TRUE(hp.qkv_bias);
    EXPECT_FLOAT_EQ(hp.rope_freq_base, 1e6f);
    EXPECT_NO_THROW(Model::load(l->file));
    t.qkv_bias = false;
    EXPECT_NE(load_error(t).find("blk.0.attn_q.bias"), std::string::npos) << load_error(t);
}

TEST(Hparams, Qwen3NormsQAndKPerHead) {
    Tiny t;
    t.arch = "qwen3";
    for (int l = 0; l < 2; ++l)
        for (const char* n : {"attn_q_norm", "attn_k_norm"}) t.extra.push_back({fmt::format("blk.{}.{}.weight", l, n), {4}});
    auto l = build(t);
    const Hparams hp = read_hparams(*l->file);
    EXPECT_EQ(hp.rope_style, RopeStyle::Neox);
    EXPECT_TRUE(hp.qk_norm);
    auto m = Model::load(l->file);
    EXPECT_NE(m->weights().layers[1].k_norm, nullptr);
    t.extra.pop_back();
    EXPECT_NE(load_error(t).find("tensor 'blk.1.attn_k_norm.weight' is missing"), std::string::npos) << load_error(t);
}

TEST(Hparams, Gemma3SlidingWindowNormsAndScales) {
    Tiny t;
    t.arch = "gemma3";
    t.edit_meta = [](gguf::GgufWriter& w) {
        w.set_u32("gemma3.attention.sliding_window", 4);
        w.set_f32("gemma3.final_logit_softcapping", 30.f);
    };
    for (int l = 0; l < 2; ++l) {
        for (const char* n : {"attn_q_norm", "attn_k_norm"}) t.extra.push_back({fmt::format("blk.{}.{}.weight", l, n), {4}});
        for (const char* n : {"post_attention_norm", "post_ffw_norm"})
            t.extra.push_back({fmt::format("blk.{}.{}.weight", l, n), {8}});
    }
    auto l = build(t);
    const Hparams hp = read_hparams(*l->file);
    EXPECT_EQ(hp.rope_style, RopeStyle::Neox);
    EXPECT_TRUE(hp.qk_norm && hp.post_norms && hp.scale_q);
    EXPECT_EQ(hp.ffn_activation, FfnActivation::GeluTanh);
    EXPECT_FLOAT_EQ(hp.embd_scale, std::sqrt(8.f));
    EXPECT_FLOAT_EQ(hp.kq_scale(), 0.5f);  // 1/√head_dim
    EXPECT_FLOAT_EQ(hp.final_logit_softcap, 30.f);
    EXPECT_EQ(hp.n_swa, 4);
    EXPECT_FLOAT_EQ(hp.rope_freq_base_swa, 10000.f);
    for (int64_t layer = 0; layer < 12; ++layer) EXPECT_EQ(hp.is_swa(layer), layer % 6 != 5) << layer;
    auto m = Model::load(l->file);
    InferenceContext ctx(*m, {.n_ctx = 64, .n_batch = 2, .n_threads = 1});
    EXPECT_EQ(ctx.layout().kv.cells(0), 32);  // any 4 − 1 + 2 positions touch at most 2 blocks of 16
    const std::vector<int32_t> toks = {1, 2, 3, 4, 5, 6, 7};
    ctx.eval(toks, false);
    for (float x : ctx.logits(0)) EXPECT_LE(std::fabs(x), 30.f);
    t.extra.pop_back();
    EXPECT_NE(load_error(t).find("tensor 'blk.1.post_ffw_norm.weight' is missing"), std::string::npos) << load_error(t);
    // Gemma 3 27B (62 layers) scales q by 1/√(n_embd / n_head) (query_pre_attn_scalar), the others
    // by 1/√head_dim.
    for (const int layers : {26, 62}) {
        Tiny shape;
        shape.arch = "gemma3";
        shape.n_layer = layers;
        shape.tensor_layers = 0;
        shape.edit_meta = [](gguf::GgufWriter& w) {
            w.set_u32("gemma3.attention.key_length", 16);
            w.set_u32("gemma3.attention.value_length", 16);
        };
        auto f = build(shape);
        EXPECT_FLOAT_EQ(read_hparams(*f->file).kq_scale(), layers == 62 ? 0.5f : 0.25f) << layers;
    }
}

TEST(Hparams, LinearRopeScaling) {
    Tiny t;
    t.edit_meta = [](gguf::GgufWriter& w) {
        w.set_string("llama.rope.scaling.type", "linear");
        w.set_f32("llama.rope.scaling.factor", 4.f);
    };
    auto l = build(t);
    EXPECT_FLOAT_EQ(read_hparams(*l->file).rope_freq_scale, 0.25f);
}

TEST(Hparams, MissingKeyIsNamed) {
    for (const char* key : {"llama.embedding_length", "llama.block_count", "llama.attention.head_count",
                            "llama.feed_forward_length", "llama.context_length",
                            "llama.attention.layer_norm_rms_epsilon"}) {
        Tiny t;
        t.edit_meta = [key](gguf::GgufWriter& w) { w.remove(key); };
        const std::string err = load_error(t);
        EXPECT_NE(err.find(std::string("missing metadata key ") + key), std::string::npos) << err;
        EXPECT_NE(err.find("tiny.gguf"), std::string::npos) << err;
        EXPECT_NE(err.find("required for architecture llama"), std::string::npos) << err;
    }
}

TEST(Hparams, UnsupportedArchitecture) {
    Tiny t;
    t.edit_meta = [](gguf::GgufWriter& w) { w.set_string("general.architecture", "gpt2"); };
    EXPECT_NE(load_error(t).find("architecture 'gpt2' is not supported: qlm runs 'llama'"),
              std::string::npos)
        << load_error(t);
    Tiny u;
    u.edit_meta = [](gguf::GgufWriter& w) { w.remove("general.architecture"); };
    EXPECT_NE(load_error(u).find("general.architecture"), std::string::npos);
}

TEST(Hparams, RangeChecks) {
    auto with = [](std::function<void(gguf::GgufWriter&)> f) {
        Tiny t;
        t.edit_meta = std::move(f);
        return load_error(t);
    };
    EXPECT_NE(with([](auto& w) { w.set_u32("llama.attention.head_count", 3); }).find("not a multiple"), std::string::npos);
    EXPECT_NE(with([](auto& w) { w.set_u32("llama.attention.head_count_kv", 3); }).find("head_count_kv"), std::string::npos);
    EXPECT_NE(with([](auto& w) { w.set_u32("llama.rope.dimension_count", 3); }).find("rope.dimension_count"), std::string::npos);
    EXPECT_NE(with([](auto& w) { w.set_u32("llama.rope.dimension_count", 6); }).find("rope.dimension_count"), std::string::npos);
    EXPECT_NE(with([](auto& w) { w.set_u32("llama.embedding_length", 0); }).find("embedding_length"), std::string::npos);
    EXPECT_NE(with([](auto& w) { w.set_u32("llama.block_count", 100000); }).find("block_count"), std::string::npos);
    EXPECT_NE(with([](auto& w) { w.set_u64("llama.feed_forward_length", uint64_t{1} << 40); }).find("feed_forward_length"),
              std::string::npos);
    EXPECT_NE(with([](auto& w) { w.set_f32("llama.attention.layer_norm_rms_epsilon", -1.f); }).find("epsilon"),
              std::string::npos);
    EXPECT_NE(with([](auto& w) { w.set_string("llama.embedding_length", "eight"); }).find("embedding_length"),
              std::string::npos);
}

TEST(Weights, MissingTensorIsNamed) {
    Tiny t;
    t.n_layer = 3;
    t.tensor_layers = 2;  // block_count promises more layers than the file has
    EXPECT_NE(load_error(t).find("tensor 'blk.2.attn_norm.weight' is missing"), std::string::npos) << load_error(t);
}

TEST(Weights, WrongShapeNamesBothShapes) {
    Tiny t;
    t.q_shape = {8, 6};
    const std::string err = load_error(t);
    EXPECT_NE(err.find("blk.0.attn_q.weight"), std::string::npos) << err;
    EXPECT_NE(err.find("[8, 6]"), std::string::npos) << err;
    EXPECT_NE(err.find("[8, 8]"), std::string::npos) << err;
}

TEST(Weights, UncomputableTypeIsNamed) {
    Tiny t;
    t.n_embd = 256;
    t.n_head = 2;
    t.n_ff = 256;
    t.ffn_type = GgmlType::IQ2_XXS;
    const std::string err = load_error(t);
    EXPECT_NE(err.find("tensor 'blk.0.ffn_gate.weight' has type iq2_xxs, which qlm cannot compute yet"), std::string::npos)
        << err;
}

TEST(Weights, RopeFreqsAreBoundForLlama) {
    Tiny t;
    t.extra = {{"rope_freqs.weight", {2}}};  // head size 4: two rotary frequencies
    auto l = build(t);
    auto m = Model::load(l->file);
    ASSERT_NE(m->weights().rope_freqs, nullptr);
    // F32 vectors are copied at load (the mapping's pages near them may have been dropped).
    EXPECT_EQ(std::memcmp(m->weights().rope_freqs, l->file->find_tensor("rope_freqs.weight")->data, 2 * sizeof(float)), 0);
    t.extra = {{"rope_freqs.weight", {3}}};
    EXPECT_NE(load_error(t).find("tensor 'rope_freqs.weight' has shape [3], expected [2]"), std::string::npos)
        << load_error(t);
}

TEST(Weights, TensorTheArchitectureDoesNotUseIsAnError) {
    Tiny t;
    t.extra = {{"blk.1.attn_norm.bias", {8}}};
    EXPECT_NE(load_error(t).find("tensor 'blk.1.attn_norm.bias' is not used by qlm's 'llama' forward pass"),
              std::string::npos)
        << load_error(t);
}

// A fused attn_qkv is bound as views of its row ranges: the same logits as separate q, k, v.
TEST(Weights, FusedQkvComputesWhatSeparateTensorsDo) {
    auto logits = [](bool fused) {
        Tiny t;
        t.fused_qkv = fused;
        auto l = build(t);
        auto m = Model::load(l->file);
        InferenceContext ctx(*m, {.n_ctx = 8, .n_threads = 1});
        const std::vector<int32_t> toks = {1, 4, 2};
        ctx.eval(toks, false);
        return std::vector<float>(ctx.logits(0).begin(), ctx.logits(0).end());
    };
    EXPECT_EQ(logits(true), logits(false));
}

// Phi-3's ffn_up holds the gate rows, then the up rows; its q is scaled before the dots.
TEST(Weights, Phi3SplitsTheFusedFfnUp) {
    Tiny t;
    t.arch = "phi3";
    t.fused_gate_up = true;
    auto l = build(t);
    const Hparams hp = read_hparams(*l->file);
    EXPECT_EQ(hp.rope_style, RopeStyle::Neox);
    EXPECT_TRUE(hp.scale_q);
    EXPECT_FLOAT_EQ(hp.kq_scale(), 0.5f);  // head size 4
    auto m = Model::load(l->file);
    const auto* up = static_cast<const uint8_t*>(l->file->find_tensor("blk.0.ffn_up.weight")->data);
    const LayerWeights& L = m->weights().layers[0];
    EXPECT_EQ(L.gate.data, up);
    EXPECT_EQ(L.up.data, up + 16 * 8 * sizeof(float));  // n_ff rows of n_embd floats further
    EXPECT_EQ(L.gate.rows, 16);
    EXPECT_EQ(L.up.rows, 16);
    t.fused_gate_up = false;  // separate gate and up: ffn_up has n_ff rows, not 2·n_ff
    EXPECT_NE(load_error(t).find("tensor 'blk.0.ffn_up.weight' has shape [8, 16], expected [8, 32]"),
              std::string::npos)
        << load_error(t);
}

TEST(Context, RejectsBadOptionsAndTokens) {
    auto l = build(Tiny{});
    auto m = Model::load(l->file);
    EXPECT_THROW(InferenceContext(*m, {.n_ctx = 65}), Error);  // above the training context
    EXPECT_THROW(InferenceContext(*m, {.n_ctx = -1}), Error);
    InferenceContext ctx(*m, {.n_ctx = 4});
    EXPECT_EQ(ctx.n_ctx(), 4);
    const std::vector<int32_t> bad = {10};
    EXPECT_THROW(ctx.eval(bad, false), Error);
    const std::vector<int32_t> five = {1, 2, 3, 4, 5};
    EXPECT_THROW(ctx.eval(five, false), Error);  // does not fit in 4
    EXPECT_EQ(ctx.n_past(), 0);
}

TEST(Context, AllLogitsNeedOutputRows) {
    auto l = build(Tiny{});
    auto m = Model::load(l->file);
    const std::vector<int32_t> three = {1, 2, 3};
    InferenceContext gen(*m, {.n_ctx = 16});  // one logits row: enough to generate
    EXPECT_THROW(gen.eval(three, true), Error);
    EXPECT_EQ(gen.n_past(), 0);  // refused before anything ran
    gen.eval(three, false);
    EXPECT_EQ(gen.n_outputs(), 1);
    InferenceContext all(*m, {.n_ctx = 16, .n_outputs = 3});
    all.eval(three, true);
    EXPECT_EQ(all.n_outputs(), 3);
    for (size_t k = 0; k < gen.logits(0).size(); ++k) EXPECT_NEAR(all.logits(2)[k], gen.logits(0)[k], 1e-5f);
}

TEST(Context, KvCacheBytesFormula) {
    Hparams hp;
    hp.n_layer = 3;
    hp.n_head_kv = 2;
    hp.head_dim = 8;
    // 100 positions take 7 blocks of 16: 112 positions' room.
    EXPECT_EQ(kv_layout(hp, 100, KvType::F16).bytes, 2u * 3 * 112 * 2 * 8 * 2);
    EXPECT_EQ(kv_layout(hp, 100, KvType::F32).bytes, 2u * 3 * 112 * 2 * 8 * 4);
    EXPECT_EQ(kv_layout(hp, 100, KvType::F32, 0, 1, 8).bytes, 2u * 3 * 104 * 2 * 8 * 4);  // 13 blocks of 8
    EXPECT_THROW(kv_layout(hp, 100, KvType::F32, 0, 1, 24), Error);  // not a power of two
    EXPECT_THROW(kv_layout(hp, 100, KvType::F32, 0, 1, 4), Error);   // below 8
    EXPECT_THROW(kv_layout(hp, 100, KvType::F32, 0, 0), Error);      // no sequence
    EXPECT_THROW(kv_layout(hp, 100, KvType::Q8_0), Error);  // head size 8: not a whole q8_0 block
    hp.head_dim = 64;
    EXPECT_EQ(kv_layout(hp, 100, KvType::Q8_0).bytes, 2u * 3 * 112 * 2 * 2 * 34);  // 2 blocks per head
    EXPECT_EQ(KvCache(kv_layout(hp, 100, KvType::Q8_0)).bytes(), 2u * 3 * 112 * 2 * 2 * 34);
    // More sequences share the same pool of blocks: only their tables grow.
    EXPECT_EQ(kv_layout(hp, 128, KvType::F16, 0, 4).bytes, kv_layout(hp, 128, KvType::F16).bytes);
    EXPECT_EQ(kv_layout(hp, 128, KvType::F16, 0, 4).table_bytes,
              4 * kv_layout(hp, 128, KvType::F16).table_bytes - 3 * 2 * 8 * sizeof(int32_t));
    hp.n_layer = int64_t{1} << 40;
    EXPECT_THROW(kv_layout(hp, int64_t{1} << 20, KvType::F32), Error);  // too large: error, not a crash
}

// Truncating the cache and re-running tokens gives the same logits as the first run, and
// batched prefill equals one-token-at-a-time decoding.
TEST(Context, TruncateAndBatchingAreConsistent) {
    for (KvType kv : {KvType::F16, KvType::F32, KvType::Q8_0}) {
        Tiny shape;
        if (kv == KvType::Q8_0) shape.n_embd = 64;  // head size 32: one q8_0 block per head
        auto l = build(shape);
        auto m = Model::load(l->file);
        const std::vector<int32_t> toks = {1, 7, 3, 9, 2};
        InferenceContext a(*m, {.n_ctx = 16, .n_outputs = 5, .kv_type = kv});
        a.eval(toks, true);
        ASSERT_EQ(a.n_outputs(), 5);
        std::vector<std::vector<float>> first;
        for (int i = 0; i < 5; ++i) first.emplace_back(a.logits(i).begin(), a.logits(i).end());

        a.seq_rm(0, 3);
        EXPECT_EQ(a.n_past(), 3);
        a.eval(std::span<const int32_t>(toks.data() + 3, 2), true);
        for (int i = 0; i < 2; ++i)
            for (size_t k = 0; k < first[0].size(); ++k) EXPECT_NEAR(a.logits(i)[k], first[3 + i][k], 1e-5f);

        InferenceContext b(*m, {.n_ctx = 16, .kv_type = kv});
        for (int i = 0; i < 5; ++i) {
            b.eval(std::span<const int32_t>(toks.data() + i, 1), false);
            for (size_t k = 0; k < first[0].size(); ++k) EXPECT_NEAR(b.logits(0)[k], first[i][k], 1e-5f);
        }
        EXPECT_EQ(b.n_past(), 5);
    }
}

}  // namespace
}  // namespace qlm
