// Scripted fakes for the generate loop: a "model" whose next-token choice is a script, and a
// decoder with a small hand-made vocabulary.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "src/generate/generate.h"
#include "src/util/error.h"

namespace qlm::test {

// Vocabulary of the fake decoder.
enum FakeToken : int32_t {
    kEos = 0, kHel = 1, kLo = 2, kWor = 3, kLd = 4, kNewline = 5, kSt = 6, kOp = 7,
    kEuroHead = 8,  // first two bytes of U+20AC (E2 82)
    kEuroTail = 9,  // its last byte (AC)
    kS = 10, kX = 11, kVocab = 12,
};

class FakeDecoder : public TokenDecoder {
public:
    std::string token_to_piece(int32_t id) const override {
        static const std::map<int32_t, std::string> pieces = {
            {kEos, ""}, {kHel, "Hel"}, {kLo, "lo"}, {kWor, " wor"}, {kLd, "ld"}, {kNewline, "\n"},
            {kSt, "ST"}, {kOp, "OP"}, {kEuroHead, "\xE2\x82"}, {kEuroTail, "\xAC"}, {kS, "S"}, {kX, "x"}};
        auto it = pieces.find(id);
        if (it == pieces.end()) throw_error("fake decoder: no token {}", id);
        return it->second;
    }
    bool is_end_of_generation(int32_t id) const override { return id == kEos; }
};

// The logits after position p are small distinct values plus 10 on the scripted token: the
// prompt's last position predicts script[0], the position of generated token i predicts
// script[i + 1]; past the script, kX.
class FakeSource : public LogitsSource {
public:
    FakeSource(std::vector<int32_t> script, int64_t n_ctx) : script_(std::move(script)), n_ctx_(n_ctx) {}

    void eval(std::span<const int32_t> tokens, bool all_logits) override {
        if (tokens.empty()) throw_error("fake source: empty batch");
        if (n_past_ + static_cast<int64_t>(tokens.size()) > n_ctx_) throw_error("fake source: context full");
        if (prompt_end_ < 0) prompt_end_ = n_past_ + static_cast<int64_t>(tokens.size()) - 1;
        eval_sizes.push_back(static_cast<int64_t>(tokens.size()));
        fed.insert(fed.end(), tokens.begin(), tokens.end());
        const int64_t first = all_logits ? n_past_ : n_past_ + static_cast<int64_t>(tokens.size()) - 1;
        n_past_ += static_cast<int64_t>(tokens.size());
        out_.clear();
        for (int64_t p = first; p < n_past_; ++p) out_.push_back(logits_at(p));
    }
    int64_t n_outputs() const override { return static_cast<int64_t>(out_.size()); }
    std::span<const float> logits(int64_t i) const override { return out_.at(static_cast<size_t>(i)); }
    int64_t n_past() const override { return n_past_; }
    int64_t n_ctx() const override { return n_ctx_; }

    std::vector<float> logits_at(int64_t p) const {
        std::vector<float> l(kVocab);
        for (int32_t id = 0; id < kVocab; ++id) l[static_cast<size_t>(id)] = 0.01f * static_cast<float>(id) - 0.1f * static_cast<float>(p);
        int32_t want = kX;
        const int64_t step = p - prompt_end_;
        if (prompt_end_ >= 0 && step >= 0 && step < static_cast<int64_t>(script_.size()))
            want = script_[static_cast<size_t>(step)];
        l[static_cast<size_t>(want)] += 10.0f;
        return l;
    }

    std::vector<int64_t> eval_sizes;  // tokens per eval() call
    std::vector<int32_t> fed;         // every token fed, in order

private:
    std::vector<int32_t> script_;
    int64_t n_ctx_;
    int64_t n_past_ = 0;
    int64_t prompt_end_ = -1;
    std::vector<std::vector<float>> out_;
};

}  // namespace qlm::test
