// qlm imatrix -m MODEL -f TEXT -o FILE [-c N] [--chunks N] [-b N] [-t N]
// Runs the model over a calibration text in chunks of -c tokens (as llama-perplexity chunks it,
// BOS first) and writes, for every matmul weight except output.weight, the mean squared input
// activation of each column in llama.cpp's legacy imatrix .dat format (src/model/imatrix.h).
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
#include "src/model/imatrix.h"
#include "src/model/model.h"
#include "src/tokenizer/tokenizer.h"
#include "src/util/error.h"
#include "tools/qlm/command.h"
#include "tools/qlm/model_files.h"
#include "tools/qlm/prompt_input.h"
#include "tools/qlm/thread_flag.h"

namespace qlm::cli {
namespace {

struct ImatrixOptions {
    std::string model, file, output;
    int64_t n_ctx = 512;
    int64_t n_batch = 512;
    int64_t chunks = -1;
    int n_threads = 0;
    bool ctx_given = false;
};

int run_imatrix(const ImatrixOptions& o) {
    using Clock = std::chrono::steady_clock;
    PromptSource src;
    src.file = o.file;
    const std::string text = read_prompt(src, /*allow_empty=*/false);
    auto file = open_model_file(o.model);
    check_architecture(*file);
    check_tensor_types(*file);
    auto model = Model::load(file);
    auto tok = Tokenizer::from_gguf(*file);
    const Hparams& hp = model->hparams();
    if (tok->n_vocab() != hp.n_vocab)
        throw_error("{}: the tokenizer has {} tokens but the model's vocabulary is {}: the file is inconsistent", o.model,
                    tok->n_vocab(), hp.n_vocab);
    PerplexityParams p;
    p.n_ctx = o.ctx_given ? o.n_ctx : std::min<int64_t>(o.n_ctx, hp.n_ctx_train - hp.n_ctx_train % 2);
    p.n_batch = std::min(o.n_batch, p.n_ctx);
    p.max_chunks = o.chunks;
    p.bos_id = tok->add_bos() ? tok->bos_id() : -1;
    validate(p);
    if (p.n_ctx > hp.n_ctx_train)
        throw_error("-c {} is larger than the model's context length {}: use -c {} or less", p.n_ctx, hp.n_ctx_train,
                    hp.n_ctx_train - hp.n_ctx_train % 2);
    const std::vector<int32_t> tokens = tok->encode(text, {.add_bos = tok->add_bos()});
    const int64_t n_chunk = whole_chunks(static_cast<int64_t>(tokens.size()), p);
    const int threads = o.n_threads > 0 ? o.n_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    ImatrixCollector collector(*model);
    InferenceContext ctx(*model, {.n_ctx = p.n_ctx, .n_batch = p.n_batch, .n_threads = threads,
                                  .matmul_observer = &collector});
    fmt::print(stderr, "qlm: {} tokens, {} chunks of {} tokens, {} threads\n", tokens.size(), n_chunk, p.n_ctx, threads);
    ContextLogitsSource source(ctx);
    const auto t0 = Clock::now();
    PerplexityResult r = compute_perplexity(source, [&] { ctx.truncate(0); }, tokens, p, hp.n_vocab,
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
    fmt::print("saved {} tensors' importances over {} chunks ({} tokens) to {} in {:.2f} s\n", m.entries.size(),
               m.last_chunk, static_cast<int64_t>(m.last_chunk) * p.n_ctx, o.output, secs);
    return 0;
}

Action setup_imatrix(CLI::App& app) {
    auto o = std::make_shared<ImatrixOptions>();
    app.add_option("-m,--model", o->model, "GGUF model file (F32/F16 for the most accurate importances)")->required();
    app.add_option("-f,--file", o->file, "calibration text (not the text you evaluate on)")->required();
    app.add_option("-o,--output", o->output, "importance matrix to write (llama.cpp's legacy .dat format)")->required();
    app.add_option("-c,--ctx-size", o->n_ctx, "tokens per chunk (even, >= 8; default 512 or the model's context if smaller)")
        ->each([o](const std::string&) { o->ctx_given = true; });
    app.add_option("-b,--batch-size", o->n_batch, "tokens per forward batch (capped at -c)")->capture_default_str();
    app.add_option("--chunks", o->chunks, "process at most this many chunks (-1 = all)")->capture_default_str();
    app.add_option("-t,--threads", o->n_threads, "threads (0 = all cores)")
        ->capture_default_str()->check(thread_count_limit());
    return [o]() -> int { return run_imatrix(*o); };
}

const bool registered = register_command(
    {"imatrix", "Compute an importance matrix (llama.cpp .dat) from a calibration text", 45, &setup_imatrix});

}  // namespace
}  // namespace qlm::cli
