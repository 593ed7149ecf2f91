// `qlm quantize` killed part-way (SIGTERM, SIGINT, SIGHUP) leaves neither the output nor its
// temp file. The signal goes 1 s after the start of a one-thread quantization of the 135 M-parameter
// smol model to IQ4_XS, whose search takes minutes (Q4_K_M's takes about a second, too close to
// the signal); a signal that lands before the handlers are installed (still loading) kills the
// process before any file exists, which the test accepts too.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "common/test_support.h"

namespace qlm {
namespace {

namespace fs = std::filesystem;

void kill_midway(int sig) {
    const fs::path dir = test::temp_dir("quantize-signal-" + std::to_string(sig));
    const std::string bin = test::qlm_bin().string(), in = test::synth_model("smol-f16.gguf").string(),
                      out = (dir / "out.gguf").string();
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        execl(bin.c_str(), bin.c_str(), "quantize", in.c_str(), out.c_str(), "IQ4_XS", "-t", "1",
              static_cast<char*>(nullptr));
        _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    kill(pid, sig);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the run finished before the signal";
    size_t files = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        ADD_FAILURE() << "left behind: " << e.path();
        ++files;
    }
    EXPECT_EQ(files, 0u);
}

TEST(QuantizeSignals, TermLeavesNothing) { kill_midway(SIGTERM); }
TEST(QuantizeSignals, IntLeavesNothing) { kill_midway(SIGINT); }
TEST(QuantizeSignals, HupLeavesNothing) { kill_midway(SIGHUP); }

}  // namespace
}  // namespace qlm
