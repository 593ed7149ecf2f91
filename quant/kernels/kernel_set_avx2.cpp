// The AVX2 kernel set (AVX2 + FMA + F16C): float dots and tiles and the row kernels (dot_avx2.cpp),
// the int8 dots and tiles (dot_quant_avx2.cpp, gemm_quant_avx2.cpp; IQ4_NL/IQ4_XS in
// dot_iq4_avx2.cpp), the Q4_0, Q4_K and Q8_0 batches on rows repacked at load (q4_0_x16_avx2.cpp,
// q4_k_x16_avx2.cpp, q8_0_x16_avx2.cpp; Q4_K's rows past the last group go through the tile and
// the dot, as the file's rows do), the activation quantizers (quantize_avx2.cpp). The rest falls back to the
// scalar set.
#include "quant/kernel_set.h"
#include "quant/kernels/kernels.h"
#include "quant/kernels/kernels_iq4.h"

namespace qlm::kernels {

constinit const KernelSet avx2_set = make_kernel_set(
    Isa::Avx2, &scalar_set,
    {.axpy_f16 = axpy_f16_avx2,
     .dot_f16_batch = dot_f16_batch_avx2,
     .exp_ggml = exp_ggml_avx2,
     .dot_f16_rows = dot_f16_rows_avx2,
     .dot_f16_span = dot_f16_span_avx2,
     .axpy_f16_lanes = axpy_f16_lanes_avx2,
     .axpy_f16_seq = axpy_f16_seq_avx2,
     .axpy_f16_lanes_rows = axpy_f16_lanes_rows_avx2},
    {
        {GgmlType::F32, {dot_f32_avx2, gemm4x3_f32_avx2}},
        {GgmlType::F16, {dot_f16_avx2, gemm4x3_f16_avx2, convert_f32_to_f16_avx2}},
        {GgmlType::BF16, {dot_bf16_avx2}},
        {GgmlType::Q8_0,
         {avx2::dot_q8_0, avx2::gemm4x3_q8_0, quantize_q8_0_activation_avx2, nullptr, avx2::gemm_batch_q8_0, false,
          avx2::gemm_batch_q8_0_x16}},
        {GgmlType::Q8_1, {.quantize_activation = quantize_q8_1_activation_avx2}},
        {GgmlType::Q4_0,
         {avx2::dot_q4_0, avx2::gemm4x3_q4_0, nullptr, nullptr, avx2::gemm_batch_q4_0, false,
          avx2::gemm_batch_q4_0_x16}},
        {GgmlType::Q4_1, {avx2::dot_q4_1, avx2::gemm4x3_q4_1}},
        {GgmlType::Q5_0, {avx2::dot_q5_0, avx2::gemm4x3_q5_0}},
        {GgmlType::Q5_1, {avx2::dot_q5_1, avx2::gemm4x3_q5_1}},
        {GgmlType::Q8_K, {.quantize_activation = quantize_q8_k_avx2}},
        {GgmlType::Q2_K, {avx2::dot_q2_k}},
        {GgmlType::Q3_K, {avx2::dot_q3_k}},
        {GgmlType::Q4_K,
         {avx2::dot_q4_k, avx2::gemm4x3_q4_k, nullptr, nullptr, nullptr, false, avx2::gemm_batch_q4_k_x16}},
        {GgmlType::Q5_K, {avx2::dot_q5_k, avx2::gemm4x3_q5_k}},
        {GgmlType::Q6_K, {avx2::dot_q6_k, avx2::gemm4x3_q6_k, nullptr, nullptr, avx2::gemm_batch_q6_k}},
        {GgmlType::IQ4_NL, {avx2::dot_iq4_nl, avx2::gemm4x3_iq4_nl}},
        {GgmlType::IQ4_XS, {avx2::dot_iq4_xs, avx2::gemm4x3_iq4_xs}},
    });

}  // namespace qlm::kernels
