// Every header the int8 kernel sources (dot_quant_x86.inl, gemm_quant_x86.inl) include except
// quant_x86.h, so a per-ISA file can include them before it switches the compile target.
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
