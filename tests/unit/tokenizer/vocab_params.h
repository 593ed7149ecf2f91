// The reference vocabularies in ../shared/models/vocab that the parameterised tokenizer tests run
// on (each has a .inp/.out pair of llama.cpp's tokenizations), and their gtest parameter names.
#pragma once

#include <string>

#include <gtest/gtest.h>

namespace qlm::test {

inline auto reference_vocabs() {
    return ::testing::Values("llama-spm", "phi-3", "gpt-2", "deepseek-coder", "deepseek-llm", "falcon", "mpt",
                             "refact", "starcoder");
}

// "deepseek-coder" -> "deepseek_coder" (gtest names allow no '-').
inline std::string vocab_param_name(const ::testing::TestParamInfo<std::string>& info) {
    std::string n = info.param;
    for (char& ch : n)
        if (ch == '-') ch = '_';
    return n;
}

}  // namespace qlm::test
