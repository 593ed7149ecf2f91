#include "src/sampling/top_k_select.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace qlm {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

float clean(float l) { return std::isnan(l) ? kNegInf : l; }

// keep_top_k's order: logit descending, ties by lowest id. As a heap comparator it puts the
// candidate that sorts last (the first one to drop) on top.
bool before(const Candidate& a, const Candidate& b) {
    if (a.logit != b.logit) return a.logit > b.logit;
    return a.id < b.id;
}

}  // namespace

// A heap of the k best so far, its worst on top. Indices only grow, so a later logit equal to the
// worst's sorts after it and never enters: only a strictly larger one does. Most of the scan is
// one comparison per logit, done 16 at a time with an early-out for blocks below the worst.
void top_k_from_logits(std::span<const float> logits, int32_t k, std::vector<Candidate>& out) {
    const auto n = static_cast<int64_t>(logits.size());
    const int64_t kk = k;
    out.resize(static_cast<size_t>(kk));
    for (int64_t i = 0; i < kk; ++i) {
        const auto u = static_cast<size_t>(i);
        out[u] = Candidate{static_cast<int32_t>(i), clean(logits[u]), 0.0f};
    }
    std::make_heap(out.begin(), out.end(), before);
    float worst = out.front().logit;
    auto offer = [&](int64_t i) {
        const float l = logits[static_cast<size_t>(i)];
        if (!(l > worst)) return;  // NaN (-inf) never beats anything
        std::pop_heap(out.begin(), out.end(), before);
        out.back() = Candidate{static_cast<int32_t>(i), l, 0.0f};
        std::push_heap(out.begin(), out.end(), before);
        worst = out.front().logit;
    };
    constexpr int64_t kBlock = 16;
    int64_t i = kk;
    for (; i + kBlock <= n; i += kBlock) {
        const float* p = logits.data() + i;
        bool any = false;
        for (int64_t j = 0; j < kBlock; ++j) any |= p[j] > worst;
        if (!any) continue;
        for (int64_t j = 0; j < kBlock; ++j) offer(i + j);
    }
    for (; i < n; ++i) offer(i);
    std::sort_heap(out.begin(), out.end(), before);
}

int32_t argmax_logits(std::span<const float> logits) {
    size_t best = 0;
    float best_l = clean(logits[0]);
    for (size_t i = 1; i < logits.size(); ++i)
        if (logits[i] > best_l) {
            best_l = logits[i];
            best = i;
        }
    return static_cast<int32_t>(best);
}

}  // namespace qlm
