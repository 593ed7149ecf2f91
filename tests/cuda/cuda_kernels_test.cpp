// The CUDA kernels (quant/kernels/cuda) against the scalar references on a device: matvec for
// every format on random, extreme and raw-byte rows of odd row counts and lengths, with token
// batches, padded strides and row sizes; RMSNorm, RoPE (norm and NeoX, partial rotary) and SwiGLU
// against src/model/ops on odd sizes and extreme values; and the arguments the launchers refuse.
// Exits 77 (ctest: skipped) when there is no CUDA device.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include "common/block_cases.h"
#include "quant/formats.h"
#include "quant/kernels/cuda/cuda_kernels.h"
#include "src/model/ops.h"

namespace qlm {
namespace {

int g_checks = 0, g_failures = 0;

void fail(const std::string& what) {
    if (++g_failures <= 40) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
}
void check(bool ok, const std::string& what) {
    ++g_checks;
    if (!ok) fail(what);
}
void check_cuda(cudaError_t e, const std::string& what) {
    check(e == cudaSuccess, what + ": " + cudaGetErrorString(e));
}

// A device buffer with copies to and from host vectors.
template <class T>
class DeviceBuffer {
public:
    explicit DeviceBuffer(size_t n) : n_(n) { check_cuda(cudaMalloc(&p_, std::max<size_t>(n, 1) * sizeof(T)), "cudaMalloc"); }
    explicit DeviceBuffer(const std::vector<T>& v) : DeviceBuffer(v.size()) { upload(v); }
    ~DeviceBuffer() { cudaFree(p_); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    void upload(const std::vector<T>& v) {
        check_cuda(cudaMemcpy(p_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), "upload");
    }
    std::vector<T> download() const {
        std::vector<T> v(n_);
        check_cuda(cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), "download");
        return v;
    }
    T* get() const { return static_cast<T*>(p_); }

private:
    void* p_ = nullptr;
    size_t n_;
};

std::string name(GgmlType t) { return std::string(type_name(t)); }

// One matvec case: rows × cols of type t, n_tokens activation rows, with padding on every stride.
void matvec_case(GgmlType t, int64_t rows, int64_t cols, int64_t n_tokens, test::BlockCase c, size_t row_pad,
                 std::mt19937& rng) {
    const FormatOps& f = format_ops(t);
    const size_t packed = format_row_bytes(f, cols), row_bytes = packed + row_pad;
    const std::vector<uint8_t> w0 = test::make_rows(t, rows, cols, c, rng);
    std::vector<uint8_t> w(row_bytes * static_cast<size_t>(rows), 0xA5);
    for (int64_t r = 0; r < rows; ++r) std::memcpy(w.data() + r * row_bytes, w0.data() + r * packed, packed);
    const int64_t x_stride = cols + 3, y_stride = rows + 1;
    const std::vector<float> x = test::make_activations(x_stride * n_tokens, rng);
    std::vector<float> y0(static_cast<size_t>(y_stride * n_tokens), -7.f);

    DeviceBuffer<uint8_t> dw(w);
    DeviceBuffer<float> dx(x), dy(y0);
    const std::string what = name(t) + " " + std::to_string(rows) + "x" + std::to_string(cols) + " t" +
                             std::to_string(n_tokens) + " " + test::block_case_name(c);
    check_cuda(cuda::matvec(t, dw.get(), row_bytes, rows, cols, dx.get(), x_stride, dy.get(), y_stride, n_tokens, nullptr),
               what);
    check_cuda(cudaDeviceSynchronize(), what);
    const std::vector<float> y = dy.download();

    std::vector<float> wr(static_cast<size_t>(cols));
    const double depth = static_cast<double>(cols) + 40;  // roundings along the longest chain, generously
    for (int64_t r = 0; r < rows; ++r) {
        f.dequantize_row(w.data() + r * row_bytes, wr.data(), cols);
        for (int64_t tk = 0; tk < n_tokens; ++tk) {
            double ref = 0, mag = 0;
            for (int64_t k = 0; k < cols; ++k) {
                const double p = static_cast<double>(wr[static_cast<size_t>(k)]) * x[static_cast<size_t>(tk * x_stride + k)];
                ref += p;
                mag += std::fabs(p);
            }
            const float got = y[static_cast<size_t>(tk * y_stride + r)];
            check(std::fabs(got - ref) <= depth * 0x1p-24 * mag + 1e-30,
                  what + " row " + std::to_string(r) + " token " + std::to_string(tk) + ": " + std::to_string(got) +
                      " vs " + std::to_string(ref));
        }
    }
    // The padding between the outputs is untouched.
    for (int64_t tk = 0; tk < n_tokens; ++tk) check(y[static_cast<size_t>(tk * y_stride + rows)] == -7.f, what + ": wrote past the rows");
}

void test_matvec() {
    std::mt19937 rng(2026);
    for (GgmlType t : test::cuda_matvec_types()) {
        const int64_t bs = format_ops(t).block_size;
        const std::vector<int64_t> lengths = bs == 1 ? std::vector<int64_t>{1, 7, 32, 33, 1031}
                                                     : std::vector<int64_t>{bs, 3 * bs, 33 * bs};
        for (test::BlockCase c : {test::BlockCase::Random, test::BlockCase::Extreme, test::BlockCase::RawBytes})
            for (int64_t rows : {1, 5, 67})
                for (int64_t cols : lengths)
                    for (int64_t n_tokens : {1, 3}) matvec_case(t, rows, cols, n_tokens, c, rows == 5 ? 6 : 0, rng);
        // A model-sized product.
        matvec_case(t, 1024, bs == 1 ? 4096 : 4096 / bs * bs, 1, test::BlockCase::Random, 0, rng);
    }
}

bool within_ulps(float got, float ref, float ulps) {
    if (got == ref) return true;
    return std::fabs(got - ref) <= ulps * std::ldexp(1.f, std::ilogb(std::fmax(std::fabs(ref), 0x1p-126f)) - 23);
}

void test_rmsnorm() {
    std::mt19937 rng(7);
    for (int64_t n : {1, 7, 255, 256, 257, 4096, 5003})
        for (float scale : {1.f, 1e18f, 1e-20f, 0.f})
            for (bool with_w : {true, false}) {
                const int64_t rows = 3;
                std::vector<float> x = test::make_activations(rows * n, rng), w = test::make_activations(n, rng);
                for (auto& v : x) v *= scale;
                std::vector<float> ref(x.size());
                for (int64_t r = 0; r < rows; ++r)
                    ops::rmsnorm(x.data() + r * n, with_w ? w.data() : nullptr, ref.data() + r * n, n, 1e-5f);
                DeviceBuffer<float> dx(x), dw(w), dy(x.size());
                const std::string what = "rmsnorm n " + std::to_string(n) + " scale " + std::to_string(scale);
                check_cuda(cuda::rmsnorm(dx.get(), with_w ? dw.get() : nullptr, dy.get(), rows, n, 1e-5f, nullptr), what);
                const std::vector<float> y = dy.download();
                for (size_t i = 0; i < y.size(); ++i)
                    if (!within_ulps(y[i], ref[i], 4)) {  // the double sums in another order can move the mean by an ulp
                        check(false, what + " at " + std::to_string(i));
                        break;
                    }
                ++g_checks;
            }
}

void test_rope() {
    std::mt19937 rng(11);
    struct Shape { int64_t n_heads, head_dim, n_rot; };
    for (const Shape s : {Shape{1, 64, 64}, Shape{7, 128, 128}, Shape{3, 96, 32}, Shape{5, 80, 80}, Shape{2, 2, 2}})
        for (bool neox : {false, true}) {
            const int64_t n_tokens = 4, stride = s.n_heads * s.head_dim + 5;
            const int64_t positions[] = {0, 1, 4095, 100000};
            std::vector<float> x = test::make_activations(n_tokens * stride, rng), cs(static_cast<size_t>(n_tokens * s.n_rot));
            for (int64_t t = 0; t < n_tokens; ++t) ops::rope_cache(cs.data() + t * s.n_rot, s.n_rot, positions[t], 10000.f, 1.f);
            std::vector<float> ref = x;
            for (int64_t t = 0; t < n_tokens; ++t)
                for (int64_t h = 0; h < s.n_heads; ++h)
                    ops::rope_apply(ref.data() + t * stride + h * s.head_dim, cs.data() + t * s.n_rot, s.n_rot,
                                    neox ? RopeStyle::Neox : RopeStyle::Norm);
            DeviceBuffer<float> dx(x), dcs(cs);
            const std::string what = "rope " + std::to_string(s.n_heads) + "x" + std::to_string(s.head_dim) + " rot " +
                                     std::to_string(s.n_rot) + (neox ? " neox" : " norm");
            check_cuda(cuda::rope(dx.get(), stride, dcs.get(), n_tokens, s.n_heads, s.head_dim, s.n_rot, neox, nullptr), what);
            // Bit for bit: the same table, the same fused product.
            check(dx.download() == ref, what);
        }
}

void test_swiglu() {
    std::mt19937 rng(13);
    for (int64_t n : {1, 7, 8, 9, 1000, 100003}) {
        std::vector<float> g = test::make_activations(n, rng), u = test::make_activations(n, rng);
        const float extremes[] = {0.f, -0.f, 100.f, -100.f, 88.f, -88.f, 1e-3f, -1e-3f, 20.f};
        for (int64_t i = 0; i < n; i += 3) g[static_cast<size_t>(i)] *= 30.f;
        for (size_t i = 0; i < std::size(extremes) && i < g.size(); ++i) g[i] = extremes[i];
        std::vector<float> ref = g;
        ops::swiglu(ref.data(), u.data(), n);
        DeviceBuffer<float> dg(g), du(u);
        const std::string what = "swiglu n " + std::to_string(n);
        check_cuda(cuda::swiglu(dg.get(), du.get(), n, nullptr), what);
        const std::vector<float> y = dg.download();
        for (size_t i = 0; i < y.size(); ++i)
            if (!within_ulps(y[i], ref[i], 8)) {  // expf (2 ulp) vs ggml's exp (1.5 ulp), then three roundings
                check(false, what + " at " + std::to_string(i) + ": " + std::to_string(y[i]) + " vs " + std::to_string(ref[i]));
                break;
            }
        ++g_checks;
    }
}

void test_refusals() {
    DeviceBuffer<float> buf(1024);
    check(!cuda::has_matvec(GgmlType::Q2_K) && cuda::has_matvec(GgmlType::Q4_K), "has_matvec");
    check(cuda::matvec(GgmlType::Q2_K, buf.get(), 84, 1, 256, buf.get(), 256, buf.get(), 1, 1, nullptr) ==
              cudaErrorInvalidValue, "matvec refuses a type without a kernel");
    check(cuda::matvec(GgmlType::Q4_0, buf.get(), 18, 1, 33, buf.get(), 33, buf.get(), 1, 1, nullptr) ==
              cudaErrorInvalidValue, "matvec refuses cols that are not whole blocks");
    check(cuda::matvec(GgmlType::Q4_0, buf.get(), 17, 1, 32, buf.get(), 32, buf.get(), 1, 1, nullptr) ==
              cudaErrorInvalidValue, "matvec refuses rows shorter than their blocks");
    check(cuda::rope(buf.get(), 8, buf.get(), 1, 1, 8, 3, false, nullptr) == cudaErrorInvalidValue, "rope refuses odd n_rot");
    check(cuda::rmsnorm(buf.get(), nullptr, buf.get(), 1, 0, 1e-5f, nullptr) == cudaErrorInvalidValue, "rmsnorm refuses n = 0");
    check(cuda::matvec(GgmlType::F32, buf.get(), 4, 0, 1, buf.get(), 1, buf.get(), 1, 1, nullptr) == cudaSuccess,
          "an empty matvec is nothing to do");
}

}  // namespace
}  // namespace qlm

int main() {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        std::printf("no CUDA device (%s): skipped\n", e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        return 77;
    }
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, 0);
    std::printf("device 0: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
    qlm::test_matvec();
    qlm::test_rmsnorm();
    qlm::test_rope();
    qlm::test_swiglu();
    qlm::test_refusals();
    std::printf("%d checks, %d failed\n", qlm::g_checks, qlm::g_failures);
    return qlm::g_failures == 0 ? 0 : 1;
}
