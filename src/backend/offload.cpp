#include "src/backend/offload.h"

#include <fmt/format.h>

#include "src/model/memory_plan.h"
#include "src/util/plural.h"

namespace qlm {

OffloadDecision decide_offload(GpuLayers request, const ModelFootprint& f, const GpuProbe& gpu) {
    OffloadDecision d;
    d.placement = plan_layers(f, GpuLayers::n(0));
    if (!request.any()) return d;
    if (!gpu.device) {
        d.cpu_reason = gpu.why_none;
        return d;
    }
    const LayerPlacement planned = check_placement_fits(request, f, gpu.device->free_bytes);
    d.cpu_reason = fmt::format("the forward pass has no GPU path yet ({}{} planned for {}: {} of {} free)",
                               counted(planned.gpu_layer_count(), "layer"),
                               planned.output_on_gpu ? " and the output head" : "", gpu.device->name,
                               format_bytes(planned.gpu_total_bytes), format_bytes(gpu.device->free_bytes));
    return d;
}

std::string offload_warning(GpuLayers request, const OffloadDecision& d) {
    if (!request.any() || d.cpu_reason.empty()) return "";
    return fmt::format("qlm: warning: -ngl {}: {}; running on the CPU\n", gpu_layers_text(request), d.cpu_reason);
}

}  // namespace qlm
