// The NEON kernel set (AArch64, where NEON is part of the base ISA): the f32/f16 dots and the
// Q8_0/Q4_0 int8 dots of dot_neon.cpp, the IQ4_NL dot of dot_iq4_neon.cpp. It has no tile, and its
// f32/f16 dots serve prompt batches too (batch_dot), rather than the scalar set's batch order. The
// rest falls back to the scalar set.
#include "quant/kernel_set.h"
#include "quant/kernels/kernels.h"
#include "quant/kernels/kernels_iq4.h"

namespace qlm::kernels {

constinit const KernelSet neon_set = make_kernel_set(
    Isa::Neon, &scalar_set, {},
    {
        {GgmlType::F32, {.vec_dot = neon::dot_f32, .batch_dot = neon::dot_f32}},
        {GgmlType::F16, {.vec_dot = neon::dot_f16, .batch_dot = neon::dot_f16}},
        {GgmlType::Q8_0, {neon::dot_q8_0}},
        {GgmlType::Q4_0, {neon::dot_q4_0}},
        {GgmlType::IQ4_NL, {neon::dot_iq4_nl}},
    });

}  // namespace qlm::kernels
