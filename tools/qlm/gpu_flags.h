// --gpu-layers N|all (also --n-gpu-layers, and -ngl through llama_flags.cpp) of run, chat,
// perplexity, bench and info, and info's --vram SIZE: parsed here once for every subcommand.
// A bad value is a UsageError (exit 2, one line). What the layers then do is src/backend's
// decision (offload.h): without a GPU, one warning line and the run goes on on the CPU.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "src/backend/layer_placement.h"
#include "src/gguf/gguf_file.h"
#include "src/model/context_layout.h"
#include "src/model/layer_ops.h"
#include "src/model/model_loader.h"

namespace qlm::cli {

void add_gpu_layers_flag(CLI::App& app, std::string& value);

// "" (not given) and "0": no layers; a whole number >= 0; "all". Throws UsageError.
GpuLayers parse_gpu_layers(const std::string& value);

// "4GiB", "1.5G", "24000M", "512MiB", "1073741824" (bytes); K, M, G, T are binary (KiB ...).
// Throws UsageError naming --vram.
uint64_t parse_vram_size(const std::string& value);

// For a run of `loaded` about to allocate `context`: probes the GPU, checks the placement against
// its free memory (qlm::Error when it does not fit), prints the warning line on stderr when
// layers asked for run on the CPU, and returns the device that runs the others (nullptr: none;
// ContextOptions::device of the run's contexts, which it must outlive).
std::unique_ptr<DeviceOffload> apply_gpu_layers(GpuLayers request, const LoadedModel& loaded, const ContextLayout& context);

}  // namespace qlm::cli
