#include "quant/matmul.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "src/util/error.h"

namespace qlm {

namespace {
constexpr int64_t kRowTile = 16;    // weight rows per work item (they stay in cache across tokens)
constexpr int64_t kTokenTile = 48;  // activation rows per work item (a multiple of the 3-token tiles)
}  // namespace

void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y, Isa isa) {
    const FormatOps& wf = format_ops(w.type);
    const FormatOps& af = format_ops(wf.vec_dot_type);
    if (w.cols <= 0 || w.rows <= 0 || n_tokens <= 0) return;
    if (w.cols % wf.block_size != 0 || w.cols % af.block_size != 0)
        throw_error("matmul: {} columns are not a multiple of the {} block size", w.cols, type_name(w.type));
    const VecDotFn dot = vec_dot_for(wf, isa);
    const GemmTileFn tile = n_tokens >= kGemmTileTokens ? gemm_tile_for(wf, isa) : nullptr;

    // Each activation row is converted once to the weight format's vec_dot type, then the
    // (16 rows x 48 tokens) work items run: one parallel region for both phases (the implicit
    // barrier of the first loop orders them), not one per phase.
    const uint64_t a_row_bytes = format_row_bytes(af, w.cols);
    const bool needs_conversion = af.type != GgmlType::F32;
    std::vector<uint8_t> converted;
    if (needs_conversion) converted.resize(a_row_bytes * static_cast<uint64_t>(n_tokens));
    const uint8_t* act = needs_conversion ? converted.data() : reinterpret_cast<const uint8_t*>(x);
    const QuantizeRowFn convert = needs_conversion ? quantize_activation_for(af, isa) : nullptr;

    const auto* wbytes = static_cast<const uint8_t*>(w.data);
    const int64_t n_row_tiles = (w.rows + kRowTile - 1) / kRowTile;
    const int64_t n_tok_tiles = (n_tokens + kTokenTile - 1) / kTokenTile;
    const int64_t n_items = n_row_tiles * n_tok_tiles;
#pragma omp parallel if (n_items > 1 || n_tokens > 1)
    {
        if (needs_conversion) {
#pragma omp for schedule(static)
            for (int64_t t = 0; t < n_tokens; ++t)
                convert(x + t * w.cols, converted.data() + static_cast<uint64_t>(t) * a_row_bytes, w.cols);
        }
        // Static: each thread takes one contiguous range of work items, so in a decode step it
        // streams one contiguous slice of the weight rows. Handing out items one at a time
        // (dynamic) interleaves the threads' reads and halved two-thread decode speed.
#pragma omp for schedule(static)
        for (int64_t item = 0; item < n_items; ++item) {
            const int64_t r0 = (item % n_row_tiles) * kRowTile, r1 = std::min(w.rows, r0 + kRowTile);
            const int64_t t0 = (item / n_row_tiles) * kTokenTile, t1 = std::min(n_tokens, t0 + kTokenTile);
            int64_t t = t0;
            if (tile) {
                // Full 4x3 tiles share each loaded weight vector across three tokens.
                for (; t + kGemmTileTokens <= t1; t += kGemmTileTokens) {
                    const uint8_t* a = act + static_cast<uint64_t>(t) * a_row_bytes;
                    int64_t r = r0;
                    for (; r + kGemmTileRows <= r1; r += kGemmTileRows)
                        tile(w.cols, wbytes + static_cast<uint64_t>(r) * w.row_stride, w.row_stride, a, a_row_bytes,
                             y + t * w.rows + r, w.rows);
                    for (; r < r1; ++r)
                        for (int64_t k = 0; k < kGemmTileTokens; ++k)
                            y[(t + k) * w.rows + r] = dot(w.cols, wbytes + static_cast<uint64_t>(r) * w.row_stride,
                                                          a + static_cast<uint64_t>(k) * a_row_bytes);
                }
            }
            for (; t < t1; ++t) {
                const uint8_t* a = act + static_cast<uint64_t>(t) * a_row_bytes;
                float* yt = y + t * w.rows;
                for (int64_t r = r0; r < r1; ++r)
                    yt[r] = dot(w.cols, wbytes + static_cast<uint64_t>(r) * w.row_stride, a);
            }
        }
    }
}

void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y) {
    matmul(w, x, n_tokens, y, active_isa());
}

void dequantize_row(const WeightView& w, int64_t r, float* out) {
    const FormatOps& f = format_ops(w.type);
    if (r < 0 || r >= w.rows) throw_error("dequantize_row: row {} outside 0..{}", r, w.rows - 1);
    f.dequantize_row(static_cast<const uint8_t*>(w.data) + static_cast<uint64_t>(r) * w.row_stride, out, w.cols);
}

}  // namespace qlm
