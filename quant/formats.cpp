#include "quant/formats.h"

#if QLM_X86_KERNELS
#include <cpuid.h>
#endif

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "quant/format_bf16.h"
#include "quant/format_f16.h"
#include "quant/format_f32.h"
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
#include "src/util/error.h"

// The x86 kernels exist only in x86-64 builds (quant/CMakeLists.txt); elsewhere the table holds
// the scalar references; the NEON kernels likewise only in aarch64 builds.
#if QLM_X86_KERNELS
#define QLM_X86_FN(f) f
#else
#define QLM_X86_FN(f) nullptr
#endif
#if QLM_NEON_KERNELS
#define QLM_NEON_FN(f) f
#else
#define QLM_NEON_FN(f) nullptr
#endif

namespace qlm {

namespace {
template <class F>
void dequantize_fn(const void* src, float* dst, int64_t n) {
    F::dequantize_row(static_cast<const typename F::Block*>(src), dst, n);
}
// Formats without a closed-form reference rule here (K-quants: their search lives with the
// quantizer, which registers it with set_quantize_row) start with quantize_row = nullptr.
template <class F>
constexpr QuantizeRowFn quantize_fn() {
    if constexpr (requires(const float* x, typename F::Block* y, int64_t n) { F::quantize_row(x, y, n); })
        return [](const float* src, void* dst, int64_t n) {
            F::quantize_row(src, static_cast<typename F::Block*>(dst), n);
        };
    else
        return nullptr;
}
// Formats whose activation rule differs from the weight rule define quantize_row_activation.
template <class F>
constexpr QuantizeRowFn quantize_activation_fn() {
    if constexpr (requires(const float* x, typename F::Block* y, int64_t n) {
                      F::quantize_row_activation(x, y, n);
                  })
        return [](const float* src, void* dst, int64_t n) {
            F::quantize_row_activation(src, static_cast<typename F::Block*>(dst), n);
        };
    else
        return quantize_fn<F>();
}
// The scalar reference dot of formats whose activation block type differs from the weight's.
template <class F>
float vec_dot_fn(int64_t n, const void* w, const void* a) {
    return F::vec_dot(n, static_cast<const typename F::Block*>(w), static_cast<const typename F::ActBlock*>(a));
}
template <class F>
constexpr FormatOps make_ops(VecDotFn scalar, VecDotFn avx2, GemmTileFn tile_avx2 = nullptr,
                             QuantizeRowFn act_avx2 = nullptr, VecDotFn avx512 = nullptr,
                             GemmTileFn tile_avx512 = nullptr, VecDotFn neon = nullptr) {
    return FormatOps{F::type,   F::vec_dot_type, F::block_size, sizeof(typename F::Block),
                     alignof(typename F::Block), dequantize_fn<F>, quantize_fn<F>(), quantize_activation_fn<F>(),
                     scalar,    avx2,            tile_avx2,     act_avx2,
                     avx512,    tile_avx512,     neon};
}
template <class F>
constexpr FormatOps make_ops() {
    return make_ops<F>(vec_dot_fn<F>, nullptr);
}

// Not const: set_quantize_row fills in quantize_row for formats registered later.
constinit std::array<FormatOps, 15> kFormats = {
    make_ops<FormatF32>(kernels::dot_f32_scalar, QLM_X86_FN(kernels::dot_f32_avx2), QLM_X86_FN(kernels::gemm4x3_f32_avx2),
                        nullptr, nullptr, nullptr, QLM_NEON_FN(kernels::neon::dot_f32)),
    make_ops<FormatF16>(kernels::dot_f16_scalar, QLM_X86_FN(kernels::dot_f16_avx2), QLM_X86_FN(kernels::gemm4x3_f16_avx2),
                        QLM_X86_FN(kernels::convert_f32_to_f16_avx2), nullptr, nullptr,
                        QLM_NEON_FN(kernels::neon::dot_f16)),
    make_ops<FormatBF16>(kernels::dot_bf16_scalar, QLM_X86_FN(kernels::dot_bf16_avx2)),
    make_ops<FormatQ8_0>(kernels::dot_q8_0_scalar, QLM_X86_FN(kernels::avx2::dot_q8_0), QLM_X86_FN(kernels::avx2::gemm4x3_q8_0),
                         QLM_X86_FN(kernels::quantize_q8_0_activation_avx2), QLM_X86_FN(kernels::avx512::dot_q8_0),
                         QLM_X86_FN(kernels::avx512::gemm4x3_q8_0), QLM_NEON_FN(kernels::neon::dot_q8_0)),
    make_ops<FormatQ8_1>(vec_dot_fn<FormatQ8_1>, nullptr, nullptr, QLM_X86_FN(kernels::quantize_q8_1_activation_avx2)),
    make_ops<FormatQ4_0>(vec_dot_fn<FormatQ4_0>, QLM_X86_FN(kernels::avx2::dot_q4_0), QLM_X86_FN(kernels::avx2::gemm4x3_q4_0), nullptr,
                        QLM_X86_FN(kernels::avx512::dot_q4_0), QLM_X86_FN(kernels::avx512::gemm4x3_q4_0),
                        QLM_NEON_FN(kernels::neon::dot_q4_0)),
    make_ops<FormatQ4_1>(vec_dot_fn<FormatQ4_1>, QLM_X86_FN(kernels::avx2::dot_q4_1), QLM_X86_FN(kernels::avx2::gemm4x3_q4_1), nullptr,
                        QLM_X86_FN(kernels::avx512::dot_q4_1), QLM_X86_FN(kernels::avx512::gemm4x3_q4_1)),
    make_ops<FormatQ5_0>(vec_dot_fn<FormatQ5_0>, QLM_X86_FN(kernels::avx2::dot_q5_0), QLM_X86_FN(kernels::avx2::gemm4x3_q5_0), nullptr,
                        QLM_X86_FN(kernels::avx512::dot_q5_0), QLM_X86_FN(kernels::avx512::gemm4x3_q5_0)),
    make_ops<FormatQ5_1>(vec_dot_fn<FormatQ5_1>, QLM_X86_FN(kernels::avx2::dot_q5_1), QLM_X86_FN(kernels::avx2::gemm4x3_q5_1), nullptr,
                        QLM_X86_FN(kernels::avx512::dot_q5_1), QLM_X86_FN(kernels::avx512::gemm4x3_q5_1)),
    make_ops<FormatQ8_K>(vec_dot_fn<FormatQ8_K>, nullptr, nullptr, QLM_X86_FN(kernels::quantize_q8_k_avx2)),
    make_ops<FormatQ2_K>(vec_dot_fn<FormatQ2_K>, QLM_X86_FN(kernels::avx2::dot_q2_k), nullptr, nullptr, QLM_X86_FN(kernels::avx512::dot_q2_k)),
    make_ops<FormatQ3_K>(vec_dot_fn<FormatQ3_K>, QLM_X86_FN(kernels::avx2::dot_q3_k), nullptr, nullptr, QLM_X86_FN(kernels::avx512::dot_q3_k)),
    make_ops<FormatQ4_K>(vec_dot_fn<FormatQ4_K>, QLM_X86_FN(kernels::avx2::dot_q4_k), QLM_X86_FN(kernels::avx2::gemm4x3_q4_k), nullptr,
                        QLM_X86_FN(kernels::avx512::dot_q4_k), QLM_X86_FN(kernels::avx512::gemm4x3_q4_k)),
    make_ops<FormatQ5_K>(vec_dot_fn<FormatQ5_K>, QLM_X86_FN(kernels::avx2::dot_q5_k), QLM_X86_FN(kernels::avx2::gemm4x3_q5_k), nullptr,
                        QLM_X86_FN(kernels::avx512::dot_q5_k), QLM_X86_FN(kernels::avx512::gemm4x3_q5_k)),
    make_ops<FormatQ6_K>(vec_dot_fn<FormatQ6_K>, QLM_X86_FN(kernels::avx2::dot_q6_k), QLM_X86_FN(kernels::avx2::gemm4x3_q6_k), nullptr,
                        QLM_X86_FN(kernels::avx512::dot_q6_k), QLM_X86_FN(kernels::avx512::gemm4x3_q6_k)),
};

Isa best_isa() {
    if (cpu_supports(Isa::Neon)) return Isa::Neon;
    if (cpu_supports(Isa::Avx512)) return Isa::Avx512;
    return cpu_supports(Isa::Avx2) ? Isa::Avx2 : Isa::Scalar;
}

// QLM_ISA asks for a kernel set; a request above what the CPU has gets the best it has (so a
// script that forces avx512 still runs, on AVX2), an unknown name the best with a warning.
Isa detect_isa() {
    const char* env = std::getenv("QLM_ISA");
    if (!env || !*env) return best_isa();
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon})
        if (std::strcmp(env, isa_name(isa)) == 0) return cpu_supports(isa) ? isa : best_isa();
    std::fprintf(stderr, "qlm: warning: QLM_ISA=%s is not one of scalar, avx2, avx512, neon; using %s\n", env,
                 isa_name(best_isa()));
    return best_isa();
}
}  // namespace

const FormatOps* find_format(GgmlType t) {
    for (const auto& f : kFormats)
        if (f.type == t) return &f;
    return nullptr;
}

const FormatOps& format_ops(GgmlType t) {
    if (const FormatOps* f = find_format(t)) return *f;
    throw_error("tensor type {} cannot be computed by qlm yet", type_name(t));
}

void set_quantize_row(GgmlType t, QuantizeRowFn fn) {
    for (auto& f : kFormats)
        if (f.type == t) {
            f.quantize_row = fn;
            return;
        }
    throw_error("set_quantize_row: tensor type {} has no entry in the format table", type_name(t));
}

#if QLM_X86_KERNELS
// F16C from CPUID leaf 1 (ECX bit 29): clang before 15 does not know __builtin_cpu_supports("f16c").
static bool cpu_has_f16c() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}

bool cpu_supports_avx2() {
    static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    return ok;
}

static bool cpu_supports_avx512_vnni() {
    static const bool ok = cpu_supports_avx2() && __builtin_cpu_supports("avx512f") &&
                           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
    return ok;
}
#else
bool cpu_supports_avx2() { return false; }
static bool cpu_supports_avx512_vnni() { return false; }
#endif

bool cpu_supports(Isa isa) {
    const bool avx512 = cpu_supports_avx512_vnni();
    switch (isa) {
        case Isa::Scalar: return true;
        case Isa::Avx2: return cpu_supports_avx2();
        case Isa::Avx512: return avx512;
        case Isa::Neon: return QLM_NEON_KERNELS != 0;
    }
    return false;
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::Scalar: return "scalar";
        case Isa::Avx2: return "avx2";
        case Isa::Avx512: return "avx512";
        case Isa::Neon: return "neon";
    }
    return "?";
}

Isa active_isa() {
    static const Isa isa = detect_isa();
    return isa;
}

// Each lookup takes the requested ISA's kernel, else the next lower ISA's, never one the CPU lacks.
VecDotFn vec_dot_for(const FormatOps& f, Isa isa) {
    if (!cpu_supports(isa)) isa = best_isa();
    if (isa == Isa::Neon) return f.vec_dot_neon ? f.vec_dot_neon : f.vec_dot_scalar;
    if (isa == Isa::Avx512 && f.vec_dot_avx512) return f.vec_dot_avx512;
    if (isa >= Isa::Avx2 && f.vec_dot_avx2) return f.vec_dot_avx2;
    return f.vec_dot_scalar;
}

QuantizeRowFn quantize_activation_for(const FormatOps& f, Isa isa) {
    if (!cpu_supports(isa)) isa = best_isa();
    if ((isa == Isa::Avx2 || isa == Isa::Avx512) && f.quantize_activation_avx2) return f.quantize_activation_avx2;
    return f.quantize_activation;
}

GemmTileFn gemm_tile_for(const FormatOps& f, Isa isa) {
    if (!cpu_supports(isa)) isa = best_isa();
    if (isa == Isa::Avx512 && f.gemm_tile_avx512) return f.gemm_tile_avx512;
    if (isa == Isa::Avx2 || isa == Isa::Avx512) return f.gemm_tile_avx2;
    return nullptr;
}

float dot_f16_batch(int64_t n, const uint16_t* x, const uint16_t* y) {
#if QLM_X86_KERNELS
    if (active_isa() == Isa::Avx2 || active_isa() == Isa::Avx512) return kernels::dot_f16_batch_avx2(n, x, y);
#endif
    return kernels::dot_f16_batch_scalar(n, x, y);
}

void exp_ggml(const float* x, float* y, int64_t n) {
#if QLM_X86_KERNELS
    if (active_isa() == Isa::Avx2 || active_isa() == Isa::Avx512) return kernels::exp_ggml_avx2(x, y, n);
#endif
    kernels::exp_ggml_scalar(x, y, n);
}

void axpy_f16(int64_t n, float a, const uint16_t* x, float* y) {
#if QLM_X86_KERNELS
    if (active_isa() == Isa::Avx2 || active_isa() == Isa::Avx512) return kernels::axpy_f16_avx2(n, a, x, y);
#endif
    kernels::axpy_f16_scalar(n, a, x, y);
}

}  // namespace qlm
