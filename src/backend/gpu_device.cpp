#include "src/backend/gpu_device.h"

#if QLM_CUDA_BACKEND
#include <cuda_runtime_api.h>
#endif

#include <fmt/format.h>

namespace qlm {

#if QLM_CUDA_BACKEND

bool cuda_backend_built() { return true; }

GpuProbe probe_gpu() {
    GpuProbe p;
    int count = 0;
    if (const cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess || count == 0) {
        p.why_none = e != cudaSuccess ? fmt::format("no usable CUDA device ({})", cudaGetErrorString(e))
                                      : std::string("no CUDA device found");
        return p;
    }
    cudaDeviceProp prop{};
    size_t free = 0, total = 0;
    if (const cudaError_t e = cudaGetDeviceProperties(&prop, 0); e != cudaSuccess) {
        p.why_none = fmt::format("CUDA device 0 cannot be queried ({})", cudaGetErrorString(e));
        return p;
    }
    if (const cudaError_t e = cudaMemGetInfo(&free, &total); e != cudaSuccess) {
        p.why_none = fmt::format("CUDA device 0 ({}) cannot report its memory ({})", prop.name, cudaGetErrorString(e));
        return p;
    }
    p.device = GpuDevice{.name = prop.name, .compute_major = prop.major, .compute_minor = prop.minor,
                         .free_bytes = free, .total_bytes = total};
    return p;
}

#else

bool cuda_backend_built() { return false; }

GpuProbe probe_gpu() { return {.device = std::nullopt, .why_none = "this build has no CUDA backend (configure with -DQLM_CUDA=ON)"}; }

#endif

}  // namespace qlm
