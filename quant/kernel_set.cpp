#include "quant/kernel_set.h"

#if QLM_X86_KERNELS
#include <cpuid.h>
#endif

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>

#include "quant/formats.h"

namespace qlm {

namespace {

#if QLM_X86_KERNELS
// F16C from CPUID leaf 1 (ECX bit 29): clang before 15 does not know __builtin_cpu_supports("f16c").
bool cpu_has_f16c() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}

bool cpu_supports_avx512_vnni() {
    static const bool ok = cpu_supports_avx2() && __builtin_cpu_supports("avx512f") &&
                           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
    return ok;
}
#else
bool cpu_supports_avx512_vnni() { return false; }
#endif

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

// Every field of every format in the table from the first set of the chain that has it; the
// formats' reference rules end the chain.
KernelSet resolve(const KernelSet& set) {
    KernelSet r{{}, set.isa, nullptr, {}};
    for (const KernelSet* s = &set; s; s = s->fallback) {
        if (!r.axpy_f16) r.axpy_f16 = s->axpy_f16;
        if (!r.dot_f16_batch) r.dot_f16_batch = s->dot_f16_batch;
        if (!r.exp_ggml) r.exp_ggml = s->exp_ggml;
        if (!r.dot_f16_rows) r.dot_f16_rows = s->dot_f16_rows;
        if (!r.dot_f16_span) r.dot_f16_span = s->dot_f16_span;
        if (!r.axpy_f16_lanes) r.axpy_f16_lanes = s->axpy_f16_lanes;
        if (!r.axpy_f16_seq) r.axpy_f16_seq = s->axpy_f16_seq;
        if (!r.axpy_f16_lanes_rows) r.axpy_f16_lanes_rows = s->axpy_f16_lanes_rows;
    }
    for (const FormatOps& f : all_formats()) {
        FormatKernels& k = r.formats[static_cast<size_t>(f.type)];
        for (const KernelSet* s = &set; s; s = s->fallback) {
            const FormatKernels& from = (*s)[f.type];
            if (!k.vec_dot) k.vec_dot = from.vec_dot;
            if (!k.gemm_tile) k.gemm_tile = from.gemm_tile;
            if (!k.quantize_activation) k.quantize_activation = from.quantize_activation;
            if (!k.batch_dot) k.batch_dot = from.batch_dot;
            // A set's batch and its repacked form come as a unit (one may be nullptr).
            if (!k.gemm_batch && !k.gemm_batch_x16) {
                k.gemm_batch = from.gemm_batch;
                k.gemm_batch_single = from.gemm_batch_single;  // a property of that batch kernel
                k.gemm_batch_x16 = from.gemm_batch_x16;        // and so is its repacked form
            }
        }
        if (!k.vec_dot) k.vec_dot = f.vec_dot_scalar;
        if (!k.quantize_activation) k.quantize_activation = f.quantize_activation;
    }
    return r;
}

constexpr Isa kAllIsas[] = {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon};

}  // namespace

#if QLM_X86_KERNELS
bool cpu_supports_avx2() {
    static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    return ok;
}
#else
bool cpu_supports_avx2() { return false; }
#endif

bool cpu_supports(Isa isa) {
    switch (isa) {
        case Isa::Scalar: return true;
        case Isa::Avx2: return cpu_supports_avx2();
        case Isa::Avx512: return cpu_supports_avx512_vnni();
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

// The sets this build has: the x86 ones only in x86-64 builds, the NEON one only in aarch64
// builds (quant/CMakeLists.txt); nullptr for the others.
const KernelSet* unresolved_kernel_set(Isa isa) {
    switch (isa) {
        case Isa::Scalar: return &kernels::scalar_set;
#if QLM_X86_KERNELS
        case Isa::Avx2: return &kernels::avx2_set;
        case Isa::Avx512: return &kernels::avx512_set;
#endif
#if QLM_NEON_KERNELS
        case Isa::Neon: return &kernels::neon_set;
#endif
        default: return nullptr;
    }
}

Isa active_isa() {
    static const Isa isa = detect_isa();
    return isa;
}

const KernelSet& kernel_set(Isa isa) {
    // By Isa value; an ISA this build or CPU lacks holds the resolved scalar set (never handed out).
    static const std::array<KernelSet, std::size(kAllIsas)> resolved = [] {
        std::array<KernelSet, std::size(kAllIsas)> r{};
        for (Isa i : kAllIsas) {
            const KernelSet* s = cpu_supports(i) ? unresolved_kernel_set(i) : nullptr;
            r[static_cast<size_t>(i)] = resolve(s ? *s : kernels::scalar_set);
        }
        return r;
    }();
    if (!cpu_supports(isa)) isa = best_isa();
    return resolved[static_cast<size_t>(isa)];
}

const KernelSet& active_kernels() {
    static const KernelSet& set = kernel_set(active_isa());
    return set;
}

}  // namespace qlm
