// qlm run -m MODEL -p PROMPT: load a model, feed the prompt, stream generated text to stdout.
// Flags follow llama.cpp's llama-cli / llama-completion. stderr gets a load summary and timings.
// --parallel N (-np N): N samples of the prompt (seeds s, s+1, ...), the prompt evaluated once and
// its KV blocks shared, each step one batch of N tokens; each text printed under its own label.
// --beams K: beam search (src/generate/beam_search.h); the best hypothesis printed as the text.
// -md DRAFT / --lookup N / --self-spec L: speculative decoding (speculative_flags.h), the acceptance
// rate and the speed-up over plain decoding in the timings.
// Ctrl-C stops the generation: the text's line is ended, the timings printed, and qlm exits 130
// (128 + SIGINT, what a shell expects of a program Ctrl-C ended).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "src/generate/beam_search.h"
#include "src/generate/generate.h"
#include "src/generate/logits_json.h"
#include "src/generate/model_adapters.h"
#include "src/generate/parallel.h"
#include "src/generate/speculative_models.h"
#include "src/model/context.h"
#include "src/sampling/sampler.h"
#include "src/tokenizer/tokenizer.h"
#include "src/util/error.h"
#include "src/util/interrupt.h"
#include "src/util/plural.h"
#include "tools/qlm/command.h"
#include "tools/qlm/gpu_flags.h"
#include "tools/qlm/model_setup.h"
#include "tools/qlm/prompt_input.h"
#include "tools/qlm/sampling_flags.h"
#include "tools/qlm/speculative_flags.h"
#include "tools/qlm/text_util.h"
#include "tools/qlm/thread_flag.h"
#include "tools/qlm/usage_error.h"

namespace qlm::cli {
namespace {

constexpr int kExitInterrupted = 128 + SIGINT;

struct BeamFlags {
    int64_t k = 0;
    float length_penalty = 1.0f;
    bool early_stopping = false;
    bool given = false, penalty_given = false;  // --beams, --length-penalty on the command line
};

struct RunOptions {
    std::string model;
    PromptSource prompt;
    std::string ids;
    int64_t n_predict = -1;
    int64_t n_ctx = 0;
    int64_t n_batch = 512;
    int n_threads = 0;
    int64_t n_parallel = 1;
    BeamFlags beams;
    SamplingFlags sampling;
    SpeculativeFlags spec;
    std::vector<std::string> stops;
    bool ignore_eos = false;
    std::string kv_type = "f16";
    bool flash_attn = false;
    std::string gpu_layers;
    std::string logits_out;
    bool no_bos = false;
    bool special = false;
    bool no_display_prompt = false;
};


std::vector<int32_t> parse_ids(const std::string& text, int64_t n_vocab) {
    std::vector<int32_t> ids;
    std::string s = text;
    for (char& c : s)
        if (c == ',' || c == '[' || c == ']') c = ' ';
    std::istringstream in(s);
    std::string word;
    while (in >> word) {
        size_t used = 0;
        long long v = 0;
        try {
            v = std::stoll(word, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != word.size()) throw_usage("--ids: '{}' is not a token id (give integers, e.g. --ids \"1 403 407\")", word);
        if (v < 0 || v >= n_vocab)
            throw_error("--ids: token id {} is outside the vocabulary (0..{})", v, n_vocab - 1);
        ids.push_back(static_cast<int32_t>(v));
    }
    if (ids.empty()) throw_usage("--ids: no token ids given (e.g. --ids \"1 403 407\")");
    return ids;
}

void emit(std::string_view s) {
    if (s.empty()) return;
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
}

// The generation flags, checked before the model is loaded (-n >= -1 already is).
GenerateOptions generate_options(const RunOptions& o) {
    if (o.n_predict > INT32_MAX) throw_usage("-n {}: too large (at most {}; -1 = until end of text)", o.n_predict, INT32_MAX);
    GenerateOptions go;
    go.n_predict = static_cast<int32_t>(o.n_predict);
    go.ignore_eos = o.ignore_eos;
    go.stop = o.stops;
    go.on_text = [](std::string_view t) { emit(t); };
    as_usage([&] { validate(go); });
    return go;
}

// The prompt's token ids (--ids, or the text encoded), which must leave room in the context.
std::vector<int32_t> prompt_tokens(const RunOptions& o, const std::string& text, const Tokenizer& tok,
                                   const Hparams& hp, int64_t n_ctx) {
    std::vector<int32_t> ids;
    if (!o.ids.empty()) {
        ids = parse_ids(o.ids, hp.n_vocab);
    } else {
        EncodeOptions eo;
        eo.add_bos = tok.add_bos() && !o.no_bos;
        eo.parse_special = o.special;
        ids = tok.encode(text, eo);
        if (ids.empty()) throw_error("the prompt encodes to no tokens: give some text");
    }
    const auto n = static_cast<int64_t>(ids.size());
    if (n >= hp.n_ctx_train)  // no -c can hold it and leave room to generate
        throw_error("the prompt is {} tokens but this model's context holds at most {}: use a shorter prompt, or a "
                    "model with a larger context", n, hp.n_ctx_train);
    if (n >= n_ctx)
        throw_error("the prompt is {} tokens but the context holds {}: use -c {} (the model allows up to {}) or a "
                    "shorter prompt", n, n_ctx, std::min<int64_t>(hp.n_ctx_train, n + 256), hp.n_ctx_train);
    return ids;
}

// Ends the text's line before the timings when both streams go to the same place.
void end_text_line(std::string_view text) {
    if (text.empty() || text.back() == '\n') return;
    struct stat so {}, se {};
    if (isatty(STDOUT_FILENO))
        emit("\n");
    else if (fstat(STDOUT_FILENO, &so) == 0 && fstat(STDERR_FILENO, &se) == 0 && so.st_dev == se.st_dev &&
             so.st_ino == se.st_ino)
        std::fputc('\n', stderr);
}

void end_text_line(const GenerateResult& r) { end_text_line(r.text); }

void print_timings(const GenerateResult& r) {
    const GenerateTimings& t = r.timings;
    fmt::print(stderr,
               "qlm: prompt: {} in {:.2f} s ({:.1f} tokens/s) | generation: {} in {:.2f} s ({:.1f} tokens/s) | "
               "stopped by {}\n",
               counted(t.prompt_tokens, "token"), t.prompt_seconds, t.prompt_tokens_per_second(),
               counted(t.generated_tokens, "token"), t.generation_seconds, t.generation_tokens_per_second(),
               to_string(r.stop_reason));
}

// --parallel N: the samples one after the other, each under a label, then the total throughput.
int run_parallel(const RunOptions& o, ModelForGeneration& lm, const LoadOptions& lo, const SamplingParams& sp,
                 GenerateOptions go, const std::string& text, const std::vector<int32_t>& prompt_ids) {
    const int64_t n = o.n_parallel;
    ContextOptions co = lm.context;
    co.n_seq_max = n;
    co.n_outputs = n;
    const KvLayout kv = plan_context(lm.loaded.model->hparams(), lm.loaded.model->weights().matmul_groups(), co).kv;
    if (const int64_t fit = max_parallel_sequences(kv, static_cast<int64_t>(prompt_ids.size())); n > fit)
        throw_usage("--parallel {}: the KV cache of {} positions ({} blocks of {}) holds the {}-token prompt and {} "
                    "more block{}, one per sequence: use at most --parallel {}, or a larger -c",
                    n, kv.n_ctx, kv.n_blocks, kv.block_size, prompt_ids.size(), std::max<int64_t>(fit, 0),
                    std::max<int64_t>(fit, 0) == 1 ? "" : "s", std::max<int64_t>(fit, 0));
    InferenceContext ctx(*lm.loaded.model, co);
    std::vector<Sampler> samplers;
    samplers.emplace_back(sp);
    for (int64_t i = 1; i < n; ++i) {
        SamplingParams si = sp;
        si.seed = (samplers.front().seed() + static_cast<uint64_t>(i)) & 0xFFFFFFFFull;
        if (si.seed == SamplingParams::kRandomSeed) si.seed = 0;  // stays a seed, not "pick one"
        samplers.emplace_back(si);
    }
    fmt::print(stderr, "{}", load_summary(lm, lo, sp, samplers.front().seed()));
    TokenizerDecoder decoder(*lm.loaded.tokenizer);
    InterruptScope ctrl_c({SIGINT});
    go.on_text = nullptr;
    go.cancel = &interrupt_flag();
    const ParallelResult r = generate_parallel(ctx, decoder, samplers, prompt_ids, go);
    bool cancelled = false;
    std::string stops;
    for (size_t i = 0; i < r.sequences.size(); ++i) {
        const GenerateResult& g = r.sequences[i];
        emit(fmt::format("{}--- sequence {} of {} (seed {}, {}, stopped by {}) ---\n", i == 0 ? "" : "\n", i + 1, n,
                         samplers[i].seed(), counted(static_cast<int64_t>(g.tokens.size()), "token"),
                         to_string(g.stop_reason)));
        if (!o.no_display_prompt && o.ids.empty()) emit(text);
        emit(g.text);
        if (g.text.empty() || g.text.back() != '\n') emit("\n");
        cancelled = cancelled || g.stop_reason == StopReason::Cancelled;
    }
    const GenerateTimings& t = r.timings;
    fmt::print(stderr,
               "qlm: prompt: {} in {:.2f} s ({:.1f} tokens/s), evaluated once for {} sequences | generation: {} in "
               "{:.2f} s ({:.1f} tokens/s in total)\n",
               counted(t.prompt_tokens, "token"), t.prompt_seconds, t.prompt_tokens_per_second(), n,
               counted(t.generated_tokens, "token"), t.generation_seconds, t.generation_tokens_per_second());
    return cancelled ? kExitInterrupted : 0;
}

// --- beam search (--beams K) ---

BeamParams beam_params(const RunOptions& o) {
    return {.n_beams = static_cast<int32_t>(std::clamp<int64_t>(o.beams.k, 0, INT32_MAX)),
            .length_penalty = o.beams.length_penalty, .early_stopping = o.beams.early_stopping,
            .no_repeat_ngram = o.sampling.params.no_repeat_ngram};
}

void check_beam_flags(const RunOptions& o) {
    const BeamFlags& b = o.beams;
    if (!b.given) {
        if (b.penalty_given) throw_usage("--length-penalty applies to beam search: add --beams K");
        if (b.early_stopping) throw_usage("--early-stopping applies to beam search: add --beams K");
        return;
    }
    if (b.k < 1 || b.k > INT32_MAX) throw_usage("--beams {}: the number of beams must be 1..{}", b.k, INT32_MAX);
    as_usage([&] { validate(beam_params(o)); });
    if (o.n_parallel > 1) throw_usage("--beams and --parallel are different searches: give one of them");
    if (o.spec.requested())
        throw_usage("--beams and speculative decoding (-md, --lookup, --self-spec) do not combine: give one of them");
    if (!o.logits_out.empty()) throw_usage("--logits-out records one sequence: leave out --beams {} (or --logits-out)", b.k);
    if (const std::string flag = given_sampling_flag(o.sampling); !flag.empty())
        throw_usage("--beams {} ranks continuations by log-probability and does not sample: leave out {}", b.k, flag);
}

void print_beam_summary(const BeamResult& r, const BeamParams& bp) {
    std::string best = "no hypothesis (every continuation was banned)";
    if (!r.hypotheses.empty())
        best = fmt::format("best score {:.4f} (sum log-prob {:.4f} over {}, stopped by {})", r.best().score,
                           r.best().sum_logprob, counted(r.best().length, "token"), to_string(r.best().stop_reason));
    const GenerateTimings& t = r.timings;
    fmt::print(stderr,
               "qlm: beam search: {}, {}, {} of {} kept finished, {} | prompt: {} in {:.2f} s ({:.1f} "
               "tokens/s) | generation: {}, {} decoded in {:.2f} s ({:.1f} tokens/s)\n",
               counted(bp.n_beams, "beam"), best, r.n_finished, r.hypotheses.size(),
               r.search_end == StopReason::EndOfGeneration ? std::string("search done")
                                                             : fmt::format("search ended by {}", to_string(r.search_end)),
               counted(t.prompt_tokens, "token"), t.prompt_seconds, t.prompt_tokens_per_second(),
               counted(r.steps, "step"), counted(t.generated_tokens, "token"), t.generation_seconds,
               t.generation_tokens_per_second());
}

// --beams K: the best hypothesis' text as plain qlm run prints its text, then the search's summary.
int run_beams(const RunOptions& o, ModelForGeneration& lm, const LoadOptions& lo, const SamplingParams& sp,
              GenerateOptions go, const std::string& text, const std::vector<int32_t>& prompt_ids) {
    const BeamParams bp = beam_params(o);
    ContextOptions co = lm.context;
    co.n_seq_max = bp.n_beams;
    co.n_outputs = bp.n_beams;
    const KvLayout kv = plan_context(lm.loaded.model->hparams(), lm.loaded.model->weights().matmul_groups(), co).kv;
    if (const int64_t fit = std::max<int64_t>(0, max_beams(kv, static_cast<int64_t>(prompt_ids.size()))); bp.n_beams > fit)
        throw_usage("--beams {}: the KV cache of {} positions ({} blocks of {}) holds the {}-token prompt and {} more "
                    "block{}, one per beam: use at most --beams {}, or a larger -c",
                    bp.n_beams, kv.n_ctx, kv.n_blocks, kv.block_size, prompt_ids.size(), fit, fit == 1 ? "" : "s", fit);
    InferenceContext ctx(*lm.loaded.model, co);
    std::string summary = load_summary(lm, lo, sp, sp.seed);
    summary.resize(summary.find(" | sampling:"));
    fmt::print(stderr, "{} | beam search: {}, length penalty {:g}{}{}\n", summary, counted(bp.n_beams, "beam"),
               bp.length_penalty, bp.early_stopping ? ", early stopping" : "",
               bp.no_repeat_ngram > 0 ? fmt::format(", no-repeat-ngram {}", bp.no_repeat_ngram) : "");
    if (!o.no_display_prompt && o.ids.empty()) emit(text);
    TokenizerDecoder decoder(*lm.loaded.tokenizer);
    InterruptScope ctrl_c({SIGINT});
    go.on_text = nullptr;
    go.cancel = &interrupt_flag();
    const BeamResult r = beam_search(ctx, decoder, prompt_ids, bp, go);
    const std::string best = r.hypotheses.empty() ? std::string() : r.best().text;
    emit(best);
    end_text_line(best);
    print_beam_summary(r, bp);
    return r.search_end == StopReason::Cancelled ? kExitInterrupted : 0;
}

// -md / --lookup / --self-spec: the target verifies what the drafter proposes (speculative.h).
int run_speculative(const RunOptions& o, ModelForGeneration& lm, const LoadOptions& lo, const SamplingParams& sp,
                    GenerateOptions go, const std::string& text, const std::vector<int32_t>& prompt_ids) {
    const Hparams& hp = lm.loaded.model->hparams();
    if (o.spec.self_spec != 0 && o.spec.self_spec > hp.n_layer - 1)
        throw_usage("--self-spec {}: this model has {} layers; draft with 1 .. {} of them", o.spec.self_spec,
                    hp.n_layer, hp.n_layer - 1);
    std::unique_ptr<DraftForGeneration> draft;
    if (!o.spec.draft_model.empty()) draft = std::make_unique<DraftForGeneration>(load_draft(o.spec, lm));
    ContextOptions co = lm.context;
    co.n_outputs = o.spec.n_draft() + 1;
    InferenceContext ctx(*lm.loaded.model, co);
    std::unique_ptr<InferenceContext> draft_ctx;
    std::unique_ptr<SpeculativeModel> spec;
    if (draft) {
        draft_ctx = std::make_unique<InferenceContext>(*draft->loaded.model, draft->context);
        spec = draft_model_speculation(ctx, *draft_ctx);
    } else if (o.spec.lookup != 0) {
        spec = lookup_speculation(ctx);
    } else {
        as_usage([&] { spec = self_speculation(ctx, o.spec.self_spec); });
    }
    Sampler sampler(sp);
    fmt::print(stderr, "{}", load_summary(lm, lo, sp, sampler.seed()));
    if (!o.no_display_prompt && o.ids.empty()) emit(text);
    TokenizerDecoder decoder(*lm.loaded.tokenizer);
    InterruptScope ctrl_c({SIGINT});
    go.cancel = &interrupt_flag();
    const SpeculativeResult r = generate_speculative(*spec, decoder, sampler, prompt_ids, go, o.spec.options());
    end_text_line(r.generation);
    print_timings(r.generation);
    fmt::print(stderr, "{}", speculative_summary(o.spec, hp.n_layer, r));
    return r.generation.stop_reason == StopReason::Cancelled ? kExitInterrupted : 0;
}

int run(const RunOptions& o) {
    // --- validate flags before touching the model ---
    const LoadOptions lo{.model = o.model, .n_ctx = o.n_ctx, .n_batch = o.n_batch, .n_threads = o.n_threads, .kv_type = o.kv_type, .flash_attn = o.flash_attn, .gpu_layers = o.gpu_layers};
    if (o.n_predict < -1) throw_usage("-n {}: use a number of tokens >= 0, or -1 to generate until end of text", o.n_predict);
    check_load_flags(lo);
    const SamplingParams sp = resolve_sampling(o.sampling);
    GenerateOptions go = generate_options(o);
    std::string text;
    if (o.ids.empty()) text = read_prompt(o.prompt, /*allow_empty=*/false);
    else if (o.prompt.has_text || !o.prompt.file.empty()) throw_usage("give either a text prompt or --ids, not both");
    else (void)parse_ids(o.ids, INT64_MAX);  // the syntax before loading; the vocabulary after
    if (o.n_parallel < 1) throw_usage("--parallel {}: the number of sequences must be at least 1", o.n_parallel);
    if (o.n_parallel > 1 && !o.logits_out.empty())
        throw_usage("--logits-out records one sequence: leave out --parallel {} (or --logits-out)", o.n_parallel);
    check_beam_flags(o);
    check_speculative_flags(o.spec, o.n_parallel, !o.logits_out.empty());

    // --- load ---
    ModelForGeneration lm = load_for_generation(lo);
    const Hparams& hp = lm.loaded.model->hparams();
    const Tokenizer& tok = *lm.loaded.tokenizer;
    const std::vector<int32_t> prompt_ids = prompt_tokens(o, text, tok, hp, lm.context.n_ctx);
    if (o.n_parallel > 1) return run_parallel(o, lm, lo, sp, go, text, prompt_ids);
    if (o.beams.given) return run_beams(o, lm, lo, sp, go, text, prompt_ids);
    if (o.spec.requested()) return run_speculative(o, lm, lo, sp, go, text, prompt_ids);
    ContextOptions co = lm.context;
    if (!o.logits_out.empty()) co.n_outputs = static_cast<int64_t>(prompt_ids.size());  // every prompt position
    InferenceContext ctx(*lm.loaded.model, co);
    Sampler sampler(sp);
    fmt::print(stderr, "{}", load_summary(lm, lo, sp, sampler.seed()));

    if (!o.no_display_prompt && o.ids.empty()) emit(text);

    // --- generate (prefill + sampling loop) ---
    LogitsDump dump;
    if (!o.logits_out.empty()) {
        go.on_prompt_logits = [&](int64_t, std::span<const float> l) { dump.prompt_logits.push_back(make_logits_entry(l)); };
        go.on_generated_logits = [&](int64_t, std::span<const float> l) {
            dump.generated_logits.push_back(make_logits_entry(l));
        };
    }
    ContextLogitsSource source(ctx);
    TokenizerDecoder decoder(tok);
    InterruptScope ctrl_c({SIGINT});
    go.cancel = &interrupt_flag();
    const GenerateResult r = generate(source, decoder, sampler, prompt_ids, go);
    end_text_line(r);

    if (!o.logits_out.empty()) {
        dump.model = std::filesystem::path(o.model).filename().string();
        dump.n_vocab = hp.n_vocab;
        dump.prompt_ids = prompt_ids;
        dump.greedy = r.tokens;
        dump.sampled = !is_greedy(sp);
        for (int32_t id : r.tokens) dump.greedy_bytes += tok.token_to_piece(id);
        write_logits_json(o.logits_out, dump);
    }
    print_timings(r);
    return r.stop_reason == StopReason::Cancelled ? kExitInterrupted : 0;
}

Action setup_run(CLI::App& app) {
    auto o = std::make_shared<RunOptions>();
    app.add_option("-m,--model", o->model, "GGUF model file")->required();
    app.add_option("-p,--prompt", o->prompt.text, "prompt text (without -p or -f: read from stdin)");
    app.add_option("-f,--file", o->prompt.file, "read the prompt from a file (one trailing newline is dropped, as from stdin)");
    app.add_option("--ids", o->ids, "feed these token ids instead of text, e.g. \"1 403 407\"");
    app.add_option("-n,--n-predict", o->n_predict, "tokens to generate (-1 = until end of text or context full)")->capture_default_str();
    app.add_option("-c,--ctx-size", o->n_ctx, "context size in tokens (0 = the model's)")->capture_default_str();
    app.add_option("-b,--batch-size", o->n_batch, "prompt tokens per forward batch (512 keeps the activations small; a longer prompt runs in several batches)")->capture_default_str();
    app.add_option("-t,--threads", o->n_threads, "threads (0 = one per physical core, less CPUs busy with other work)")->capture_default_str()
        ->check(thread_count_limit());
    app.add_option("--parallel", o->n_parallel,
                   "N samples of the prompt (seeds -s, -s+1, ...): the prompt is evaluated once and its KV blocks "
                   "shared; each step decodes the N sequences in one batch (-np N)")
        ->capture_default_str();
    app.add_option("--beams", o->beams.k,
                   "beam search with K beams (Hugging Face's semantics): the best-scoring continuation, the K beams "
                   "decoded in one batch sharing KV blocks; no sampling flags");
    app.add_option("--length-penalty", o->beams.length_penalty,
                   "beam search: a hypothesis scores sum log-prob / length^A (1 = per token, 0 = plain sum)")
        ->capture_default_str();
    app.add_flag("--early-stopping", o->beams.early_stopping,
                 "beam search: stop as soon as K hypotheses have finished");
    add_sampling_flags(app, o->sampling);
    add_speculative_flags(app, o->spec);
    app.add_option("--stop", o->stops, "stop before this text (repeatable)")->allow_extra_args(false);
    app.add_flag("--ignore-eos", o->ignore_eos, "keep generating past end-of-text tokens");
    add_cache_flags(app, o->kv_type, &o->flash_attn);
    add_gpu_layers_flag(app, o->gpu_layers);
    app.add_option("--logits-out", o->logits_out,
                   "write prompt logits and generated ids as JSON (golden-file layout; the ids are \"greedy\" at "
                   "--temp 0, \"generated\" when sampled)");
    app.add_flag("--no-bos", o->no_bos, "do not add BOS even if the model asks for it");
    app.add_flag("--special", o->special, "parse special-token text such as <s> or <|im_start|> in the prompt");
    app.add_flag("--no-display-prompt", o->no_display_prompt, "print only the generated text, not the prompt");
    return [o, &app]() -> int {
        o->prompt.has_text = app.count("--prompt") > 0;
        o->beams.given = app.count("--beams") > 0;
        o->beams.penalty_given = app.count("--length-penalty") > 0;
        return run(*o);
    };
}

const bool registered = register_command({"run", "Generate text from a prompt", 10, &setup_run});

}  // namespace
}  // namespace qlm::cli
