// The IQ4_NL / IQ4_XS kernels of dot_iq4_x86.inl for AVX2 + FMA + F16C (namespace qlm::kernels::avx2).
#define QLM_KERNEL_ISA avx2
#define QLM_KERNEL_VNNI 0
#include "quant/kernels/dot_iq4_x86.inl"
