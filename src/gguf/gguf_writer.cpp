#include "src/gguf/gguf_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>

#include "src/util/checked_math.h"
#include "src/util/error.h"

namespace qlm::gguf {

namespace {

bool is_int_like(ValueType t) {
    switch (t) {
        case ValueType::UINT8: case ValueType::INT8: case ValueType::UINT16: case ValueType::INT16:
        case ValueType::UINT32: case ValueType::INT32: case ValueType::UINT64: case ValueType::INT64:
        case ValueType::BOOL:
            return true;
        default:
            return false;
    }
}

Value scalar(ValueType t) {
    Value v;
    v.type = t;
    return v;
}

// An ARRAY value of `count` elements of type `elem`, stored by `store(ArrayValue&)`.
template <typename Store>
Value array_value(ValueType elem, size_t count, Store&& store) {
    auto a = std::make_shared<ArrayValue>();
    a->elem_type = elem;
    a->count = count;
    store(*a);
    Value v = scalar(ValueType::ARRAY);
    v.arr = std::move(a);
    return v;
}

// Checks that an array value is self-consistent before anything is written.
void check_array(std::string_view key, const ArrayValue& a, uint32_t depth) {
    if (depth > kMaxArrayDepth)
        throw_error("gguf writer: metadata '{}': arrays nested more than {} levels deep", key,
                    kMaxArrayDepth);
    uint64_t n = 0;
    switch (a.elem_type) {
        case ValueType::STRING: n = a.strings.size(); break;
        case ValueType::FLOAT32: case ValueType::FLOAT64: n = a.floats.size(); break;
        case ValueType::ARRAY:
            n = a.arrays.size();
            for (const Value& e : a.arrays) {
                if (e.type != ValueType::ARRAY || !e.arr)
                    throw_error("gguf writer: metadata '{}': an element of an array of arrays is not "
                                "an array", key);
                check_array(key, *e.arr, depth + 1);
            }
            break;
        default:
            if (!is_int_like(a.elem_type))
                throw_error("gguf writer: metadata '{}': invalid array element type {}", key,
                            static_cast<uint32_t>(a.elem_type));
            n = a.ints.size();
    }
    if (n != a.count)
        throw_error("gguf writer: metadata '{}': array count {} does not match its {} elements", key,
                    a.count, n);
    for (const std::string& s : a.strings)
        if (s.size() > kMaxStringBytes)
            throw_error("gguf writer: metadata '{}': string longer than 1 GiB", key);
}

}  // namespace

// Byte sink: either a memory buffer or a file descriptor with a write buffer.
class GgufWriter::Sink {
public:
    virtual ~Sink() = default;
    virtual void put(const void* p, size_t n) = 0;
    uint64_t written() const { return written_; }

    template <typename T>
    void pod(T v) { put(&v, sizeof v); }
    void str(std::string_view s) {
        pod<uint64_t>(s.size());
        put(s.data(), s.size());
    }
    void zeros(uint64_t n) {
        static const uint8_t z[64] = {};
        while (n) {
            size_t k = n < sizeof z ? static_cast<size_t>(n) : sizeof z;
            put(z, k);
            n -= k;
        }
    }

protected:
    uint64_t written_ = 0;
};

namespace {

class VectorSink : public GgufWriter::Sink {
public:
    std::vector<uint8_t> out;
    void put(const void* p, size_t n) override {
        const uint8_t* b = static_cast<const uint8_t*>(p);
        out.insert(out.end(), b, b + n);
        written_ += n;
    }
};

class FdSink : public GgufWriter::Sink {
public:
    FdSink(int fd, const std::string& path) : fd_(fd), path_(path) { buf_.reserve(kBuf); }
    void put(const void* p, size_t n) override {
        const uint8_t* b = static_cast<const uint8_t*>(p);
        written_ += n;
        if (buf_.size() + n > kBuf) flush();
        if (n >= kBuf) {
            raw(b, n);
            return;
        }
        buf_.insert(buf_.end(), b, b + n);
    }
    void flush() {
        raw(buf_.data(), buf_.size());
        buf_.clear();
    }

private:
    static constexpr size_t kBuf = size_t{1} << 20;
    void raw(const uint8_t* p, size_t n) {
        while (n) {
            ssize_t w = ::write(fd_, p, n);
            if (w < 0) {
                if (errno == EINTR) continue;
                throw_error("{}: write failed: {}", path_, std::strerror(errno));
            }
            p += w;
            n -= static_cast<size_t>(w);
        }
    }
    int fd_;
    const std::string& path_;
    std::vector<uint8_t> buf_;
};

}  // namespace

// --- metadata ---

void GgufWriter::set(std::string_view key, Value v) {
    if (key.empty()) throw_error("gguf writer: metadata key is empty");
    if (key.size() > kMaxStringBytes) throw_error("gguf writer: metadata key longer than 1 GiB");
    if (v.type == ValueType::STRING && v.s.size() > kMaxStringBytes)
        throw_error("gguf writer: metadata '{}': string longer than 1 GiB", key);
    if (v.type == ValueType::ARRAY) {
        if (!v.arr) throw_error("gguf writer: metadata '{}': array value without elements", key);
        check_array(key, *v.arr, 1);
    }
    if (key == "general.alignment") {
        if (v.type != ValueType::UINT32)
            throw_error("gguf writer: general.alignment must be a uint32, got {}", describe_type(v));
        if (v.u == 0 || (v.u & (v.u - 1)) != 0)
            throw_error("gguf writer: general.alignment {} is not a non-zero power of two", v.u);
    }
    for (KeyValue& kv : kvs_)
        if (kv.key == key) {
            kv.value = std::move(v);
            return;
        }
    kvs_.push_back(KeyValue{std::string(key), std::move(v)});
}

void GgufWriter::set_u8(std::string_view k, uint8_t x) { Value v = scalar(ValueType::UINT8); v.u = x; set(k, v); }
void GgufWriter::set_i8(std::string_view k, int8_t x) { Value v = scalar(ValueType::INT8); v.i = x; set(k, v); }
void GgufWriter::set_u16(std::string_view k, uint16_t x) { Value v = scalar(ValueType::UINT16); v.u = x; set(k, v); }
void GgufWriter::set_i16(std::string_view k, int16_t x) { Value v = scalar(ValueType::INT16); v.i = x; set(k, v); }
void GgufWriter::set_u32(std::string_view k, uint32_t x) { Value v = scalar(ValueType::UINT32); v.u = x; set(k, v); }
void GgufWriter::set_i32(std::string_view k, int32_t x) { Value v = scalar(ValueType::INT32); v.i = x; set(k, v); }
void GgufWriter::set_u64(std::string_view k, uint64_t x) { Value v = scalar(ValueType::UINT64); v.u = x; set(k, v); }
void GgufWriter::set_i64(std::string_view k, int64_t x) { Value v = scalar(ValueType::INT64); v.i = x; set(k, v); }
void GgufWriter::set_f32(std::string_view k, float x) { Value v = scalar(ValueType::FLOAT32); v.f = x; set(k, v); }
void GgufWriter::set_f64(std::string_view k, double x) { Value v = scalar(ValueType::FLOAT64); v.f = x; set(k, v); }
void GgufWriter::set_bool(std::string_view k, bool x) { Value v = scalar(ValueType::BOOL); v.b = x; set(k, v); }
void GgufWriter::set_string(std::string_view k, std::string_view x) {
    Value v = scalar(ValueType::STRING);
    v.s = std::string(x);
    set(k, std::move(v));
}

void GgufWriter::set_string_array(std::string_view k, const std::vector<std::string>& x) {
    set(k, array_value(ValueType::STRING, x.size(), [&](ArrayValue& a) { a.strings = x; }));
}

void GgufWriter::set_int_array(std::string_view k, ValueType elem, const std::vector<int64_t>& x) {
    if (!is_int_like(elem))
        throw_error("gguf writer: metadata '{}': {} is not an integer element type", k,
                    value_type_name(elem));
    set(k, array_value(elem, x.size(), [&](ArrayValue& a) { a.ints = x; }));
}

void GgufWriter::set_float_array(std::string_view k, ValueType elem, const std::vector<double>& x) {
    if (elem != ValueType::FLOAT32 && elem != ValueType::FLOAT64)
        throw_error("gguf writer: metadata '{}': {} is not a float element type", k,
                    value_type_name(elem));
    set(k, array_value(elem, x.size(), [&](ArrayValue& a) { a.floats = x; }));
}

void GgufWriter::set_value(std::string_view k, const Value& v) { set(k, v); }

void GgufWriter::copy_metadata_from(const GgufFile& src) {
    for (const KeyValue& kv : src.metadata()) set(kv.key, kv.value);
}

bool GgufWriter::remove(std::string_view key) {
    for (auto it = kvs_.begin(); it != kvs_.end(); ++it)
        if (it->key == key) {
            kvs_.erase(it);
            return true;
        }
    return false;
}

// --- tensors ---

uint64_t GgufWriter::check_tensor(std::string_view name, const std::vector<uint64_t>& shape,
                                  GgmlType type) const {
    if (name.empty()) throw_error("gguf writer: tensor name is empty");
    if (name.size() > kMaxTensorNameBytes)
        throw_error("gguf writer: tensor '{}': name is longer than {} bytes", name, kMaxTensorNameBytes);
    for (const PendingTensor& t : tensors_)
        if (t.name == name) throw_error("gguf writer: tensor '{}' added twice", name);
    if (shape.empty() || shape.size() > 4)
        throw_error("gguf writer: tensor '{}': {} dimensions, expected 1..4", name, shape.size());
    uint64_t n = 1;
    for (uint64_t d : shape) {
        if (d == 0) throw_error("gguf writer: tensor '{}': a dimension is 0", name);
        auto p = checked_mul(n, d);
        if (!p || *p > static_cast<uint64_t>(INT64_MAX))
            throw_error("gguf writer: tensor '{}': element count overflows", name);
        n = *p;
    }
    const TypeInfo& ti = type_info(type);
    if (shape[0] % ti.block_size != 0)
        throw_error("gguf writer: tensor '{}': ne[0] = {} is not a multiple of the {} block size {}",
                    name, shape[0], ti.name, ti.block_size);
    auto nb = checked_mul(n / ti.block_size, ti.type_size);
    if (!nb) throw_error("gguf writer: tensor '{}': byte size overflows", name);
    return *nb;
}

void GgufWriter::add_tensor(std::string_view name, const std::vector<uint64_t>& shape, GgmlType type,
                            std::span<const uint8_t> bytes) {
    uint64_t nb = check_tensor(name, shape, type);
    if (bytes.size() != nb)
        throw_error("gguf writer: tensor '{}': got {} bytes, its shape and type need {}", name,
                    bytes.size(), nb);
    tensors_.push_back(PendingTensor{std::string(name), shape, type, nb,
                                     std::vector<uint8_t>(bytes.begin(), bytes.end()), nullptr});
}

void GgufWriter::add_tensor(std::string_view name, const std::vector<uint64_t>& shape, GgmlType type,
                            Producer producer) {
    uint64_t nb = check_tensor(name, shape, type);
    if (!producer) throw_error("gguf writer: tensor '{}': no data producer", name);
    tensors_.push_back(PendingTensor{std::string(name), shape, type, nb, {}, std::move(producer)});
}

// --- output ---

uint64_t GgufWriter::alignment() const {
    for (const KeyValue& kv : kvs_)
        if (kv.key == "general.alignment") return kv.value.u;  // validated in set()
    return kDefaultAlignment;
}

// double -> float without undefined behaviour for values outside float's range.
static float to_f32(double f) {
    constexpr double kMax = std::numeric_limits<float>::max();
    if (f > kMax) return std::numeric_limits<float>::infinity();
    if (f < -kMax) return -std::numeric_limits<float>::infinity();
    return static_cast<float>(f);  // NaN and in-range values
}

static void emit_scalar(GgufWriter::Sink& out, ValueType t, uint64_t u, int64_t i, double f, bool b) {
    switch (t) {
        case ValueType::UINT8: out.pod<uint8_t>(static_cast<uint8_t>(u)); break;
        case ValueType::INT8: out.pod<int8_t>(static_cast<int8_t>(i)); break;
        case ValueType::UINT16: out.pod<uint16_t>(static_cast<uint16_t>(u)); break;
        case ValueType::INT16: out.pod<int16_t>(static_cast<int16_t>(i)); break;
        case ValueType::UINT32: out.pod<uint32_t>(static_cast<uint32_t>(u)); break;
        case ValueType::INT32: out.pod<int32_t>(static_cast<int32_t>(i)); break;
        case ValueType::UINT64: out.pod<uint64_t>(u); break;
        case ValueType::INT64: out.pod<int64_t>(i); break;
        case ValueType::FLOAT32: out.pod<float>(to_f32(f)); break;
        case ValueType::FLOAT64: out.pod<double>(f); break;
        case ValueType::BOOL: out.pod<uint8_t>(b ? 1 : 0); break;
        default: break;
    }
}

static void emit_value(GgufWriter::Sink& out, const Value& v) {
    if (v.type == ValueType::STRING) {
        out.str(v.s);
    } else if (v.type == ValueType::ARRAY) {
        const ArrayValue& a = *v.arr;
        out.pod<uint32_t>(static_cast<uint32_t>(a.elem_type));
        out.pod<uint64_t>(a.count);
        if (a.elem_type == ValueType::STRING) {
            for (const std::string& s : a.strings) out.str(s);
        } else if (a.elem_type == ValueType::ARRAY) {
            for (const Value& e : a.arrays) emit_value(out, e);
        } else if (a.elem_type == ValueType::FLOAT32 || a.elem_type == ValueType::FLOAT64) {
            for (double f : a.floats) emit_scalar(out, a.elem_type, 0, 0, f, false);
        } else {
            for (int64_t x : a.ints)
                emit_scalar(out, a.elem_type, static_cast<uint64_t>(x), x, 0.0, x != 0);
        }
    } else {
        emit_scalar(out, v.type, v.u, v.i, v.f, v.b);
    }
}

void GgufWriter::emit(Sink& out) const {
    const uint64_t align = alignment();
    out.put("GGUF", 4);
    out.pod<uint32_t>(3);
    out.pod<uint64_t>(tensors_.size());
    out.pod<uint64_t>(kvs_.size());
    for (const KeyValue& kv : kvs_) {
        out.str(kv.key);
        out.pod<uint32_t>(static_cast<uint32_t>(kv.value.type));
        emit_value(out, kv.value);
    }
    uint64_t offset = 0;
    for (const PendingTensor& t : tensors_) {
        out.str(t.name);
        out.pod<uint32_t>(static_cast<uint32_t>(t.shape.size()));
        for (uint64_t d : t.shape) out.pod<uint64_t>(d);
        out.pod<uint32_t>(static_cast<uint32_t>(t.type));
        out.pod<uint64_t>(offset);
        auto next = checked_align_up(offset + t.n_bytes, align);
        if (!next) throw_error("gguf writer: total tensor size overflows");
        offset = *next;
    }
    if (tensors_.empty()) return;
    out.zeros(*checked_align_up(out.written(), align) - out.written());
    std::vector<uint8_t> buf;
    for (const PendingTensor& t : tensors_) {
        if (t.producer) {
            buf.assign(t.n_bytes, 0);
            t.producer(std::span<uint8_t>(buf));
            out.put(buf.data(), buf.size());
        } else {
            out.put(t.bytes.data(), t.bytes.size());
        }
        out.zeros(*checked_align_up(t.n_bytes, align) - t.n_bytes);
    }
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
    VectorSink s;
    emit(s);
    return std::move(s.out);
}

void GgufWriter::write(const std::string& path) const {
    namespace fs = std::filesystem;
    fs::path target(path);
    fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    std::string tmp_name(".");
    tmp_name.append(target.filename().string()).append(".tmp-XXXXXX");
    std::string tmpl = (dir / tmp_name).string();
    int fd = mkstemp(tmpl.data());
    if (fd < 0)
        throw_error("{}: cannot create a temporary file in '{}': {}", path, dir.string(),
                    std::strerror(errno));
    try {
        FdSink sink(fd, path);
        emit(sink);
        sink.flush();
        if (fchmod(fd, 0644) != 0)
            throw_error("{}: cannot set permissions: {}", path, std::strerror(errno));
        if (fsync(fd) != 0) throw_error("{}: fsync failed: {}", path, std::strerror(errno));
        if (::close(fd) != 0) {
            fd = -1;
            throw_error("{}: close failed: {}", path, std::strerror(errno));
        }
        fd = -1;
        if (std::rename(tmpl.c_str(), path.c_str()) != 0)
            throw_error("{}: cannot rename the temporary file into place: {}", path,
                        std::strerror(errno));
    } catch (...) {
        if (fd >= 0) ::close(fd);
        ::unlink(tmpl.c_str());
        throw;
    }
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        ::close(dfd);
    }
}

}  // namespace qlm::gguf
