// A probability distribution over token ids, as the sampler chain leaves it (Sampler::distribution),
// and the acceptance step of speculative sampling (Leviathan et al. 2023, Chen et al. 2023): a
// token x drawn from a draft distribution q is kept with probability min(1, p(x)/q(x)); when it
// is not, a token is drawn from the residual normalize(max(0, p − q)). The token that comes out
// is distributed exactly as p, whatever q is. A deterministic draft (prompt lookup, a greedy
// draft model) is the point mass q = δ_x: x is kept with probability p(x), else the token is
// drawn from p without x.
//
//   TokenDistribution p, q;  sampler.distribution(target_logits, history, p);  q.set_point_mass(x);
//   const Verdict v = accept_draft(p, q, x, rng);   // v.token, v.accepted
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "src/sampling/sampler_stages.h"

namespace qlm {

class TokenDistribution {
public:
    // The candidates with p > 0 (their p as given, renormalised to sum 1), sorted by id.
    void set(std::span<const Candidate> cands);
    void set_point_mass(int32_t id);  // p(id) = 1
    double prob(int32_t id) const;     // 0 for an id outside the support
    std::span<const Candidate> support() const { return cands_; }  // sorted by id, p > 0
    int32_t most_likely() const;       // the largest p (ties: lowest id)

private:
    std::vector<Candidate> cands_;
};

// One token drawn from d (d non-empty).
int32_t draw_from(const TokenDistribution& d, std::mt19937_64& rng);

struct Verdict {
    int32_t token = -1;     // x when accepted, else the token drawn from the residual
    bool accepted = false;
};

// The acceptance step for a draft token x drawn from q, verified against p (both non-empty).
// Draws a uniform number when p(x) < q(x), and a token from the residual when x is rejected.
Verdict accept_draft(const TokenDistribution& p, const TokenDistribution& q, int32_t x, std::mt19937_64& rng);

}  // namespace qlm
