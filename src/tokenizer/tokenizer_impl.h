// The two tokenizer kinds behind Tokenizer (internal to src/tokenizer).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "src/tokenizer/pretokenizer.h"
#include "src/tokenizer/tokenizer.h"

namespace qlm {

// SentencePiece-style BPE (tokenizer.ggml.model = "llama"), as llama.cpp's llm_tokenizer_spm:
// spaces become U+2581, characters are merged pairwise by highest score, pieces that are not
// tokens fall back to <0xNN> byte tokens (or UNK).
class SpmTokenizer final : public Tokenizer {
public:
    std::string decode(const std::vector<int32_t>& ids, bool render_special = false) const override;

private:
    friend struct VocabLoader;
    void encode_fragment(std::string_view text, bool after_special, std::vector<int32_t>& out) const override;
    std::string normal_piece(const std::string& text) const override;
    std::string malformed_byte_piece(const std::string& text) const override;  // the text as it is
    void encode_text(const std::string& text, std::vector<int32_t>& out) const;
    void init_byte_tokens();
    std::vector<int32_t> byte_tokens_;  // byte -> <0xNN> token (or the 1-byte token), -1 if none
};

// Byte-level BPE (tokenizer.ggml.model = "gpt2"), as llama.cpp's llm_tokenizer_bpe: regex
// pre-tokenizer, GPT-2 byte map, merges by rank.
class BpeTokenizer final : public Tokenizer {
public:
    std::string decode(const std::vector<int32_t>& ids, bool render_special = false) const override;

private:
    friend struct VocabLoader;
    void encode_fragment(std::string_view text, bool after_special, std::vector<int32_t>& out) const override;
    std::string normal_piece(const std::string& text) const override;
    std::string malformed_byte_piece(const std::string& text) const override;  // through the byte map
    void encode_word(const std::string& word, std::vector<int32_t>& out) const;

    std::unordered_map<std::string, int> ranks_;  // "left right" -> merge index
    std::unique_ptr<PreTokenizer> pre_tokenizer_;
    bool ignore_merges_ = false;
};

}  // namespace qlm
