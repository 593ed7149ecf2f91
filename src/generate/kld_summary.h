// The numbers `qlm perplexity --kl-divergence` reports about a model against its base, in
// llama-perplexity's terms, from the running sums of KldStats (perplexity.h): after each chunk
// (KldRunning) and at the end (KldSummary, with the distributions' percentiles).
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "src/generate/perplexity.h"

namespace qlm {

struct ValueUnc {
    double value = 0.0, unc = 0.0;
};

// What each chunk's line shows; percentages are fractions here (0.5 = 50 %).
struct KldRunning {
    ValueUnc ppl;        // PPL(Q)
    ValueUnc ln_ratio;   // ln(PPL(Q) / PPL(base))
    ValueUnc kld;        // mean KL divergence
    ValueUnc rms_p_diff; // RMS of p(token) - p_base(token)
    ValueUnc same_top;   // fraction of positions with the same most likely token
};
KldRunning kld_running(const KldStats& k);

struct KldSummary {
    KldRunning running;
    ValueUnc ppl_base;
    std::optional<double> ln_ppl_correlation;  // none when an uncertainty is 0
    ValueUnc ppl_ratio;                        // PPL(Q) / PPL(base)
    ValueUnc ppl_diff;                         // PPL(Q) - PPL(base)
    // (fraction, value) of the sorted per-position values, in float as llama-perplexity computes
    // them: 1 is the maximum, 0.5 the median (the mean of the middle two for an even count), 0 the
    // minimum. Empty when no position was scored.
    std::vector<std::pair<float, float>> kld_quantiles;     // 1, .999, .99, .95, .90, .5, .10, .05, .01, .001, 0
    ValueUnc p_diff;                                        // mean p(token) - p_base(token)
    std::vector<std::pair<float, float>> p_diff_quantiles;  // 1, .999, .99, .95, .90, .75, .5, .25, .10, .05, .01, .001, 0
};
KldSummary summarize_kld(const KldStats& k);

}  // namespace qlm
