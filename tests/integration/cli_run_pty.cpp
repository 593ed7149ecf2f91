// `qlm run` on a pseudo-terminal: Ctrl-C during a long generation ends the text's line, prints
// the timing line ("stopped by cancelled") and exits 130, the status of a program Ctrl-C ended.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "chat_pty.h"
#include "common/test_support.h"

namespace qlm {
namespace {

TEST(RunPty, CtrlCPrintsTheTimingsAndAFinalNewline) {
    // Until the 2048-token context is full: seconds of generation, so Ctrl-C arrives long before.
    test::PtyProcess p({test::qlm_bin().string(), "run", "-m", test::shared_file("models/stories260K-F32.gguf").string(),
                        "-p", "Once upon a time", "-n", "-1", "--ignore-eos", "-t", "1"},
                       {{"TERM", "xterm"}, {"LC_ALL", "C.UTF-8"}});
    ASSERT_TRUE(p.started());
    ASSERT_TRUE(p.wait_for("Once upon a time")) << p.output();
    ASSERT_TRUE(p.wait_for(" ")) << p.output();  // some generated text
    p.type("\x03");
    EXPECT_EQ(p.wait_exit(), 130) << p.output();
    const std::string out = p.output();
    const size_t timing = out.find("qlm: prompt: 5 tokens in ");
    ASSERT_NE(timing, std::string::npos) << out;
    EXPECT_NE(out.find("| stopped by cancelled\r\n", timing), std::string::npos) << out;
    // The generated text's line was ended before the timing line, and the output ends with a newline.
    ASSERT_GE(timing, 2u);
    EXPECT_EQ(out.substr(timing - 2, 2), "\r\n") << out;
    EXPECT_EQ(out.substr(out.size() - 2), "\r\n") << out;
    EXPECT_EQ(out.find("context-full"), std::string::npos) << out;
}

}  // namespace
}  // namespace qlm
