#include "src/quantize/quantize_model.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <system_error>

#include "quant/formats.h"
#include "quant/quantize_search.h"
#include "quant/thread_pool.h"
#include "src/gguf/gguf_file.h"
#include "src/gguf/gguf_writer.h"
#include "src/util/cpu_info.h"
#include "src/util/error.h"

namespace qlm {

namespace {

bool is_float_type(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }

PolicyModel policy_model(const gguf::GgufFile& f) {
    PolicyModel m;
    m.arch = f.get_string("general.architecture").value_or("");
    auto u32 = [&](const std::string& key) -> uint32_t {
        auto v = f.get_u64(key);
        return v && *v <= UINT32_MAX ? static_cast<uint32_t>(*v) : 0;
    };
    m.n_layer = u32(m.arch + ".block_count");
    m.n_head = u32(m.arch + ".attention.head_count");
    m.n_head_kv = u32(m.arch + ".attention.head_count_kv");
    if (m.n_head_kv == 0) m.n_head_kv = m.n_head;
    m.n_expert = u32(m.arch + ".expert_count");
    return m;
}

std::vector<QuantizedTensor> plan(const gguf::GgufFile& f, QuantPreset preset, const PolicyOptions& policy) {
    std::vector<PolicyTensor> pts;
    std::vector<GgmlType> src;
    for (const auto& t : f.tensors()) {
        PolicyTensor p;
        p.name = t.name;
        p.ne = t.ne;
        p.n_dims = 1;
        for (int d = 3; d >= 1; --d)
            if (t.ne[d] > 1) {
                p.n_dims = d + 1;
                break;
            }
        pts.push_back(p);
        src.push_back(t.type);
    }
    std::vector<TypeChoice> choices = choose_types(preset, policy, policy_model(f), pts, src);
    std::vector<QuantizedTensor> out;
    for (size_t k = 0; k < pts.size(); ++k) {
        const auto& t = f.tensors()[k];
        QuantizedTensor q;
        q.name = t.name;
        q.from = t.type;
        q.to = choices[k].type;
        q.wanted = choices[k].wanted;
        q.fallback = choices[k].fallback;
        q.n_elements = t.n_elements;
        q.bytes_in = t.n_bytes;
        q.bytes_out = q.to == q.from ? t.n_bytes : row_bytes(type_info(q.to), t.n_elements);
        out.push_back(q);
    }
    return out;
}

// Free bytes in the output's folder (statvfs), capped by $QLM_DISK_FREE_LIMIT (bytes) when set,
// as $QLM_MEMORY_LIMIT caps available memory; nullopt when unknown.
std::optional<uint64_t> free_disk_bytes(const std::filesystem::path& dir) {
    std::optional<uint64_t> avail;
    struct statvfs st {};
    if (statvfs(dir.c_str(), &st) == 0) avail = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
    if (const char* lim = std::getenv("QLM_DISK_FREE_LIMIT"); lim && *lim && lim[0] != '-') {
        char* end = nullptr;
        errno = 0;
        const unsigned long long v = std::strtoull(lim, &end, 10);
        if (errno == 0 && end && *end == '\0') avail = avail ? std::min<uint64_t>(*avail, v) : v;
    }
    return avail;
}

void check_free_space(const std::string& output, uint64_t needed) {
    std::filesystem::path dir = std::filesystem::path(output).parent_path();
    if (dir.empty()) dir = ".";
    const auto free_bytes = free_disk_bytes(dir);
    if (!free_bytes) return;  // the writer reports an unusable folder
    const uint64_t avail = *free_bytes;
    if (avail < needed)
        throw_error("{}: the output needs about {} bytes but only {} bytes are free in '{}' (free some space or "
                    "write elsewhere)",
                    output, needed, avail, dir.string());
}

// Element i of a tensor whose blocks do not cross rows, as f32.
float element_value(const gguf::TensorInfo& t, const FormatOps& ops, int64_t i) {
    std::vector<float> blk(static_cast<size_t>(ops.block_size));
    const int64_t b = i / ops.block_size;
    ops.dequantize_row(t.data + static_cast<uint64_t>(b) * ops.block_bytes, blk.data(), ops.block_size);
    return blk[static_cast<size_t>(i % ops.block_size)];
}

// The index of the first NaN or infinity among n floats, or −1. The exponent test is a plain
// loop over all n, which the compiler vectorizes; the search runs only when one is found.
int64_t first_nonfinite(const float* x, int64_t n) {
    uint32_t any = 0;
    for (int64_t i = 0; i < n; ++i) {
        uint32_t u;
        std::memcpy(&u, &x[i], 4);
        any |= static_cast<uint32_t>((u & 0x7f800000u) == 0x7f800000u);
    }
    if (!any) return -1;
    return std::find_if(x, x + n, [](float v) { return !std::isfinite(v); }) - x;
}

// Rows per parallel work item: enough blocks for the searched quantizer's SIMD groups (one block
// per lane) and for the per-chunk overhead to vanish, few enough to balance the threads. Fixed by
// the shape alone; the bytes never depend on it (every block is quantized on its own).
int64_t rows_per_chunk(int64_t ne0, int64_t n_rows) {
    const int64_t per_chunk = std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(1, ne0));
    return std::min(per_chunk, std::max<int64_t>(1, n_rows));
}

// One tensor's conversion: its shape, formats and, per chunk of rows, what the chunk measured.
struct TensorJob {
    const gguf::TensorInfo& t;
    const QuantizedTensor& q;
    const FormatOps& in_ops;
    int64_t ne0, n_rows, chunk;
    uint64_t in_row, out_row;
    const float* flat;  // the whole tensor as f32 when its blocks run across rows, else null
    const float* importance;
    std::span<uint8_t> out;
    std::vector<SearchStats> stats;  // per chunk
    std::vector<int64_t> bad;        // per chunk: the first non-finite element, or −1
};

// Chunk c of a tensor: converted to f32, checked, quantized and measured.
void convert_chunk(TensorJob& job, int64_t c) {
    const int64_t r0 = c * job.chunk, nr = std::min(job.chunk, job.n_rows - r0), ne0 = job.ne0;
    const uint8_t* src = job.t.data + r0 * job.in_row;
    std::unique_ptr<float[]> x;  // not zeroed: fully written below
    const float* xs;
    if (job.flat) {
        xs = job.flat + r0 * ne0;
    } else if (job.t.type == GgmlType::F32 && reinterpret_cast<uintptr_t>(src) % alignof(float) == 0) {
        xs = reinterpret_cast<const float*>(src);  // read in place
    } else {
        x.reset(new float[static_cast<size_t>(nr * ne0)]);
        if (job.t.type == GgmlType::F16 && reinterpret_cast<uintptr_t>(src) % alignof(uint16_t) == 0)
            f16_to_f32_row(reinterpret_cast<const uint16_t*>(src), x.get(), nr * ne0);
        else
            job.in_ops.dequantize_row(src, x.get(), nr * ne0);
        xs = x.get();
    }
    // As llama-quantize: a NaN or infinity means a corrupt input, and would give garbage blocks.
    if (const int64_t i = first_nonfinite(xs, nr * ne0); i >= 0) {
        job.bad[static_cast<size_t>(c)] = r0 * ne0 + i;
        return;
    }
    uint8_t* y = job.out.data() + r0 * job.out_row;
    SearchStats& st = job.stats[static_cast<size_t>(c)];
    if (job.q.searched)
        quantize_rows_searched(job.q.to, xs, y, nr, ne0, job.importance, &st);
    else
        quantize_rows_reference(job.q.to, xs, y, nr, ne0, &st);
}

// Quantizes one tensor of n_elements (rows of ne0) from `src` bytes into `out`: the rows are cut
// into chunks, handed to the pool's threads one at a time (for_each_dynamic); the chunks' errors
// are summed in order afterwards (a deterministic report), and the first non-finite element found
// is reported. The bytes never depend on the thread count: every block is quantized on its own.
void convert_tensor(const gguf::TensorInfo& t, QuantizedTensor& q, std::span<uint8_t> out, ThreadPool& pool,
                    const float* importance) {
    if (q.to == q.from) {
        std::memcpy(out.data(), t.data, t.n_bytes);
        return;
    }
    const FormatOps& in_ops = format_ops(t.type);
    if (!writable_type(q.to))
        throw_error("tensor '{}': qlm cannot write type {} yet (choose another type)", t.name, type_name(q.to));
    const int64_t bs = in_ops.block_size;
    if (static_cast<int64_t>(t.n_elements) % bs != 0)
        throw_error("tensor '{}': {} elements are not whole {} blocks", t.name, t.n_elements, type_name(t.type));
    const int64_t ne0 = static_cast<int64_t>(t.ne[0]), n_rows = static_cast<int64_t>(t.n_elements) / ne0;
    std::vector<float> flat;
    if (ne0 % bs != 0) {  // legacy flat layout: blocks run across rows
        flat.resize(t.n_elements);
        in_ops.dequantize_row(t.data, flat.data(), static_cast<int64_t>(t.n_elements));
    }
    const int64_t chunk = rows_per_chunk(ne0, n_rows), n_chunks = (n_rows + chunk - 1) / chunk;
    TensorJob job{t,
                  q,
                  in_ops,
                  ne0,
                  n_rows,
                  chunk,
                  row_bytes(type_info(t.type), static_cast<uint64_t>(ne0)),
                  row_bytes(type_info(q.to), static_cast<uint64_t>(ne0)),
                  flat.empty() ? nullptr : flat.data(),
                  importance,
                  out,
                  std::vector<SearchStats>(static_cast<size_t>(n_chunks)),
                  std::vector<int64_t>(static_cast<size_t>(n_chunks), -1)};
    pool.for_each_dynamic(n_chunks, [&job](int64_t c) { convert_chunk(job, c); });
    for (int64_t b : job.bad)
        if (b >= 0) {
            const float v = flat.empty() ? element_value(t, in_ops, b) : flat[static_cast<size_t>(b)];
            throw_error("tensor '{}': element {} is {} (not a finite number): the input model is corrupt; "
                        "re-download or re-convert it", t.name, b, v);
        }
    for (const SearchStats& st : job.stats) {
        q.sq_error += st.sq_error;
        q.sq_norm += st.sq_norm;
    }
}

}  // namespace

bool writable_type(GgmlType t) {
    const FormatOps* f = find_format(t);
    return f && f->weight_format;
}

std::string writable_type_names() {
    std::string s;
    for (const FormatOps& f : all_formats())
        if (f.weight_format) s += (s.empty() ? "" : ", ") + std::string(type_name(f.type));
    return s;
}

std::vector<QuantizedTensor> plan_quantization(const std::string& input, QuantPreset preset, const PolicyOptions& policy) {
    auto f = gguf::GgufFile::open(input);
    return plan(*f, preset, policy);
}

QuantizeReport quantize_model(const QuantizeOptions& o) {
    const auto t0 = std::chrono::steady_clock::now();
    auto f = gguf::GgufFile::open(o.input);
    if (std::filesystem::exists(o.output))
        for (const std::string& part : f->part_paths())  // every part of a split input
            if (std::filesystem::equivalent(part, o.output))
                throw_error("{}: the output would overwrite the input (choose another output path)", o.output);
    QuantizeReport rep;
    PolicyOptions policy = o.policy;
    policy.has_imatrix = policy.has_imatrix || !o.importance.empty();
    rep.tensors = plan(*f, o.preset, policy);
    rep.file_bytes_in = f->file_size();
    if (o.reference_rounding && !o.importance.empty())
        throw_error("an importance matrix needs the searched quantizer (drop --reference-rounding)");
    for (size_t k = 0; k < rep.tensors.size(); ++k) {
        const auto& t = f->tensors()[k];
        auto& q = rep.tensors[k];
        q.searched = q.to != q.from && !o.reference_rounding && has_searched_quantizer(q.to);
        if (auto it = o.importance.find(t.name); it != o.importance.end()) {
            if (it->second.size() != t.ne[0])
                throw_error("importance matrix entry '{}' has {} values but the tensor's rows have {} elements "
                            "(use an importance matrix computed for this model)",
                            t.name, it->second.size(), t.ne[0]);
            q.weighted = q.searched;
        }
        if (!is_float_type(t.type) && !o.allow_requantize && q.to != q.from)
            throw_error("{}: tensor '{}' is already quantized ({}); quantize from an F32/F16/BF16 model, or pass "
                        "--allow-requantize to accept the extra loss",
                        o.input, t.name, type_name(t.type));
        if (q.to != q.from) {
            if (!find_format(t.type))
                throw_error("{}: tensor '{}' has type {}, which qlm cannot read yet", o.input, t.name,
                            type_name(t.type));
            if (!writable_type(q.to))
                throw_error("tensor '{}': qlm cannot write type {} yet (choose another type or --tensor-type)", t.name,
                            type_name(q.to));
        }
    }

    gguf::GgufWriter w;
    w.copy_metadata_from(*f);
    // A split input becomes one file (as llama-quantize does).
    for (std::string_view key : {gguf::kSplitNoKey, gguf::kSplitCountKey, gguf::kSplitTensorsCountKey}) w.remove(key);
    w.set_u32("general.quantization_version", 2);
    w.set_u32("general.file_type", preset_info(o.preset).file_type);
    uint64_t needed = f->data_offset() + 4096;
    const uint64_t align = f->alignment() ? f->alignment() : 32;
    for (const auto& q : rep.tensors) needed += (q.bytes_out + align - 1) / align * align;
    check_free_space(o.output, needed);
    if (o.n_threads < 0 || o.n_threads > max_threads())
        throw_error("thread count {} is outside 0..{} ({}x the {} logical cores)", o.n_threads, max_threads(),
                    kMaxThreadsPerCore, logical_cores());
    ThreadPool pool(o.n_threads > 0 ? o.n_threads : logical_cores());

    const size_t n = rep.tensors.size();
    for (size_t k = 0; k < n; ++k) {
        const gguf::TensorInfo* t = &f->tensors()[k];
        QuantizedTensor* q = &rep.tensors[k];
        std::vector<uint64_t> shape(t->ne.begin(), t->ne.begin() + std::max<uint32_t>(1, std::min<uint32_t>(t->n_dims, 4)));
        const float* imp = nullptr;
        if (q->weighted) imp = o.importance.at(t->name).data();
        w.add_tensor(t->name, shape, q->to, [t, q, k, n, imp, &o, &pool](std::span<uint8_t> out) {
            if (o.cancel && o.cancel->load()) throw_error("{}: interrupted; nothing was written", o.output);
            convert_tensor(*t, *q, out, pool, imp);
            if (o.progress) o.progress(k + 1, n);
        });
    }
    w.write(o.output);
    std::error_code ec;
    rep.file_bytes_out = std::filesystem::file_size(o.output, ec);
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rep;
}

}  // namespace qlm
