// Tokenizers read from GGUF metadata: SentencePiece-style (tokenizer.ggml.model = "llama") and
// byte-level BPE ("gpt2", with the pre-tokenizer named by tokenizer.ggml.pre).
//
//   auto tok = Tokenizer::from_gguf(file);            // throws qlm::Error
//   std::vector<int32_t> ids = tok->encode("Hello", {.add_bos = tok->add_bos(), .parse_special = false});
//   std::string piece = tok->token_to_piece(ids[0]);   // raw bytes (may be a partial UTF-8 char)
//   Utf8Stream s; std::string out = s.push(piece);     // only complete characters
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "src/gguf/gguf_file.h"
#include "src/util/utf8.h"  // Utf8Stream, for streaming token pieces

namespace qlm {

enum class TokenType : int32_t {
    Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6,
};

struct EncodeOptions {
    bool add_bos = false;        // prepend BOS (when the vocab has one)
    bool add_eos = false;
    bool parse_special = false;  // recognise control/user-defined token text like "<s>" in the input
};

class Tokenizer {
public:
    static std::unique_ptr<Tokenizer> from_gguf(const gguf::GgufFile& file);
    virtual ~Tokenizer() = default;

    // Token ids of `text`: special-token text is split out first (see split_special), the text
    // between goes through the vocabulary's own encoder.
    std::vector<int32_t> encode(std::string_view text, const EncodeOptions& opts) const;

    // The bytes a token stands for (byte tokens -> the raw byte, ▁ -> space for SPM, GPT-2's byte
    // map undone for BPE). Control tokens give "" unless render_special.
    std::string token_to_piece(int32_t id, bool render_special = false) const;
    // Concatenated pieces of ids; SPM drops the leading space of the first piece (the one after
    // a leading BOS, if any) when the vocab adds a space prefix, so decode(encode(x)) == x.
    // (llama.cpp's detokenize drops it only when the first id is not BOS, and also applies
    // clean_up_tokenization_spaces to some BPE vocabs; we do neither.) Invalid UTF-8 is kept.
    virtual std::string decode(const std::vector<int32_t>& ids, bool render_special = false) const = 0;

    int64_t n_vocab() const { return static_cast<int64_t>(tokens_.size()); }
    const std::string& token_text(int32_t id) const { return tokens_.at(static_cast<size_t>(id)); }
    TokenType token_type(int32_t id) const;
    std::string_view model_name() const { return model_; }   // "llama" | "gpt2"
    std::string_view pre_name() const { return pre_; }       // tokenizer.ggml.pre or "default"

    int32_t bos_id() const { return bos_; }  // -1 when none
    int32_t eos_id() const { return eos_; }
    int32_t eot_id() const { return eot_; }
    int32_t eom_id() const { return eom_; }
    int32_t unk_id() const { return unk_; }
    bool add_bos() const { return add_bos_; }
    bool add_eos() const { return add_eos_; }
    bool add_space_prefix() const { return add_space_prefix_; }
    // True for ids that end generation (EOS, EOT, EOM and tokens such as <|im_end|>, <|endoftext|>).
    bool is_end_of_generation(int32_t id) const;
    // The id of a token with exactly this text, or -1.
    int32_t find_token(std::string_view text) const;

protected:
    Tokenizer() = default;

    // A piece of the input: either raw text [offset, offset+length) or a special token.
    struct Fragment {
        int32_t token = -1;  // -1: raw text
        size_t offset = 0, length = 0;
    };
    // llama.cpp's special-token partition: the text of USER_DEFINED tokens (and of CONTROL and
    // UNKNOWN tokens when parse_special) is cut out, longest token text first.
    std::vector<Fragment> split_special(std::string_view text, bool parse_special) const;
    // Checks an id passed to token_to_piece/decode; throws qlm::Error when out of range.
    void check_id(int32_t id) const;

    // What each kind does its own way. encode_fragment: the ids of raw text between special
    // tokens (`after_special`: the text starts the input or follows a special token).
    // normal_piece: the bytes of a NORMAL token's text. malformed_byte_piece: the bytes of a BYTE
    // token whose text is not "<0xNN>".
    virtual void encode_fragment(std::string_view text, bool after_special, std::vector<int32_t>& out) const = 0;
    virtual std::string normal_piece(const std::string& text) const = 0;
    virtual std::string malformed_byte_piece(const std::string& text) const = 0;

    std::string model_, pre_;
    std::vector<std::string> tokens_;
    std::vector<float> scores_;
    std::vector<TokenType> types_;  // empty when the file has no token_type (all NORMAL)
    std::unordered_map<std::string, int32_t> token_to_id_;
    std::vector<int32_t> special_ids_;     // CONTROL/USER_DEFINED/UNKNOWN ids, longest text first
    std::vector<uint8_t> rstrip_;          // per token: strip whitespace right of it when split out
    std::vector<int32_t> eog_ids_;         // sorted
    int32_t bos_ = -1, eos_ = -1, eot_ = -1, eom_ = -1, unk_ = -1;
    bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false;

    friend struct VocabLoader;
};

}  // namespace qlm
