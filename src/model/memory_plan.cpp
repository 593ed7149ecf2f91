#include "src/model/memory_plan.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "src/util/checked_math.h"
#include "src/util/error.h"

namespace qlm {
namespace {

uint64_t mul(uint64_t a, uint64_t b) {
    auto r = checked_mul(a, b);
    if (!r) throw_error("memory plan: size overflows 64 bits (use a smaller -c / context)");
    return *r;
}
uint64_t add(uint64_t a, uint64_t b) {
    auto r = checked_add(a, b);
    if (!r) throw_error("memory plan: size overflows 64 bits (use a smaller -c / context)");
    return *r;
}
uint64_t u(int64_t v) { return v < 0 ? 0 : static_cast<uint64_t>(v); }

}  // namespace

std::string kv_elem_bytes_text(KvType t) {
    const uint32_t b = kv_bytes_per_32(t);
    return b % 32 == 0 ? std::to_string(b / 32) : std::to_string(b) + "/32";
}

uint64_t kv_bytes(const ModelShape& s, int64_t n_ctx, KvType kv_type) {
    const uint64_t b32 = mul(mul(mul(mul(mul(2, u(s.n_layer)), u(n_ctx)), u(s.n_head_kv)), u(s.head_dim)),
                             kv_bytes_per_32(kv_type));
    return b32 / 32 + (b32 % 32 != 0);
}

uint64_t scratch_bytes(const ModelShape& s, int64_t n_ctx, int64_t n_batch) {
    const uint64_t b = u(n_batch);
    uint64_t per_token = add(add(mul(3, u(s.n_embd)), mul(u(s.n_head), u(s.head_dim))),
                             add(mul(2, mul(u(s.n_head_kv), u(s.head_dim))), mul(2, u(s.n_ff))));
    uint64_t floats = add(add(mul(b, per_token), mul(u(s.n_head), u(n_ctx))), mul(u(s.n_vocab), b));
    return mul(4, floats);
}

MemoryPlan plan_memory(const ModelShape& s, uint64_t weight_bytes, const MemoryPlanOptions& opts) {
    if (opts.n_ctx < 0) throw_error("context size {} is negative (use -c 0 for the model's {})", opts.n_ctx,
                                    s.n_ctx_train);
    if (opts.n_batch <= 0) throw_error("batch size {} must be at least 1", opts.n_batch);
    MemoryPlan p;
    p.n_ctx = opts.n_ctx == 0 ? s.n_ctx_train : opts.n_ctx;
    p.n_batch = std::min(opts.n_batch, std::max<int64_t>(p.n_ctx, 1));
    p.kv_type = opts.kv_type;
    p.weight_bytes = weight_bytes;
    p.kv_bytes = kv_bytes(s, p.n_ctx, opts.kv_type);
    p.scratch_bytes = scratch_bytes(s, p.n_ctx, p.n_batch);
    p.total_bytes = add(add(p.weight_bytes, p.kv_bytes), p.scratch_bytes);
    return p;
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
