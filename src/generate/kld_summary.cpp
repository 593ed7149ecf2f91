#include "src/generate/kld_summary.h"

#include <algorithm>
#include <cmath>

namespace qlm {
namespace {

// llama-perplexity's percentile, in float as it computes it: linear interpolation between the
// neighbouring sorted values.
float percentile(const std::vector<float>& sorted, float fraction) {
    if (fraction <= 0) return sorted.front();
    if (fraction >= 1) return sorted.back();
    float pos = fraction * static_cast<float>(sorted.size() - 1);
    const auto ip = static_cast<size_t>(pos);
    pos -= static_cast<float>(ip);
    return (1 - pos) * sorted[ip] + pos * sorted[std::min(ip + 1, sorted.size() - 1)];
}

float median(const std::vector<float>& v) {
    const size_t n = v.size();
    return n % 2 == 0 ? 0.5f * (v[n / 2] + v[n / 2 - 1]) : v[n / 2];
}

std::vector<std::pair<float, float>> quantiles(std::vector<float> values, std::initializer_list<float> fractions) {
    std::vector<std::pair<float, float>> q;
    if (values.empty()) return q;
    std::sort(values.begin(), values.end());
    for (float f : fractions) q.emplace_back(f, f == 0.5f ? median(values) : percentile(values, f));
    return q;
}

}  // namespace

KldRunning kld_running(const KldStats& k) {
    KldRunning r;
    const MeanUnc lq = mean_and_uncertainty(k.nll.sum, k.nll.sum2, k.count);
    const MeanUnc lb = mean_and_uncertainty(k.nll_base.sum, k.nll_base.sum2, k.count);
    const double cov = covariance_of_means(k.nll.sum, k.nll_base.sum, k.sum_nll_nll_base, k.count);
    r.ppl = {std::exp(lq.mean), std::exp(lq.mean) * lq.unc};
    r.ln_ratio = {lq.mean - lb.mean, std::sqrt(std::max(0.0, lq.unc * lq.unc + lb.unc * lb.unc - 2.0 * cov))};
    const MeanUnc kl = mean_and_uncertainty(k.sum_kld, k.sum_kld2, k.count);
    r.kld = {kl.mean, kl.unc};
    const MeanUnc mse = mean_and_uncertainty(k.sum_p_diff2, k.sum_p_diff4, k.count);
    const double rms = std::sqrt(mse.mean);
    r.rms_p_diff = {rms, rms > 0 ? 0.5 / rms * mse.unc : 0.0};
    const double top = k.count > 0 ? static_cast<double>(k.n_same_top) / static_cast<double>(k.count) : 0.0;
    r.same_top = {top, k.count > 1 ? std::sqrt(top * (1.0 - top) / static_cast<double>(k.count - 1)) : 0.0};
    return r;
}

KldSummary summarize_kld(const KldStats& k) {
    KldSummary s;
    s.running = kld_running(k);
    const MeanUnc lq = mean_and_uncertainty(k.nll.sum, k.nll.sum2, k.count);
    const MeanUnc lb = mean_and_uncertainty(k.nll_base.sum, k.nll_base.sum2, k.count);
    const double cov = covariance_of_means(k.nll.sum, k.nll_base.sum, k.sum_nll_nll_base, k.count);
    const ValueUnc ppl = s.running.ppl;
    s.ppl_base = {std::exp(lb.mean), std::exp(lb.mean) * lb.unc};
    if (lq.unc > 0 && lb.unc > 0) s.ln_ppl_correlation = cov / (lq.unc * lb.unc);
    const ValueUnc lr = s.running.ln_ratio;
    s.ppl_ratio = {std::exp(lr.value), std::exp(lr.value) * lr.unc};
    const double ppl_cov = ppl.value * s.ppl_base.value * cov;
    s.ppl_diff = {ppl.value - s.ppl_base.value,
                  std::sqrt(std::max(0.0, ppl.unc * ppl.unc + s.ppl_base.unc * s.ppl_base.unc - 2.0 * ppl_cov))};
    s.kld_quantiles = quantiles(k.kld_values, {1.f, 0.999f, 0.99f, 0.95f, 0.90f, 0.5f, 0.10f, 0.05f, 0.01f, 0.001f, 0.f});
    const MeanUnc pd = mean_and_uncertainty(k.sum_p_diff, k.sum_p_diff2, k.count);
    s.p_diff = {pd.mean, pd.unc};
    s.p_diff_quantiles =
        quantiles(k.p_diff_values, {1.f, 0.999f, 0.99f, 0.95f, 0.90f, 0.75f, 0.5f, 0.25f, 0.10f, 0.05f, 0.01f, 0.001f, 0.f});
    return s;
}

}  // namespace qlm
