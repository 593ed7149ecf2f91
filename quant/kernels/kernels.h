// The SIMD kernels, each file compiled for its ISA (dot_avx2.cpp with -mavx2 -mfma -mf16c, ...):
// call them only through the kernel sets (quant/kernel_set.h, kernel_set_<isa>.cpp), which hand
// out an ISA's kernels only when the CPU has it. The scalar references are the format traits'
// (quant/format_*.h) and, for the kernels that are not per format, kernel_set_scalar.cpp's
// (declared here beside their SIMD versions). Dots match qlm::VecDotFn, tiles qlm::GemmTileFn,
// quantizers qlm::QuantizeRowFn.
#pragma once

#include <cstdint>

namespace qlm::kernels {

// The f32/f16 dot of llama.cpp's batched matmul (one 8-lane accumulator, whole groups of 8; one
// output of gemm4x3_*_avx2): the scalar set's F32/F16 batch_dot, and its dot_f16_batch (attention's
// q·k); the AVX2 f16 version gives the same sums.
float dot_f32_batch_scalar(int64_t n, const void* w, const void* a);
float dot_f16_batch_scalar(int64_t n, const void* w, const void* a);
float dot_f16_batch_avx2(int64_t n, const void* w, const void* a);

float dot_f32_avx2(int64_t n, const void* w, const void* a);
float dot_f16_avx2(int64_t n, const void* w, const void* a);
float dot_bf16_avx2(int64_t n, const void* w, const void* a);

// 4 weight rows x 3 activation rows at once (prompt batches): y[t·y_stride + r] = dot(w_r, a_t)
// for r < 4, t < 3. Strides are in bytes for w and a, in floats for y. Signature = qlm::GemmTileFn.
void gemm4x3_f32_avx2(int64_t n, const void* w, uint64_t w_stride, const void* a, uint64_t a_stride, float* y,
                      int64_t y_stride);
void gemm4x3_f16_avx2(int64_t n, const void* w, uint64_t w_stride, const void* a, uint64_t a_stride, float* y,
                      int64_t y_stride);

// The int8 kernels, one source (dot_quant_x86.inl, gemm_quant_x86.inl) compiled per ISA into
// kernels::avx2 (maddubs/madd) and kernels::avx512 (AVX-512 VL/BW + VNNI: vpdpbusd). Dots: Q8_0,
// Q4_0, Q5_0 with Q8_0 activations, Q4_1/Q5_1 with Q8_1, the K-quants with Q8_K; the scalar
// references are the traits' vec_dot. Tiles (4 rows x 3 tokens, = qlm::GemmTileFn): the same
// formats but Q2_K and Q3_K, with the same per-block integer sums as the dots. Batches (rows x 1..8
// tokens, = qlm::GemmBatchFn): Q4_0, Q8_0 (AVX-512: 512-bit VNNI, gemm_batch_avx512.cpp) and Q6_K.
#define QLM_INT8_KERNELS                                                                              \
    float dot_q8_0(int64_t n, const void* w, const void* a);                                          \
    float dot_q4_0(int64_t n, const void* w, const void* a);                                          \
    float dot_q4_1(int64_t n, const void* w, const void* a);                                          \
    float dot_q5_0(int64_t n, const void* w, const void* a);                                          \
    float dot_q5_1(int64_t n, const void* w, const void* a);                                          \
    float dot_q2_k(int64_t n, const void* w, const void* a);                                          \
    float dot_q3_k(int64_t n, const void* w, const void* a);                                          \
    float dot_q4_k(int64_t n, const void* w, const void* a);                                          \
    float dot_q5_k(int64_t n, const void* w, const void* a);                                          \
    float dot_q6_k(int64_t n, const void* w, const void* a);                                          \
    void gemm4x3_q8_0(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys); \
    void gemm4x3_q4_0(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys); \
    void gemm4x3_q5_0(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys); \
    void gemm4x3_q4_1(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys); \
    void gemm4x3_q5_1(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys); \
    void gemm4x3_q4_k(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys); \
    void gemm4x3_q5_k(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys); \
    void gemm4x3_q6_k(int64_t n, const void* w, uint64_t ws, const void* a, uint64_t as, float* y, int64_t ys); \
    void gemm_batch_q4_0(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as,      \
                         int64_t nt, float* y, int64_t ys);                                                   \
    void gemm_batch_q8_0(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as,      \
                         int64_t nt, float* y, int64_t ys);                                                   \
    void gemm_batch_q6_k(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as,      \
                         int64_t nt, float* y, int64_t ys);
namespace avx2 {
QLM_INT8_KERNELS
// Q4_0 repacked in groups of 16 rows (quant/q4_0_x16.h; q4_0_x16_avx2.cpp): rows a multiple of 16,
// ws the bytes between groups; the bits of avx512::gemm_batch_q4_0_x16.
void gemm_batch_q4_0_x16(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                         float* y, int64_t ys);
// Q8_0 repacked in groups of 16 rows (quant/q8_0_x16.h; q8_0_x16_avx2.cpp): rows a multiple of 16,
// ws the bytes between groups; the scalar reference's bits (dot_q8_0's) for any number of tokens.
void gemm_batch_q8_0_x16(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                         float* y, int64_t ys);
// Q4_K repacked in groups of 16 rows (quant/q4_k_x16.h; q4_k_x16_avx2.cpp): rows a multiple of 16,
// ws the bytes between groups; the scalar reference's bits for any number of tokens (those of
// avx512::gemm_batch_q4_k_x16).
void gemm_batch_q4_k_x16(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                         float* y, int64_t ys);
}  // namespace avx2
namespace avx512 {
QLM_INT8_KERNELS
// Q4_K batch with 16 rows in the lanes (gemm_batch_kquant_avx512.cpp): from kQ4KLanesMinTokens
// tokens on, every output is the scalar reference's bits; fewer tokens run gemm4x3_q4_k and dot_q4_k.
constexpr int64_t kQ4KLanesMinTokens = 4;
void gemm_batch_q4_k(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                     float* y, int64_t ys);
// F16/F32 weight batches (gemm_float_avx512.cpp): 4 rows x 4 tokens per register tile, every output
// the bits of gemm4x3_f16_avx2/gemm4x3_f32_avx2 (and of the scalar batch_dot over whole groups of 8).
void gemm_batch_f16(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                    float* y, int64_t ys);
void gemm_batch_f32(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                    float* y, int64_t ys);
// F16 repacked in groups of 16 rows (quant/f16_x16.h; f16_x16_avx512.cpp): rows a multiple of 16,
// ws the bytes between groups; the bits of gemm_batch_f16 for any number of tokens, one included.
void gemm_batch_f16_x16(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                        float* y, int64_t ys);
// Q8_0 with 16 rows in the lanes (gemm_q8_0_lanes_avx512.cpp): the whole groups of 16 of the first
// `rows` rows for 1..8 tokens, every output the bits of dot_q8_0; returns the rows done (the
// others are left to the caller). gemm_batch_q8_0 uses it from kQ8_0LanesMinTokens tokens on.
constexpr int64_t kQ8_0LanesMinTokens = 4;
int64_t gemm_q8_0_lanes(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                        float* y, int64_t ys);
// Q4_0 repacked in groups of 16 rows (quant/q4_0_x16.h; q4_0_x16_avx512.cpp): rows a multiple of
// 16, ws the bytes between groups; the bits of gemm_batch_q4_0 on the original rows.
void gemm_batch_q4_0_x16(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                         float* y, int64_t ys);
// Q4_K repacked in groups of 16 rows (quant/q4_k_x16.h; q4_k_x16_avx512.cpp): rows a multiple of
// 16, ws the bytes between groups; the scalar reference's bits for any number of tokens.
void gemm_batch_q4_k_x16(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                         float* y, int64_t ys);
// Q5_0 with 16 rows in the lanes (q5_0_x16_avx512.cpp), every output the scalar reference's bits:
// on the file's rows (any count) and repacked in groups of 16 (quant/q5_0_x16.h: rows a multiple
// of 16, ws the bytes between groups), for 1..8 tokens.
void gemm_batch_q5_0(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                     float* y, int64_t ys);
void gemm_batch_q5_0_x16(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                         float* y, int64_t ys);
// Q6_K repacked in groups of 16 rows (quant/q6_k_x16.h; q6_k_x16_avx512.cpp): rows a multiple of
// 16, ws the bytes between groups; dot_q6_k's bits (gemm_batch_q6_k's) for any number of tokens.
void gemm_batch_q6_k_x16(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                         float* y, int64_t ys);
// Q8_0 repacked in groups of 16 rows (quant/q8_0_x16.h; q8_0_x16_avx512.cpp): rows a multiple of
// 16, ws the bytes between groups; the scalar reference's bits (dot_q8_0's) for any number of tokens.
void gemm_batch_q8_0_x16(int64_t n, int64_t rows, const void* w, uint64_t ws, const void* a, uint64_t as, int64_t nt,
                         float* y, int64_t ys);
}  // namespace avx512
#undef QLM_INT8_KERNELS

// AArch64 NEON (dot_neon.cpp, aarch64 builds only): f32/f16 through xsimd, Q8_0/Q4_0 against Q8_0.
namespace neon {
float dot_f32(int64_t n, const void* w, const void* a);
float dot_f16(int64_t n, const void* w, const void* a);
float dot_q8_0(int64_t n, const void* w, const void* a);
float dot_q4_0(int64_t n, const void* w, const void* a);
}  // namespace neon

// Activation quantizers (quantize_avx2.cpp), byte-identical to the scalar rules of Q8_0/Q8_1
// (quantize_row_activation) and Q8_K (quantize_row) for every non-NaN input. = qlm::QuantizeRowFn.
void quantize_q8_0_activation_avx2(const float* x, void* y, int64_t n);
void quantize_q8_1_activation_avx2(const float* x, void* y, int64_t n);
void quantize_q8_k_avx2(const float* x, void* y, int64_t n);

// f32 -> f16 with round-to-nearest-even (F16C), equal to qlm::fp32_to_fp16 for every non-NaN
// input. Signature = qlm::QuantizeRowFn (the F16 activation conversion).
void convert_f32_to_f16_avx2(const float* x, void* y, int64_t n);

// y[i] = exp(x[i]) as ggml's AVX2 vector exp computes it (the polynomial of Arm's optimized-routines
// expf: within 2 ulp; 0 below −103.97, inf above 88.38); x and y may be the same array. The AVX2
// version equals the scalar one bit for bit.
void exp_ggml_scalar(const float* x, float* y, int64_t n);
void exp_ggml_avx2(const float* x, float* y, int64_t n);

// y[i] += a * x[i] with x in f16 (attention's V accumulation); AVX2 and scalar versions.
void axpy_f16_scalar(int64_t n, float a, const uint16_t* x, float* y);
void axpy_f16_avx2(int64_t n, float a, const uint16_t* x, float* y);

// One f16 K row against many f32 query rows (= qlm::DotF16RowsFn): dot_f16_batch row by row, bit
// for bit.
void dot_f16_rows_scalar(int64_t n, const uint16_t* k, const float* const* q, int64_t rows, float* out);
void dot_f16_rows_avx2(int64_t n, const uint16_t* k, const float* const* q, int64_t rows, float* out);
// Many f16 K rows against many f32 query rows (= qlm::DotF16SpanFn): dot_f16_rows per K row, times
// the scale, bit for bit.
void dot_f16_span_scalar(int64_t n, int64_t count, const uint16_t* const* k, int64_t rows, const float* const* q,
                         float scale, int64_t at, float* const* out);
void dot_f16_span_avx2(int64_t n, int64_t count, const uint16_t* const* k, int64_t rows, const float* const* q,
                       float scale, int64_t at, float* const* out);
// Many f16 V rows into the 8 lanes of one output row (= qlm::AxpyF16LanesFn): axpy_f16 of each.
void axpy_f16_lanes_scalar(int64_t n, int64_t count, const uint16_t* const* x, const float* p, int64_t lane0,
                           float* lanes);
void axpy_f16_lanes_avx2(int64_t n, int64_t count, const uint16_t* const* x, const float* p, int64_t lane0,
                         float* lanes);
// Many f16 V rows into one output row in turn (= qlm::AxpyF16SeqFn): axpy_f16 of each, bit for bit.
void axpy_f16_seq_scalar(int64_t n, int64_t count, const uint16_t* const* x, const float* p, float* y);
void axpy_f16_seq_avx2(int64_t n, int64_t count, const uint16_t* const* x, const float* p, float* y);
// The same V rows into the lanes of many output rows (= qlm::AxpyF16LanesRowsFn): axpy_f16_lanes
// of each row, bit for bit.
void axpy_f16_lanes_rows_scalar(int64_t n, int64_t count, const uint16_t* const* x, int64_t rows,
                                const float* const* p, int64_t lane0, float* const* lanes);
void axpy_f16_lanes_rows_avx2(int64_t n, int64_t count, const uint16_t* const* x, int64_t rows,
                              const float* const* p, int64_t lane0, float* const* lanes);
// AVX-512 (rows_avx512.cpp): 16 elements per register, the 8-element group and tail as AVX2's.
namespace avx512 {
// dot_f16_span_avx512.cpp: 16 positions widened once, two per register, the queries broadcast.
void dot_f16_span(int64_t n, int64_t count, const uint16_t* const* k, int64_t rows, const float* const* q, float scale,
                  int64_t at, float* const* out);
void axpy_f16_lanes(int64_t n, int64_t count, const uint16_t* const* x, const float* p, int64_t lane0,
                    float* lanes);
void axpy_f16_lanes_rows(int64_t n, int64_t count, const uint16_t* const* x, int64_t rows, const float* const* p,
                         int64_t lane0, float* const* lanes);
}  // namespace avx512

}  // namespace qlm::kernels
