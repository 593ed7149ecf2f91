#include "src/sampling/sampler_stages.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

namespace qlm {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

bool logit_before(const Candidate& a, const Candidate& b) {
    if (a.logit != b.logit) return a.logit > b.logit;
    return a.id < b.id;
}

// Index of the candidate with this id: direct when the array is still id-indexed, else a scan.
Candidate* find_candidate(std::span<Candidate> cands, int32_t id) {
    if (id >= 0 && static_cast<size_t>(id) < cands.size() && cands[static_cast<size_t>(id)].id == id)
        return &cands[static_cast<size_t>(id)];
    for (Candidate& c : cands)
        if (c.id == id) return &c;
    return nullptr;
}

}  // namespace

void make_candidates(std::span<const float> logits, std::vector<Candidate>& out) {
    out.resize(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) {
        float l = logits[i];
        out[i] = Candidate{static_cast<int32_t>(i), std::isnan(l) ? kNegInf : l, 0.0f};
    }
}

std::vector<Candidate> make_candidates(std::span<const float> logits) {
    std::vector<Candidate> out;
    make_candidates(logits, out);
    return out;
}

std::span<const int32_t> penalty_window(std::span<const int32_t> history, int32_t last_n) {
    if (last_n < 0) return history;
    size_t n = std::min(history.size(), static_cast<size_t>(last_n));
    return history.subspan(history.size() - n);
}

void apply_penalties(std::span<Candidate> cands, std::span<const int32_t> window, float repeat,
                     float freq, float presence) {
    if (window.empty() || (repeat == 1.0f && freq == 0.0f && presence == 0.0f)) return;
    std::unordered_map<int32_t, int32_t> counts;
    for (int32_t t : window) ++counts[t];
    for (const auto& [id, count] : counts) {
        Candidate* c = find_candidate(cands, id);
        if (!c) continue;
        if (c->logit > 0.0f)
            c->logit /= repeat;
        else
            c->logit *= repeat;
        c->logit -= static_cast<float>(count) * freq + presence;
    }
}

std::vector<int32_t> repeated_ngram_tokens(std::span<const int32_t> history, int32_t n) {
    std::vector<int32_t> banned;
    if (n <= 0) return banned;
    const size_t len = history.size();
    const size_t pre = static_cast<size_t>(n) - 1;  // prefix length
    if (len < pre || len < static_cast<size_t>(n)) return banned;
    std::span<const int32_t> prefix = history.subspan(len - pre);
    for (size_t i = 0; i + pre < len; ++i) {
        if (std::equal(prefix.begin(), prefix.end(), history.begin() + static_cast<std::ptrdiff_t>(i)))
            banned.push_back(history[i + pre]);
    }
    std::sort(banned.begin(), banned.end());
    banned.erase(std::unique(banned.begin(), banned.end()), banned.end());
    return banned;
}

void ban_repeated_ngrams(std::span<Candidate> cands, std::span<const int32_t> history, int32_t n) {
    for (int32_t id : repeated_ngram_tokens(history, n))
        if (Candidate* c = find_candidate(cands, id)) c->logit = kNegInf;
}

int32_t argmax(std::span<const Candidate> cands) {
    const Candidate* best = &cands[0];
    for (const Candidate& c : cands)
        if (logit_before(c, *best)) best = &c;
    return best->id;
}

void sort_by_logit(std::vector<Candidate>& cands) { std::sort(cands.begin(), cands.end(), logit_before); }

void softmax(std::span<Candidate> cands) {
    if (cands.empty()) return;
    float mx = kNegInf;
    for (const Candidate& c : cands) mx = std::max(mx, c.logit);
    if (mx == kNegInf) {
        for (Candidate& c : cands) c.p = 1.0f / static_cast<float>(cands.size());
        return;
    }
    if (std::isinf(mx)) {  // +inf (e.g. a tiny temperature): shared equally by the +inf entries
        size_t n_inf = 0;
        for (const Candidate& c : cands) n_inf += c.logit == mx;
        for (Candidate& c : cands) c.p = c.logit == mx ? 1.0f / static_cast<float>(n_inf) : 0.0f;
        return;
    }
    double sum = 0.0;
    for (Candidate& c : cands) {
        c.p = std::exp(c.logit - mx);
        sum += c.p;
    }
    for (Candidate& c : cands) c.p = static_cast<float>(c.p / sum);
}

void keep_top_k(std::vector<Candidate>& cands, int32_t k) {
    if (k <= 0 || static_cast<size_t>(k) >= cands.size()) return;
    auto mid = cands.begin() + k;
    std::partial_sort(cands.begin(), mid, cands.end(), logit_before);
    cands.erase(mid, cands.end());
}

void keep_top_p(std::vector<Candidate>& cands, float top_p) {
    if (top_p >= 1.0f || cands.empty()) return;
    softmax(cands);  // probabilities do not depend on the order
    // Sort only as much as needed: select and sort the next block of largest logits (256, then 4x
    // more each round) until the sorted prefix reaches top_p.
    const size_t n = cands.size();
    size_t done = 0;
    double cum = 0.0;
    while (done < n) {
        const size_t next = std::min(n, std::max<size_t>(256, done * 4));
        auto first = cands.begin() + static_cast<std::ptrdiff_t>(done);
        auto last = cands.begin() + static_cast<std::ptrdiff_t>(next);
        if (next < n) std::nth_element(first, last, cands.end(), logit_before);
        std::sort(first, last, logit_before);
        for (size_t i = done; i < next; ++i) {
            cum += cands[i].p;
            if (cum >= top_p) {
                cands.resize(i + 1);
                return;
            }
        }
        done = next;
    }
    // Rounding kept the total just under top_p: keep all, sorted.
}

void keep_min_p(std::vector<Candidate>& cands, float min_p) {
    if (min_p <= 0.0f || cands.empty()) return;
    softmax(cands);
    float pmax = 0.0f;
    for (const Candidate& c : cands) pmax = std::max(pmax, c.p);
    const float threshold = min_p * pmax;
    std::erase_if(cands, [threshold](const Candidate& c) { return c.p < threshold; });
}

void scale_temperature(std::span<Candidate> cands, float temperature) {
    for (Candidate& c : cands) c.logit /= temperature;
}

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

int32_t draw(std::vector<Candidate>& cands, std::mt19937_64& rng) {
    softmax(cands);
    double total = 0.0;
    for (const Candidate& c : cands) total += c.p;
    const double u = uniform01(rng) * total;
    double cum = 0.0;
    int32_t last_positive = cands[0].id;
    for (const Candidate& c : cands) {
        if (c.p <= 0.0f) continue;
        cum += c.p;
        last_positive = c.id;
        if (u < cum) return c.id;
    }
    return last_positive;  // rounding left u at the very top
}

}  // namespace qlm
