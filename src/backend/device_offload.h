// From an offload decision (offload.h) to the device that runs the placed layers (layer_ops.h's
// DeviceOffload, handed to each context through ContextOptions::device). A build without the
// CUDA backend, or a decision that keeps everything on the CPU, gives no device and the
// decision's warning line; a CUDA build with a GPU gives the CUDA ops set (cuda_offload.h) for
// the placed layers it can compute, and one warning line naming the ones it leaves on the CPU.
//
//   const OffloadDecision d = decide_offload(request, model_footprint(file, hp, layout), probe_gpu());
//   OffloadSetup setup = setup_offload(request, model, d);
//   std::fputs(setup.warning.c_str(), stderr);
//   options.device = setup.device.get();   // nullptr: every layer on the CPU
#pragma once

#include <memory>
#include <string>

#include "src/backend/offload.h"
#include "src/model/layer_ops.h"
#include "src/model/model.h"

namespace qlm {

struct OffloadSetup {
    std::unique_ptr<DeviceOffload> device;  // nullptr: every layer and the head run on the CPU
    std::string warning;                    // "" or one line ending in a newline
};

// Throws qlm::Error when the device cannot hold the weights it was given (an allocation or copy
// that fails).
OffloadSetup setup_offload(GpuLayers request, const Model& model, const OffloadDecision& d);

}  // namespace qlm
