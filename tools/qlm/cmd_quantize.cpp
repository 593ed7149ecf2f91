// qlm quantize IN.gguf OUT.gguf TYPE [--pure] [--tensor-type REGEX=TYPE]... [--output-tensor-type T]
//   [--token-embedding-type T] [--allow-requantize] [--reference-rounding] [--imatrix FILE] [-t N]
// Writes a quantized copy of an F32/F16/BF16 model with llama-quantize's per-tensor type mix,
// then prints a summary: tensors per type, fallbacks, sizes, bits per weight and time.
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "src/gguf/gguf_file.h"
#include "src/model/memory_plan.h"
#include "src/quantize/imatrix.h"
#include "src/quantize/quantize_model.h"
#include "src/util/error.h"
#include "src/util/interrupt.h"
#include "src/util/plural.h"
#include "tools/qlm/command.h"
#include "tools/qlm/number_format.h"
#include "tools/qlm/thread_flag.h"
#include "tools/qlm/usage_error.h"

namespace qlm::cli {
namespace {

struct QuantizeCliOptions {
    std::string input, output, type;
    bool pure = false, allow_requantize = false, reference_rounding = false;
    std::vector<std::string> tensor_types;
    std::string output_tensor_type, token_embedding_type, imatrix;
    int n_threads = 0;
};

GgmlType parse_type(const std::string& flag, const std::string& s) {
    auto t = type_from_name(s);
    if (!t || !writable_type(*t))
        throw_usage("{} {}: not a type qlm can write (valid: {})", flag, s, writable_type_names());
    return *t;
}

void print_summary(const QuantizeReport& r, const std::string& preset) {
    int searched = 0, weighted = 0;
    double sq_err = 0, sq_norm = 0;
    uint64_t n_quant = 0;
    for (const auto& t : r.tensors) {
        searched += t.searched;
        weighted += t.weighted;
        if (t.to != t.from) {
            sq_err += t.sq_error;
            sq_norm += t.sq_norm;
            n_quant += t.n_elements;
        }
    }
    std::map<std::string, std::pair<int, uint64_t>> per_type;
    uint64_t in = 0, out = 0, n_el = 0;
    for (const auto& t : r.tensors) {
        auto& e = per_type[std::string(type_name(t.to))];
        e.first++;
        e.second += t.n_elements;
        in += t.bytes_in;
        out += t.bytes_out;
        n_el += t.n_elements;
    }
    fmt::print("quantized to {}: {}\n", preset, counted(static_cast<int64_t>(r.tensors.size()), "tensor"));
    for (const auto& [name, e] : per_type)
        fmt::print("  {:<6} {:>5} tensors {:>16} params\n", name, e.first, with_commas(e.second));
    // Fallbacks grouped by (wanted -> written), with the first tensor as an example.
    std::map<std::pair<std::string, std::string>, std::pair<int, std::string>> fallbacks;
    for (const auto& t : r.tensors)
        if (t.fallback) {
            auto& e = fallbacks[{std::string(type_name(t.wanted)), std::string(type_name(t.to))}];
            if (e.first++ == 0) e.second = t.name;
        }
    for (const auto& [types, e] : fallbacks)
        fmt::print("  fallback: {} tensor{} {} instead of {} (rows not a multiple of {} elements), e.g. {}\n", e.first,
                   e.first == 1 ? " is" : "s are", types.second, types.first,
                   type_info(*type_from_name(types.first)).block_size, e.second);
    const double bpw_in = n_el ? 8.0 * static_cast<double>(in) / static_cast<double>(n_el) : 0;
    const double bpw_out = n_el ? 8.0 * static_cast<double>(out) / static_cast<double>(n_el) : 0;
    if (searched)
        fmt::print("rounding:    error-minimizing search for {}{}\n", counted(searched, "tensor"),
                   weighted ? fmt::format(", {} weighted by the importance matrix", weighted) : std::string());
    else
        fmt::print("rounding:    llama.cpp reference rules\n");
    if (n_quant)
        fmt::print("weight error: rms {:.4e} over {} converted weights ({:.4f} of their rms)\n",
                   std::sqrt(sq_err / static_cast<double>(n_quant)), with_commas(n_quant),
                   sq_norm > 0 ? std::sqrt(sq_err / sq_norm) : 0.0);
    fmt::print("tensor data: {} -> {} ({:.2f} -> {:.2f} bits per weight)\n", format_bytes(in), format_bytes(out),
               bpw_in, bpw_out);
    fmt::print("file size:   {} -> {}\n", format_bytes(r.file_bytes_in), format_bytes(r.file_bytes_out));
    fmt::print("time:        {:.2f} s\n", r.seconds);
}

Action setup_quantize(CLI::App& app) {
    auto o = std::make_shared<QuantizeCliOptions>();
    app.add_option("input", o->input, "input GGUF (F32, F16 or BF16 tensors)")->required();
    app.add_option("output", o->output, "output GGUF")->required();
    app.add_option("type", o->type, "preset: " + preset_names())->required();
    app.add_flag("--pure", o->pure, "every weight matrix at the preset's type (no per-tensor mix)");
    app.add_option("--tensor-type", o->tensor_types, "REGEX=TYPE: tensors whose name matches get TYPE (repeatable)");
    app.add_option("--output-tensor-type", o->output_tensor_type, "type of output.weight");
    app.add_option("--token-embedding-type", o->token_embedding_type, "type of token_embd.weight");
    app.add_flag("--allow-requantize", o->allow_requantize, "accept already-quantized input tensors");
    app.add_flag("--reference-rounding", o->reference_rounding,
                 "llama.cpp's reference rounding (byte-identical to llama-quantize without an imatrix) instead of "
                 "the error-minimizing search");
    app.add_option("--imatrix", o->imatrix,
                   "importance matrix (qlm imatrix / llama-imatrix .dat): weights each tensor's error by its column "
                   "importances");
    app.add_option("-t,--threads", o->n_threads, "threads (0 = one per logical core: quantizing has no per-token barrier, so hyperthreads help)")
        ->check(thread_count_limit());
    return [o]() -> int {
        auto preset = preset_from_name(o->type);
        if (!preset) throw_usage("unknown quantization type '{}' (valid: {})", o->type, preset_names());
        if (o->n_threads < 0) throw_usage("-t {}: the thread count cannot be negative", o->n_threads);
        QuantizeOptions q;
        q.input = o->input;
        q.output = o->output;
        q.preset = *preset;
        q.allow_requantize = o->allow_requantize;
        q.reference_rounding = o->reference_rounding;
        if (!o->imatrix.empty()) {
            if (o->reference_rounding)
                throw_usage("--imatrix needs the searched quantizer: drop --reference-rounding");
            const Imatrix m = read_imatrix(o->imatrix);
            auto model = gguf::GgufFile::open(o->input);
            q.importance = imatrix_importances(m, *model, o->imatrix);
        }
        q.n_threads = o->n_threads;
        q.policy.pure = o->pure;
        for (const auto& tt : o->tensor_types) {
            const size_t eq = tt.rfind('=');
            if (eq == std::string::npos || eq == 0)
                throw_usage("--tensor-type {}: expected REGEX=TYPE, e.g. attn_v=q8_0", tt);
            q.policy.tensor_types.emplace_back(tt.substr(0, eq), parse_type("--tensor-type", tt.substr(eq + 1)));
        }
        if (!o->output_tensor_type.empty())
            q.policy.output_tensor_type = parse_type("--output-tensor-type", o->output_tensor_type);
        if (!o->token_embedding_type.empty())
            q.policy.token_embedding_type = parse_type("--token-embedding-type", o->token_embedding_type);
        const bool tty = isatty(STDERR_FILENO);
        if (tty)
            q.progress = [](size_t done, size_t total) {
                const int width = 40;
                const int filled = total ? static_cast<int>(width * done / total) : width;
                std::fprintf(stderr, "\r[%s%s] %zu/%zu tensors", std::string(filled, '#').c_str(),
                             std::string(width - filled, ' ').c_str(), done, total);
                if (done == total) std::fputc('\n', stderr);
                std::fflush(stderr);
            };
        QuantizeReport r;
        {
            // Ctrl-C, `kill` and a closed terminal all cancel: the temp file is removed, OUT never appears.
            InterruptScope cancel_on({SIGINT, SIGTERM, SIGHUP});
            q.cancel = &interrupt_flag();
            try {
                r = quantize_model(q);
            } catch (...) {
                if (tty) std::fputc('\n', stderr);
                throw;
            }
        }
        print_summary(r, std::string(preset_info(*preset).name));
        std::fflush(stdout);
        return 0;
    };
}

const bool registered =
    register_command({"quantize", "Quantize an F32/F16/BF16 model to Q8_0, Q4_K_M, ...", 40, &setup_quantize});

}  // namespace
}  // namespace qlm::cli
