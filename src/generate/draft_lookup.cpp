#include "src/generate/draft_lookup.h"

#include <algorithm>

namespace qlm {

void lookup_draft(std::span<const int32_t> context, int64_t n_max, std::vector<int32_t>& out, int ngram_max,
                  int ngram_min) {
    out.clear();
    const auto len = static_cast<int64_t>(context.size());
    for (int64_t n = std::min<int64_t>(ngram_max, len - 1); n >= std::max(1, ngram_min); --n) {
        const std::span<const int32_t> suffix = context.subspan(static_cast<size_t>(len - n));
        // Occurrences starting at i end before the suffix does, so at least one token follows them.
        for (int64_t i = len - n - 1; i >= 0; --i) {
            if (!std::equal(suffix.begin(), suffix.end(), context.begin() + i)) continue;
            const int64_t from = i + n, to = std::min(len, from + n_max);
            out.assign(context.begin() + from, context.begin() + to);
            return;
        }
    }
}

}  // namespace qlm
