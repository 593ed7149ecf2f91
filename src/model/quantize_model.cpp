#include "src/model/quantize_model.h"

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

#include "quant/formats.h"
#include "quant/quantize_kquants.h"
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

// Quantizes one tensor of n_elements (rows of ne0) from `src` bytes into `out`.
void convert_tensor(const gguf::TensorInfo& t, QuantizedTensor& q, std::span<uint8_t> out, ThreadPool& pool,
                    const float* importance) {
    if (q.to == q.from) {
        std::memcpy(out.data(), t.data, t.n_bytes);
        return;
    }
    const FormatOps& in_ops = format_ops(t.type);
    QuantizeRowFn quant = reference_quantize_row(q.to);
    if (!quant) throw_error("tensor '{}': qlm cannot write type {} yet (choose another type)", t.name, type_name(q.to));
    // The source as one flat run of f32 (covers legacy flat-block tensors too).
    std::vector<float> f32(t.n_elements);
    const int64_t bs = in_ops.block_size;
    if (static_cast<int64_t>(t.n_elements) % bs != 0)
        throw_error("tensor '{}': {} elements are not whole {} blocks", t.name, t.n_elements, type_name(t.type));
    in_ops.dequantize_row(t.data, f32.data(), static_cast<int64_t>(t.n_elements));
    // As llama-quantize: a NaN or infinity means a corrupt input, and would give garbage blocks.
    for (uint64_t i = 0; i < t.n_elements; ++i)
        if (!std::isfinite(f32[i]))
            throw_error("tensor '{}': element {} is {} (not a finite number): the input model is corrupt; "
                        "re-download or re-convert it", t.name, i, f32[i]);
    const int64_t ne0 = static_cast<int64_t>(t.ne[0]);
    const int64_t n_rows = static_cast<int64_t>(t.n_elements) / ne0;
    const uint64_t out_row = row_bytes(type_info(q.to), static_cast<uint64_t>(ne0));
    const FormatOps* out_ops = find_format(q.to);
    // Rows are independent, so the bytes do not depend on the thread count. Each row's squared
    // error is kept and summed in row order afterwards (a deterministic report).
    std::vector<double> row_err(static_cast<size_t>(n_rows)), row_norm(static_cast<size_t>(n_rows));
    pool.for_each(n_rows, [&](int64_t r) {
        const float* x = f32.data() + r * ne0;
        uint8_t* y = out.data() + r * out_row;
        if (q.searched)
            quantize_row_searched(q.to, x, y, ne0, importance);
        else
            quant(x, y, ne0);
        if (out_ops) {
            std::vector<float> back(static_cast<size_t>(ne0));
            out_ops->dequantize_row(y, back.data(), ne0);
            row_err[static_cast<size_t>(r)] = weighted_sq_error(x, back.data(), ne0, nullptr);
            double nn = 0;
            for (int64_t i = 0; i < ne0; ++i) nn += static_cast<double>(x[i]) * x[i];
            row_norm[static_cast<size_t>(r)] = nn;
        }
    });
    for (int64_t r = 0; r < n_rows; ++r) {
        q.sq_error += row_err[static_cast<size_t>(r)];
        q.sq_norm += row_norm[static_cast<size_t>(r)];
    }
}

}  // namespace

std::vector<QuantizedTensor> plan_quantization(const std::string& input, QuantPreset preset, const PolicyOptions& policy) {
    auto f = gguf::GgufFile::open(input);
    return plan(*f, preset, policy);
}

QuantizeReport quantize_model(const QuantizeOptions& o) {
    const auto t0 = std::chrono::steady_clock::now();
    auto f = gguf::GgufFile::open(o.input);
    if (std::filesystem::exists(o.output) && std::filesystem::equivalent(o.input, o.output))
        throw_error("{}: the output would overwrite the input (choose another output path)", o.output);
    QuantizeReport rep;
    rep.tensors = plan(*f, o.preset, o.policy);
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
            if (!reference_quantize_row(q.to))
                throw_error("tensor '{}': qlm cannot write type {} yet (choose another type or --tensor-type)", t.name,
                            type_name(q.to));
        }
    }

    gguf::GgufWriter w;
    w.copy_metadata_from(*f);
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
