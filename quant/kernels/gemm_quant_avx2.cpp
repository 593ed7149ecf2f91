// The int8 kernels of gemm_quant_x86.inl for AVX2 + FMA + F16C (namespace qlm::kernels::avx2).
#define QLM_KERNEL_ISA avx2
#define QLM_KERNEL_VNNI 0
#include "quant/kernels/gemm_quant_x86.inl"
