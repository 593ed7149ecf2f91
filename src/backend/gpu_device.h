// The GPU a run could offload to: the first CUDA device and its free memory, asked of the CUDA
// runtime in a build with the CUDA backend (QLM_CUDA=ON). A build without it, or a machine
// without a usable device, reports why there is none; nothing here throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace qlm {

struct GpuDevice {
    std::string name;          // "NVIDIA H200"
    int compute_major = 0, compute_minor = 0;
    uint64_t free_bytes = 0;   // free now (cudaMemGetInfo)
    uint64_t total_bytes = 0;
};

struct GpuProbe {
    std::optional<GpuDevice> device;
    std::string why_none;      // when device is empty: one phrase, e.g. "this build has no CUDA backend ..."
};

// Whether this binary was built with QLM_CUDA=ON.
bool cuda_backend_built();

// Device 0, or why there is none.
GpuProbe probe_gpu();

}  // namespace qlm
