// ModelWeights::repack_x16: the dense matrices of a model repacked at load into groups of 16 rows
// (quant/x16.h: Q4_0, Q4_K, Q5_0, Q6_K, Q8_0, F16) when the active kernel set has a batch for the format's layout
// (AVX-512; AVX2 for Q4_0, Q4_K and Q8_0): a decode step then streams each group sequentially. The mmap'd
// original rows are dropped from memory once copied (read again from the file by anything that
// still reads them: the rows past the last group; the token embedding of a tied output head reads
// its rows from the copy), so the model stays resident only once.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include "quant/kernel_set.h"
#include "quant/matmul.h"
#include "src/model/weights.h"

namespace qlm {

namespace {
constexpr uint64_t kHugePage = 2u << 20;

// Drops the whole pages inside [p, p + n) of a read-only file mapping (clean pages: they are read
// again from the file if touched).
void drop_pages(const void* p, uint64_t n) {
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
    const auto end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}
}  // namespace

void ModelWeights::repack_x16() {
    const KernelSet& kernels = active_kernels();
    std::vector<WeightView*> views;
    for (LayerWeights& L : layers)
        for (WeightView* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.gate, &L.up, &L.down}) views.push_back(w);
    views.push_back(&output);
    // One arena for all (offsets 64-byte aligned), in transparent huge pages where the kernel
    // gives them: a decode step streams it whole, and fewer pages fault in at load.
    std::unordered_map<const void*, uint64_t> offset;  // original rows -> their copy's offset
    uint64_t total = 0;
    for (WeightView* w : views) {
        const X16Layout* layout = x16_layout(w->type);
        if (!layout || !kernels[w->type].gemm_batch_x16 || !w->data || w->rows < kX16Rows || offset.contains(w->data) ||
            !matmul_uses_batch(w->type, w->rows, w->cols))
            continue;
        offset.emplace(w->data, total);
        total += layout->group_bytes(w->cols) * static_cast<uint64_t>(w->rows / kX16Rows);
    }
    if (total == 0) return;
    x16_ = make_aligned_bytes(total, kHugePage);
    madvise(x16_.get(), (total + kHugePage - 1) / kHugePage * kHugePage, MADV_HUGEPAGE);
    struct Job {
        const WeightView* w;
        uint8_t* dst;
    };
    std::vector<Job> jobs;  // each original matrix once
    for (WeightView* w : views) {
        const auto it = offset.find(w->data);
        if (it == offset.end()) continue;
        uint8_t* dst = x16_.get() + it->second;
        if (std::none_of(jobs.begin(), jobs.end(), [&](const Job& j) { return j.dst == dst; })) jobs.push_back({w, dst});
        w->x16 = dst;
    }
    // The token embedding of a tied output head: its lookups read the repacked copy too.
    if (const auto it = offset.find(token_embd.data); it != offset.end() && token_embd.type == output.type)
        token_embd.x16 = x16_.get() + it->second;
    // The copies on all cores (~0.4 s for a 600 MB model on two).
    std::atomic<size_t> next{0};
    auto work = [&] {
        for (size_t k; (k = next.fetch_add(1)) < jobs.size();) {
            const WeightView& w = *jobs[k].w;
            const int64_t groups = w.rows / kX16Rows;
            x16_layout(w.type)->repack(w.data, w.row_stride, w.cols, groups, jobs[k].dst);
            if (file_.mapped()) drop_pages(w.data, w.row_stride * static_cast<uint64_t>(groups * kX16Rows));
        }
    };
    const size_t n_threads = std::min<size_t>({std::max(1u, std::thread::hardware_concurrency()), jobs.size(), 16});
    std::vector<std::thread> threads;
    for (size_t i = 1; i < n_threads; ++i) {
        try {
            threads.emplace_back(work);
        } catch (const std::system_error&) {
            break;  // no more threads to be had (a process limit): the ones running share the rest
        }
    }
    work();
    for (std::thread& t : threads) t.join();
}

}  // namespace qlm
