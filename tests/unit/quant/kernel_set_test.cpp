// The kernel sets: every ISA the CPU has resolves to a complete table, the scalar set is the
// formats' reference rules, and what a set lacks comes from its fallback.
#include <gtest/gtest.h>

#include <string>

#include "quant/formats.h"
#include "quant/kernel_set.h"

namespace qlm {
namespace {

constexpr Isa kIsas[] = {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon};

TEST(KernelSet, ResolvedSetsAreComplete) {
    for (Isa isa : kIsas) {
        if (!cpu_supports(isa)) continue;
        const KernelSet& set = kernel_set(isa);
        EXPECT_EQ(set.isa, isa);
        EXPECT_NE(set.axpy_f16, nullptr) << isa_name(isa);
        EXPECT_NE(set.dot_f16_batch, nullptr) << isa_name(isa);
        EXPECT_NE(set.exp_ggml, nullptr) << isa_name(isa);
        EXPECT_NE(set.dot_f16_rows, nullptr) << isa_name(isa);
        EXPECT_NE(set.axpy_f16_lanes, nullptr) << isa_name(isa);
        EXPECT_NE(set.axpy_f16_lanes_rows, nullptr) << isa_name(isa);
        EXPECT_NE(set.axpy_f16_seq, nullptr) << isa_name(isa);
        for (const FormatOps& f : all_formats()) {
            SCOPED_TRACE(std::string(isa_name(isa)) + " " + std::string(type_name(f.type)));
            EXPECT_NE(set[f.type].vec_dot, nullptr);
            EXPECT_NE(set[f.type].quantize_activation, nullptr);
        }
    }
}

TEST(KernelSet, ScalarSetIsTheReference) {
    const KernelSet& set = kernel_set(Isa::Scalar);
    for (const FormatOps& f : all_formats()) {
        EXPECT_EQ(set[f.type].vec_dot, f.vec_dot_scalar) << type_name(f.type);
        EXPECT_EQ(set[f.type].quantize_activation, f.quantize_activation) << type_name(f.type);
        EXPECT_EQ(set[f.type].gemm_tile, nullptr) << type_name(f.type);
    }
    EXPECT_EQ(unresolved_kernel_set(Isa::Scalar)->fallback, nullptr);
    // Prompt batches of F32/F16 weights add in the tile's order (kernels_order_test checks the sums).
    EXPECT_NE(set[GgmlType::F32].batch_dot, nullptr);
    EXPECT_NE(set[GgmlType::F16].batch_dot, nullptr);
    EXPECT_EQ(set[GgmlType::Q8_0].batch_dot, nullptr);
}

// Each field of a resolved set is the first one its chain has, else the reference.
TEST(KernelSet, FallbackChainFillsGaps) {
    for (Isa isa : kIsas) {
        if (!cpu_supports(isa)) continue;
        const KernelSet* own = unresolved_kernel_set(isa);
        ASSERT_NE(own, nullptr) << isa_name(isa);
        const KernelSet& set = kernel_set(isa);
        for (const FormatOps& f : all_formats()) {
            SCOPED_TRACE(std::string(isa_name(isa)) + " " + std::string(type_name(f.type)));
            if ((*own)[f.type].vec_dot) {
                EXPECT_EQ(set[f.type].vec_dot, (*own)[f.type].vec_dot);
            } else if (own->fallback) {
                EXPECT_EQ(set[f.type].vec_dot, kernel_set(own->fallback->isa)[f.type].vec_dot);
            }
            if ((*own)[f.type].gemm_tile) {
                EXPECT_EQ(set[f.type].gemm_tile, (*own)[f.type].gemm_tile);
            } else if (own->fallback) {
                EXPECT_EQ(set[f.type].gemm_tile, kernel_set(own->fallback->isa)[f.type].gemm_tile);
            }
        }
    }
}

TEST(KernelSet, Avx2SetHasItsKernels) {
    if (!cpu_supports(Isa::Avx2)) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C";
    const KernelSet& set = kernel_set(Isa::Avx2);
    EXPECT_NE(set[GgmlType::Q4_K].vec_dot, format_ops(GgmlType::Q4_K).vec_dot_scalar);
    EXPECT_NE(set[GgmlType::F32].gemm_tile, nullptr);
    EXPECT_EQ(set[GgmlType::Q2_K].gemm_tile, nullptr);  // no Q2_K tile: single dots
    EXPECT_NE(set[GgmlType::Q8_K].quantize_activation, format_ops(GgmlType::Q8_K).quantize_activation);
    EXPECT_EQ(unresolved_kernel_set(Isa::Avx2)->fallback, unresolved_kernel_set(Isa::Scalar));
    EXPECT_NE(set.dot_f16_batch, kernel_set(Isa::Scalar).dot_f16_batch);
    EXPECT_NE(set.exp_ggml, kernel_set(Isa::Scalar).exp_ggml);
}

// An ISA the CPU lacks is never handed out: its request gets the active ISA's best set.
TEST(KernelSet, MissingIsaGetsTheBestTheCpuHas) {
    Isa best = Isa::Scalar;
    for (Isa isa : {Isa::Neon, Isa::Avx512, Isa::Avx2})
        if (cpu_supports(isa)) {
            best = isa;
            break;
        }
    for (Isa isa : kIsas) {
        if (!cpu_supports(isa)) {
            EXPECT_EQ(&kernel_set(isa), &kernel_set(best)) << isa_name(isa);
        }
    }
}

}  // namespace
}  // namespace qlm
