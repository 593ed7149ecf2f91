// qlm imatrix -m MODEL -f TEXT -o FILE [-c N] [--chunks N] [-b N] [-t N]
// Runs the model over a calibration text in chunks of -c tokens (as llama-perplexity chunks it,
// BOS first) and writes, for every matmul weight except output.weight, the mean squared input
// activation of each column in llama.cpp's legacy imatrix .dat format (src/quantize/imatrix.h).
// `qlm quantize --imatrix FILE` (and llama-quantize --imatrix) read it. The running perplexity
// of the text goes to stdout as a sanity check.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "src/generate/model_adapters.h"
#include "src/generate/perplexity.h"
#include "src/model/context.h"
#include "src/model/model_loader.h"
#include "src/quantize/imatrix.h"
#include "src/tokenizer/tokenizer.h"
#include "src/util/cpu_info.h"
#include "src/util/error.h"
#include "src/util/plural.h"
#include "tools/qlm/command.h"
#include "tools/qlm/prompt_input.h"
#include "tools/qlm/thread_flag.h"
#include "tools/qlm/usage_error.h"

namespace qlm::cli {
namespace {

struct ImatrixOptions {
    std::string model, file, output;
    int64_t n_ctx = 512;
    int64_t n_batch = 2048;
    int64_t chunks = -1;
    int n_threads = 0;
    bool ctx_given = false;
};

int run_imatrix(const ImatrixOptions& o) {
    using Clock = std::chrono::steady_clock;
    if (o.n_threads < 0) throw_usage("-t {}: the thread count cannot be negative (0 = one per physical core)", o.n_threads);
    if (o.n_batch < 1) throw_usage("-b {}: the batch size must be at least 1", o.n_batch);
    PromptSource src;
    src.file = o.file;
    src.noun = "calibration text";
    const std::string text = read_prompt(src, /*allow_empty=*/false);
    const LoadedModel loaded = load_model(o.model);
    const Model& model = *loaded.model;
    const Tokenizer& tok = *loaded.tokenizer;
    const Hparams& hp = model.hparams();
    PerplexityParams p;
    p.n_ctx = o.ctx_given ? o.n_ctx : std::min<int64_t>(o.n_ctx, hp.n_ctx_train - hp.n_ctx_train % 2);
    p.n_batch = std::min(o.n_batch, p.n_ctx);
    p.max_chunks = o.chunks;
    p.bos_id = tok.add_bos() ? tok.bos_id() : -1;
    as_usage([&] { validate(p); });
    (void)resolve_context_size(hp, p.n_ctx, /*multiple_of=*/2);
    const std::vector<int32_t> tokens = tok.encode(text, {.add_bos = tok.add_bos()});
    const int64_t n_chunk = whole_chunks(static_cast<int64_t>(tokens.size()), p);
    const int threads = o.n_threads > 0 ? o.n_threads : physical_cores();
    ImatrixCollector collector(model);
    InferenceContext ctx(model, {.n_ctx = p.n_ctx, .n_batch = p.n_batch, .n_outputs = p.n_batch, .n_threads = threads,
                                  .matmul_observer = &collector});
    fmt::print(stderr, "qlm: {}, {} of {} tokens, {}\n", counted(static_cast<int64_t>(tokens.size()), "token"),
               counted(n_chunk, "chunk"), p.n_ctx, counted(threads, "thread"));
    ContextLogitsSource source(ctx);
    const auto t0 = Clock::now();
    PerplexityResult r = compute_perplexity(source, [&] { ctx.seq_rm(0, 0); }, tokens, p, hp.n_vocab,
                                            [&](int64_t c, const NllStats& s) {
                                                collector.chunk_done();
                                                std::fputs(fmt::format("[{}]{:.4f},", c + 1, s.ppl()).c_str(), stdout);
                                                std::fflush(stdout);
                                            });
    const std::string dataset = std::filesystem::path(o.file).filename().string();
    const Imatrix m = collector.result(dataset);
    write_imatrix(o.output, m);
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    fmt::print("\nFinal estimate: PPL = {:.4f} +/- {:.5f}\n", r.stats.ppl(), r.stats.ppl_error());
    fmt::print("saved the importances of {} over {} ({}) to {} in {:.2f} s\n",
               counted(static_cast<int64_t>(m.entries.size()), "tensor"), counted(m.last_chunk, "chunk"),
               counted(static_cast<int64_t>(m.last_chunk) * p.n_ctx, "token"), o.output, secs);
    return 0;
}

Action setup_imatrix(CLI::App& app) {
    auto o = std::make_shared<ImatrixOptions>();
    app.add_option("-m,--model", o->model, "GGUF model file (F32/F16 for the most accurate importances)")->required();
    app.add_option("-f,--file", o->file, "calibration text (not the text you evaluate on)")->required();
    app.add_option("-o,--output", o->output, "importance matrix to write (llama.cpp's legacy .dat format)")->required();
    app.add_option("-c,--ctx-size", o->n_ctx, "tokens per chunk (even, >= 8; default 512 or the model's context if smaller)")
        ->each([o](const std::string&) { o->ctx_given = true; });
    app.add_option("-b,--batch-size", o->n_batch, "tokens per forward batch, capped at -c (2048: a chunk in one batch, as llama.cpp's perplexity and imatrix)")->capture_default_str();
    app.add_option("--chunks", o->chunks, "process at most this many chunks (-1 = all)")->capture_default_str();
    app.add_option("-t,--threads", o->n_threads, "threads (0 = one per physical core)")->capture_default_str()
        ->check(thread_count_limit());
    return [o]() -> int { return run_imatrix(*o); };
}

const bool registered = register_command(
    {"imatrix", "Compute an importance matrix (llama.cpp .dat) from a calibration text", 45, &setup_imatrix});

}  // namespace
}  // namespace qlm::cli
