#include "src/quantize/imatrix.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "quant/matmul.h"
#include "src/model/weights.h"
#include "src/util/error.h"

namespace qlm {

namespace {

constexpr uint64_t kMaxImatrixBytes = uint64_t{1} << 31;  // 2 GiB: far beyond any real model's
constexpr int32_t kMaxNameLen = 4096;

void put_i32(std::string& out, int32_t v) {
    char b[4];
    std::memcpy(b, &v, 4);  // little-endian hosts only (as the rest of qlm)
    out.append(b, 4);
}

// A bounds-checked cursor over the file's bytes.
class Reader {
public:
    Reader(const std::string& path, const std::vector<char>& data) : path_(path), data_(data) {}
    uint64_t left() const { return data_.size() - pos_; }
    uint64_t pos() const { return pos_; }
    int32_t i32(const char* what) {
        need(4, what);
        int32_t v;
        std::memcpy(&v, data_.data() + pos_, 4);
        pos_ += 4;
        return v;
    }
    std::string bytes(uint64_t n, const char* what) {
        need(n, what);
        std::string s(data_.data() + pos_, n);
        pos_ += n;
        return s;
    }
    void floats(float* out, uint64_t n, const char* what) {
        need(n * 4, what);
        std::memcpy(out, data_.data() + pos_, n * 4);
        pos_ += n * 4;
    }

private:
    void need(uint64_t n, const char* what) const {
        if (n > left())
            throw_error("{}: truncated importance matrix: {} needs {} bytes at offset {} but only {} remain "
                        "(recompute it with qlm imatrix)",
                        path_, what, n, pos_, left());
    }
    const std::string& path_;
    const std::vector<char>& data_;
    uint64_t pos_ = 0;
};

}  // namespace

void write_imatrix(const std::string& path, const Imatrix& m) {
    std::string out;
    put_i32(out, static_cast<int32_t>(m.entries.size()));
    for (const auto& e : m.entries) {
        put_i32(out, static_cast<int32_t>(e.name.size()));
        out += e.name;
        put_i32(out, e.ncall);
        put_i32(out, static_cast<int32_t>(e.values.size()));
        out.append(reinterpret_cast<const char*>(e.values.data()), e.values.size() * sizeof(float));
    }
    put_i32(out, m.last_chunk);
    put_i32(out, static_cast<int32_t>(m.dataset.size()));
    out += m.dataset;

    const std::filesystem::path target(path);
    std::filesystem::path dir = target.parent_path();
    if (dir.empty()) dir = ".";
    std::string tmp_name(".");
    tmp_name.append(target.filename().string()).append(".tmp-XXXXXX");
    std::string tmpl = (dir / tmp_name).string();
    const int fd = mkstemp(tmpl.data());
    if (fd < 0)
        throw_error("{}: cannot create a file in '{}': {} (choose a writable output path)", path, dir.string(),
                    std::strerror(errno));
    ::fchmod(fd, 0644);  // mkstemp creates 0600; an imatrix is not secret
    size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = ::write(fd, out.data() + done, out.size() - done);
        if (n <= 0) {
            const int err = errno;
            ::close(fd);
            ::unlink(tmpl.c_str());
            throw_error("{}: write failed: {} (check free space)", path, std::strerror(err));
        }
        done += static_cast<size_t>(n);
    }
    if (::close(fd) != 0 || std::rename(tmpl.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmpl.c_str());
        throw_error("{}: cannot write the importance matrix: {}", path, std::strerror(err));
    }
}

Imatrix read_imatrix(const std::string& path) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw_error("{}: cannot open the importance matrix: {}", path, ec.message());
    if (size > kMaxImatrixBytes)
        throw_error("{}: {} bytes is too large for an importance matrix (at most {})", path, size, kMaxImatrixBytes);
    std::vector<char> data(size);
    std::ifstream in(path, std::ios::binary);
    if (!in || !in.read(data.data(), static_cast<std::streamsize>(size)))
        throw_error("{}: cannot read the importance matrix", path);
    Reader r(path, data);
    Imatrix m;
    const int32_t n_entries = r.i32("the entry count");
    // The smallest entry is 16 bytes (name length, 1-byte name, ncall, nval... plus one value).
    if (n_entries < 1 || static_cast<uint64_t>(n_entries) > r.left() / 17)
        throw_error("{}: entry count {} is impossible for a file of {} bytes (not a llama.cpp imatrix .dat file?)",
                    path, n_entries, size);
    std::set<std::string> seen;
    m.entries.reserve(static_cast<size_t>(n_entries));
    for (int32_t k = 0; k < n_entries; ++k) {
        const int32_t len = r.i32("a name length");
        if (len < 1 || len > kMaxNameLen || static_cast<uint64_t>(len) > r.left())
            throw_error("{}: entry {} has a name length of {} at offset {} (file of {} bytes)", path, k, len,
                        r.pos() - 4, size);
        ImatrixEntry e;
        e.name = r.bytes(static_cast<uint64_t>(len), "a name");
        if (e.name.find('\0') != std::string::npos)
            throw_error("{}: entry {} has a name with a NUL byte", path, k);
        if (!seen.insert(e.name).second) throw_error("{}: tensor '{}' appears twice", path, e.name);
        e.ncall = r.i32("a call count");
        if (e.ncall < 1) throw_error("{}: tensor '{}' has a call count of {} (must be at least 1)", path, e.name, e.ncall);
        const int32_t nval = r.i32("a value count");
        if (nval < 1 || static_cast<uint64_t>(nval) > r.left() / 4)
            throw_error("{}: tensor '{}' has {} values but only {} bytes remain", path, e.name, nval, r.left());
        e.values.resize(static_cast<size_t>(nval));
        r.floats(e.values.data(), static_cast<uint64_t>(nval), "the values");
        for (int32_t i = 0; i < nval; ++i)
            if (!std::isfinite(e.values[static_cast<size_t>(i)]) || e.values[static_cast<size_t>(i)] < 0)
                throw_error("{}: tensor '{}' value {} is {} (importances must be finite and non-negative)", path,
                            e.name, i, e.values[static_cast<size_t>(i)]);
        m.entries.push_back(std::move(e));
    }
    // The trailer (last chunk, dataset name) is optional, as in llama.cpp's reader.
    if (r.left() >= 4) {
        m.last_chunk = r.i32("the chunk count");
        if (r.left() >= 4) {
            const int32_t dlen = r.i32("the dataset name length");
            if (dlen < 0 || static_cast<uint64_t>(dlen) > r.left())
                throw_error("{}: dataset name length {} but {} bytes remain", path, dlen, r.left());
            m.dataset = r.bytes(static_cast<uint64_t>(dlen), "the dataset name");
        }
    }
    if (r.left() != 0) throw_error("{}: {} unexpected bytes after the importance matrix", path, r.left());
    return m;
}

std::map<std::string, std::vector<float>> imatrix_importances(const Imatrix& m, const gguf::GgufFile& model,
                                                              const std::string& imatrix_path) {
    std::map<std::string, std::vector<float>> out;
    for (const auto& e : m.entries) {
        const gguf::TensorInfo* t = model.find_tensor(e.name);
        if (!t)
            throw_error("{}: tensor '{}' is not in {} (use an importance matrix computed for this model)",
                        imatrix_path, e.name, model.path());
        if (e.values.size() != t->ne[0])
            throw_error("{}: tensor '{}' has {} values but its rows have {} elements (use an importance matrix "
                        "computed for this model)",
                        imatrix_path, e.name, e.values.size(), t->ne[0]);
        std::vector<float> v(e.values.size());
        for (size_t i = 0; i < v.size(); ++i) v[i] = e.values[i] / static_cast<float>(e.ncall);
        out.emplace(e.name, std::move(v));
    }
    return out;
}

ImatrixCollector::ImatrixCollector(const Model& model) {
    const ModelWeights& w = model.weights();
    auto add = [&](const WeightView& v, const std::string& name) {
        if (!v.data || index_.count(v.data)) return;
        index_.emplace(v.data, acc_.size());
        acc_.push_back(Acc{name, std::vector<double>(static_cast<size_t>(v.cols), 0.0), 0});
    };
    for (size_t l = 0; l < w.layers.size(); ++l) {
        const LayerWeights& L = w.layers[l];
        const std::string p = "blk." + std::to_string(l) + ".";
        add(L.wq, p + "attn_q.weight");
        add(L.wk, p + "attn_k.weight");
        add(L.wv, p + "attn_v.weight");
        add(L.wo, p + "attn_output.weight");
        add(L.gate, p + "ffn_gate.weight");
        add(L.up, p + "ffn_up.weight");
        add(L.down, p + "ffn_down.weight");
    }
}

void ImatrixCollector::on_matmul(const WeightView& w, const float* x, int64_t n_tokens) {
    auto it = index_.find(w.data);
    if (it == index_.end()) return;  // output.weight and anything not collected
    Acc& a = acc_[it->second];
    const auto cols = static_cast<int64_t>(a.sum_sq.size());
    for (int64_t t = 0; t < n_tokens; ++t) {
        const float* row = x + t * cols;
        for (int64_t i = 0; i < cols; ++i) a.sum_sq[static_cast<size_t>(i)] += static_cast<double>(row[i]) * row[i];
    }
    a.tokens += n_tokens;
}

Imatrix ImatrixCollector::result(const std::string& dataset) const {
    Imatrix m;
    m.last_chunk = chunks_;
    m.dataset = dataset;
    const int32_t ncall = std::max<int32_t>(1, chunks_);
    for (const auto& a : acc_) {
        if (a.tokens == 0) continue;
        ImatrixEntry e;
        e.name = a.name;
        e.ncall = ncall;
        e.values.resize(a.sum_sq.size());
        for (size_t i = 0; i < e.values.size(); ++i)
            e.values[i] = static_cast<float>(a.sum_sq[i] / static_cast<double>(a.tokens) * ncall);
        m.entries.push_back(std::move(e));
    }
    return m;
}

}  // namespace qlm
