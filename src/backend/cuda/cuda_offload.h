// The CUDA device as a DeviceOffload (layer_ops.h): the placed layers it can compute
// (device_weights.h's layer_gap) with their weights uploaded once, and each context's CudaOps.
#pragma once

#include <memory>
#include <string>

#include "src/backend/layer_placement.h"
#include "src/model/layer_ops.h"
#include "src/model/model.h"

namespace qlm {

// The device for the layers and head of `placement` that the CUDA backend can run; nullptr when
// it can run none of them. left_on_cpu: "" or a phrase naming the placed layers it cannot run
// and why. Throws qlm::Error when the weights do not fit or cannot be copied.
std::unique_ptr<DeviceOffload> make_cuda_offload(const Model& model, const LayerPlacement& placement,
                                                 std::string& left_on_cpu);

}  // namespace qlm
