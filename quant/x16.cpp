#include "quant/x16.h"

#include <cstdlib>
#include <new>

#include "quant/f16_x16.h"
#include "quant/q4_0_x16.h"
#include "quant/q4_k_x16.h"
#include "quant/q5_0_x16.h"
#include "quant/q6_k_x16.h"
#include "quant/q8_0_x16.h"

namespace qlm {

const X16Layout* x16_layout(GgmlType t) {
    static constexpr X16Layout kQ4_0{q4_0_x16_group_bytes, repack_q4_0_x16, unpack_q4_0_x16_row};
    static constexpr X16Layout kQ4_K{q4_k_x16_group_bytes, repack_q4_k_x16, unpack_q4_k_x16_row};
    static constexpr X16Layout kQ5_0{q5_0_x16_group_bytes, repack_q5_0_x16, unpack_q5_0_x16_row};
    static constexpr X16Layout kQ6_K{q6_k_x16_group_bytes, repack_q6_k_x16, unpack_q6_k_x16_row};
    static constexpr X16Layout kQ8_0{q8_0_x16_group_bytes, repack_q8_0_x16, unpack_q8_0_x16_row};
    static constexpr X16Layout kF16{f16_x16_group_bytes, repack_f16_x16, unpack_f16_x16_row};
    switch (t) {
        case GgmlType::F16: return &kF16;
        case GgmlType::Q4_0: return &kQ4_0;
        case GgmlType::Q4_K: return &kQ4_K;
        case GgmlType::Q5_0: return &kQ5_0;
        case GgmlType::Q6_K: return &kQ6_K;
        case GgmlType::Q8_0: return &kQ8_0;
        default: return nullptr;
    }
}

void AlignedFree::operator()(void* p) const { std::free(p); }

AlignedBytes make_aligned_bytes(uint64_t n, uint64_t align) {
    void* p = std::aligned_alloc(align, (n + align - 1) / align * align);
    if (!p) throw std::bad_alloc();
    return AlignedBytes(static_cast<uint8_t*>(p));
}

}  // namespace qlm
