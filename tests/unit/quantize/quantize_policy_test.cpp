// The per-tensor type policy of `qlm quantize`, checked against the types llama-quantize chose for
// the synthetic mini model (models/synth/mini-PRESET.gguf) and against llama.cpp's rules by hand.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/test_support.h"
#include "src/gguf/gguf_file.h"
#include "src/quantize/quantize_model.h"
#include "src/quantize/quantize_policy.h"
#include "src/util/error.h"

namespace qlm {
namespace {

class PolicyOracle : public ::testing::TestWithParam<std::string> {};

TEST_P(PolicyOracle, MiniTypesEqualLlamaQuantize) {
    const std::string preset_name = GetParam();
    auto preset = preset_from_name(preset_name);
    ASSERT_TRUE(preset);
    auto oracle = gguf::GgufFile::open(test::shared_file("models/synth/mini-" + preset_name + ".gguf").string());
    auto plan = plan_quantization(test::synth_model("mini-f32.gguf").string(), *preset, {});
    ASSERT_EQ(plan.size(), oracle->tensors().size());
    int differ = 0;
    for (const auto& q : plan) {
        const gguf::TensorInfo* o = oracle->find_tensor(q.name);
        ASSERT_NE(o, nullptr) << q.name;
        EXPECT_EQ(type_name(q.to), type_name(o->type)) << preset_name << " " << q.name;
        differ += q.to != o->type;
        EXPECT_FALSE(q.fallback) << q.name;
    }
    EXPECT_EQ(differ, 0);
    EXPECT_EQ(oracle->get_u64("general.file_type").value_or(9999), preset_info(*preset).file_type);
}

INSTANTIATE_TEST_SUITE_P(Synth, PolicyOracle,
                         ::testing::Values("Q2_K", "Q3_K_S", "Q4_0", "Q4_1", "Q4_K_M", "Q5_0", "Q5_1", "Q5_K_S",
                                           "Q6_K", "Q8_0", "IQ4_NL", "IQ4_XS"));

// llama.cpp: i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2.
TEST(QuantPolicy, UseMoreBitsByHand) {
    // 32 layers: n/8 = 4, 7n/8 = 28 -> 0..3, 28..31, and 6, 9, 12, ..., 27.
    std::vector<int> more;
    for (int i = 0; i < 32; ++i)
        if (use_more_bits(i, 32)) more.push_back(i);
    EXPECT_EQ(more, (std::vector<int>{0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31}));
    EXPECT_FALSE(use_more_bits(0, 2));
    EXPECT_TRUE(use_more_bits(1, 2));
}

TEST(QuantPolicy, FallbackTable) {
    EXPECT_EQ(fallback_type(GgmlType::Q2_K), GgmlType::Q4_0);
    EXPECT_EQ(fallback_type(GgmlType::Q3_K), GgmlType::Q4_0);
    EXPECT_EQ(fallback_type(GgmlType::Q4_K), GgmlType::Q5_0);
    EXPECT_EQ(fallback_type(GgmlType::Q5_K), GgmlType::Q5_1);
    EXPECT_EQ(fallback_type(GgmlType::Q6_K), GgmlType::Q8_0);
    EXPECT_EQ(fallback_type(GgmlType::Q8_0), GgmlType::F16);
    EXPECT_EQ(fallback_type(GgmlType::IQ4_XS), GgmlType::IQ4_NL);
    EXPECT_EQ(fallback_type(GgmlType::IQ4_NL), GgmlType::F16);
}

PolicyTensor mat(const std::string& name, uint64_t ne0, uint64_t ne1) {
    PolicyTensor t;
    t.name = name;
    t.ne = {ne0, ne1, 1, 1};
    t.n_dims = 2;
    return t;
}

struct Case {
    std::vector<PolicyTensor> tensors;
    std::vector<GgmlType> src;
};

Case eight_layer_model(uint64_t n_embd, uint64_t n_ff) {
    Case c;
    PolicyTensor norm;
    norm.name = "output_norm.weight";
    norm.ne = {n_embd, 1, 1, 1};
    c.tensors.push_back(mat("token_embd.weight", n_embd, 100));
    for (int i = 0; i < 8; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        PolicyTensor an = norm;
        an.name = p + "attn_norm.weight";
        c.tensors.push_back(an);
        c.tensors.push_back(mat(p + "attn_q.weight", n_embd, n_embd));
        c.tensors.push_back(mat(p + "attn_v.weight", n_embd, n_embd / 4));
        c.tensors.push_back(mat(p + "attn_output.weight", n_embd, n_embd));
        c.tensors.push_back(mat(p + "ffn_down.weight", n_ff, n_embd));
    }
    c.tensors.push_back(norm);
    c.tensors.push_back(mat("output.weight", n_embd, 100));
    c.src.assign(c.tensors.size(), GgmlType::F32);
    return c;
}

GgmlType type_of(const Case& c, const std::vector<TypeChoice>& ch, const std::string& name) {
    for (size_t k = 0; k < c.tensors.size(); ++k)
        if (c.tensors[k].name == name) return ch[k].type;
    ADD_FAILURE() << "no tensor " << name;
    return GgmlType::F32;
}

TEST(QuantPolicy, Q4KMBumpsByHand) {
    Case c = eight_layer_model(512, 1536);
    PolicyModel m{"llama", 8, 8, 8};
    auto ch = choose_types(QuantPreset::Q4_K_M, {}, m, c.tensors, c.src);
    // n = 8: n/8 = 1, 7n/8 = 7 -> layers 0, 3 ((3-1)%3 == 2), 6, 7.
    for (int i = 0; i < 8; ++i) {
        const bool more = i == 0 || i == 3 || i == 6 || i == 7;
        const std::string p = "blk." + std::to_string(i) + ".";
        EXPECT_EQ(type_of(c, ch, p + "attn_v.weight"), more ? GgmlType::Q6_K : GgmlType::Q4_K) << i;
        EXPECT_EQ(type_of(c, ch, p + "ffn_down.weight"), more ? GgmlType::Q6_K : GgmlType::Q4_K) << i;
        EXPECT_EQ(type_of(c, ch, p + "attn_q.weight"), GgmlType::Q4_K);
        EXPECT_EQ(type_of(c, ch, p + "attn_norm.weight"), GgmlType::F32);
    }
    EXPECT_EQ(type_of(c, ch, "output.weight"), GgmlType::Q6_K);
    EXPECT_EQ(type_of(c, ch, "token_embd.weight"), GgmlType::Q4_K);
}

TEST(QuantPolicy, Q3KMAndQ4KS) {
    Case c = eight_layer_model(512, 1536);
    PolicyModel m{"llama", 8, 8, 8};
    auto ch = choose_types(QuantPreset::Q3_K_M, {}, m, c.tensors, c.src);
    EXPECT_EQ(type_of(c, ch, "blk.0.attn_v.weight"), GgmlType::Q5_K);
    EXPECT_EQ(type_of(c, ch, "blk.1.attn_v.weight"), GgmlType::Q5_K);
    EXPECT_EQ(type_of(c, ch, "blk.2.attn_v.weight"), GgmlType::Q4_K);
    EXPECT_EQ(type_of(c, ch, "blk.0.attn_output.weight"), GgmlType::Q4_K);
    EXPECT_EQ(type_of(c, ch, "blk.0.ffn_down.weight"), GgmlType::Q4_K);  // n/16 = 0
    EXPECT_EQ(type_of(c, ch, "blk.0.attn_q.weight"), GgmlType::Q3_K);
    ch = choose_types(QuantPreset::Q4_K_S, {}, m, c.tensors, c.src);
    EXPECT_EQ(type_of(c, ch, "blk.3.attn_v.weight"), GgmlType::Q5_K);
    EXPECT_EQ(type_of(c, ch, "blk.4.attn_v.weight"), GgmlType::Q4_K);
    EXPECT_EQ(type_of(c, ch, "blk.0.ffn_down.weight"), GgmlType::Q5_K);  // i < n/8 = 1
    EXPECT_EQ(type_of(c, ch, "blk.1.ffn_down.weight"), GgmlType::Q4_K);
}

// llama.cpp's IQ4_NL/IQ4_XS mix: attn_v at Q5_K when 4+ query heads share a KV head, ffn_down of
// the first n/8 layers at Q5_K unless an importance matrix is given (which instead moves the first
// ffn_down layers of Q4_0/Q5_0 to Q4_1/Q5_1).
TEST(QuantPolicy, IQ4MixAndImatrixRules) {
    Case c = eight_layer_model(512, 1536);
    for (QuantPreset p : {QuantPreset::IQ4_NL, QuantPreset::IQ4_XS}) {
        const GgmlType t = preset_info(p).default_type;
        auto ch = choose_types(p, {}, PolicyModel{"llama", 8, 8, 2}, c.tensors, c.src);
        EXPECT_EQ(type_of(c, ch, "blk.5.attn_v.weight"), GgmlType::Q5_K);
        EXPECT_EQ(type_of(c, ch, "blk.0.ffn_down.weight"), GgmlType::Q5_K);
        EXPECT_EQ(type_of(c, ch, "blk.1.ffn_down.weight"), t);
        EXPECT_EQ(type_of(c, ch, "blk.1.attn_q.weight"), t);
        EXPECT_EQ(type_of(c, ch, "token_embd.weight"), t);
        EXPECT_EQ(type_of(c, ch, "output.weight"), GgmlType::Q6_K);
        PolicyOptions imatrix;
        imatrix.has_imatrix = true;
        ch = choose_types(p, imatrix, PolicyModel{"llama", 8, 8, 4}, c.tensors, c.src);
        EXPECT_EQ(type_of(c, ch, "blk.5.attn_v.weight"), t);  // n_gqa 2
        EXPECT_EQ(type_of(c, ch, "blk.0.ffn_down.weight"), t);
    }
    PolicyOptions imatrix;
    imatrix.has_imatrix = true;
    const PolicyModel m{"llama", 8, 8, 8};
    EXPECT_EQ(type_of(c, choose_types(QuantPreset::Q4_0, imatrix, m, c.tensors, c.src), "blk.0.ffn_down.weight"),
              GgmlType::Q4_1);
    EXPECT_EQ(type_of(c, choose_types(QuantPreset::Q5_0, imatrix, m, c.tensors, c.src), "blk.0.ffn_down.weight"),
              GgmlType::Q5_1);
    EXPECT_EQ(type_of(c, choose_types(QuantPreset::Q4_0, imatrix, m, c.tensors, c.src), "blk.1.ffn_down.weight"),
              GgmlType::Q4_0);
    EXPECT_EQ(type_of(c, choose_types(QuantPreset::Q4_0, {}, m, c.tensors, c.src), "blk.0.ffn_down.weight"),
              GgmlType::Q4_0);
    // Rows of 64 do not fit IQ4_XS's 256-element blocks: IQ4_NL instead, as llama-quantize.
    Case small = eight_layer_model(64, 172);
    auto ch = choose_types(QuantPreset::IQ4_XS, {}, m, small.tensors, small.src);
    EXPECT_EQ(type_of(small, ch, "blk.1.attn_q.weight"), GgmlType::IQ4_NL);
    EXPECT_EQ(type_of(small, ch, "blk.1.ffn_down.weight"), GgmlType::F16);  // 172: not even 32
}

TEST(QuantPolicy, OverridesAndPure) {
    Case c = eight_layer_model(512, 1536);
    PolicyModel m{"llama", 8, 8, 8};
    PolicyOptions o;
    o.pure = true;
    o.tensor_types = {{"attn_q", GgmlType::Q8_0}, {"blk\\.0\\.", GgmlType::Q5_0}};
    o.output_tensor_type = GgmlType::F16;
    o.token_embedding_type = GgmlType::Q6_K;
    auto ch = choose_types(QuantPreset::Q4_K_M, o, m, c.tensors, c.src);
    EXPECT_EQ(type_of(c, ch, "blk.0.attn_q.weight"), GgmlType::Q8_0);  // first match wins
    EXPECT_EQ(type_of(c, ch, "blk.0.attn_v.weight"), GgmlType::Q5_0);
    EXPECT_EQ(type_of(c, ch, "blk.7.attn_v.weight"), GgmlType::Q4_K);  // pure: no bump
    EXPECT_EQ(type_of(c, ch, "output.weight"), GgmlType::F16);
    EXPECT_EQ(type_of(c, ch, "token_embd.weight"), GgmlType::Q6_K);
    o.tensor_types = {{"attn_(q", GgmlType::Q8_0}};
    EXPECT_THROW(choose_types(QuantPreset::Q4_K_M, o, m, c.tensors, c.src), Error);
}

TEST(QuantPolicy, FallbackWhenRowsAreNotWholeBlocks) {
    // stories260K-like: n_embd 64 (not a multiple of 256), n_ff 172 (not a multiple of 32).
    Case c = eight_layer_model(64, 172);
    PolicyModel m{"llama", 8, 8, 8};
    auto ch = choose_types(QuantPreset::Q4_K_M, {}, m, c.tensors, c.src);
    EXPECT_EQ(type_of(c, ch, "blk.1.attn_q.weight"), GgmlType::Q5_0);   // Q4_K -> Q5_0
    EXPECT_EQ(type_of(c, ch, "blk.0.attn_v.weight"), GgmlType::Q8_0);   // Q6_K -> Q8_0
    EXPECT_EQ(type_of(c, ch, "blk.1.ffn_down.weight"), GgmlType::F16);  // Q4_K -> Q5_0 -> F16
    EXPECT_EQ(type_of(c, ch, "output.weight"), GgmlType::Q8_0);         // output: ne0 % 256 -> Q8_0
    ch = choose_types(QuantPreset::Q5_K_S, {}, m, c.tensors, c.src);
    EXPECT_EQ(type_of(c, ch, "blk.1.attn_q.weight"), GgmlType::Q5_1);
    ch = choose_types(QuantPreset::Q2_K, {}, m, c.tensors, c.src);
    EXPECT_EQ(type_of(c, ch, "blk.1.attn_q.weight"), GgmlType::Q4_0);
    for (size_t k = 0; k < ch.size(); ++k)
        if (ch[k].type != ch[k].wanted) {
            EXPECT_TRUE(ch[k].fallback) << c.tensors[k].name;
        }
}

TEST(QuantPolicy, PresetNames) {
    EXPECT_EQ(preset_from_name("q4_k_m"), QuantPreset::Q4_K_M);
    EXPECT_FALSE(preset_from_name("Q4_K_X"));
    EXPECT_EQ(preset_info(QuantPreset::Q4_K_M).file_type, 15u);
    EXPECT_EQ(preset_info(QuantPreset::Q8_0).file_type, 7u);
    EXPECT_NE(preset_names().find("Q5_K_M"), std::string::npos);
    EXPECT_EQ(preset_from_name("iq4_xs"), QuantPreset::IQ4_XS);
    EXPECT_EQ(preset_info(QuantPreset::IQ4_NL).file_type, 25u);
    EXPECT_EQ(preset_info(QuantPreset::IQ4_XS).file_type, 30u);
}

}  // namespace
}  // namespace qlm
