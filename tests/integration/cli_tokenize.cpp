// `qlm tokenize` gives llama.cpp's prompt ids for the golden prompts.
#include <gtest/gtest.h>

#include <string>

#include "common/test_support.h"

namespace qlm {
namespace {

std::string ids_list(const nlohmann::json& ids) {
    std::string s = "[";
    for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i].get<int>());
    return s + "]\n";
}

TEST(CliTokenize, GoldenPromptIdsForStories260K) {
    auto model = test::shared_file("models/stories260K-F32.gguf").string();
    for (const char* story : {"story1", "story2", "story3"}) {
        SCOPED_TRACE(story);
        auto golden = test::read_json(test::shared_file(std::string("golden/stories260K-F32.") + story + ".json"));
        std::string text = test::read_text(test::shared_file(std::string("golden/t_") + story + ".txt"));
        auto r = test::run_command({test::qlm_bin().string(), "tokenize", "-m", model, "--ids-only", text});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.out, ids_list(golden["prompt_ids"]));
        // the same text from a file
        auto f = test::run_command({test::qlm_bin().string(), "tokenize", "-m", model, "--ids-only", "-f",
                                    test::shared_file(std::string("golden/t_") + story + ".txt").string()});
        EXPECT_EQ(f.out, r.out);
    }
}

TEST(CliTokenize, NoBosAndPieces) {
    auto model = test::shared_file("models/stories260K-F32.gguf").string();
    auto golden = test::read_json(test::shared_file("golden/stories260K-F32.story1.json"));
    auto ids = golden["prompt_ids"];
    ASSERT_EQ(ids[0].get<int>(), 1);  // BOS
    auto r = test::run_command({test::qlm_bin().string(), "tokenize", "-m", model, "--ids-only", "--no-bos",
                                "Once upon a time"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    nlohmann::json rest(ids.begin() + 1, ids.end());
    EXPECT_EQ(r.out, ids_list(rest));
    // one line per token: "   403 -> ' Once'" style, pieces joined give back the text
    auto p = test::run_command({test::qlm_bin().string(), "tokenize", "-m", model, "--no-bos", "Once upon a time"});
    ASSERT_EQ(p.exit_code, 0) << p.err;
    std::string joined;
    size_t lines = 0, pos = 0;
    while ((pos = p.out.find("-> '", pos)) != std::string::npos) {
        size_t end = p.out.find("'\n", pos + 4);
        ASSERT_NE(end, std::string::npos);
        joined += p.out.substr(pos + 4, end - pos - 4);
        pos = end;
        ++lines;
    }
    EXPECT_EQ(lines, rest.size());
    EXPECT_EQ(joined, " Once upon a time");
}

}  // namespace
}  // namespace qlm
