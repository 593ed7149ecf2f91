// The AVX-512 kernel set (AVX-512 F/VL/BW/DQ + VNNI): the int8 dots and tiles with vpdpbusd
// (dot_quant_avx512.cpp, gemm_quant_avx512.cpp), the 512-bit Q4_0/Q8_0 batches (gemm_batch_avx512.cpp),
// the Q4_K one (gemm_batch_kquant_avx512.cpp), the Q5_0 ones on the file's rows and on repacked ones
// (q5_0_x16_avx512.cpp), the batches on Q4_0/Q4_K/Q6_K/Q8_0/F16 rows repacked at load
// (q4_0_x16_avx512.cpp, q4_k_x16_avx512.cpp, q6_k_x16_avx512.cpp, q8_0_x16_avx512.cpp,
// f16_x16_avx512.cpp), the
// F16/F32 prompt batches (gemm_float_avx512.cpp),
// attention's K·Q span (dot_f16_span_avx512.cpp) and V·P lane kernels (rows_avx512.cpp).
// The float kernels, the activation quantizers and the other row kernels fall back to the AVX2 set.
#include "quant/kernel_set.h"
#include "quant/kernels/kernels.h"
#include "quant/kernels/kernels_iq4.h"

namespace qlm::kernels {

constinit const KernelSet avx512_set = make_kernel_set(
    Isa::Avx512, &avx2_set, {.dot_f16_span = avx512::dot_f16_span,
     .axpy_f16_lanes = avx512::axpy_f16_lanes, .axpy_f16_lanes_rows = avx512::axpy_f16_lanes_rows},
    {
        {GgmlType::F32, {.gemm_batch = avx512::gemm_batch_f32}},
        {GgmlType::F16, {.gemm_batch = avx512::gemm_batch_f16, .gemm_batch_x16 = avx512::gemm_batch_f16_x16}},
        {GgmlType::Q8_0,
         {avx512::dot_q8_0, avx512::gemm4x3_q8_0, nullptr, nullptr, avx512::gemm_batch_q8_0, false,
          avx512::gemm_batch_q8_0_x16}},
        {GgmlType::Q4_0,
         {avx512::dot_q4_0, avx512::gemm4x3_q4_0, nullptr, nullptr, avx512::gemm_batch_q4_0, true,
          avx512::gemm_batch_q4_0_x16}},
        {GgmlType::Q4_1, {avx512::dot_q4_1, avx512::gemm4x3_q4_1}},
        {GgmlType::Q5_0,
         {avx512::dot_q5_0, avx512::gemm4x3_q5_0, nullptr, nullptr, avx512::gemm_batch_q5_0, false,
          avx512::gemm_batch_q5_0_x16}},
        {GgmlType::Q5_1, {avx512::dot_q5_1, avx512::gemm4x3_q5_1}},
        {GgmlType::Q2_K, {avx512::dot_q2_k}},
        {GgmlType::Q3_K, {avx512::dot_q3_k}},
        {GgmlType::Q4_K,
         {avx512::dot_q4_k, avx512::gemm4x3_q4_k, nullptr, nullptr, avx512::gemm_batch_q4_k, false,
          avx512::gemm_batch_q4_k_x16}},
        {GgmlType::Q5_K, {avx512::dot_q5_k, avx512::gemm4x3_q5_k}},
        {GgmlType::Q6_K,
         {avx512::dot_q6_k, avx512::gemm4x3_q6_k, nullptr, nullptr, avx512::gemm_batch_q6_k, false,
          avx512::gemm_batch_q6_k_x16}},
        {GgmlType::IQ4_NL, {avx512::dot_iq4_nl, avx512::gemm4x3_iq4_nl}},
        {GgmlType::IQ4_XS, {avx512::dot_iq4_xs, avx512::gemm4x3_iq4_xs}},
    });

}  // namespace qlm::kernels
