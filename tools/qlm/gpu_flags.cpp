#include "tools/qlm/gpu_flags.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <string_view>
#include <utility>

#include "src/backend/device_offload.h"
#include "src/backend/gpu_device.h"
#include "src/backend/offload.h"
#include "tools/qlm/usage_error.h"

namespace qlm::cli {

void add_gpu_layers_flag(CLI::App& app, std::string& value) {
    app.add_option("--gpu-layers,--n-gpu-layers", value,
                   "layers to keep on the GPU (also -ngl): N counts from the output head back, as llama.cpp; all = "
                   "every layer and the output head. Without a GPU (or a CUDA build): a warning, then the CPU");
}

GpuLayers parse_gpu_layers(const std::string& value) {
    if (value.empty()) return GpuLayers::n(0);
    if (value == "all") return GpuLayers::all_slots();
    int64_t n = -1;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec == std::errc::result_out_of_range && value.find_first_not_of("0123456789") == std::string::npos)
        return GpuLayers::all_slots();  // more slots than any model has: every one, as llama.cpp's -ngl 999
    if (ec != std::errc() || end != value.data() + value.size() || n < 0)
        throw_usage("-ngl/--gpu-layers {}: give a layer count (a whole number >= 0) or all", value);
    return GpuLayers::n(n);
}

uint64_t parse_vram_size(const std::string& value) {
    static constexpr std::pair<std::string_view, int> kUnits[] = {
        {"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}, {"B", 0}};
    std::string_view v = value;
    int shift = 0;
    for (const auto& [unit, s] : kUnits)
        if (v.size() > unit.size() && v.ends_with(unit)) {
            v.remove_suffix(unit.size());
            shift = s;
            break;
        }
    double x = -1;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    const double bytes = std::ldexp(x, shift);
    if (ec != std::errc() || end != v.data() + v.size() || !(x >= 0) || !(bytes < 0x1p63))
        throw_usage("--vram {}: give the GPU memory as a size such as 24GiB, 8000MiB or 1.5G", value);
    return static_cast<uint64_t>(bytes);
}

std::unique_ptr<DeviceOffload> apply_gpu_layers(GpuLayers request, const LoadedModel& loaded, const ContextLayout& context) {
    if (!request.any()) return nullptr;
    const Model& model = *loaded.model;
    const OffloadDecision d =
        decide_offload(request, model_footprint(*loaded.file, model.hparams(), context), probe_gpu());
    OffloadSetup setup = setup_offload(request, model, d);
    std::fwrite(setup.warning.data(), 1, setup.warning.size(), stderr);
    return std::move(setup.device);
}

}  // namespace qlm::cli
