// What `-ngl` does in this build on this machine. A request for GPU layers in a build without the
// CUDA backend, or on a machine without a GPU, runs on the CPU after one warning line (as
// llama.cpp does, so that scripts passing -ngl 99 keep working). With a GPU the placement is
// checked against its free memory (too little: one error line with the largest -ngl that fits)
// and the placement is what the GPU will hold; device_offload.h turns it into the device's ops.
#pragma once

#include <string>

#include "src/backend/gpu_device.h"
#include "src/backend/layer_placement.h"

namespace qlm {

struct OffloadDecision {
    LayerPlacement placement;  // what the GPU holds (none when cpu_reason is set)
    std::string cpu_reason;    // non-empty: the layers asked for run on the CPU, and why
};

// Throws qlm::Error when a GPU is present and the placement does not fit in its free memory.
OffloadDecision decide_offload(GpuLayers request, const ModelFootprint& f, const GpuProbe& gpu);

// "qlm: warning: -ngl 99: <reason>; running on the CPU" (with a newline), or "" when nothing was
// asked for or the GPU holds what was.
std::string offload_warning(GpuLayers request, const OffloadDecision& d);

}  // namespace qlm
