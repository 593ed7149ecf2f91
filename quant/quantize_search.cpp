// The searched quantizers (quantize_search.h): blocks are gathered into groups of the active ISA's
// lane count, searched together (quantize_search_lanes.inl: one block per lane) and each lane's
// scales and codes packed into its block. The search itself:
//   One group with one scale (Q4_0, Q5_0; the sub-blocks of Q3_K, Q6_K): 42 candidate scales
//     around amax/qmax are screened with one pass each (codes by rounding, then the least-squares
//     scale for those codes, whose error is closed form); the best is refined by alternately
//     re-assigning the codes and refitting the scale.
//   Scale and offset (Q4_1, Q5_1; the sub-blocks of Q2_K, Q4_K, Q5_K): the same over 21
//     candidates range/(qmax + 0.1k), with the 2×2 least-squares fit of scale and offset.
//   K-quants: the sub-block results are coded on f16 super-block scale(s); each sub-block tries the
//     neighbouring scale/min codes and re-assigns its integers against the coded values, the
//     super-block scale(s) are refitted by least squares, for a few rounds.
// Every error is measured on the values the block dequantizes to (f16 scales included). A legacy
// block (Q4_0..Q5_1) keeps its reference rule's encoding unless the search is strictly better.
// With an importance matrix every block is searched twice, with its importances and with unit
// weights, and keeps the result with the lower importance-weighted error.
// IQ4_NL and IQ4_XS are searched one block at a time (quant/quantize_iq4_searched.cpp), each block
// keeping the best of the reference rule's encoding and those searches.
#include "quant/quantize_search.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

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
#include "quant/formats.h"
#include "quant/fp16.h"
#include "quant/quantize_iq4.h"
#include "quant/quantize_search_lanes.h"
#include "src/util/error.h"

namespace qlm {

namespace {

using search::BlockGroup;
using search::kMaxBlock;
using search::kMaxLanes;
using search::kMaxSub;

// One search's outputs for a group (lane-major, see BlockGroup).
struct alignas(64) GroupResult {
    float q[kMaxBlock * kMaxLanes], sc[kMaxSub * kMaxLanes], mc[kMaxSub * kMaxLanes];
    float d[kMaxLanes], m[kMaxLanes], err[kMaxLanes], norm[kMaxLanes], werr[kMaxLanes];
};

// One lane's result in a searched group: its codes (element order, as converted by the kernel's
// codes_i8) and its scales.
struct Lane {
    const GroupResult& r;
    const int8_t* codes;
    int lanes, l;
    uint16_t d() const { return fp32_to_fp16(r.d[l]); }
    uint16_t m() const { return fp32_to_fp16(r.m[l]); }
    int q(int e) const { return codes[e]; }
    int sc(int j) const { return static_cast<int>(r.sc[j * lanes + l]); }
    int mc(int j) const { return static_cast<int>(r.mc[j * lanes + l]); }
};

void codes(const Lane& r, int n, int offset, int* q) {
    for (int e = 0; e < n; ++e) q[e] = r.codes[e] + offset;
}

void pack_nibbles(const int* q, uint8_t* qs) {
    for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>((q[j] & 15) | ((q[j + 16] & 15) << 4));
}

void pack_q4_0(const Lane& r, void* out) {
    BlockQ4_0 b{};
    int q[32];
    codes(r, 32, 8, q);
    b.d = r.d();
    pack_nibbles(q, b.qs);
    std::memcpy(out, &b, sizeof b);
}

void pack_q5_0(const Lane& r, void* out) {
    BlockQ5_0 b{};
    int q[32];
    codes(r, 32, 16, q);
    b.d = r.d();
    q5_pack(q, b.qh, b.qs);
    std::memcpy(out, &b, sizeof b);
}

void pack_q4_1(const Lane& r, void* out) {
    BlockQ4_1 b{};
    int q[32];
    codes(r, 32, 0, q);
    b.d = r.d();
    b.m = r.m();
    pack_nibbles(q, b.qs);
    std::memcpy(out, &b, sizeof b);
}

void pack_q5_1(const Lane& r, void* out) {
    BlockQ5_1 b{};
    int q[32];
    codes(r, 32, 0, q);
    b.d = r.d();
    b.m = r.m();
    q5_pack(q, b.qh, b.qs);
    std::memcpy(out, &b, sizeof b);
}

void pack_q8_0(const Lane& r, void* out) {
    BlockQ8_0 b{};
    b.d = r.d();
    std::memcpy(b.qs, r.codes, 32);
    std::memcpy(out, &b, sizeof b);
}

// The 2-bit codes of 256 elements: element 128·h + 32·s + l in bits 2s of qs[32·h + l].
void pack_2bit(const int8_t* L, uint8_t* qs, int offset) {
    for (int h = 0; h < 2; ++h)
        for (int l = 0; l < 32; ++l) {
            const int8_t* c = L + 128 * h + l;
            qs[32 * h + l] = static_cast<uint8_t>(((c[0] + offset) & 3) | (((c[32] + offset) & 3) << 2) |
                                                  (((c[64] + offset) & 3) << 4) | (((c[96] + offset) & 3) << 6));
        }
}

void pack_q2_k(const Lane& r, void* out) {
    BlockQ2_K b{};
    b.d = r.d();
    b.dmin = r.m();
    for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<uint8_t>(r.sc(j) | (r.mc(j) << 4));
    pack_2bit(r.codes, b.qs, 0);
    std::memcpy(out, &b, sizeof b);
}

// The 12-byte Q4_K/Q5_K packing of eight 6-bit scale and min codes (inverse of kquant_scale_min).
void pack_scales_k4(const Lane& r, uint8_t* s12) {
    std::memset(s12, 0, 12);
    for (int j = 0; j < 8; ++j) {
        const int ls = r.sc(j), lm = r.mc(j);
        if (j < 4) {
            s12[j] = static_cast<uint8_t>(ls);
            s12[j + 4] = static_cast<uint8_t>(lm);
        } else {
            s12[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
            s12[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
            s12[j] |= static_cast<uint8_t>((lm >> 4) << 6);
        }
    }
}

// The low nibbles of 256 codes: elements 64·k + l and 64·k + 32 + l in qs[32·k + l].
void pack_low_nibbles(const int8_t* L, uint8_t* qs) {
    for (int k = 0; k < 4; ++k)
        for (int l = 0; l < 32; ++l)
            qs[32 * k + l] = static_cast<uint8_t>((L[64 * k + l] & 15) | ((L[64 * k + 32 + l] & 15) << 4));
}

void pack_q4_k(const Lane& r, void* out) {
    BlockQ4_K b{};
    b.d = r.d();
    b.dmin = r.m();
    pack_scales_k4(r, b.scales);
    pack_low_nibbles(r.codes, b.qs);
    std::memcpy(out, &b, sizeof b);
}

void pack_q5_k(const Lane& r, void* out) {
    BlockQ5_K b{};
    b.d = r.d();
    b.dmin = r.m();
    pack_scales_k4(r, b.scales);
    pack_low_nibbles(r.codes, b.qs);
    for (int l = 0; l < 32; ++l) {
        int h = 0;
        for (int k = 0; k < 8; ++k) h |= ((r.codes[32 * k + l] >> 4) & 1) << k;
        b.qh[l] = static_cast<uint8_t>(h);
    }
    std::memcpy(out, &b, sizeof b);
}

void pack_q3_k(const Lane& r, void* out) {
    BlockQ3_K b{};
    b.d = r.d();
    for (int j = 0; j < 16; ++j) {
        const int code = r.sc(j) + 32;
        if (j < 8)
            b.scales[j] |= static_cast<uint8_t>(code & 15);
        else
            b.scales[j - 8] |= static_cast<uint8_t>((code & 15) << 4);
        b.scales[8 + j % 4] |= static_cast<uint8_t>((code >> 4) << (2 * (j / 4)));
    }
    pack_2bit(r.codes, b.qs, 4);
    for (int l = 0; l < 32; ++l) {
        int h = 0;
        for (int k = 0; k < 8; ++k) h |= (r.codes[32 * k + l] >= 0) << k;  // code + 4 > 3
        b.hmask[l] = static_cast<uint8_t>(h);
    }
    std::memcpy(out, &b, sizeof b);
}

void pack_q6_k(const Lane& r, void* out) {
    BlockQ6_K b{};
    b.d = r.d();
    for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<int8_t>(r.sc(j));
    for (int h = 0; h < 2; ++h)
        for (int l = 0; l < 32; ++l) {
            const int8_t* c = r.codes + 128 * h + l;
            const int q0 = c[0] + 32, q1 = c[32] + 32, q2 = c[64] + 32, q3 = c[96] + 32;
            b.ql[64 * h + l] = static_cast<uint8_t>((q0 & 15) | ((q2 & 15) << 4));
            b.ql[64 * h + 32 + l] = static_cast<uint8_t>((q1 & 15) | ((q3 & 15) << 4));
            b.qh[32 * h + l] = static_cast<uint8_t>((q0 >> 4) | ((q1 >> 4) << 2) | ((q2 >> 4) << 4) | ((q3 >> 4) << 6));
        }
    std::memcpy(out, &b, sizeof b);
}

using PackFn = void (*)(const Lane& r, void* out);

// The formats whose reference rule runs on the lanes too (SearchKernel::reference).
PackFn reference_packer(GgmlType t) {
    switch (t) {
        case GgmlType::Q8_0: return pack_q8_0;
        case GgmlType::Q4_0: return pack_q4_0;
        case GgmlType::Q4_1: return pack_q4_1;
        case GgmlType::Q5_0: return pack_q5_0;
        case GgmlType::Q5_1: return pack_q5_1;
        default: return nullptr;
    }
}

PackFn packer(GgmlType t) {
    switch (t) {
        case GgmlType::Q4_0: return pack_q4_0;
        case GgmlType::Q4_1: return pack_q4_1;
        case GgmlType::Q5_0: return pack_q5_0;
        case GgmlType::Q5_1: return pack_q5_1;
        case GgmlType::Q2_K: return pack_q2_k;
        case GgmlType::Q3_K: return pack_q3_k;
        case GgmlType::Q4_K: return pack_q4_k;
        case GgmlType::Q5_K: return pack_q5_k;
        case GgmlType::Q6_K: return pack_q6_k;
        default: return nullptr;
    }
}

// The formats searched one block at a time instead of on the lanes: IQ4_NL and IQ4_XS
// (quant/quantize_iq4_searched.cpp), whose non-linear grid has no closed-form screening.
using BlockSearchFn = void (*)(const float* x, const float* w, void* out, Iq4AssignFn assign);

BlockSearchFn block_search(GgmlType t) {
    switch (t) {
        case GgmlType::IQ4_NL: return iq4_nl_block_searched;
        case GgmlType::IQ4_XS: return iq4_xs_block_searched;
        default: return nullptr;
    }
}

Iq4AssignFn iq4_assign(Isa isa) {
#if QLM_X86_KERNELS
    if ((isa == Isa::Avx512 || isa == Isa::Avx2) && cpu_supports(Isa::Avx2)) return iq4_assign_avx2;
#endif
    (void)isa;
    return iq4_assign_scalar;
}

const search::SearchKernel& search_kernel(Isa isa) {
#if QLM_X86_KERNELS
    if (isa == Isa::Avx512 && cpu_supports(Isa::Avx512)) return search::search_kernel_avx512();
    if ((isa == Isa::Avx512 || isa == Isa::Avx2) && cpu_supports(Isa::Avx2)) return search::search_kernel_avx2();
#endif
    (void)isa;
    return search::search_kernel_scalar();
}

// A group's inputs and the results of up to two searches: with an importance matrix the blocks
// are searched with their importances (res[0]) and with unit weights (res[1]), and each block
// keeps the result with the lower importance-weighted error.
struct alignas(64) GroupBuffers {
    float x[kMaxBlock * kMaxLanes], imp[kMaxBlock * kMaxLanes], ones[kMaxBlock * kMaxLanes];
    GroupResult res[2];
    int8_t codes[2][kMaxBlock * kMaxLanes];  // res[i]'s codes, lane by lane in element order

    BlockGroup group(const float* w, const float* wm, GroupResult& r) const {
        return BlockGroup{x, w, w == ones, wm, r.q, r.d, r.m, r.sc, r.mc, r.err, r.norm, r.werr};
    }
};

}  // namespace

bool has_searched_quantizer(GgmlType t) { return packer(t) != nullptr || block_search(t) != nullptr; }

double weighted_sq_error(const float* a, const float* b, int64_t n, const float* w) {
    double e = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
        e += (w ? static_cast<double>(w[i]) : 1.0) * d * d;
    }
    return e;
}

namespace {

// Runs `search` (the searched quantizer, or the reference rule where `reference`) over n_rows rows
// of row_len values, one block per lane, and packs each lane's result.
void quantize_on_lanes(GgmlType t, bool reference, PackFn pack, const float* src, void* dst, int64_t n_rows,
                       int64_t row_len, const float* importance, SearchStats* stats, Isa isa) {
    const FormatOps& ops = format_ops(t);
    const int bs = static_cast<int>(ops.block_size);
    const search::SearchKernel& kernel = search_kernel(isa);
    const search::SearchGroupFn search = reference ? kernel.reference : kernel.search;
    const int lanes = kernel.lanes;
    const int64_t per_row = row_len / bs, n_blocks = n_rows * per_row;
    // The block positions of a row whose importances are all zero weigh every element 1.
    std::vector<const float*> block_w(static_cast<size_t>(per_row), nullptr);
    if (importance)
        for (int64_t c = 0; c < per_row; ++c) {
            const float* imp = importance + c * bs;
            if (std::any_of(imp, imp + bs, [](float v) { return v > 0.f; })) block_w[static_cast<size_t>(c)] = imp;
        }
    // Not value-initialized: every input a search reads is written below.
    std::unique_ptr<GroupBuffers> buf(new GroupBuffers);
    std::fill(std::begin(buf->ones), std::begin(buf->ones) + bs * lanes, 1.f);
    auto* out = static_cast<uint8_t*>(dst);
    for (int64_t b0 = 0; b0 < n_blocks; b0 += lanes) {
        const int count = static_cast<int>(std::min<int64_t>(lanes, n_blocks - b0));
        if (count == lanes)
            kernel.gather(src + b0 * bs, bs, bs, buf->x);
        for (int l = 0; l < lanes; ++l) {
            const float* x = l < count ? src + (b0 + l) * bs : nullptr;
            const float* w = l < count ? block_w[static_cast<size_t>((b0 + l) % per_row)] : nullptr;
            if (count < lanes)
                for (int e = 0; e < bs; ++e) buf->x[e * lanes + l] = x ? x[e] : 0.f;
            if (importance)
                for (int e = 0; e < bs; ++e) buf->imp[e * lanes + l] = w ? w[e] : 1.f;
        }
        const GroupResult* pick[kMaxLanes];
        if (importance) {
            search(t, buf->group(buf->imp, buf->imp, buf->res[0]));
            search(t, buf->group(buf->ones, buf->imp, buf->res[1]));
            for (int l = 0; l < count; ++l)
                pick[l] = buf->res[1].werr[l] < buf->res[0].werr[l] ? &buf->res[1] : &buf->res[0];
        } else {
            search(t, buf->group(buf->ones, nullptr, buf->res[0]));
            std::fill(pick, pick + count, &buf->res[0]);
        }
        kernel.codes_i8(buf->res[0].q, bs, buf->codes[0]);
        if (importance) kernel.codes_i8(buf->res[1].q, bs, buf->codes[1]);
        for (int l = 0; l < count; ++l) {
            const GroupResult& r = *pick[l];
            const int8_t* c = buf->codes[&r == &buf->res[1]] + l * bs;
            pack(Lane{r, c, lanes, l}, out + (b0 + l) * ops.block_bytes);
            if (stats) {
                stats->sq_error += r.err[l];
                stats->sq_norm += r.norm[l];
            }
        }
    }
}

// Runs a block-at-a-time search over n_rows rows of row_len values. Each block's candidates are
// the reference rule's encoding, the search with the block's importances and, when weighted, the
// search with unit weights; the first with the least weighted error wins (ties keep the reference).
void quantize_by_blocks(GgmlType t, BlockSearchFn search, const float* src, void* dst, int64_t n_rows,
                        int64_t row_len, const float* importance, SearchStats* stats, Isa isa) {
    const Iq4AssignFn assign = iq4_assign(isa);
    const FormatOps& ops = format_ops(t);
    const int bs = static_cast<int>(ops.block_size);
    const size_t bytes = ops.block_bytes;
    const int64_t per_row = row_len / bs, n_blocks = n_rows * per_row;
    static const std::array<float, kMaxBlock> ones = [] {
        std::array<float, kMaxBlock> a{};
        a.fill(1.f);
        return a;
    }();
    alignas(16) uint8_t cand[3][256];
    float deq[kMaxBlock];
    auto* out = static_cast<uint8_t*>(dst);
    for (int64_t b = 0; b < n_blocks; ++b, src += bs, out += bytes) {
        const float* w = ones.data();
        if (importance) {
            const float* imp = importance + (b % per_row) * bs;
            if (std::any_of(imp, imp + bs, [](float v) { return v > 0.f; })) w = imp;
        }
        auto error_of = [&](const uint8_t* blk) {
            ops.dequantize_row(blk, deq, bs);
            const double e = weighted_sq_error(src, deq, bs, w);
            return std::isnan(e) ? std::numeric_limits<double>::infinity() : e;
        };
        ops.quantize_row(src, cand[0], bs);
        int n_cand = 1;
        search(src, w, cand[n_cand++], assign);
        if (w != ones.data()) search(src, ones.data(), cand[n_cand++], assign);
        int best = 0;
        double best_err = error_of(cand[0]);
        for (int c = 1; c < n_cand; ++c) {
            const double e = error_of(cand[c]);
            if (e < best_err) {
                best_err = e;
                best = c;
            }
        }
        std::memcpy(out, cand[best], bytes);
        if (stats) {
            ops.dequantize_row(out, deq, bs);
            float err = 0, norm = 0;
            for (int e = 0; e < bs; ++e) {
                err += (deq[e] - src[e]) * (deq[e] - src[e]);
                norm += src[e] * src[e];
            }
            stats->sq_error += err;
            stats->sq_norm += norm;
        }
    }
}

}  // namespace

void quantize_rows_searched(GgmlType t, const float* src, void* dst, int64_t n_rows, int64_t row_len,
                            const float* importance, SearchStats* stats, Isa isa) {
    const PackFn pack = packer(t);
    const BlockSearchFn by_block = block_search(t);
    if (!pack && !by_block) throw_error("no searched quantizer for type {}", type_name(t));
    if (row_len % format_ops(t).block_size != 0)
        throw_error("searched {}: rows of {} values are not whole blocks", type_name(t), row_len);
    if (by_block) return quantize_by_blocks(t, by_block, src, dst, n_rows, row_len, importance, stats, isa);
    quantize_on_lanes(t, false, pack, src, dst, n_rows, row_len, importance, stats, isa);
}

void quantize_rows_reference(GgmlType t, const float* src, void* dst, int64_t n_rows, int64_t row_len,
                             SearchStats* stats, Isa isa) {
    const FormatOps& ops = format_ops(t);
    if (row_len % ops.block_size != 0)
        throw_error("{}: rows of {} values are not whole blocks", type_name(t), row_len);
    if (const PackFn pack = reference_packer(t)) {
        quantize_on_lanes(t, true, pack, src, dst, n_rows, row_len, nullptr, stats, isa);
        return;
    }
    const uint64_t out_row = format_row_bytes(ops, row_len);
    auto* out = static_cast<uint8_t*>(dst);
    ops.quantize_row(src, out, n_rows * row_len);
    if (!stats) return;
    std::vector<float> back(static_cast<size_t>(row_len));
    for (int64_t r = 0; r < n_rows; ++r) {
        const float* x = src + r * row_len;
        ops.dequantize_row(out + r * out_row, back.data(), row_len);
        stats->sq_error += weighted_sq_error(x, back.data(), row_len, nullptr);
        for (int64_t i = 0; i < row_len; ++i) stats->sq_norm += static_cast<double>(x[i]) * x[i];
    }
}

void f16_to_f32_row(const uint16_t* src, float* dst, int64_t n, Isa isa) { search_kernel(isa).f16_to_f32(src, dst, n); }

void quantize_row_searched(GgmlType t, const float* src, void* dst, int64_t n, const float* importance) {
    quantize_rows_searched(t, src, dst, 1, n, importance);
}

}  // namespace qlm
