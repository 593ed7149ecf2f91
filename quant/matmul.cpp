#include "quant/matmul.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "quant/x16.h"
#include "src/util/error.h"

namespace qlm {

namespace {
constexpr int64_t kRowTile = 16;    // weight rows per work item (they stay in cache across tokens)
// The batch kernels' items: 32 rows, so the shapes of the models in use split evenly over the
// threads; a decode step runs a chunk's consecutive items of one weight as one call (below).
constexpr int64_t kBatchRowTile = 32;
static_assert(kBatchRowTile % kX16Rows == 0, "batch row tiles start at whole groups of 16 rows");
constexpr int64_t kTokenTile = 48;  // activation rows per work item (a multiple of the 3- and 8-token tiles)
constexpr size_t kMaxGroup = 8;     // weights per matmul_team pass (larger groups run in passes)

// One weight of a group, resolved: its kernels and where its converted activations live.
struct Resolved {
    const WeightView* w;
    float* y;
    VecDotFn dot;
    GemmTileFn tile;
    GemmBatchFn batch;      // when set, every token through it (up to 8 per weight decode)
    GemmBatchFn batch_x16;  // the whole groups of 16 rows from w->x16 (the rest as without it)
    uint64_t x16_group_bytes;
    bool tile_all;          // every token through the tile (float formats, see matmul_team)
    const uint8_t* act;     // n_tokens rows of a_row_bytes
    uint64_t a_row_bytes;
    int64_t row_tile, n_row_tiles, first_item;
};

// Rows r0..r1 x tokens t0..t1 of one weight: batches of up to 8 tokens where the format has them,
// else 4x3 tiles where they fit and single dots elsewhere (with tile_all, the tile for the
// leftover tokens too).
void run_item(const Resolved& m, int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
    const WeightView& w = *m.w;
    const auto* wbytes = static_cast<const uint8_t*>(w.data);
    if (m.batch_x16) {
        // Row tiles start at multiples of 16; the rows past the last whole group stay below (the
        // batch, or without one the tile and dots).
        const int64_t r_end = std::min(r1, w.rows / kX16Rows * kX16Rows);
        const uint64_t gs = m.x16_group_bytes;
        const auto* packed = static_cast<const uint8_t*>(w.x16) + gs * static_cast<uint64_t>(r0 / kX16Rows);
        for (int64_t t = t0; r_end > r0 && t < t1; t += kGemmBatchTokens)
            m.batch_x16(w.cols, r_end - r0, packed, gs, m.act + static_cast<uint64_t>(t) * m.a_row_bytes,
                        m.a_row_bytes, std::min(kGemmBatchTokens, t1 - t), m.y + t * w.rows + r0, w.rows);
        r0 = std::max(r0, r_end);
    }
    if (m.batch) {
        for (int64_t t = t0; r1 > r0 && t < t1; t += kGemmBatchTokens)
            m.batch(w.cols, r1 - r0, wbytes + static_cast<uint64_t>(r0) * w.row_stride, w.row_stride,
                    m.act + static_cast<uint64_t>(t) * m.a_row_bytes, m.a_row_bytes,
                    std::min(kGemmBatchTokens, t1 - t), m.y + t * w.rows + r0, w.rows);
        return;
    }
    int64_t t = t0;
    if (m.tile) {
        // Full 4x3 tiles share each loaded weight vector across three tokens.
        for (; t + kGemmTileTokens <= t1; t += kGemmTileTokens) {
            const uint8_t* a = m.act + static_cast<uint64_t>(t) * m.a_row_bytes;
            int64_t r = r0;
            for (; r + kGemmTileRows <= r1; r += kGemmTileRows)
                m.tile(w.cols, wbytes + static_cast<uint64_t>(r) * w.row_stride, w.row_stride, a, m.a_row_bytes,
                       m.y + t * w.rows + r, w.rows);
            for (; r < r1; ++r)
                for (int64_t k = 0; k < kGemmTileTokens; ++k)
                    m.y[(t + k) * w.rows + r] = m.dot(w.cols, wbytes + static_cast<uint64_t>(r) * w.row_stride,
                                                      a + static_cast<uint64_t>(k) * m.a_row_bytes);
        }
    }
    for (; t < t1; ++t) {
        const uint8_t* a = m.act + static_cast<uint64_t>(t) * m.a_row_bytes;
        float* yt = m.y + t * w.rows;
        if (m.tile_all) {
            // One token as a tile's three (stride 0), so it is summed as its neighbours are.
            float tmp[kGemmTileTokens * kGemmTileRows];
            for (int64_t r = r0; r < r1; r += kGemmTileRows) {
                m.tile(w.cols, wbytes + static_cast<uint64_t>(r) * w.row_stride, w.row_stride, a, 0, tmp, kGemmTileRows);
                for (int64_t k = 0; k < kGemmTileRows; ++k) yt[r + k] = tmp[k];
            }
            continue;
        }
        for (int64_t r = r0; r < r1; ++r) yt[r] = m.dot(w.cols, wbytes + static_cast<uint64_t>(r) * w.row_stride, a);
    }
}

// The distinct activation types of a group, in order of first use (at most one per weight).
int distinct_act_types(std::span<const WeightView* const> ws, GgmlType* out) {
    int n = 0;
    for (const WeightView* w : ws) {
        const GgmlType t = format_ops(w->type).vec_dot_type;
        if (t != GgmlType::F32 && std::find(out, out + n, t) == out + n) out[n++] = t;
    }
    return n;
}
}  // namespace

bool matmul_uses_batch(GgmlType type, int64_t rows, int64_t cols) {
    const GgmlType act = format_ops(format_ops(type).vec_dot_type).type;
    if (act != GgmlType::F32 && act != GgmlType::F16) return true;
    return rows % kGemmTileRows == 0 && cols % 8 == 0;
}

void check_matmul_shape(const WeightView& w) {
    const FormatOps& wf = format_ops(w.type);
    const FormatOps& af = format_ops(wf.vec_dot_type);
    if (w.cols % wf.block_size != 0 || w.cols % af.block_size != 0)
        throw_error("matmul: {} columns are not a multiple of the {} block size", w.cols, type_name(w.type));
}

uint64_t matmul_scratch_bytes(std::span<const WeightView* const> ws, int64_t n_tokens) {
    if (ws.size() > kMaxGroup)
        return std::max(matmul_scratch_bytes(ws.first(kMaxGroup), n_tokens),
                        matmul_scratch_bytes(ws.subspan(kMaxGroup), n_tokens));
    GgmlType types[kMaxGroup];
    const int nt = distinct_act_types(ws, types);
    const int64_t cols = ws.empty() ? 0 : ws[0]->cols;
    uint64_t bytes = 0;
    for (int i = 0; i < nt; ++i)
        bytes += format_row_bytes(format_ops(types[i]), cols) * static_cast<uint64_t>(std::max<int64_t>(n_tokens, 0));
    return bytes;
}

void matmul_team(ThreadPool& pool, std::span<const WeightView* const> ws, std::span<float* const> ys, const float* x,
                 int64_t n_tokens, uint8_t* scratch, Isa isa, MatmulOrder order) {
    if (ws.empty() || n_tokens <= 0) return;
    if (ws.size() > kMaxGroup) {
        matmul_team(pool, ws.first(kMaxGroup), ys.first(kMaxGroup), x, n_tokens, scratch, isa, order);
        matmul_team(pool, ws.subspan(kMaxGroup), ys.subspan(kMaxGroup), x, n_tokens, scratch, isa, order);
        return;
    }
    const int64_t cols = ws[0]->cols;
    // Each distinct activation type is converted once for the whole group, into its own part of
    // the scratch; the conversion loop has ended before the products start.
    GgmlType types[kMaxGroup];
    const int n_types = distinct_act_types(ws, types);
    const KernelSet& kernels = kernel_set(isa);
    uint64_t offsets[kMaxGroup] = {}, row_bytes[kMaxGroup] = {};
    QuantizeRowFn convert[kMaxGroup] = {};
    for (int i = 0; i < n_types; ++i) {
        row_bytes[i] = format_row_bytes(format_ops(types[i]), cols);
        convert[i] = kernels[types[i]].quantize_activation;
        if (i > 0) offsets[i] = offsets[i - 1] + row_bytes[i - 1] * static_cast<uint64_t>(n_tokens);
    }
    if (n_types > 0) {
        pool.for_each(n_tokens * n_types, [&](int64_t job) {
            const int i = static_cast<int>(job / n_tokens);
            const int64_t t = job % n_tokens;
            convert[i](x + t * cols, scratch + offsets[i] + static_cast<uint64_t>(t) * row_bytes[i], cols);
        });
    }

    Resolved m[kMaxGroup];
    const int64_t n_tok_tiles = (n_tokens + kTokenTile - 1) / kTokenTile;
    int64_t n_items = 0;
    for (size_t k = 0; k < ws.size(); ++k) {
        const WeightView& w = *ws[k];
        const FormatOps& wf = format_ops(w.type);
        const FormatOps& af = format_ops(wf.vec_dot_type);
        Resolved& r = m[k];
        r.w = &w;
        r.y = ys[k];
        const FormatKernels& fk = kernels[w.type];
        r.dot = fk.vec_dot;
        r.tile = n_tokens >= kGemmTileTokens ? fk.gemm_tile : nullptr;
        // One token: the dot (the weights stream once either way), unless the batch is faster
        // (as it is on repacked rows).
        const X16Layout* x16 = w.x16 && fk.gemm_batch_x16 ? x16_layout(w.type) : nullptr;
        r.batch = n_tokens >= 2 || fk.gemm_batch_single || x16 ? fk.gemm_batch : nullptr;
        r.batch_x16 = x16 ? fk.gemm_batch_x16 : nullptr;
        r.x16_group_bytes = x16 ? x16->group_bytes(cols) : 0;
        r.tile_all = false;
        if (af.type == GgmlType::F32 || af.type == GgmlType::F16) {
            // llama.cpp multiplies f32/f16 weights by a batch of 2 or more tokens with llamafile's
            // tinyBLAS when the rows are whole groups of 4 and the columns of 8, else (and for one
            // token) with ggml's vec_dot; the two add in different orders, and so do our tile and
            // dot kernels. Every output is computed the way llama.cpp computes it: by the tile, or
            // on a set without one by its batch_dot (the same order as the tile's). The experts'
            // product (ggml_mul_mat_id) never goes to tinyBLAS.
            // Rows repacked at load (F16 on AVX-512) take the batch's order for one token too.
            const bool tiled = order == MatmulOrder::MulMat && (n_tokens >= 2 || x16) &&
                               matmul_uses_batch(w.type, w.rows, w.cols);
            // A float batch kernel adds in the tile's order, so it stands in for the tile.
            r.tile = tiled ? fk.gemm_tile : nullptr;
            r.batch = tiled ? fk.gemm_batch : nullptr;
            r.batch_x16 = r.batch && x16 ? fk.gemm_batch_x16 : nullptr;
            r.tile_all = r.tile != nullptr && !r.batch;
            if (tiled && !r.tile && fk.batch_dot) r.dot = fk.batch_dot;
        }
        r.a_row_bytes = format_row_bytes(af, cols);
        if (af.type == GgmlType::F32) {
            r.act = reinterpret_cast<const uint8_t*>(x);
        } else {
            const int i = static_cast<int>(std::find(types, types + n_types, af.type) - types);
            r.act = scratch + offsets[i];
        }
        r.row_tile = r.batch || r.batch_x16 ? kBatchRowTile : kRowTile;
        r.n_row_tiles = (w.rows + r.row_tile - 1) / r.row_tile;
        r.first_item = n_items;
        n_items += r.n_row_tiles * n_tok_tiles;
    }
    // Slices (for_each): each thread takes one contiguous range of work items, so in a decode step
    // it streams one contiguous slice of the weight rows (of each weight in turn). Handing out items
    // one at a time (dynamic) interleaves the threads' reads and halved two-thread decode speed.
    // Items run row tile by row tile, all token tiles of a row tile in a row: every thread gets
    // whole row tiles (equal work, whatever the last token tile's size) and reuses their weights.
    // Up to 8 tokens through a batch kernel (decoding) read each row once, whatever the row range:
    // a chunk's consecutive row tiles of one such weight run as one item, so a kernel call covers
    // many groups of rows (more streams per pass, activation sums shared by more rows). Rows are
    // independent, so the bits are the same.
    pool.for_each_range(n_items, [&](int64_t begin, int64_t end) {
        size_t k = 0;
        for (int64_t item = begin; item < end;) {
            while (k + 1 < ws.size() && item >= m[k + 1].first_item) ++k;
            const Resolved& r = m[k];
            const int64_t local = item - r.first_item;
            const int64_t r0 = (local / n_tok_tiles) * r.row_tile;
            const int64_t t0 = (local % n_tok_tiles) * kTokenTile, t1 = std::min(n_tokens, t0 + kTokenTile);
            int64_t next = item + 1;
            if ((r.batch || r.batch_x16) && n_tokens <= kGemmBatchTokens) next = std::min(end, r.first_item + r.n_row_tiles);
            const int64_t r1 = std::min(r.w->rows, r0 + (next - item) * r.row_tile);
            run_item(r, r0, r1, t0, t1);
            item = next;
        }
    });
}

void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y, Isa isa) {
    if (w.cols <= 0 || w.rows <= 0 || n_tokens <= 0) return;
    check_matmul_shape(w);
    const WeightView* ws[1] = {&w};
    float* ys[1] = {y};
    std::vector<uint8_t> scratch(matmul_scratch_bytes(ws, n_tokens));
    ThreadPool alone;
    matmul_team(alone, ws, ys, x, n_tokens, scratch.data(), isa);
}

void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y) {
    matmul(w, x, n_tokens, y, active_isa());
}

void dequantize_row(const WeightView& w, int64_t r, float* out) {
    const FormatOps& f = format_ops(w.type);
    if (r < 0 || r >= w.rows) throw_error("dequantize_row: row {} outside 0..{}", r, w.rows - 1);
    const X16Layout* x16 = w.x16 ? x16_layout(w.type) : nullptr;
    if (x16 && r < w.rows / kX16Rows * kX16Rows) {
        // From the repacked copy: the original rows may have been dropped from memory.
        std::vector<uint8_t> row(format_row_bytes(f, w.cols));
        x16->unpack_row(w.x16, w.cols, r, row.data());
        f.dequantize_row(row.data(), out, w.cols);
        return;
    }
    f.dequantize_row(static_cast<const uint8_t*>(w.data) + static_cast<uint64_t>(r) * w.row_stride, out, w.cols);
}

}  // namespace qlm
