// Device memory and streams of the CUDA backend, owned: a failed allocation or copy is a
// qlm::Error naming what it was for and the CUDA runtime's reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <cuda_runtime_api.h>

namespace qlm::cuda {

// Throws qlm::Error "CUDA: <what>: <the runtime's error>" unless e is cudaSuccess.
void check(cudaError_t e, std::string_view what);

class DeviceBuffer {
public:
    DeviceBuffer() = default;
    DeviceBuffer(size_t bytes, std::string_view what);  // throws qlm::Error
    ~DeviceBuffer();
    DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), bytes_(o.bytes_) { o.p_ = nullptr, o.bytes_ = 0; }
    DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;

    template <class T>
    T* as() const { return static_cast<T*>(p_); }
    size_t bytes() const { return bytes_; }

private:
    void* p_ = nullptr;
    size_t bytes_ = 0;
};

// A copy of `bytes` host bytes in a new device buffer.
DeviceBuffer upload(const void* host, size_t bytes, std::string_view what);

class Stream {
public:
    Stream();  // throws qlm::Error
    ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    cudaStream_t get() const { return s_; }
    void sync(std::string_view what) const;

private:
    cudaStream_t s_ = nullptr;
};

}  // namespace qlm::cuda
