// Every header the int8 kernel sources (dot_quant_x86.inl, gemm_quant_x86.inl) include except
// quant_x86.h, so a per-ISA file can include them before it switches the compile target, and the
// switch itself for the AVX-512 files.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "quant/format_q2_k.h"
#include "quant/format_q3_k.h"
#include "quant/format_q4_0.h"
#include "quant/format_q4_1.h"
#include "quant/format_q4_k.h"
#include "quant/format_q5_0.h"
#include "quant/format_q5_1.h"
#include "quant/format_q5_k.h"
#include "quant/format_q6_k.h"
#include "quant/format_q8_0.h"
#include "quant/format_q8_1.h"
#include "quant/format_q8_k.h"
#include "quant/kernels/kernels.h"

// Between QLM_AVX512_TARGET_BEGIN and _END every function is compiled for AVX-512 VL/BW/DQ +
// VNNI: GCC's target pragma, or clang's target attribute on every function that follows (clang
// does not apply GCC's pragma). Used after the includes above, so no inline function of a shared
// header is emitted with AVX-512 instructions.
#if defined(__clang__)
#define QLM_AVX512_TARGET_BEGIN \
    _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512vl,avx512bw,avx512dq,avx512vnni\"))), apply_to = function)")
#define QLM_AVX512_TARGET_END _Pragma("clang attribute pop")
#else
#define QLM_AVX512_TARGET_BEGIN _Pragma("GCC target(\"avx512f,avx512vl,avx512bw,avx512dq,avx512vnni\")")
#define QLM_AVX512_TARGET_END
#endif
