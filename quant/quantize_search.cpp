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
#include "quant/quantize_search.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
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
#include "quant/formats.h"
#include "quant/fp16.h"
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
    float d[kMaxLanes], m[kMaxLanes], err[kMaxLanes], norm[kMaxLanes], werr[kMaxLanes], ref[kMaxLanes];
};

// One lane's result in a searched group.
struct Lane {
    const GroupResult& r;
    int lanes, l;
    uint16_t d() const { return fp32_to_fp16(r.d[l]); }
    uint16_t m() const { return fp32_to_fp16(r.m[l]); }
    int q(int e) const { return static_cast<int>(r.q[e * lanes + l]); }
    int sc(int j) const { return static_cast<int>(r.sc[j * lanes + l]); }
    int mc(int j) const { return static_cast<int>(r.mc[j * lanes + l]); }
};

void codes(const Lane& r, int n, int offset, int* q) {
    for (int e = 0; e < n; ++e) q[e] = r.q(e) + offset;
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

void pack_q2_k(const Lane& r, void* out) {
    BlockQ2_K b{};
    b.d = r.d();
    b.dmin = r.m();
    for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<uint8_t>(r.sc(j) | (r.mc(j) << 4));
    for (int e = 0; e < 256; ++e) b.qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>(r.q(e) << (2 * ((e % 128) / 32)));
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

void pack_q4_k(const Lane& r, void* out) {
    BlockQ4_K b{};
    b.d = r.d();
    b.dmin = r.m();
    pack_scales_k4(r, b.scales);
    for (int e = 0; e < 256; ++e) b.qs[32 * (e / 64) + e % 32] |= static_cast<uint8_t>(r.q(e) << (4 * ((e / 32) % 2)));
    std::memcpy(out, &b, sizeof b);
}

void pack_q5_k(const Lane& r, void* out) {
    BlockQ5_K b{};
    b.d = r.d();
    b.dmin = r.m();
    pack_scales_k4(r, b.scales);
    for (int e = 0; e < 256; ++e) {
        const int q = r.q(e);
        b.qs[32 * (e / 64) + e % 32] |= static_cast<uint8_t>((q & 15) << (4 * ((e / 32) % 2)));
        b.qh[e % 32] |= static_cast<uint8_t>((q >> 4) << (e / 32));
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
    for (int e = 0; e < 256; ++e) {
        const int L = r.q(e) + 4;
        b.qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((L & 3) << (2 * ((e % 128) / 32)));
        if (L > 3) b.hmask[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
    }
    std::memcpy(out, &b, sizeof b);
}

void pack_q6_k(const Lane& r, void* out) {
    BlockQ6_K b{};
    b.d = r.d();
    for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<int8_t>(r.sc(j));
    for (int h = 0; h < 2; ++h)
        for (int s = 0; s < 4; ++s)
            for (int l = 0; l < 32; ++l) {
                const int L = r.q(128 * h + 32 * s + l) + 32;
                b.ql[64 * h + 32 * (s % 2) + l] |= static_cast<uint8_t>((L & 15) << (4 * (s / 2)));
                b.qh[32 * h + l] |= static_cast<uint8_t>((L >> 4) << (2 * s));
            }
    std::memcpy(out, &b, sizeof b);
}

using PackFn = void (*)(const Lane& r, void* out);

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

    BlockGroup group(const float* w, const float* wm, GroupResult& r) const {
        return BlockGroup{x, w, wm, r.q, r.d, r.m, r.sc, r.mc, r.err, r.norm, r.werr, r.ref};
    }
};

}  // namespace

bool has_searched_quantizer(GgmlType t) { return packer(t) != nullptr; }

double weighted_sq_error(const float* a, const float* b, int64_t n, const float* w) {
    double e = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
        e += (w ? static_cast<double>(w[i]) : 1.0) * d * d;
    }
    return e;
}

void quantize_rows_searched(GgmlType t, const float* src, void* dst, int64_t n_rows, int64_t row_len,
                            const float* importance, SearchStats* stats, Isa isa) {
    const PackFn pack = packer(t);
    const FormatOps* ops = find_format(t);
    if (!pack || !ops) throw_error("no searched quantizer for type {}", type_name(t));
    const int bs = static_cast<int>(ops->block_size);
    if (row_len % bs != 0) throw_error("searched {}: rows of {} values are not whole blocks", type_name(t), row_len);
    const search::SearchKernel& kernel = search_kernel(isa);
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
        for (int l = 0; l < lanes; ++l) {
            const float* x = l < count ? src + (b0 + l) * bs : nullptr;
            const float* w = l < count ? block_w[static_cast<size_t>((b0 + l) % per_row)] : nullptr;
            for (int e = 0; e < bs; ++e) buf->x[e * lanes + l] = x ? x[e] : 0.f;
            if (importance)
                for (int e = 0; e < bs; ++e) buf->imp[e * lanes + l] = w ? w[e] : 1.f;
        }
        const GroupResult* pick[kMaxLanes];
        if (importance) {
            kernel.search(t, buf->group(buf->imp, buf->imp, buf->res[0]));
            kernel.search(t, buf->group(buf->ones, buf->imp, buf->res[1]));
            for (int l = 0; l < count; ++l)
                pick[l] = buf->res[1].werr[l] < buf->res[0].werr[l] ? &buf->res[1] : &buf->res[0];
        } else {
            kernel.search(t, buf->group(buf->ones, nullptr, buf->res[0]));
            std::fill(pick, pick + count, &buf->res[0]);
        }
        for (int l = 0; l < count; ++l) {
            const GroupResult& r = *pick[l];
            uint8_t* y = out + (b0 + l) * ops->block_bytes;
            if (r.ref[l] != 0.f)
                ops->quantize_row(src + (b0 + l) * bs, y, bs);  // the reference rule's own bytes
            else
                pack(Lane{r, lanes, l}, y);
            if (stats) {
                stats->sq_error += r.err[l];
                stats->sq_norm += r.norm[l];
            }
        }
    }
}

void quantize_row_searched(GgmlType t, const float* src, void* dst, int64_t n, const float* importance) {
    quantize_rows_searched(t, src, dst, 1, n, importance);
}

}  // namespace qlm
