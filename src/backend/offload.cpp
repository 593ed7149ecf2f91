#include "src/backend/offload.h"

#include <fmt/format.h>

namespace qlm {

OffloadDecision decide_offload(GpuLayers request, const ModelFootprint& f, const GpuProbe& gpu) {
    OffloadDecision d;
    d.placement = plan_layers(f, GpuLayers::n(0));
    if (!request.any()) return d;
    if (!gpu.device) {
        d.cpu_reason = gpu.why_none;
        return d;
    }
    d.placement = check_placement_fits(request, f, gpu.device->free_bytes);
    return d;
}

std::string offload_warning(GpuLayers request, const OffloadDecision& d) {
    if (!request.any() || d.cpu_reason.empty()) return "";
    return fmt::format("qlm: warning: -ngl {}: {}; running on the CPU\n", gpu_layers_text(request), d.cpu_reason);
}

}  // namespace qlm
