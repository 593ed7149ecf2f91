// The IQ4_NL / IQ4_XS kernels of dot_iq4_x86.inl for AVX-512 VL + BW + VNNI (namespace
// qlm::kernels::avx512): the same source as the AVX2 build, with vpdpbusd for the u8·s8 dots.
// The file is compiled with the AVX2 flags; the AVX-512 target is switched on after the shared
// headers (QLM_AVX512_TARGET_BEGIN, x86_int8_headers.h).
#include "quant/format_iq4_nl.h"
#include "quant/format_iq4_xs.h"
#include "quant/kernels/kernels_iq4.h"
#include "quant/kernels/x86_int8_headers.h"

QLM_AVX512_TARGET_BEGIN
#define QLM_KERNEL_ISA avx512
#define QLM_KERNEL_VNNI 1
#include "quant/kernels/dot_iq4_x86.inl"
QLM_AVX512_TARGET_END
