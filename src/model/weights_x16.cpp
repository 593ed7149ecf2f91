// ModelWeights::repack_x16: the dense Q4_0 matrices of a model repacked at load into groups of 16
// rows (quant/q4_0_x16.h) when the active kernel set has a batch for that layout (AVX-512): a decode
// step then streams each group sequentially. The mmap'd original rows are dropped from memory
// once copied (read again from the file by anything that still reads them: the token embedding
// rows of a tied output, the rows past the last group), so the model stays resident only once.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <unordered_map>

#include "quant/kernel_set.h"
#include "src/model/weights.h"

namespace qlm {

namespace {
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
    if (!active_kernels()[GgmlType::Q4_0].gemm_batch_x16) return;
    std::unordered_map<const void*, const void*> done;  // original rows -> their repacked copy
    auto repack = [&](WeightView& w) {
        if (w.type != GgmlType::Q4_0 || !w.data || w.rows < kQ4_0x16Rows) return;
        if (auto it = done.find(w.data); it != done.end()) {
            w.x16 = it->second;
            return;
        }
        const int64_t groups = w.rows / kQ4_0x16Rows;
        AlignedBytes buf = make_aligned_bytes(q4_0_x16_group_bytes(w.cols) * static_cast<uint64_t>(groups));
        repack_q4_0_x16(w.data, w.row_stride, w.cols, groups, buf.get());
        if (file_.mapped()) drop_pages(w.data, w.row_stride * static_cast<uint64_t>(groups * kQ4_0x16Rows));
        w.x16 = buf.get();
        done.emplace(w.data, w.x16);
        x16_.push_back(std::move(buf));
    };
    for (LayerWeights& L : layers)
        for (WeightView* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.gate, &L.up, &L.down}) repack(*w);
    repack(output);
}

}  // namespace qlm
