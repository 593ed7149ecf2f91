// The int8 kernels of dot_quant_x86.inl for AVX-512 VL + BW + VNNI (namespace qlm::kernels::avx512):
// the same source as the AVX2 build, with vpdpbusd for the u8·s8 dots. The file is compiled
// with the AVX2 flags; the AVX-512 target is switched on below, after the shared headers, so
// inline functions of those headers are never emitted with AVX-512 instructions (GCC: target
// pragma; clang: the same target attribute on every function that follows).
#include "quant/kernels/x86_int8_headers.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni"))), \
                             apply_to = function)
#else
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx512vnni")
#endif
#define QLM_KERNEL_ISA avx512
#define QLM_KERNEL_VNNI 1
#include "quant/kernels/dot_quant_x86.inl"

#if defined(__clang__)
#pragma clang attribute pop
#endif
