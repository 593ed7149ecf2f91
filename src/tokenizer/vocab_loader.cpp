// Tokenizer::from_gguf: the vocabulary and its settings from tokenizer.ggml.* metadata (FORMATS.md
// §5.5), with llama.cpp's defaults, validated against hostile files.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>

#include "src/tokenizer/tokenizer_impl.h"
#include "src/util/error.h"

namespace qlm {

struct VocabLoader {
    const gguf::GgufFile& file;
    Tokenizer& tok;

    const std::string& path() const { return file.path(); }

    // A token id key: nullopt when absent, -1 for "none" (0xFFFFFFFF / -1), else the id.
    // Out-of-range ids are an error when `strict`, otherwise ignored (nullopt).
    std::optional<int32_t> read_id(std::string_view key, bool strict) const {
        const gguf::Value* v = file.find(key);
        if (!v) return std::nullopt;
        int64_t id = 0;
        switch (v->type) {
            case gguf::ValueType::UINT8: case gguf::ValueType::UINT16:
            case gguf::ValueType::UINT32: case gguf::ValueType::UINT64:
                if (v->u == 0xFFFFFFFFull || v->u == std::numeric_limits<uint64_t>::max()) return -1;
                id = v->u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                         ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(v->u);
                break;
            case gguf::ValueType::INT8: case gguf::ValueType::INT16:
            case gguf::ValueType::INT32: case gguf::ValueType::INT64:
                if (v->i == -1) return -1;
                id = v->i;
                break;
            default:
                throw_error("{}: {} is a {}, expected an integer token id", path(), key,
                            gguf::value_type_name(v->type));
        }
        const int64_t n = tok.n_vocab();
        if (id < 0 || id >= n) {
            if (strict)
                throw_error("{}: {} = {} is out of range: the vocabulary has {} tokens (fix the id, or "
                            "set it to 0xFFFFFFFF for none)", path(), key, id, n);
            return std::nullopt;
        }
        return static_cast<int32_t>(id);
    }

    void read_tokens() {
        const gguf::ArrayValue* arr = file.get_array("tokenizer.ggml.tokens", gguf::ValueType::STRING);
        if (!arr) throw_error("{}: tokenizer.ggml.tokens is missing (the file has no vocabulary)", path());
        if (arr->strings.empty()) throw_error("{}: tokenizer.ggml.tokens is empty (the vocabulary has no tokens)", path());
        if (arr->strings.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
            throw_error("{}: tokenizer.ggml.tokens has {} entries, more than token ids can address", path(),
                        arr->strings.size());
        const size_t n = arr->strings.size();
        tok.tokens_.resize(n);
        tok.token_to_id_.reserve(n * 2);
        for (size_t i = 0; i < n; ++i) {
            std::string word = arr->strings[i];
            if (word.empty()) word = "[EMPTY_" + std::to_string(i) + "]";  // as llama.cpp
            tok.token_to_id_[word] = static_cast<int32_t>(i);             // a duplicate: the last wins
            tok.tokens_[i] = std::move(word);
        }

        if (const gguf::ArrayValue* s = file.get_array("tokenizer.ggml.scores", gguf::ValueType::FLOAT32)) {
            if (s->floats.size() != n)
                throw_error("{}: tokenizer.ggml.scores has {} entries but tokenizer.ggml.tokens has {} "
                            "(they must be the same length)", path(), s->floats.size(), n);
            tok.scores_.assign(s->floats.begin(), s->floats.end());
        }
        if (const gguf::ArrayValue* t = file.get_array("tokenizer.ggml.token_type", gguf::ValueType::INT32)) {
            if (t->ints.size() != n)
                throw_error("{}: tokenizer.ggml.token_type has {} entries but tokenizer.ggml.tokens has {} "
                            "(they must be the same length)", path(), t->ints.size(), n);
            tok.types_.resize(n);
            for (size_t i = 0; i < n; ++i) {
                const int64_t v = t->ints[i];
                tok.types_[i] = (v >= 0 && v <= 6) ? static_cast<TokenType>(v) : TokenType::Undefined;
            }
        }
    }

    void read_merges(BpeTokenizer& bpe) {
        const gguf::ArrayValue* arr = file.get_array("tokenizer.ggml.merges", gguf::ValueType::STRING);
        if (!arr) throw_error("{}: tokenizer.ggml.merges is missing (a gpt2 tokenizer needs its BPE merges)", path());
        bpe.ranks_.reserve(arr->strings.size() * 2);
        for (size_t i = 0; i < arr->strings.size(); ++i) {
            const std::string& m = arr->strings[i];
            if (m.size() < 2 || m.find(' ', 1) == std::string::npos)
                throw_error("{}: tokenizer.ggml.merges[{}] = '{}' has no space between its two parts "
                            "(expected \"left right\")", path(), i, m.substr(0, 64));
            bpe.ranks_.emplace(m, static_cast<int>(std::min<size_t>(i, std::numeric_limits<int>::max())));
        }
    }

    void read_special_ids(bool spm) {
        const int64_t n = tok.n_vocab();
        auto dflt = [&](int32_t id) { return id < n ? id : -1; };
        tok.bos_ = dflt(spm ? 1 : 11);
        tok.eos_ = dflt(spm ? 2 : 11);
        tok.unk_ = spm ? dflt(0) : -1;
        if (auto id = read_id("tokenizer.ggml.bos_token_id", true)) tok.bos_ = *id;
        if (auto id = read_id("tokenizer.ggml.eos_token_id", true)) tok.eos_ = *id;
        if (auto id = read_id("tokenizer.ggml.unknown_token_id", true)) tok.unk_ = *id;
        if (auto id = read_id("tokenizer.ggml.eot_token_id", true)) tok.eot_ = *id;
        if (auto id = read_id("tokenizer.ggml.eom_token_id", true)) tok.eom_ = *id;
        // Read for their type checks only; out-of-range values are ignored.
        for (const char* key : {"tokenizer.ggml.padding_token_id", "tokenizer.ggml.seperator_token_id",
                                "tokenizer.ggml.cls_token_id", "tokenizer.ggml.mask_token_id"})
            (void)read_id(key, false);
    }

    void read_flags(bool spm) {
        const std::string& pre = tok.pre_;
        const bool llama3 = !spm && (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" ||
                                     pre == "falcon3" || pre == "pixtral");
        tok.add_bos_ = spm || llama3;
        tok.add_eos_ = false;
        tok.add_space_prefix_ = spm;
        const auto add_bos = file.get_bool("tokenizer.ggml.add_bos_token");
        const auto add_eos = file.get_bool("tokenizer.ggml.add_eos_token");
        if (add_bos) tok.add_bos_ = *add_bos;
        if (add_eos) tok.add_eos_ = *add_eos;
        if (auto p = file.get_bool("tokenizer.ggml.add_space_prefix")) tok.add_space_prefix_ = *p;
        if (tok.add_bos_ && tok.bos_ < 0) {
            if (add_bos)
                throw_error("{}: tokenizer.ggml.add_bos_token is true but the file has no BOS token "
                            "(set tokenizer.ggml.bos_token_id)", path());
            tok.add_bos_ = false;
        }
        if (tok.add_eos_ && tok.eos_ < 0) {
            if (add_eos)
                throw_error("{}: tokenizer.ggml.add_eos_token is true but the file has no EOS token "
                            "(set tokenizer.ggml.eos_token_id)", path());
            tok.add_eos_ = false;
        }
    }

    void mark_control(int32_t id) {
        if (tok.types_.empty()) tok.types_.assign(tok.tokens_.size(), TokenType::Normal);
        tok.types_[static_cast<size_t>(id)] = TokenType::Control;
    }

    // llama.cpp finds EOT/EOM and end-of-generation tokens by their text, and makes them CONTROL.
    void detect_end_tokens() {
        static const char* const eot_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                                "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
                                                "<\xEF\xBD\x9C" "end\xE2\x96\x81" "of\xE2\x96\x81" "sentence\xEF\xBD\x9C>",
                                                "<end_of_utterance>"};
        static const char* const eog_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                                "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>",
                                                "<|end_of_text|>", "<end_of_utterance>"};
        auto first_of = [&](const auto& texts) {  // the first text of the list the vocab has
            for (const char* t : texts)
                if (const int32_t id = tok.find_token(t); id >= 0) return id;
            return int32_t{-1};
        };
        if (tok.eot_ < 0) {
            tok.eot_ = first_of(eot_texts);
            if (tok.eot_ >= 0) mark_control(tok.eot_);
        }
        if (tok.eom_ < 0) {
            tok.eom_ = tok.find_token("<|eom_id|>");
            if (tok.eom_ >= 0) mark_control(tok.eom_);
        }
        std::vector<int32_t> eog;
        for (const char* t : eog_texts) {
            const int32_t id = tok.find_token(t);
            if (id >= 0) {
                eog.push_back(id);
                mark_control(id);
            }
        }
        for (int32_t id : {tok.eos_, tok.eot_, tok.eom_})
            if (id >= 0) eog.push_back(id);
        std::sort(eog.begin(), eog.end());
        eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
        tok.eog_ids_ = std::move(eog);
    }

    void build_special_cache() {
        for (size_t i = 0; i < tok.tokens_.size(); ++i) {
            const TokenType t = tok.token_type(static_cast<int32_t>(i));
            if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown)
                tok.special_ids_.push_back(static_cast<int32_t>(i));
        }
        std::stable_sort(tok.special_ids_.begin(), tok.special_ids_.end(), [&](int32_t a, int32_t b) {
            return tok.tokens_[static_cast<size_t>(a)].size() > tok.tokens_[static_cast<size_t>(b)].size();
        });
        // llama.cpp: Phi-3's special tokens swallow the whitespace after them (except <unk>, <s>,
        // <|endoftext|>); </s> too.
        std::string name = file.get_string("general.name").value_or("");
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
            tok.rstrip_.assign(tok.tokens_.size(), 0);
            for (int32_t id : tok.special_ids_) tok.rstrip_[static_cast<size_t>(id)] = 1;
            if (int32_t id = tok.find_token("</s>"); id >= 0) tok.rstrip_[static_cast<size_t>(id)] = 1;
            for (const char* t : {"<unk>", "<s>", "<|endoftext|>"})
                if (int32_t id = tok.find_token(t); id >= 0) tok.rstrip_[static_cast<size_t>(id)] = 0;
        }
    }

    static std::unique_ptr<Tokenizer> load(const gguf::GgufFile& file) {
        const auto model = file.get_string("tokenizer.ggml.model");
        if (!model) throw_error("{}: tokenizer.ggml.model is missing (the file has no tokenizer)", file.path());
        std::unique_ptr<Tokenizer> result;
        SpmTokenizer* spm = nullptr;
        BpeTokenizer* bpe = nullptr;
        if (*model == "llama") {
            auto t = std::make_unique<SpmTokenizer>();
            spm = t.get();
            result = std::move(t);
        } else if (*model == "gpt2") {
            auto t = std::make_unique<BpeTokenizer>();
            bpe = t.get();
            result = std::move(t);
        } else {
            throw_error("{}: tokenizer model '{}' is not supported (tokenizer.ggml.model; qlm reads 'llama' "
                        "(SentencePiece) and 'gpt2' (byte-level BPE))", file.path(), *model);
        }
        VocabLoader l{file, *result};
        result->model_ = *model;
        result->pre_ = file.get_string("tokenizer.ggml.pre").value_or("default");
        if (result->pre_.empty()) result->pre_ = "default";
        l.read_tokens();
        l.read_special_ids(spm != nullptr);
        l.read_flags(spm != nullptr);
        l.detect_end_tokens();
        l.build_special_cache();
        if (spm) {
            spm->init_byte_tokens();
        } else {
            l.read_merges(*bpe);
            bpe->pre_tokenizer_ = std::make_unique<PreTokenizer>(PreTokenizer::regexes_for(result->pre_));
            const std::string& pre = result->pre_;
            bpe->ignore_merges_ = pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe" ||
                                  pre == "falcon3" || pre == "pixtral";
        }
        return result;
    }
};

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const gguf::GgufFile& file) { return VocabLoader::load(file); }

}  // namespace qlm
