// Logits dumps: top-20 selection, the hex helper, a lossless round trip, and the same layout
// as llama.cpp's golden files in ../shared/golden.
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/test_support.h"
#include "src/generate/logits_json.h"
#include "src/util/error.h"

namespace qlm {
namespace {

std::vector<float> ramp(int64_t n, float scale) {
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = std::sin(static_cast<float>(i) * scale) * 7.123456789f;
    return v;
}

TEST(LogitsJson, SmallVocabKeepsEveryLogit) {
    auto v = ramp(600, 0.37f);
    LogitsEntry e = make_logits_entry(v);
    EXPECT_EQ(e.full, v);
    EXPECT_TRUE(e.top.empty());
}

TEST(LogitsJson, LargeVocabKeepsTheTop20Sorted) {
    std::vector<float> v(601, 0.0f);
    // ids 100..129 get logits 1..30; id 5 ties id 120 (21.0): the lower id comes first.
    for (int i = 0; i < 30; ++i) v[static_cast<size_t>(100 + i)] = static_cast<float>(i + 1);
    v[5] = 21.0f;
    LogitsEntry e = make_logits_entry(v);
    EXPECT_TRUE(e.full.empty());
    ASSERT_EQ(e.top.size(), 20u);
    EXPECT_EQ(e.top[0], (std::pair<int32_t, float>{129, 30.0f}));
    // 30 .. 22 are ids 129..121 (9 entries), then 21.0: id 5 before id 120.
    EXPECT_EQ(e.top[9], (std::pair<int32_t, float>{5, 21.0f}));
    EXPECT_EQ(e.top[10], (std::pair<int32_t, float>{120, 21.0f}));
    EXPECT_EQ(e.top[19], (std::pair<int32_t, float>{111, 12.0f}));
}

TEST(LogitsJson, HexHelper) {
    EXPECT_EQ(to_hex(std::string_view("\x00\x7f\xff a", 5)), "007fff2061");
}

LogitsDump sample_dump(int64_t n_vocab, std::string bytes) {
    LogitsDump d;
    d.model = "m.gguf";
    d.n_vocab = n_vocab;
    d.prompt_ids = {1, 5, 9};
    for (int i = 0; i < 3; ++i) d.prompt_logits.push_back(make_logits_entry(ramp(n_vocab, 0.1f * static_cast<float>(i + 1))));
    d.greedy = {4, 2};
    d.greedy_bytes = std::move(bytes);
    for (int i = 0; i < 2; ++i) d.generated_logits.push_back(make_logits_entry(ramp(n_vocab, 0.05f * static_cast<float>(i + 3))));
    return d;
}

void expect_same(const LogitsDump& a, const LogitsDump& b) {
    EXPECT_EQ(a.model, b.model);
    EXPECT_EQ(a.n_vocab, b.n_vocab);
    EXPECT_EQ(a.prompt_ids, b.prompt_ids);
    EXPECT_EQ(a.greedy, b.greedy);
    EXPECT_EQ(a.greedy_bytes, b.greedy_bytes);
    ASSERT_EQ(a.prompt_logits.size(), b.prompt_logits.size());
    for (size_t i = 0; i < a.prompt_logits.size(); ++i) {
        EXPECT_EQ(a.prompt_logits[i].full, b.prompt_logits[i].full);  // bit-exact floats
        EXPECT_EQ(a.prompt_logits[i].top, b.prompt_logits[i].top);
    }
    ASSERT_EQ(a.generated_logits.size(), b.generated_logits.size());
    for (size_t i = 0; i < a.generated_logits.size(); ++i) {
        EXPECT_EQ(a.generated_logits[i].full, b.generated_logits[i].full);
        EXPECT_EQ(a.generated_logits[i].top, b.generated_logits[i].top);
    }
}

TEST(LogitsJson, RoundTripsExactly) {
    for (int64_t nv : {int64_t{512}, int64_t{4096}}) {
        LogitsDump d = sample_dump(nv, "caf\xC3\xA9");
        auto path = qlm::test::temp_dir("logits_json") / "dump.json";
        write_logits_json(path, d);
        nlohmann::json j = qlm::test::read_json(path);
        EXPECT_EQ(j.at("greedy_text"), "caf\xC3\xA9");
        EXPECT_EQ(j.at("greedy_text_hex"), "636166c3a9");
        expect_same(logits_dump_from_json(j, path.string()), d);
    }
}

TEST(LogitsJson, InvalidUtf8TextHasOnlyHex) {
    LogitsDump d = sample_dump(16, "a\xE2\x82");
    nlohmann::json j = nlohmann::json::parse(logits_dump_to_json_text(d));
    EXPECT_FALSE(j.contains("greedy_text"));
    EXPECT_EQ(j.at("greedy_text_hex"), "61e282");
    EXPECT_EQ(logits_dump_from_json(j, "x").greedy_bytes, "a\xE2\x82");
}

// Sampled ids are named "generated" (never "greedy"), and read back as sampled.
TEST(LogitsJson, SampledIdsAreNamedGenerated) {
    LogitsDump d = sample_dump(16, "ab");
    d.sampled = true;
    nlohmann::json j = nlohmann::json::parse(logits_dump_to_json_text(d));
    EXPECT_FALSE(j.contains("greedy"));
    EXPECT_FALSE(j.contains("greedy_text"));
    EXPECT_FALSE(j.contains("greedy_text_hex"));
    EXPECT_EQ(j.at("generated"), nlohmann::json::array({4, 2}));
    EXPECT_EQ(j.at("generated_text"), "ab");
    EXPECT_EQ(j.at("generated_text_hex"), "6162");
    const LogitsDump back = logits_dump_from_json(j, "x");
    EXPECT_TRUE(back.sampled);
    expect_same(back, d);
    EXPECT_FALSE(logits_dump_from_json(nlohmann::json::parse(logits_dump_to_json_text(sample_dump(16, "ab"))), "x").sampled);
}

TEST(LogitsJson, MalformedDumpsAreErrors) {
    EXPECT_THROW(logits_dump_from_json(nlohmann::json::parse("[]"), "x"), Error);
    nlohmann::json j = nlohmann::json::parse(logits_dump_to_json_text(sample_dump(16, "ab")));
    j.erase("prompt_ids");
    EXPECT_THROW(logits_dump_from_json(j, "x"), Error);
    j = nlohmann::json::parse(logits_dump_to_json_text(sample_dump(16, "ab")));
    j["greedy_text_hex"] = "6";
    EXPECT_THROW(logits_dump_from_json(j, "x"), Error);
    j["greedy_text_hex"] = "zz";
    EXPECT_THROW(logits_dump_from_json(j, "x"), Error);
    j["greedy_text_hex"] = "61";
    j["prompt_logits"][0] = nlohmann::json::object({{"top", {{1}}}});
    EXPECT_THROW(logits_dump_from_json(j, "x"), Error);
}

TEST(LogitsJson, WriteToABadPathIsAnError) {
    EXPECT_THROW(write_logits_json("/nonexistent-dir/x/y.json", sample_dump(8, "")), Error);
}

// Same keys and per-entry shapes as llama.cpp's reference files (ours adds generated_logits).
void expect_golden_layout(const std::string& golden_name) {
    nlohmann::json golden = qlm::test::read_json(qlm::test::shared_file("golden/" + golden_name));
    const int64_t nv = golden.at("n_vocab").get<int64_t>();
    LogitsDump d = sample_dump(nv, golden.contains("greedy_text") ? "ok" : "\xFF");
    nlohmann::json ours = nlohmann::json::parse(logits_dump_to_json_text(d));
    for (const auto& [key, value] : golden.items()) {
        ASSERT_TRUE(ours.contains(key)) << golden_name << ": our dump lacks key " << key;
        EXPECT_EQ(ours[key].type(), value.type()) << key;
    }
    std::set<std::string> extra;
    for (const auto& [key, value] : ours.items())
        if (!golden.contains(key)) extra.insert(key);
    EXPECT_EQ(extra, (std::set<std::string>{"generated_logits"}));
    const nlohmann::json& g0 = golden.at("prompt_logits").at(0);
    const nlohmann::json& o0 = ours.at("prompt_logits").at(0);
    ASSERT_EQ(o0.size(), 1u);
    const std::string kind = g0.begin().key();
    ASSERT_TRUE(o0.contains(kind)) << golden_name << " uses '" << kind << "'";
    EXPECT_EQ(o0[kind].size(), g0[kind].size());
    if (kind == "full") {
        EXPECT_EQ(static_cast<int64_t>(o0[kind].size()), nv);
    } else {
        EXPECT_EQ(o0[kind][0].size(), 2u);
        EXPECT_TRUE(o0[kind][0][0].is_number_integer());
        EXPECT_TRUE(o0[kind][0][1].is_number());
    }
    // The golden file itself reads back through our reader.
    LogitsDump g = logits_dump_from_json(golden, golden_name);
    EXPECT_EQ(g.n_vocab, nv);
    EXPECT_EQ(g.prompt_logits.size(), g.prompt_ids.size());
    if (golden.contains("greedy_text")) {
        EXPECT_EQ(g.greedy_bytes, golden["greedy_text"].get<std::string>());
    }
}

TEST(LogitsJson, LayoutMatchesGoldenFullVocab) { expect_golden_layout("mini-f32.json"); }
TEST(LogitsJson, LayoutMatchesGoldenTopVocab) { expect_golden_layout("kjv-8M-F32.kjv1.json"); }
TEST(LogitsJson, LayoutMatchesGoldenStories) { expect_golden_layout("stories260K-F32.story1.json"); }

}  // namespace
}  // namespace qlm
