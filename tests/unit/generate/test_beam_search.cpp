// beam_search on a real model (stories260K, F32) against an independent reference: transformers'
// _beam_search written out plainly in this file (ranking, the finished list, the stopping rule,
// NoRepeatNGramLogitsProcessor), which recomputes every hypothesis' logits from scratch with a
// fresh evaluation of prompt + its tokens: no cache sharing, no sequence slots, no forks. A wrong
// parent, a wrong fork or a block written before it is copied changes the logits or the tokens.
// The reference itself is checked against an exhaustive search over all continuations of up to
// 2 tokens (K = vocabulary size), and K = 1 against greedy generate().
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/loaded_model.h"
#include "common/test_support.h"
#include "src/generate/beam_search.h"
#include "src/generate/generate.h"
#include "src/generate/model_adapters.h"
#include "src/gguf/gguf_file.h"
#include "src/model/context.h"
#include "src/tokenizer/tokenizer.h"
#include "src/util/error.h"

namespace qlm {
namespace {

struct Stories : test::LoadedModel {
    std::vector<int32_t> prompt(const std::string& text = "Once upon a time, a cat") const { return encode(text); }
};

// stories260K never ends a story with its end-of-text token (llama2.c separates stories with BOS),
// so the search's end-of-generation path is exercised with "." declared an end token as well.
class EndAtPeriod : public TokenDecoder {
public:
    explicit EndAtPeriod(const Tokenizer& tok) : inner_(tok) {
        for (int32_t id = 0; id < static_cast<int32_t>(tok.n_vocab()); ++id)
            if (inner_.token_to_piece(id) == ".") period_ = id;
    }
    std::string token_to_piece(int32_t id) const override { return inner_.token_to_piece(id); }
    bool is_end_of_generation(int32_t id) const override { return id == period_ || inner_.is_end_of_generation(id); }
    int32_t period() const { return period_; }

private:
    TokenizerDecoder inner_;
    int32_t period_ = -1;
};

ContextOptions options(int64_t n_seq) {
    return {.n_ctx = 512, .n_outputs = n_seq, .n_threads = 2, .n_seq_max = n_seq};
}

BeamResult engine(const Stories& s, const std::vector<int32_t>& prompt, const BeamParams& p, const GenerateOptions& o,
                  const TokenDecoder* dec = nullptr) {
    InferenceContext ctx(*s.model, options(p.n_beams));
    TokenizerDecoder decoder(*s.tok);
    return beam_search(ctx, dec ? *dec : decoder, prompt, p, o);
}

// ---- the reference ----

// The next-token logits after `tokens`, evaluated from an empty cache in one batch.
class FreshLogits {
public:
    explicit FreshLogits(const Stories& s) : ctx_(*s.model, options(1)) {}
    std::vector<float> operator()(const std::vector<int32_t>& tokens) {
        ctx_.seq_rm(0, 0);
        ctx_.eval(tokens, false, 0);
        ++evals;
        return {ctx_.logits(0).begin(), ctx_.logits(0).end()};
    }
    int64_t evals = 0;

private:
    InferenceContext ctx_;
};

std::vector<double> log_softmax(const std::vector<float>& x) {
    double mx = -INFINITY;
    for (float v : x) mx = std::max(mx, double{v});
    double sum = 0;
    for (float v : x) sum += std::exp(double{v} - mx);
    std::vector<double> out;
    for (float v : x) out.push_back(double{v} - mx - std::log(sum));
    return out;
}

// NoRepeatNGramLogitsProcessor: the tokens that followed each earlier occurrence of the last n-1 tokens.
std::vector<int32_t> banned_by_ngrams(const std::vector<int32_t>& seq, int n) {
    if (n <= 0 || static_cast<int>(seq.size()) + 1 < n) return {};
    std::map<std::vector<int32_t>, std::vector<int32_t>> next_of;
    for (size_t i = 0; i + static_cast<size_t>(n) <= seq.size(); ++i)
        next_of[std::vector<int32_t>(seq.begin() + i, seq.begin() + i + n - 1)].push_back(seq[i + n - 1]);
    const std::vector<int32_t> last(seq.end() - (n - 1), seq.end());
    auto it = next_of.find(last);
    return it == next_of.end() ? std::vector<int32_t>{} : it->second;
}

struct RefHyp {
    double score;
    std::vector<int32_t> tokens;
    bool finished;
};

struct RefResult {
    std::vector<RefHyp> kept;  // best first
    RefHyp best;
};

// transformers' _beam_search for one prompt, plainly: rank the best max(2, 1 + E)·K candidates;
// those that hit a stopping criterion (end token, a stop string in the text, the last step) and
// rank below K merge into the finished list (the best K by score kept); the best K others run on;
// stop when K finished and (early, or the best running score at this length cannot beat the worst).
RefResult reference(const Stories& s, FreshLogits& fresh, const TokenDecoder& dec, const std::vector<int32_t>& prompt,
                    int k, float A, bool early, int n_predict, int ngram, const std::vector<std::string>& stops = {}) {
    const int n_vocab = static_cast<int>(s.model->hparams().n_vocab);
    int n_eos = 0;
    for (int t = 0; t < n_vocab; ++t) n_eos += dec.is_end_of_generation(t);
    RefResult r;
    struct Beam {
        std::vector<int32_t> tokens;
        double score;
    };
    std::vector<Beam> beams{{{}, 0.0}};
    for (int step = 1; step <= n_predict; ++step) {
        struct Cand {
            double score;
            int beam, token;
        };
        std::vector<Cand> all;
        for (int b = 0; b < static_cast<int>(beams.size()); ++b) {
            std::vector<int32_t> seq = prompt;
            seq.insert(seq.end(), beams[b].tokens.begin(), beams[b].tokens.end());
            std::vector<double> lp = log_softmax(fresh(seq));
            for (int32_t t : banned_by_ngrams(seq, ngram)) lp[static_cast<size_t>(t)] = -INFINITY;
            for (int t = 0; t < n_vocab; ++t)
                if (lp[static_cast<size_t>(t)] != -INFINITY) all.push_back({beams[b].score + lp[static_cast<size_t>(t)], b, t});
        }
        std::sort(all.begin(), all.end(), [](const Cand& a, const Cand& b) {
            return a.score != b.score ? a.score > b.score : a.beam != b.beam ? a.beam < b.beam : a.token < b.token;
        });
        all.resize(std::min(all.size(), static_cast<size_t>(std::max(2, 1 + n_eos) * k)));
        std::vector<Beam> running;
        for (int rank = 0; rank < static_cast<int>(all.size()); ++rank) {
            const Cand& c = all[static_cast<size_t>(rank)];
            Beam nb{beams[c.beam].tokens, c.score};
            nb.tokens.push_back(c.token);
            std::string text;
            for (int32_t t : nb.tokens) text += dec.token_to_piece(t);
            const bool eos = dec.is_end_of_generation(c.token);
            const bool stopped = std::any_of(stops.begin(), stops.end(),
                                             [&](const std::string& st) { return text.find(st) != std::string::npos; });
            if (eos || stopped || step == n_predict) {
                if (eos) nb.tokens.pop_back();  // the end token is not part of the text
                if (rank < k)
                    r.kept.push_back({c.score / std::pow(static_cast<double>(step), static_cast<double>(A)), nb.tokens,
                                      eos || stopped});
            } else if (static_cast<int>(running.size()) < k) {
                running.push_back(nb);
            }
        }
        std::stable_sort(r.kept.begin(), r.kept.end(), [](const RefHyp& a, const RefHyp& b) { return a.score > b.score; });
        if (static_cast<int>(r.kept.size()) > k) r.kept.resize(static_cast<size_t>(k));
        const bool full = static_cast<int>(r.kept.size()) == k;
        if (running.empty() ||
            (full && (early || r.kept.back().score >= running[0].score / std::pow(static_cast<double>(step), double{A}))))
            break;
        beams = running;
    }
    r.best = r.kept.front();
    return r;
}

// ---- the tests ----

struct Case {
    int k;
    float A;
    bool early;
    int n;
    int ngram;
    std::string prompt;
    std::vector<std::string> stops = {};
};

std::string label(const Case& c) {
    return "K " + std::to_string(c.k) + " A " + std::to_string(c.A) + (c.early ? " early" : "") + " n " +
           std::to_string(c.n) + " ngram " + std::to_string(c.ngram) + " '" + c.prompt + "'" +
           (c.stops.empty() ? "" : " stop '" + c.stops[0] + "'");
}

// Decode rows attend through the cache in another order than a prompt's rows do: their logits
// agree with a fresh evaluation's to about 1e-7 per token, not bit for bit.
bool same_score(double got, double want) { return std::abs(got - want) <= 2e-5 * std::max(1.0, std::abs(want)); }

void expect_same_as_reference(const Stories& s, FreshLogits& fresh, const EndAtPeriod& dec, const Case& c,
                              int64_t& forks, int64_t& finished) {
    const std::vector<int32_t> prompt = s.prompt(c.prompt);
    GenerateOptions o;
    o.n_predict = c.n;
    o.stop = c.stops;
    const BeamResult got = engine(s, prompt, {.n_beams = c.k, .length_penalty = c.A, .early_stopping = c.early,
                                              .no_repeat_ngram = c.ngram}, o, &dec);
    const RefResult want = reference(s, fresh, dec, prompt, c.k, c.A, c.early, c.n, c.ngram, c.stops);
    ASSERT_FALSE(got.hypotheses.empty()) << label(c);
    EXPECT_EQ(got.best().tokens, want.best.tokens) << label(c);
    EXPECT_TRUE(same_score(got.best().score, want.best.score)) << label(c) << ": " << got.best().score << " vs " << want.best.score;
    ASSERT_EQ(got.hypotheses.size(), want.kept.size()) << label(c);
    int64_t want_finished = 0;
    for (const RefHyp& h : want.kept) {
        want_finished += h.finished;
        const bool found = std::any_of(got.hypotheses.begin(), got.hypotheses.end(), [&](const BeamHypothesis& g) {
            return g.tokens == h.tokens && same_score(g.score, h.score) && g.finished() == h.finished;
        });
        EXPECT_TRUE(found) << label(c) << ": a kept hypothesis of " << h.tokens.size() << " tokens, score " << h.score;
    }
    EXPECT_EQ(got.n_finished, want_finished) << label(c);
    forks += got.forks;
    finished += got.n_finished;
}

TEST(BeamSearch, EqualsTheReferenceThatRecomputesEveryHypothesis) {
    const Stories s;
    const EndAtPeriod dec(*s.tok);
    ASSERT_GE(dec.period(), 0);
    FreshLogits fresh(s);
    int64_t forks = 0, finished = 0;
    for (int k : {2, 3, 5})
        for (float A : {1.0f, 0.0f, 2.0f, -0.5f})
            for (bool early : {false, true})
                expect_same_as_reference(s, fresh, dec, {k, A, early, 24, 0, "Once upon a time, a cat"}, forks, finished);
    // n-gram bans per beam, and a stop string that ends hypotheses as an end token does.
    for (int k : {2, 4})
        for (bool early : {false, true}) {
            expect_same_as_reference(s, fresh, dec, {k, 1.0f, early, 60, 3, "Lily was happy"}, forks, finished);
            expect_same_as_reference(s, fresh, dec, {k, 1.0f, early, 60, 0, "Lily was happy", {" the"}}, forks,
                                     finished);
        }
    EXPECT_GT(forks, 0) << "no beam was ever forked: the test does not exercise copy-on-write";
    EXPECT_GT(finished, 0) << "no hypothesis ever finished: the test does not exercise the finished list";
}

// With K = the vocabulary size nothing is pruned at 2 tokens: the reference's best must be the best
// of every continuation of at most 2 tokens ([eos], [a, eos], [a, b]) by sum log-prob / length^A.
TEST(BeamSearch, ReferenceEqualsExhaustiveSearchOverTwoTokens) {
    const Stories s;
    FreshLogits fresh(s);
    const EndAtPeriod dec(*s.tok);
    const std::vector<int32_t> prompt = s.prompt("Tom and");
    const int V = static_cast<int>(s.model->hparams().n_vocab);
    const std::vector<double> first = log_softmax(fresh(prompt));
    std::vector<std::vector<double>> second(static_cast<size_t>(V));
    for (int a = 0; a < V; ++a) {
        if (dec.is_end_of_generation(a)) continue;
        std::vector<int32_t> seq = prompt;
        seq.push_back(a);
        second[static_cast<size_t>(a)] = log_softmax(fresh(seq));
    }
    for (float A : {1.0f, 0.0f, 3.0f}) {
        double best = -INFINITY;
        std::vector<int32_t> best_tokens;
        for (int a = 0; a < V; ++a) {
            if (dec.is_end_of_generation(a)) {
                if (first[static_cast<size_t>(a)] > best) best = first[static_cast<size_t>(a)], best_tokens = {};
                continue;
            }
            for (int b = 0; b < V; ++b) {
                const double sc = (first[static_cast<size_t>(a)] + second[static_cast<size_t>(a)][static_cast<size_t>(b)]) /
                                  std::pow(2.0, double{A});
                if (sc > best) best = sc, best_tokens = dec.is_end_of_generation(b) ? std::vector<int32_t>{a} : std::vector<int32_t>{a, b};
            }
        }
        const RefResult r = reference(s, fresh, dec, prompt, V, A, false, 2, 0);
        EXPECT_EQ(r.best.tokens, best_tokens) << "A " << A;
        EXPECT_NEAR(r.best.score, best, 1e-9) << "A " << A;
    }
}

TEST(BeamSearch, OneBeamIsGreedy) {
    const Stories s;
    for (const char* text : {"Once upon a time, a cat", "The end. Lily was happy"}) {
        GenerateOptions o;
        o.n_predict = 150;
        InferenceContext ctx(*s.model, options(1));
        ContextLogitsSource src(ctx);
        TokenizerDecoder dec(*s.tok);
        SamplingParams sp;
        sp.temperature = 0;
        Sampler greedy(sp);
        const GenerateResult g = generate(src, dec, greedy, s.prompt(text), o);
        for (bool early : {false, true}) {
            const BeamResult b = engine(s, s.prompt(text), {.n_beams = 1, .early_stopping = early}, o);
            ASSERT_EQ(b.hypotheses.size(), 1u);
            EXPECT_EQ(b.best().tokens, g.tokens) << text;
            EXPECT_EQ(b.best().text, g.text) << text;
            EXPECT_EQ(b.best().stop_reason, g.stop_reason) << text;
            EXPECT_EQ(b.forks, 0);
        }
    }
}

TEST(BeamSearch, NoRepeatNgramHoldsInEveryHypothesis) {
    const Stories s;
    GenerateOptions o;
    o.n_predict = 80;
    o.ignore_eos = true;
    const std::vector<int32_t> prompt = s.prompt();
    const BeamResult r = engine(s, prompt, {.n_beams = 3, .no_repeat_ngram = 2}, o);
    ASSERT_EQ(r.hypotheses.size(), 3u);
    for (const BeamHypothesis& h : r.hypotheses) {
        EXPECT_EQ(h.stop_reason, StopReason::MaxTokens);
        EXPECT_EQ(h.length, 80);
        std::vector<int32_t> seq = prompt;
        seq.insert(seq.end(), h.tokens.begin(), h.tokens.end());
        std::map<std::pair<int32_t, int32_t>, int> seen;
        for (size_t i = 0; i + 1 < seq.size(); ++i) {
            const int times = ++seen[std::make_pair(seq[i], seq[i + 1])];
            EXPECT_EQ(times, 1) << "repeated bigram at " << i;
        }
    }
}

TEST(BeamSearch, StopStringsEndHypotheses) {
    const Stories s;
    GenerateOptions o;
    o.n_predict = 60;
    o.stop = {"."};
    const BeamResult r = engine(s, s.prompt(), {.n_beams = 3}, o);
    ASSERT_FALSE(r.hypotheses.empty());
    int64_t stopped = 0;
    for (const BeamHypothesis& h : r.hypotheses) {
        EXPECT_EQ(h.text.find('.'), std::string::npos) << h.text;
        stopped += h.stop_reason == StopReason::StopString;
    }
    EXPECT_GT(stopped, 0);
    EXPECT_EQ(r.n_finished, stopped);
}

// 8 blocks of 16: the 9-token prompt's block and one for each beam's first token fit 7 beams; beams
// that grow past their blocks end the search as a full context.
TEST(BeamSearch, ACacheTooSmallIsAnErrorOrAFullContext) {
    const Stories s;
    GenerateOptions o;
    o.ignore_eos = true;
    InferenceContext small(*s.model, {.n_ctx = 128, .n_outputs = 8, .n_threads = 2, .n_seq_max = 8});
    TokenizerDecoder dec(*s.tok);
    try {
        beam_search(small, dec, s.prompt(), {.n_beams = 8}, o);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("8 beams do not fit in the KV cache"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("at most 7 beams"), std::string::npos) << e.what();
    }
    InferenceContext ctx(*s.model, {.n_ctx = 128, .n_outputs = 3, .n_threads = 2, .n_seq_max = 3});
    const BeamResult r = beam_search(ctx, dec, s.prompt(), {.n_beams = 3}, o);
    EXPECT_EQ(r.search_end, StopReason::ContextFull);
    ASSERT_EQ(r.hypotheses.size(), 3u);
    for (const BeamHypothesis& h : r.hypotheses) EXPECT_EQ(h.stop_reason, StopReason::ContextFull);
    EXPECT_LT(r.steps, 128 - 9);
    InferenceContext one(*s.model, options(1));
    EXPECT_THROW(beam_search(one, dec, s.prompt(), {.n_beams = 2}, o), Error);
}

TEST(BeamSearch, BadParamsAreErrors) {
    EXPECT_THROW(validate(BeamParams{.n_beams = 0}), Error);
    EXPECT_THROW(validate(BeamParams{.length_penalty = NAN}), Error);
    EXPECT_THROW(validate(BeamParams{.length_penalty = INFINITY}), Error);
    EXPECT_THROW(validate(BeamParams{.no_repeat_ngram = -1}), Error);
    EXPECT_NO_THROW(validate(BeamParams{.n_beams = 4, .length_penalty = -2.0f, .no_repeat_ngram = 3}));
}

// BeamHypotheses.add / is_done, by hand: scores sum / length^A; K kept; a better one replaces the
// earliest of the worst; best first with the later added first among equals.
TEST(FinishedHypotheses, KeepsTheBestKAndStopsAsHuggingFaceDoes) {
    FinishedHypotheses f(2, 1.0f, false);
    BeamHypothesis a;
    a.sum_logprob = -6.0, a.length = 3, a.tokens = {1};  // -2
    f.add(a);
    EXPECT_EQ(f.worst_score(), -2.0);
    EXPECT_FALSE(f.is_done(-1.0, 1));  // fewer than K
    BeamHypothesis b;
    b.sum_logprob = -4.0, b.length = 4, b.tokens = {2};  // -1
    f.add(b);
    EXPECT_EQ(f.worst_score(), -2.0);
    EXPECT_TRUE(f.is_done(-10.0, 4));   // -2.5 cannot beat -2
    EXPECT_FALSE(f.is_done(-7.0, 4));   // -1.75 can
    BeamHypothesis c;
    c.sum_logprob = -2.0, c.length = 1, c.tokens = {3};  // -2: not better than the worst, dropped
    f.add(c);
    EXPECT_EQ(f.size(), 2);
    BeamHypothesis d;
    d.sum_logprob = -3.0, d.length = 3, d.tokens = {4};  // -1: replaces a
    f.add(d);
    EXPECT_EQ(f.worst_score(), -1.0);
    const std::vector<BeamHypothesis> best = f.best_first();
    ASSERT_EQ(best.size(), 2u);
    EXPECT_EQ(best[0].tokens, std::vector<int32_t>{4});  // equal to b's score, added later
    EXPECT_EQ(best[1].tokens, std::vector<int32_t>{2});

    FinishedHypotheses early(1, 0.0f, true);
    EXPECT_FALSE(early.is_done(0.0, 1));
    early.add(c);
    EXPECT_EQ(early.worst_score(), -2.0);  // length penalty 0: the plain sum
    EXPECT_TRUE(early.is_done(0.0, 1));    // early stopping: K finished is enough
    FinishedHypotheses squared(1, 2.0f, false);
    squared.add(a);
    EXPECT_EQ(squared.worst_score(), -6.0 / 9.0);
}

}  // namespace
}  // namespace qlm
