#include "src/backend/device_offload.h"

#include <fmt/format.h>

#if QLM_CUDA_BACKEND
#include "src/backend/cuda/cuda_offload.h"
#endif

namespace qlm {

OffloadSetup setup_offload(GpuLayers request, const Model& model, const OffloadDecision& d) {
    OffloadSetup s;
    if (!request.any()) return s;
    if (!d.cpu_reason.empty() || d.placement.gpu_slots == 0) {
        s.warning = offload_warning(request, d);
        return s;
    }
#if QLM_CUDA_BACKEND
    std::string left_on_cpu;
    s.device = make_cuda_offload(model, d.placement, left_on_cpu);
    if (!left_on_cpu.empty())
        s.warning = fmt::format("qlm: warning: -ngl {}: {}; running {} on the CPU\n", gpu_layers_text(request), left_on_cpu,
                                s.device ? "those" : "everything");
#else
    (void)model;
    s.warning = fmt::format("qlm: warning: -ngl {}: this build has no CUDA backend (configure with -DQLM_CUDA=ON); "
                            "running on the CPU\n",
                            gpu_layers_text(request));
#endif
    return s;
}

}  // namespace qlm
