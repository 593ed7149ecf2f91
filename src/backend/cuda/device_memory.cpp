#include "src/backend/cuda/device_memory.h"

#include "src/util/error.h"

namespace qlm::cuda {

void check(cudaError_t e, std::string_view what) {
    if (e != cudaSuccess) throw_error("CUDA: {}: {}", what, cudaGetErrorString(e));
}

DeviceBuffer::DeviceBuffer(size_t bytes, std::string_view what) : bytes_(bytes) {
    if (bytes > 0) check(cudaMalloc(&p_, bytes), what);
}

DeviceBuffer::~DeviceBuffer() {
    if (p_) cudaFree(p_);
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
        if (p_) cudaFree(p_);
        p_ = o.p_, bytes_ = o.bytes_;
        o.p_ = nullptr, o.bytes_ = 0;
    }
    return *this;
}

DeviceBuffer upload(const void* host, size_t bytes, std::string_view what) {
    DeviceBuffer b(bytes, what);
    if (bytes > 0) check(cudaMemcpy(b.as<void>(), host, bytes, cudaMemcpyHostToDevice), what);
    return b;
}

Stream::Stream() { check(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking), "creating a stream"); }

Stream::~Stream() {
    if (s_) cudaStreamDestroy(s_);
}

void Stream::sync(std::string_view what) const { check(cudaStreamSynchronize(s_), what); }

}  // namespace qlm::cuda
