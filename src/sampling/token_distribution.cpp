#include "src/sampling/token_distribution.h"

#include <algorithm>

namespace qlm {

void TokenDistribution::set(std::span<const Candidate> cands) {
    cands_.clear();
    double total = 0.0;
    for (const Candidate& c : cands)
        if (c.p > 0.0f) {
            cands_.push_back(c);
            total += c.p;
        }
    for (Candidate& c : cands_) c.p = static_cast<float>(c.p / total);
    std::sort(cands_.begin(), cands_.end(), [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
}

void TokenDistribution::set_point_mass(int32_t id) {
    cands_.assign(1, Candidate{id, 0.0f, 1.0f});
}

double TokenDistribution::prob(int32_t id) const {
    const auto it = std::lower_bound(cands_.begin(), cands_.end(), id,
                                     [](const Candidate& c, int32_t v) { return c.id < v; });
    return it != cands_.end() && it->id == id ? it->p : 0.0;
}

int32_t TokenDistribution::most_likely() const {
    const Candidate* best = &cands_.front();
    for (const Candidate& c : cands_)
        if (c.p > best->p) best = &c;
    return best->id;
}

namespace {

// Draws an index with probability weight[i] / Σ weight (Σ weight > 0).
size_t draw_index(std::span<const double> weight, std::mt19937_64& rng) {
    double total = 0.0;
    for (double w : weight) total += w;
    const double u = uniform01(rng) * total;
    double cum = 0.0;
    size_t last_positive = 0;
    for (size_t i = 0; i < weight.size(); ++i) {
        if (weight[i] <= 0.0) continue;
        cum += weight[i];
        last_positive = i;
        if (u < cum) return i;
    }
    return last_positive;  // rounding left u at the very top
}

}  // namespace

int32_t draw_from(const TokenDistribution& d, std::mt19937_64& rng) {
    const std::span<const Candidate> s = d.support();
    if (s.size() == 1) return s.front().id;
    std::vector<double> w(s.size());
    for (size_t i = 0; i < s.size(); ++i) w[i] = s[i].p;
    return s[draw_index(w, rng)].id;
}

Verdict accept_draft(const TokenDistribution& p, const TokenDistribution& q, int32_t x, std::mt19937_64& rng) {
    const double px = p.prob(x), qx = q.prob(x);
    // x comes from q, so q(x) > 0; a q that does not hold x is read as accepting whatever p allows.
    const double ratio = qx > 0.0 ? px / qx : (px > 0.0 ? 1.0 : 0.0);
    if (ratio >= 1.0 || uniform01(rng) < ratio) return {x, true};
    const std::span<const Candidate> s = p.support();
    std::vector<double> residual(s.size());
    double total = 0.0;
    for (size_t i = 0; i < s.size(); ++i) {
        residual[i] = std::max(0.0, static_cast<double>(s[i].p) - q.prob(s[i].id));
        total += residual[i];
    }
    // p and q equal up to rounding: the residual is empty, and p itself is what remains.
    if (!(total > 0.0)) return {draw_from(p, rng), false};
    return {s[draw_index(residual, rng)].id, false};
}

}  // namespace qlm
