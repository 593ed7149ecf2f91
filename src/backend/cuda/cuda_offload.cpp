#include "src/backend/cuda/cuda_offload.h"

#include <vector>

#include <fmt/format.h>

#include "src/backend/cuda/cuda_ops.h"
#include "src/backend/cuda/device_weights.h"
#include "src/model/weights.h"
#include "src/util/plural.h"

namespace qlm {
namespace {

class CudaOffload final : public DeviceOffload {
public:
    CudaOffload(const Model& model, std::vector<bool> on_device, bool head)
        : model_(model), on_device_(std::move(on_device)), head_(head), weights_(model, on_device_, head) {}

    std::string_view name() const override { return "cuda"; }
    bool runs_layer(int64_t layer) const override { return on_device_[static_cast<size_t>(layer)]; }
    bool runs_head() const override { return head_; }
    std::unique_ptr<LayerOps> make_ops(const ContextLayout& layout, KvCache& kv) const override {
        return std::make_unique<cuda::CudaOps>(model_, weights_, on_device_, head_, layout, kv);
    }

private:
    const Model& model_;
    std::vector<bool> on_device_;
    bool head_;
    cuda::DeviceWeights weights_;
};

}  // namespace

std::unique_ptr<DeviceOffload> make_cuda_offload(const Model& model, const LayerPlacement& placement,
                                                 std::string& left_on_cpu) {
    const Hparams& hp = model.hparams();
    std::vector<bool> on_device(static_cast<size_t>(hp.n_layer), false);
    int64_t placed = 0, kept = 0;
    std::string why;
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        if (!placement.on_gpu(l)) continue;
        ++placed;
        const std::string gap = cuda::layer_gap(hp, model.weights().layers[static_cast<size_t>(l)], l);
        if (gap.empty()) {
            on_device[static_cast<size_t>(l)] = true;
        } else {
            ++kept;
            if (why.empty()) why = gap;
        }
    }
    const std::string head_gap = placement.output_on_gpu ? cuda::head_gap(model.weights()) : "";
    const bool head = placement.output_on_gpu && head_gap.empty();
    left_on_cpu.clear();
    if (kept > 0)
        left_on_cpu = fmt::format("{} of the {} placed on the GPU {} no CUDA kernels ({})", kept,
                                  counted(placed, "layer"), kept == 1 ? "has" : "have", why);
    if (!head_gap.empty())
        left_on_cpu += fmt::format("{}the output head has no CUDA kernels ({})", left_on_cpu.empty() ? "" : "; ", head_gap);
    if (kept == placed && !head) return nullptr;
    return std::make_unique<CudaOffload>(model, std::move(on_device), head);
}

}  // namespace qlm
