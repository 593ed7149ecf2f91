// qlm perplexity -m MODEL -f TEXT: perplexity of a text with llama.cpp's llama-perplexity method
// (src/generate/perplexity.h), and KL divergence of a model against a saved base run.
//
//   qlm perplexity -m f32.gguf -f wiki.txt -c 512                       # PPL
//   qlm perplexity -m f32.gguf -f wiki.txt --kl-divergence-base base.kld # PPL + save log-probs
//   qlm perplexity -m q4.gguf --kl-divergence --kl-divergence-base base.kld   # compare
//
// Results go to stdout in llama.cpp's layout; the load summary and timings go to stderr.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "src/generate/kld_summary.h"
#include "src/generate/model_adapters.h"
#include "src/generate/perplexity.h"
#include "src/model/context.h"
#include "src/model/model_loader.h"
#include "src/tokenizer/tokenizer.h"
#include "src/util/cpu_info.h"
#include "src/util/error.h"
#include "src/util/plural.h"
#include "tools/qlm/command.h"
#include "tools/qlm/gpu_flags.h"
#include "tools/qlm/model_setup.h"
#include "tools/qlm/prompt_input.h"
#include "tools/qlm/thread_flag.h"
#include "tools/qlm/usage_error.h"

namespace qlm::cli {
namespace {

struct PerplexityOptions {
    std::string model;
    std::string file;
    int64_t n_ctx = 512;
    int64_t n_batch = 2048;
    int n_threads = 0;
    int64_t chunks = -1;
    std::string kl_base;
    bool kl_divergence = false;
    std::string kv_type = "f16";
    bool flash_attn = false;
    bool ctx_given = false;
    std::string gpu_layers;
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void out(const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
}

LoadedModel load(const PerplexityOptions& o) {
    LoadedModel l = load_model(o.model);
    if (l.tokenizer->add_eos())
        throw_error("{}: the vocabulary adds EOS after every text; perplexity (like llama.cpp's) does not support that", o.model);
    return l;
}

int threads_of(const PerplexityOptions& o) {
    if (o.n_threads > 0) return o.n_threads;
    static const int default_count = default_threads();  // looks at the machine once per command
    return default_count;
}

// The context of the scoring run (all of a batch's logits), after --gpu-layers has been applied
// to it: `device` keeps the layers it placed on a device.
ContextOptions scoring_context(const PerplexityOptions& o, const LoadedModel& l, const PerplexityParams& p,
                               std::unique_ptr<DeviceOffload>& device) {
    ContextOptions c{.n_ctx = p.n_ctx, .n_batch = p.n_batch, .n_outputs = p.n_batch, .n_threads = threads_of(o),
                     .kv_type = *kv_type_from_name(o.kv_type), .flash_attn = o.flash_attn};
    const Hparams& hp = l.model->hparams();
    device = apply_gpu_layers(parse_gpu_layers(o.gpu_layers), l, plan_context(hp, l.model->weights().matmul_groups(), c));
    c.device = device.get();
    return c;
}

int run_perplexity(const PerplexityOptions& o) {
    if (o.file.empty()) throw_usage("give the text to score with -f FILE");
    PromptSource src;
    src.file = o.file;
    src.noun = "text";
    const std::string text = read_prompt(src, /*allow_empty=*/false);
    auto t_load = Clock::now();
    LoadedModel l = load(o);
    const Hparams& hp = l.model->hparams();
    PerplexityParams p;
    p.n_ctx = o.ctx_given ? o.n_ctx : std::min<int64_t>(o.n_ctx, hp.n_ctx_train - hp.n_ctx_train % 2);
    p.n_batch = std::min(o.n_batch, p.n_ctx);
    p.max_chunks = o.chunks;
    p.bos_id = l.tokenizer->add_bos() ? l.tokenizer->bos_id() : -1;
    as_usage([&] { validate(p); });
    (void)resolve_context_size(hp, p.n_ctx, /*multiple_of=*/2);
    const std::vector<int32_t> tokens = l.tokenizer->encode(text, {.add_bos = l.tokenizer->add_bos()});
    const int64_t n_chunk = perplexity_chunks(static_cast<int64_t>(tokens.size()), p);
    const int threads = threads_of(o);
    std::unique_ptr<DeviceOffload> device;
    InferenceContext ctx(*l.model, scoring_context(o, l, p, device));
    fmt::print(stderr, "qlm: model '{}' loaded in {:.2f} s | {}, {} of n_ctx {}, n_batch {}, threads {}, kv {}\n",
               hp.name.empty() ? o.model : hp.name, seconds_since(t_load), counted(static_cast<int64_t>(tokens.size()), "token"),
               counted(n_chunk, "chunk"), p.n_ctx, p.n_batch,
               threads, o.kv_type);

    std::unique_ptr<KlBaseWriter> base;
    if (!o.kl_base.empty()) {
        base = std::make_unique<KlBaseWriter>(
            o.kl_base,
            KlBaseHeader{.n_vocab = static_cast<uint32_t>(hp.n_vocab), .n_ctx = static_cast<uint32_t>(p.n_ctx),
                         .n_chunk = static_cast<uint32_t>(n_chunk), .bos_id = p.bos_id},
            tokens);
    }
    ContextLogitsSource source(ctx);
    auto t_run = Clock::now();
    PerplexityResult r = compute_perplexity(
        source, [&] { ctx.seq_rm(0, 0); }, tokens, p, hp.n_vocab,
        [&](int64_t c, const NllStats& s) {
            if (c == 0) {
                const double t = seconds_since(t_run);
                fmt::print(stderr, "qlm: {:.2f} seconds per pass - ETA {:.2f} minutes\n", t, t * static_cast<double>(n_chunk) / 60.0);
            }
            out(fmt::format("[{}]{:.4f},", c + 1, s.ppl()));
        },
        base ? ScoredRowFn([&](int64_t, int64_t, std::span<const float> row, int32_t) { base->add_row(row); })
             : ScoredRowFn());
    out("\n");
    if (base) {
        base->finish();
        fmt::print(stderr, "qlm: saved the log-probs of {} scored positions to {}\n", r.stats.count, o.kl_base);
    }
    const double secs = seconds_since(t_run);
    out(fmt::format("Final estimate: PPL = {:.4f} +/- {:.5f}\n", r.stats.ppl(), r.stats.ppl_error()));
    fmt::print(stderr, "qlm: {} x {} in {:.2f} s ({:.1f} tokens/s), {} scored\n", counted(n_chunk, "chunk"),
               counted(p.n_ctx, "token"), secs, static_cast<double>(n_chunk * p.n_ctx) / std::max(secs, 1e-9),
               counted(r.stats.count, "token"));
    return 0;
}

// llama-perplexity's KL divergence report.
void print_kld_summary(const KldStats& k) {
    const KldSummary m = summarize_kld(k);
    const KldRunning& r = m.running;
    std::string s = "\n====== Perplexity statistics ======\n";
    s += fmt::format("Mean PPL(Q)                   : {:10.6f} ± {:10.6f}\n", r.ppl.value, r.ppl.unc);
    s += fmt::format("Mean PPL(base)                : {:10.6f} ± {:10.6f}\n", m.ppl_base.value, m.ppl_base.unc);
    if (m.ln_ppl_correlation) s += fmt::format("Cor(ln(PPL(Q)), ln(PPL(base))): {:6.2f}%\n", 100.0 * *m.ln_ppl_correlation);
    s += fmt::format("Mean ln(PPL(Q)/PPL(base))     : {:10.6f} ± {:10.6f}\n", r.ln_ratio.value, r.ln_ratio.unc);
    s += fmt::format("Mean PPL(Q)/PPL(base)         : {:10.6f} ± {:10.6f}\n", m.ppl_ratio.value, m.ppl_ratio.unc);
    s += fmt::format("Mean PPL(Q)-PPL(base)         : {:10.6f} ± {:10.6f}\n", m.ppl_diff.value, m.ppl_diff.unc);
    s += "\n====== KL divergence statistics ======\n";
    s += fmt::format("Mean    KLD: {:10.6f} ± {:10.6f}\n", r.kld.value, r.kld.unc);
    for (const auto& [f, v] : m.kld_quantiles) {
        if (f == 1.f) s += fmt::format("Maximum KLD: {:10.6f}\n", v);
        else if (f == 0.5f) s += fmt::format("Median  KLD: {:10.6f}\n", v);
        else if (f == 0.f) s += fmt::format("Minimum KLD: {:10.6f}\n", v);
        else s += fmt::format("{:4.1f}%   KLD: {:10.6f}\n", 100.0f * f, v);
    }
    s += "\n====== Token probability statistics ======\n";
    s += fmt::format("Mean    Δp: {:6.3f} ± {:5.3f} %\n", 100.0 * m.p_diff.value, 100.0 * m.p_diff.unc);
    for (const auto& [f, v] : m.p_diff_quantiles) {
        if (f == 1.f) s += fmt::format("Maximum Δp: {:6.3f}%\n", 100.0 * v);
        else if (f == 0.5f) s += fmt::format("Median  Δp: {:6.3f}%\n", 100.0 * v);
        else if (f == 0.f) s += fmt::format("Minimum Δp: {:6.3f}%\n", 100.0 * v);
        else s += fmt::format("{:4.1f}%   Δp: {:6.3f}%\n", 100.0f * f, 100.0 * v);
    }
    s += fmt::format("RMS Δp    : {:6.3f} ± {:5.3f} %\n", 100.0 * r.rms_p_diff.value, 100.0 * r.rms_p_diff.unc);
    s += fmt::format("Same top p: {:6.3f} ± {:5.3f} %\n", 100.0 * r.same_top.value, 100.0 * r.same_top.unc);
    out(s);
}

int run_kl_divergence(const PerplexityOptions& o) {
    if (o.kl_base.empty())
        throw_usage("--kl-divergence needs --kl-divergence-base FILE (written by a first run with --kl-divergence-base and "
                    "without --kl-divergence)");
    KlBaseReader base(o.kl_base);
    const KlBaseHeader& h = base.header();
    auto t_load = Clock::now();
    LoadedModel l = load(o);
    const Hparams& hp = l.model->hparams();
    if (static_cast<int64_t>(h.n_vocab) != hp.n_vocab)
        throw_error("{}: the base was computed with a vocabulary of {} tokens but {} has {}: use a base from the same model family",
                    o.kl_base, h.n_vocab, o.model, hp.n_vocab);
    if (o.ctx_given && o.n_ctx != static_cast<int64_t>(h.n_ctx))
        throw_error("-c {}: the base {} was computed with -c {}: use that (or leave -c out)", o.n_ctx, o.kl_base, h.n_ctx);
    PerplexityParams p;
    p.n_ctx = h.n_ctx;
    p.n_batch = std::min(o.n_batch, p.n_ctx);
    p.max_chunks = o.chunks;
    p.bos_id = l.tokenizer->add_bos() ? l.tokenizer->bos_id() : -1;
    if (p.bos_id != h.bos_id)
        throw_error("{}: the base replaced each chunk's first token with {} but {} uses {}: the models' vocabularies differ",
                    o.kl_base, h.bos_id, o.model, p.bos_id);
    as_usage([&] { validate(p); });
    (void)resolve_context_size(hp, p.n_ctx, /*multiple_of=*/2);
    const std::vector<int32_t>& tokens = base.tokens();
    if (!o.file.empty()) {
        PromptSource src;
        src.file = o.file;
        const std::vector<int32_t> mine = l.tokenizer->encode(read_prompt(src, false), {.add_bos = l.tokenizer->add_bos()});
        const size_t n = std::min(mine.size(), tokens.size());
        for (size_t i = 0; i < tokens.size(); ++i)
            if (i >= n || mine[i] != tokens[i])
                throw_error("{}: the text tokenizes differently from the base {} (first difference at token {}): use the "
                            "text the base was computed on, or leave -f out",
                            o.file, o.kl_base, i);
    }
    const int64_t n_chunk = whole_chunks(static_cast<int64_t>(tokens.size()), p);
    const int threads = threads_of(o);
    std::unique_ptr<DeviceOffload> device;
    InferenceContext ctx(*l.model, scoring_context(o, l, p, device));
    fmt::print(stderr, "qlm: model '{}' loaded in {:.2f} s | base {}: {} of n_ctx {}, n_batch {}, threads {}\n",
               hp.name.empty() ? o.model : hp.name, seconds_since(t_load), o.kl_base, counted(n_chunk, "chunk"), p.n_ctx,
               p.n_batch, threads);
    out("chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              Δp RMS            Same top p\n");
    KldStats k;
    ContextLogitsSource source(ctx);
    auto t_run = Clock::now();
    for_each_scored_row(
        source, [&] { ctx.seq_rm(0, 0); }, tokens, p, hp.n_vocab,
        [&](int64_t, int64_t, std::span<const float> row, int32_t next) { k.add(base.next_row(), row, next); },
        [&](int64_t c) {
            const KldRunning r = kld_running(k);
            out(fmt::format("{:4d}    {:9.4f} ± {:9.4f}    {:10.5f} ± {:10.5f}    {:10.5f} ± {:10.5f}    {:6.3f} ± {:6.3f} %    "
                            "{:6.3f} ± {:6.3f} %\n",
                            c + 1, r.ppl.value, r.ppl.unc, r.ln_ratio.value, r.ln_ratio.unc, r.kld.value, r.kld.unc,
                            100.0 * r.rms_p_diff.value, 100.0 * r.rms_p_diff.unc, 100.0 * r.same_top.value,
                            100.0 * r.same_top.unc));
        });
    const double secs = seconds_since(t_run);
    print_kld_summary(k);
    fmt::print(stderr, "qlm: {} x {} in {:.2f} s ({:.1f} tokens/s), {} scored\n", counted(n_chunk, "chunk"),
               counted(p.n_ctx, "token"), secs, static_cast<double>(n_chunk * p.n_ctx) / std::max(secs, 1e-9),
               counted(k.count, "token"));
    return 0;
}

Action setup_perplexity(CLI::App& app) {
    auto o = std::make_shared<PerplexityOptions>();
    app.add_option("-m,--model", o->model, "GGUF model file")->required();
    app.add_option("-f,--file", o->file, "text file to score (not needed with --kl-divergence)");
    app.add_option("-c,--ctx-size", o->n_ctx, "tokens per chunk (even, >= 8; default 512 or the model's context if smaller)")
        ->capture_default_str();
    app.add_option("-b,--batch-size", o->n_batch, "tokens per forward batch, capped at -c (2048: a chunk in one batch, as llama.cpp's perplexity and imatrix)")->capture_default_str();
    app.add_option("-t,--threads", o->n_threads, "threads (0 = one per physical core, less CPUs busy with other work)")->capture_default_str()
        ->check(thread_count_limit());
    app.add_option("--chunks", o->chunks, "score at most this many chunks (-1 = all)")->capture_default_str();
    app.add_option("--kl-divergence-base", o->kl_base,
                   "without --kl-divergence: save the scored log-probs here; with it: the base to compare against");
    app.add_flag("--kl-divergence", o->kl_divergence, "compare this model with the saved base: KL divergence, same top token, PPL");
    add_cache_flags(app, o->kv_type, &o->flash_attn);
    add_gpu_layers_flag(app, o->gpu_layers);
    return [o, &app]() -> int {
        o->ctx_given = app.count("--ctx-size") > 0;
        if (o->n_threads < 0) throw_usage("-t {}: the thread count cannot be negative (0 = one per physical core)", o->n_threads);
        if (o->n_batch < 1) throw_usage("-b {}: the batch size must be at least 1", o->n_batch);
        parse_gpu_layers(o->gpu_layers);
        if (o->ctx_given && (o->n_ctx < 8 || o->n_ctx % 2 != 0))
            throw_usage("-c {}: perplexity needs an even context size of at least 8 (e.g. -c 256 or -c 512)", o->n_ctx);
        return o->kl_divergence ? run_kl_divergence(*o) : run_perplexity(*o);
    };
}

const bool registered =
    register_command({"perplexity", "Perplexity of a text, and KL divergence against a base model's log-probs", 50, &setup_perplexity});

}  // namespace
}  // namespace qlm::cli
