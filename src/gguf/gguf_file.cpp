// GGUF v2/v3 reader: maps the file and validates every count, length, type, shape and offset
// before anything above this layer sees it. All arithmetic on numbers from the file is checked.
#include "src/gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <numeric>

#include "src/util/checked_math.h"
#include "src/util/error.h"

namespace qlm::gguf {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

namespace {

constexpr uint32_t kNumValueTypes = 13;
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;           // key length, 1-byte key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name len+1, n_dims, ne0, type, offset
// Reserve no more than this many elements up front from a count read from the file: the count is
// already bounded by the bytes that remain, but parsed elements are larger than their encoding.
constexpr uint64_t kMaxReserve = uint64_t{1} << 16;
constexpr const char* kFixCorrupt = "the file is truncated or corrupt; download it again";

bool is_valid_type(uint32_t t) { return t < kNumValueTypes; }

bool is_unsigned(ValueType t) {
    return t == ValueType::UINT8 || t == ValueType::UINT16 || t == ValueType::UINT32 ||
           t == ValueType::UINT64;
}
bool is_signed(ValueType t) {
    return t == ValueType::INT8 || t == ValueType::INT16 || t == ValueType::INT32 ||
           t == ValueType::INT64;
}
bool is_integer(ValueType t) { return is_unsigned(t) || is_signed(t); }
bool is_float(ValueType t) { return t == ValueType::FLOAT32 || t == ValueType::FLOAT64; }

// Bytes of one element of a fixed-size type; for strings and arrays the smallest encoding.
uint64_t min_value_bytes(ValueType t) {
    switch (t) {
        case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
        case ValueType::UINT16: case ValueType::INT16: return 2;
        case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
        case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: return 8;
        case ValueType::STRING: return 8;
        case ValueType::ARRAY: return 4 + 8;
    }
    return 1;
}

std::string printable(std::string_view s) {
    std::string r;
    for (unsigned char c : s.substr(0, 80)) {
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') r += static_cast<char>(c);
        else r += fmt::format("\\x{:02x}", c);
    }
    if (s.size() > 80) r += "...";
    return r;
}

// Sequential little-endian reader over the untrusted bytes.
class Reader {
public:
    Reader(std::span<const uint8_t> b, const std::string& path) : b_(b), path_(path) {}

    uint64_t pos() const { return pos_; }
    uint64_t size() const { return b_.size(); }
    uint64_t remaining() const { return b_.size() - pos_; }

    template <typename What>
    void need(uint64_t n, const What& what) const {
        if (n > remaining())
            throw_error("{}: {}: truncated: needs {} bytes at offset {} but the file is {} bytes: {}",
                        path_, what(), n, pos_, b_.size(), kFixCorrupt);
    }

    template <typename T, typename What>
    T read(const What& what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, b_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }

    template <typename What>
    std::string_view read_string(const What& what) {
        uint64_t len = read<uint64_t>([&] { return what() + " length"; });
        if (len > kMaxStringBytes)
            throw_error("{}: {}: string length {} exceeds the 1 GiB limit: {}", path_, what(), len,
                        kFixCorrupt);
        if (len > remaining())
            throw_error("{}: {}: string of {} bytes at offset {} runs past the end of the file "
                        "({} bytes): {}", path_, what(), len, pos_, b_.size(), kFixCorrupt);
        std::string_view s(reinterpret_cast<const char*>(b_.data() + pos_), len);
        pos_ += len;
        return s;
    }

private:
    std::span<const uint8_t> b_;
    const std::string& path_;
    uint64_t pos_ = 0;
};

struct ValueParser {
    Reader& r;
    const std::string& path;
    std::string_view key;

    std::string where() const { return fmt::format("metadata '{}'", printable(key)); }

    ValueType read_type(const char* what) {
        uint32_t t = r.read<uint32_t>([&] { return where() + " " + what; });
        if (!is_valid_type(t))
            throw_error("{}: {}: unknown {} {} (valid ids are 0..12): the file is corrupt or from a "
                        "newer GGUF version", path, where(), what, t);
        return static_cast<ValueType>(t);
    }

    // Reads one scalar of a fixed-size type into v (u/i/f/b by type).
    void read_scalar(ValueType t, Value& v) {
        auto w = [&] { return where() + " value"; };
        switch (t) {
            case ValueType::UINT8: v.u = r.read<uint8_t>(w); break;
            case ValueType::UINT16: v.u = r.read<uint16_t>(w); break;
            case ValueType::UINT32: v.u = r.read<uint32_t>(w); break;
            case ValueType::UINT64: v.u = r.read<uint64_t>(w); break;
            case ValueType::INT8: v.i = r.read<int8_t>(w); break;
            case ValueType::INT16: v.i = r.read<int16_t>(w); break;
            case ValueType::INT32: v.i = r.read<int32_t>(w); break;
            case ValueType::INT64: v.i = r.read<int64_t>(w); break;
            case ValueType::FLOAT32: v.f = r.read<float>(w); break;
            case ValueType::FLOAT64: v.f = r.read<double>(w); break;
            case ValueType::BOOL: v.b = r.read<uint8_t>(w) != 0; break;
            default: break;
        }
    }

    Value read_value(ValueType t, uint32_t depth) {
        Value v;
        v.type = t;
        if (t == ValueType::STRING) {
            v.s = std::string(r.read_string([&] { return where() + " value"; }));
        } else if (t == ValueType::ARRAY) {
            v.arr = read_array(depth + 1);
        } else {
            read_scalar(t, v);
        }
        return v;
    }

    std::shared_ptr<const ArrayValue> read_array(uint32_t depth) {
        if (depth > kMaxArrayDepth)
            throw_error("{}: {}: arrays nested more than {} levels deep: the file is corrupt or "
                        "hostile", path, where(), kMaxArrayDepth);
        auto a = std::make_shared<ArrayValue>();
        a->elem_type = read_type("array element type");
        a->count = r.read<uint64_t>([&] { return where() + " array count"; });
        uint64_t min_elem = min_value_bytes(a->elem_type);
        auto need = checked_mul(a->count, min_elem);
        if (!need || *need > r.remaining())
            throw_error("{}: {}: array of {} {} elements needs at least {} bytes but only {} remain "
                        "in the file: {}", path, where(), a->count, value_type_name(a->elem_type),
                        need ? fmt::format("{}", *need) : std::string("2^64+"), r.remaining(),
                        kFixCorrupt);
        // count is now bounded by the remaining bytes.
        const ValueType et = a->elem_type;
        if (et == ValueType::STRING) {
            a->strings.reserve(std::min(a->count, kMaxReserve));
            for (uint64_t k = 0; k < a->count; ++k)
                a->strings.emplace_back(r.read_string(
                    [&] { return fmt::format("{} element {}", where(), k); }));
        } else if (et == ValueType::ARRAY) {
            for (uint64_t k = 0; k < a->count; ++k) a->arrays.push_back(read_value(et, depth));
        } else if (is_float(et)) {
            a->floats.reserve(std::min(a->count, kMaxReserve));
            Value tmp;
            for (uint64_t k = 0; k < a->count; ++k) {
                read_scalar(et, tmp);
                a->floats.push_back(tmp.f);
            }
        } else {
            a->ints.reserve(std::min(a->count, kMaxReserve));
            Value tmp;
            for (uint64_t k = 0; k < a->count; ++k) {
                read_scalar(et, tmp);
                if (is_unsigned(et)) a->ints.push_back(static_cast<int64_t>(tmp.u));
                else if (et == ValueType::BOOL) a->ints.push_back(tmp.b ? 1 : 0);
                else a->ints.push_back(tmp.i);
            }
        }
        return a;
    }
};

std::string shape_str(const TensorInfo& t) {
    std::string s = "[";
    for (uint32_t d = 0; d < t.n_dims; ++d) s += fmt::format("{}{}", d ? ", " : "", t.ne[d]);
    return s + "]";
}

struct Header {
    uint32_t version = 0;
    uint64_t n_tensors = 0, n_kv = 0;
};

// Magic, version and the two counts, each count bounded by the bytes left in the file.
Header read_header(Reader& r, std::span<const uint8_t> bytes, const std::string& path) {
    if (bytes.empty())
        throw_error("{}: the file is empty (0 bytes), not a GGUF file: download it again", path);
    if (bytes.size() < 4)
        throw_error("{}: magic: the file is only {} bytes, too short for a GGUF header: the file is "
                    "truncated or not a model file", path, bytes.size());
    if (std::memcmp(bytes.data(), "GGUF", 4) != 0) {
        std::string_view m(reinterpret_cast<const char*>(bytes.data()), 4);
        throw_error("{}: not a GGUF file (magic is '{}', expected 'GGUF'): pass a .gguf model file",
                    path, printable(m));
    }
    r.read<uint32_t>([] { return std::string("magic"); });
    Header h;
    h.version = r.read<uint32_t>([] { return std::string("version"); });
    if (h.version != 0 && (h.version & 0xFFFF) == 0)
        throw_error("{}: version: 0x{:08x} looks like a big-endian GGUF file, which qlm does not read: "
                    "convert it to little-endian", path, h.version);
    if (h.version == 1)
        throw_error("{}: version: GGUF v1 is not supported (only v2 and v3): re-convert the model with a "
                    "current llama.cpp", path);
    if (h.version != 2 && h.version != 3)
        throw_error("{}: version: unsupported GGUF version {} (qlm reads v2 and v3)", path, h.version);

    h.n_tensors = r.read<uint64_t>([] { return std::string("n_tensors"); });
    h.n_kv = r.read<uint64_t>([] { return std::string("n_kv"); });
    auto need_t = checked_mul(h.n_tensors, kMinTensorInfoBytes);
    if (!need_t || *need_t > r.remaining())
        throw_error("{}: n_tensors: {} tensors cannot fit in the {} bytes left in the file: {}",
                    path, h.n_tensors, r.remaining(), kFixCorrupt);
    auto need_kv = checked_mul(h.n_kv, kMinKvBytes);
    if (!need_kv || *need_kv > r.remaining())
        throw_error("{}: n_kv: {} metadata pairs cannot fit in the {} bytes left in the file: {}",
                    path, h.n_kv, r.remaining(), kFixCorrupt);
    auto both = checked_add(*need_t, *need_kv);
    if (!both || *both > r.remaining())
        throw_error("{}: n_tensors/n_kv: {} tensors and {} metadata pairs cannot fit in the {} "
                    "bytes left in the file: {}", path, h.n_tensors, h.n_kv, r.remaining(), kFixCorrupt);
    return h;
}

// Metadata pair #k: a non-empty key not in `seen`, its type and its value.
KeyValue read_key_value(Reader& r, const std::string& path, uint64_t k,
                        const std::unordered_map<std::string, size_t>& seen) {
    std::string_view key = r.read_string([&] { return fmt::format("metadata key #{}", k); });
    if (key.empty())
        throw_error("{}: metadata key #{}: the key is empty: {}", path, k, kFixCorrupt);
    if (seen.count(std::string(key)))
        throw_error("{}: metadata '{}': duplicate key (appears twice): {}", path, printable(key),
                    kFixCorrupt);
    ValueParser vp{r, path, key};
    ValueType t = vp.read_type("value type");
    KeyValue kv;
    kv.key = std::string(key);
    kv.value = vp.read_value(t, 0);
    return kv;
}

// general.alignment when present (a uint32, a non-zero power of two), else the default.
uint64_t read_alignment(const Value* a, const std::string& path) {
    if (!a) return kDefaultAlignment;
    if (a->type != ValueType::UINT32)
        throw_error("{}: general.alignment: is {}, expected a uint32: {}", path, describe_type(*a),
                    kFixCorrupt);
    if (a->u == 0 || (a->u & (a->u - 1)) != 0)
        throw_error("{}: general.alignment: {} is not a non-zero power of two: {}", path, a->u,
                    kFixCorrupt);
    return a->u;
}

// n_dims and the dimensions of `t`; sets ne and n_elements (every product checked).
void read_shape(Reader& r, const std::string& path, TensorInfo& t) {
    auto where = [&] { return fmt::format("tensor '{}'", printable(t.name)); };
    t.n_dims = r.read<uint32_t>([&] { return where() + " n_dims"; });
    if (t.n_dims < 1 || t.n_dims > 4)
        throw_error("{}: tensor '{}': n_dims is {}, expected 1..4: {}", path, printable(t.name),
                    t.n_dims, kFixCorrupt);
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < t.n_dims; ++d) {
        uint64_t ne = r.read<uint64_t>([&] { return fmt::format("{} ne[{}]", where(), d); });
        if (ne == 0)
            throw_error("{}: tensor '{}': dimension ne[{}] is 0: {}", path, printable(t.name), d,
                        kFixCorrupt);
        if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            throw_error("{}: tensor '{}': dimension ne[{}] = {} is too large: {}", path,
                        printable(t.name), d, ne, kFixCorrupt);
        t.ne[d] = ne;
        auto p = checked_mul(n_el, ne);
        if (!p || *p > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            throw_error("{}: tensor '{}': element count overflows (dimensions so far {}): {}", path,
                        printable(t.name), shape_str(t), kFixCorrupt);
        n_el = *p;
    }
    t.n_elements = n_el;
}

// The ggml type of `t`, its block layout (flat blocks only in v2 files) and its byte size.
void read_type(Reader& r, const std::string& path, uint32_t version, TensorInfo& t) {
    uint32_t type_id = r.read<uint32_t>([&] { return fmt::format("tensor '{}' type", printable(t.name)); });
    auto ti = type_info(type_id);
    if (!ti)
        throw_error("{}: tensor '{}': unknown ggml type id {}: the file is corrupt or needs a newer "
                    "qlm", path, printable(t.name), type_id);
    t.type = ti->type;
    if (t.ne[0] % ti->block_size != 0) {
        if (version == 2 && t.n_elements % ti->block_size == 0) {
            t.flat_blocks = true;  // legacy v2 layout: blocks run across rows
        } else {
            throw_error("{}: tensor '{}': ne[0] = {} is not a multiple of the {} block size {}: {}",
                        path, printable(t.name), t.ne[0], ti->name, ti->block_size, kFixCorrupt);
        }
    }
    auto nb = checked_mul(t.n_elements / ti->block_size, ti->type_size);
    if (!nb)
        throw_error("{}: tensor '{}': byte size of {} {} elements overflows: {}", path,
                    printable(t.name), t.n_elements, ti->name, kFixCorrupt);
    t.n_bytes = *nb;
}

// Tensor info #k: a name (non-empty, at most 63 bytes, not in `seen`), shape, type and an
// aligned offset into the data section.
TensorInfo read_tensor_info(Reader& r, const std::string& path, uint64_t k, uint32_t version, uint64_t alignment,
                            const std::unordered_map<std::string, size_t>& seen) {
    TensorInfo t;
    std::string_view name = r.read_string([&] { return fmt::format("tensor #{} name", k); });
    if (name.empty()) throw_error("{}: tensor #{}: the name is empty: {}", path, k, kFixCorrupt);
    if (name.size() > kMaxTensorNameBytes)
        throw_error("{}: tensor #{} '{}': name is {} bytes long, the limit is {}: {}", path, k,
                    printable(name), name.size(), kMaxTensorNameBytes, kFixCorrupt);
    t.name = std::string(name);
    if (seen.count(t.name))
        throw_error("{}: tensor '{}': duplicate tensor name (appears twice): {}", path,
                    printable(name), kFixCorrupt);
    read_shape(r, path, t);
    read_type(r, path, version, t);
    t.offset = r.read<uint64_t>([&] { return fmt::format("tensor '{}' offset", printable(t.name)); });
    if (t.offset % alignment != 0)
        throw_error("{}: tensor '{}': offset {} is not a multiple of the alignment {}: {}", path,
                    printable(t.name), t.offset, alignment, kFixCorrupt);
    return t;
}

// Points each tensor into the data section after checking that its extent lies inside the file
// and that the sizes add up without overflow.
void place_tensor_data(std::vector<TensorInfo>& tensors, std::span<const uint8_t> bytes, uint64_t data_offset,
                       const std::string& path) {
    uint64_t total = 0;
    for (TensorInfo& t : tensors) {
        auto start = checked_add(data_offset, t.offset);
        auto end = start ? checked_add(*start, t.n_bytes) : std::nullopt;
        if (!end || *end > bytes.size())
            throw_error("{}: tensor '{}' (offset {}, {} bytes) extends past the end of the file (file "
                        "is {} bytes): {}", path, printable(t.name), t.offset, t.n_bytes,
                        bytes.size(), kFixCorrupt);
        auto sum = checked_add(total, t.n_bytes);
        if (!sum)
            throw_error("{}: tensor '{}': the total size of all tensors overflows: {}", path,
                        printable(t.name), kFixCorrupt);
        total = *sum;
        t.data = bytes.data() + *start;
    }
}

// Sorted by offset, each tensor must end before the next begins (extents already checked to lie
// inside the file, so the sums cannot overflow).
void check_no_overlap(const std::vector<TensorInfo>& tensors, const std::string& path) {
    std::vector<size_t> order(tensors.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return tensors[a].offset < tensors[b].offset; });
    for (size_t k = 1; k < order.size(); ++k) {
        const TensorInfo& a = tensors[order[k - 1]];
        const TensorInfo& b = tensors[order[k]];
        if (a.offset + a.n_bytes > b.offset)
            throw_error("{}: tensors '{}' (offset {}, {} bytes) and '{}' (offset {}) overlap: {}", path,
                        printable(a.name), a.offset, a.n_bytes, printable(b.name), b.offset,
                        kFixCorrupt);
    }
}

}  // namespace

std::string_view value_type_name(ValueType t) {
    switch (t) {
        case ValueType::UINT8: return "uint8";
        case ValueType::INT8: return "int8";
        case ValueType::UINT16: return "uint16";
        case ValueType::INT16: return "int16";
        case ValueType::UINT32: return "uint32";
        case ValueType::INT32: return "int32";
        case ValueType::FLOAT32: return "float32";
        case ValueType::BOOL: return "bool";
        case ValueType::STRING: return "string";
        case ValueType::ARRAY: return "array";
        case ValueType::UINT64: return "uint64";
        case ValueType::INT64: return "int64";
        case ValueType::FLOAT64: return "float64";
    }
    return "unknown";
}

static std::string with_article(std::string_view name) {
    bool vowel = !name.empty() && std::strchr("aeiou", name[0]) != nullptr;
    // "uint..." reads "a uint"; "int8"/"array" read "an".
    if (name.starts_with("uint")) vowel = false;
    return fmt::format("{} {}", vowel ? "an" : "a", name);
}

std::string describe_type(const Value& v) {
    if (v.type == ValueType::ARRAY && v.arr)
        return fmt::format("an array of {}", value_type_name(v.arr->elem_type));
    return with_article(value_type_name(v.type));
}

GgufFile::~GgufFile() {
    if (map_) munmap(map_, map_len_);
}

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
    std::unique_ptr<GgufFile> f = open_one(path);
    if (f->split_.count > 1) {
        if (f->split_.no != 0) {
            const auto prefix = split_prefix(path, f->split_.no, f->split_.count);
            throw_error("{}: this is part {} of {} of a split model: pass the first part, {}", path, f->split_.no + 1,
                        f->split_.count,
                        prefix ? "'" + split_path(*prefix, 0, f->split_.count) + "'"
                               : fmt::format("the one named ...-00001-of-{:05}.gguf", f->split_.count));
        }
        f->open_parts();
    }
    return f;
}

std::unique_ptr<GgufFile> GgufFile::open_one(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw_error("cannot open '{}': {}", path, std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        int e = errno;
        ::close(fd);
        throw_error("cannot stat '{}': {}", path, std::strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        throw_error("{}: is a directory, not a GGUF file: pass the path of a .gguf file", path);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw_error("{}: is not a regular file: pass the path of a .gguf file", path);
    }
    if (st.st_size == 0) {
        ::close(fd);
        throw_error("{}: the file is empty (0 bytes), not a GGUF file: download it again", path);
    }
    size_t len = static_cast<size_t>(st.st_size);
    void* m = mmap(nullptr, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    ::close(fd);
    if (m == MAP_FAILED) throw_error("{}: cannot map the file ({} bytes): {}", path, len, std::strerror(e));

    std::unique_ptr<GgufFile> f(new GgufFile());
    f->path_ = path;
    f->map_ = m;
    f->map_len_ = len;
    f->bytes_ = std::span<const uint8_t>(static_cast<const uint8_t*>(m), len);
    f->parse_all();  // on throw, the destructor unmaps
    return f;
}

std::unique_ptr<GgufFile> GgufFile::parse(std::span<const uint8_t> bytes, const std::string& name) {
    std::unique_ptr<GgufFile> f(new GgufFile());
    f->path_ = name;
    f->bytes_ = bytes;
    f->parse_all();
    return f;
}

void GgufFile::parse_all() {
    Reader r(bytes_, path_);
    const Header h = read_header(r, bytes_, path_);
    version_ = h.version;

    kvs_.reserve(std::min(h.n_kv, kMaxReserve));
    for (uint64_t k = 0; k < h.n_kv; ++k) {
        KeyValue kv = read_key_value(r, path_, k, kv_index_);
        kv_index_.emplace(kv.key, kvs_.size());
        kvs_.push_back(std::move(kv));
    }
    alignment_ = read_alignment(find("general.alignment"), path_);
    split_ = read_split_info(*this);

    tensors_.reserve(std::min(h.n_tensors, kMaxReserve));
    for (uint64_t k = 0; k < h.n_tensors; ++k) {
        TensorInfo t = read_tensor_info(r, path_, k, version_, alignment_, tensor_index_);
        tensor_index_.emplace(t.name, tensors_.size());
        tensors_.push_back(std::move(t));
    }

    const uint64_t end_of_infos = r.pos();
    if (tensors_.empty()) {
        // ggml pads only when there are tensors; vocab-only files may end right here.
        data_offset_ = end_of_infos;
        return;
    }
    auto ds = checked_align_up(end_of_infos, alignment_);
    if (!ds || *ds > bytes_.size())
        throw_error("{}: data section: starts at offset {} (alignment {}), past the end of the file "
                    "({} bytes): {}", path_, ds ? *ds : end_of_infos, alignment_, bytes_.size(),
                    kFixCorrupt);
    data_offset_ = *ds;
    place_tensor_data(tensors_, bytes_, data_offset_, path_);
    check_no_overlap(tensors_, path_);
}

uint64_t GgufFile::file_size() const {
    uint64_t n = bytes_.size();
    for (const auto& p : parts_) n += p->file_size();
    return n;
}

std::vector<std::string> GgufFile::part_paths() const {
    std::vector<std::string> paths{path_};
    for (const auto& p : parts_) paths.push_back(p->path_);
    return paths;
}

const Value* GgufFile::find(std::string_view key) const {
    auto it = kv_index_.find(std::string(key));
    return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(std::string(name));
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

// --- typed accessors ---

std::optional<uint64_t> GgufFile::get_u64(std::string_view key) const {
    const Value* v = find(key);
    if (!v) return std::nullopt;
    if (is_unsigned(v->type)) return v->u;
    if (is_signed(v->type)) {
        if (v->i < 0)
            throw_error("{}: {} is {} with the negative value {}, expected a non-negative integer",
                        path_, key, describe_type(*v), v->i);
        return static_cast<uint64_t>(v->i);
    }
    throw_error("{}: {} is {}, expected an unsigned integer", path_, key, describe_type(*v));
}

std::optional<int64_t> GgufFile::get_i64(std::string_view key) const {
    const Value* v = find(key);
    if (!v) return std::nullopt;
    if (is_signed(v->type)) return v->i;
    if (is_unsigned(v->type)) {
        if (v->u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            throw_error("{}: {} is {} with the value {}, which does not fit an int64", path_, key,
                        describe_type(*v), v->u);
        return static_cast<int64_t>(v->u);
    }
    throw_error("{}: {} is {}, expected an integer", path_, key, describe_type(*v));
}

std::optional<double> GgufFile::get_f64(std::string_view key) const {
    const Value* v = find(key);
    if (!v) return std::nullopt;
    if (is_float(v->type)) return v->f;
    throw_error("{}: {} is {}, expected a float32 or float64", path_, key, describe_type(*v));
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
    const Value* v = find(key);
    if (!v) return std::nullopt;
    if (v->type == ValueType::BOOL) return v->b;
    throw_error("{}: {} is {}, expected a bool", path_, key, describe_type(*v));
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
    const Value* v = find(key);
    if (!v) return std::nullopt;
    if (v->type == ValueType::STRING) return v->s;
    throw_error("{}: {} is {}, expected a string", path_, key, describe_type(*v));
}

const ArrayValue* GgufFile::get_array(std::string_view key, ValueType elem) const {
    const Value* v = find(key);
    if (!v) return nullptr;
    if (v->type != ValueType::ARRAY || !v->arr)
        throw_error("{}: {} is {}, expected an array of {}", path_, key, describe_type(*v),
                    value_type_name(elem));
    ValueType et = v->arr->elem_type;
    bool ok = et == elem || (is_integer(elem) && is_integer(et)) || (is_float(elem) && is_float(et));
    if (!ok)
        throw_error("{}: {} is an array of {}, expected an array of {}", path_, key,
                    value_type_name(et), value_type_name(elem));
    return v->arr.get();
}

}  // namespace qlm::gguf
