// decode over a range of layers (LayerRange, context.h), the basis of --self-spec: a decode step
// split into layers [0, L) and then [L, n_layer) from the state the first part left gives the
// logits of the whole step bit for bit, and leaves the cache as the whole step does (the next
// step's logits match too); rows drafted one at a time through [0, L) and finished in one pass
// over [L, n_layer) give the logits of the same rows decoded as one batch (up to the rounding of
// a multi-row pass); ranges the cache cannot serve are refused before anything runs.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/test_support.h"
#include "src/model/context.h"
#include "src/model/model_loader.h"
#include "src/util/error.h"

namespace qlm {
namespace {

using Row = std::vector<float>;

Row copy(std::span<const float> s) { return Row(s.begin(), s.end()); }

ContextOptions options() { return {.n_ctx = 128, .n_batch = 32, .n_outputs = 8, .n_threads = 2}; }

const std::vector<int32_t> kPrompt = {1, 403, 407, 261, 378, 13, 290, 101};

std::string model_path(const std::string& name) { return test::shared_file("models/" + name).string(); }

void expect_close(const Row& got, const Row& want, const std::string& what) {
    ASSERT_EQ(got.size(), want.size());
    double ss = 0, sd = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        ss += double{want[i]} * want[i];
        sd += (double{got[i]} - want[i]) * (double{got[i]} - want[i]);
    }
    EXPECT_LE(std::sqrt(sd), 1e-3 * std::sqrt(ss)) << what;
}

class LayerRangeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LayerRangeTest, ASplitStepIsTheWholeStep) {
    const LoadedModel m = load_model(model_path(GetParam()));
    const Hparams& hp = m.model->hparams();
    for (int64_t L = 1; L < hp.n_layer; ++L) {
        InferenceContext whole(*m.model, options()), split(*m.model, options());
        whole.eval(kPrompt, false);
        split.eval(kPrompt, false);
        const int32_t t = 77;
        whole.eval(std::span<const int32_t>(&t, 1), false);
        std::vector<float> h(static_cast<size_t>(hp.n_embd));
        Batch b;
        b.add(t, static_cast<int64_t>(kPrompt.size()), 0, true);
        split.decode(b, {.begin = 0, .end = L, .hidden_out = h.data()});
        EXPECT_EQ(split.n_pos(0), whole.n_pos(0));
        split.decode(b, {.begin = L, .hidden_in = h.data()});
        EXPECT_EQ(copy(split.logits(0)), copy(whole.logits(0))) << "L " << L;
        const int32_t u = 250;
        whole.eval(std::span<const int32_t>(&u, 1), false);
        split.eval(std::span<const int32_t>(&u, 1), false);
        EXPECT_EQ(copy(split.logits(0)), copy(whole.logits(0))) << "the step after, L " << L;
    }
}

TEST_P(LayerRangeTest, RowsDraftedAloneAndFinishedTogetherAreTheBatchsRows) {
    const LoadedModel m = load_model(model_path(GetParam()));
    const Hparams& hp = m.model->hparams();
    const int64_t L = hp.n_layer / 2, E = hp.n_embd, p0 = static_cast<int64_t>(kPrompt.size());
    const std::vector<int32_t> rows = {77, 91, 3, 250};
    InferenceContext batch(*m.model, options()), drafted(*m.model, options());
    batch.eval(kPrompt, false);
    drafted.eval(kPrompt, false);
    batch.eval(rows, true);
    std::vector<float> h(rows.size() * static_cast<size_t>(E));
    Batch one, all;
    for (size_t i = 0; i < rows.size(); ++i) {
        one.clear();
        one.add(rows[i], p0 + static_cast<int64_t>(i), 0, true);
        drafted.decode(one, {.begin = 0, .end = L, .hidden_out = h.data() + i * static_cast<size_t>(E)});
        all.add(rows[i], p0 + static_cast<int64_t>(i), 0, true);
    }
    drafted.decode(all, {.begin = L, .hidden_in = h.data()});
    ASSERT_EQ(drafted.n_outputs(), 4);
    for (int64_t i = 0; i < 4; ++i) expect_close(copy(drafted.logits(i)), copy(batch.logits(i)), "row " + std::to_string(i));
    const int32_t u = 13;
    batch.eval(std::span<const int32_t>(&u, 1), false);
    drafted.eval(std::span<const int32_t>(&u, 1), false);
    expect_close(copy(drafted.logits(0)), copy(batch.logits(0)), "the step after");
}

INSTANTIATE_TEST_SUITE_P(Models, LayerRangeTest, ::testing::Values("stories260K-F32.gguf", "kjv-8M-F32.gguf"),
                         [](const auto& info) { return info.param.substr(0, info.param.find('-')); });

TEST(LayerRange, RangesTheCacheCannotServeAreRefused) {
    const LoadedModel m = load_model(model_path("stories260K-F32.gguf"));
    const int64_t n_layer = m.model->hparams().n_layer;
    InferenceContext ctx(*m.model, options());
    ctx.eval(kPrompt, false);
    std::vector<float> h(static_cast<size_t>(m.model->hparams().n_embd));
    Batch b;
    b.add(5, static_cast<int64_t>(kPrompt.size()), 0, true);  // not held yet
    EXPECT_THROW(ctx.decode(b, {.begin = 2, .hidden_in = h.data()}), Error);
    Batch held;
    held.add(5, 3, 0, true);
    EXPECT_THROW(ctx.decode(held, {.begin = 2}), Error);  // no hidden states
    EXPECT_THROW(ctx.decode(b, {.begin = 0, .end = n_layer + 1}), Error);
    EXPECT_THROW(ctx.decode(b, {.begin = 3, .end = 3, .hidden_in = h.data()}), Error);
    EXPECT_EQ(ctx.n_pos(0), static_cast<int64_t>(kPrompt.size()));  // nothing ran
    ctx.decode(held, {.begin = 2, .hidden_in = h.data()});           // a held position is fine
    EXPECT_EQ(ctx.n_outputs(), 1);
}

}  // namespace
}  // namespace qlm
