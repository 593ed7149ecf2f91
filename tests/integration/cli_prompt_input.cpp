// Prompt text from -f FILE and stdin loses one trailing newline, as llama.cpp's -f does: the
// README's `echo "Once upon a time" | qlm run` prompt is the same 5 tokens as -p "Once upon a time".
// -p text is kept as given, and only one newline goes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/test_support.h"

namespace qlm {
namespace {

std::string stories() { return test::shared_file("models/stories260K-F32.gguf").string(); }

std::string ids(const std::vector<std::string>& extra, const std::string& stdin_text = "") {
    std::vector<std::string> a{test::qlm_bin().string(), "tokenize", "-m", stories(), "--ids-only"};
    a.insert(a.end(), extra.begin(), extra.end());
    auto r = test::run_command(a, stdin_text);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
}

TEST(PromptInput, OneTrailingNewlineOfAFileOrStdinIsDropped) {
    const auto dir = test::temp_dir("prompt-input");
    const std::string one = (dir / "one.txt").string(), two = (dir / "two.txt").string();
    test::write_bytes(one, std::vector<uint8_t>{'O', 'n', 'c', 'e', '\n'});
    test::write_bytes(two, std::vector<uint8_t>{'O', 'n', 'c', 'e', '\n', '\n'});
    const std::string plain = ids({"-p", "Once"});
    const std::string with_newline = ids({"-p", "Once\n"});
    ASSERT_NE(plain, with_newline);  // the newline is a token of its own
    EXPECT_EQ(ids({"-f", one}), plain);
    EXPECT_EQ(ids({}, "Once\n"), plain);
    EXPECT_EQ(ids({"-f", two}), with_newline);  // only one newline goes
    EXPECT_EQ(ids({}, "Once\n\n"), with_newline);
}

TEST(PromptInput, TheReadmeStdinExampleIsFiveTokens) {
    auto r = test::run_command({test::qlm_bin().string(), "run", "-m", stories(), "-t", "1", "-n", "4", "--temp", "0"},
                               "Once upon a time\n");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("prompt: 5 tokens"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.rfind("Once upon a time,", 0), 0u) << r.out;  // no newline between prompt and reply
}

}  // namespace
}  // namespace qlm
