#include "src/model/memory_plan.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "src/model/plan_math.h"
#include "src/util/checked_math.h"
#include "src/util/error.h"

namespace qlm {

MemoryPlan plan_memory(const Hparams& hp, std::span<const MatmulGroup> matmul_groups, uint64_t weight_bytes,
                       const ContextOptions& opts) {
    MemoryPlan p;
    p.context = plan_context(hp, matmul_groups, opts);
    p.weight_bytes = weight_bytes;
    p.total_bytes = plan_math::add({p.weight_bytes, p.context.total_bytes});
    return p;
}

std::string kv_elem_bytes_text(KvType t) {
    const uint32_t b = kv_bytes_per_32(t);
    return b % 32 == 0 ? std::to_string(b / 32) : std::to_string(b) + "/32";
}

int64_t largest_context_that_fits(const Hparams& hp, std::span<const MatmulGroup> matmul_groups,
                                  const ContextOptions& opts, uint64_t available) {
    const int64_t n_ctx = plan_context(hp, matmul_groups, opts).n_ctx;
    auto fits = [&](int64_t n) {
        ContextOptions o = opts;
        o.n_ctx = n;
        return plan_context(hp, matmul_groups, o).total_bytes <= available;
    };
    if (fits(n_ctx)) return n_ctx;
    int64_t lo = 0, hi = n_ctx;  // fits(lo) (or lo == 0), !fits(hi): the need grows with n_ctx
    while (hi - lo > 1) {
        const int64_t mid = lo + (hi - lo) / 2;
        (fits(mid) ? lo : hi) = mid;
    }
    return lo;
}

void check_context_fits(const Hparams& hp, std::span<const MatmulGroup> matmul_groups, const ContextOptions& opts,
                        uint64_t available) {
    const ContextLayout l = plan_context(hp, matmul_groups, opts);
    if (l.total_bytes <= available) return;
    const auto fit = static_cast<uint64_t>(largest_context_that_fits(hp, matmul_groups, opts, available));
    const uint64_t suggest = fit >= 512 ? fit / 256 * 256 : fit;
    throw_error("a context of {} tokens needs {} bytes ({}) of KV cache and scratch, but only {} bytes ({}) are "
                "available: use a smaller context{}{}",
                l.n_ctx, l.total_bytes, format_bytes(l.total_bytes), available, format_bytes(available),
                suggest > 0 ? fmt::format(", e.g. -c {}", suggest) : std::string(),
                opts.kv_type == KvType::F32                                 ? ", or --kv-type f16"
                : opts.kv_type == KvType::F16 && hp.head_dim % 32 == 0 ? ", or --kv-type q8_0"
                                                                        : "");
}

std::optional<uint64_t> available_memory_bytes() {
    std::optional<uint64_t> avail;
    std::ifstream f("/proc/meminfo");
    std::string line;
    while (f && std::getline(f, line)) {
        if (line.rfind("MemAvailable:", 0) == 0) {
            std::istringstream ss(line.substr(13));
            uint64_t kib = 0;
            if (ss >> kib) avail = checked_mul(kib, 1024);
            break;
        }
    }
    // QLM_MEMORY_LIMIT=BYTES caps what qlm treats as available (ignored unless a plain number).
    if (const char* lim = std::getenv("QLM_MEMORY_LIMIT"); lim && *lim) {
        char* end = nullptr;
        errno = 0;
        unsigned long long v = std::strtoull(lim, &end, 10);
        if (errno == 0 && end && *end == '\0' && lim[0] != '-') avail = avail ? std::min<uint64_t>(*avail, v) : v;
    }
    return avail;
}

std::string format_bytes(uint64_t bytes) {
    static const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) return fmt::format("{} B", bytes);
    double v = static_cast<double>(bytes) / 1024.0;
    int i = 0;
    while (v >= 1024.0 && i < 5) {
        v /= 1024.0;
        ++i;
    }
    return fmt::format("{:.2f} {}", v, units[i]);
}

}  // namespace qlm
