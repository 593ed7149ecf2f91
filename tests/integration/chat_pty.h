// A child process on a pseudo-terminal (forkpty) for testing interactive programs: type bytes,
// wait (with a generous timeout) for text to appear, read the exit status.
#pragma once

#include <pty.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace qlm::test {

class PtyProcess {
public:
    // env: extra NAME=VALUE settings for the child.
    PtyProcess(const std::vector<std::string>& argv, const std::vector<std::pair<std::string, std::string>>& env) {
        struct winsize ws {};
        ws.ws_row = 40;
        ws.ws_col = 200;
        pid_ = forkpty(&fd_, nullptr, nullptr, &ws);
        if (pid_ == 0) {
            for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
            std::vector<char*> args;
            for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
            args.push_back(nullptr);
            execv(args[0], args.data());
            _exit(127);
        }
    }
    ~PtyProcess() {
        if (pid_ > 0 && !exited_) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        if (fd_ >= 0) close(fd_);
    }
    bool started() const { return pid_ > 0; }

    void type(const std::string& bytes) {
        size_t off = 0;
        while (off < bytes.size()) {
            ssize_t n = write(fd_, bytes.data() + off, bytes.size() - off);
            if (n <= 0) return;
            off += static_cast<size_t>(n);
        }
    }

    // Waits until `text` appears in the output after the end of the previous match; true when it
    // does (and moves past it), false on timeout or end of output.
    bool wait_for(const std::string& text, int timeout_s = 120) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
        for (;;) {
            size_t at = out_.find(text, pos_);
            if (at != std::string::npos) {
                pos_ = at + text.size();
                return true;
            }
            if (std::chrono::steady_clock::now() > deadline || !pump(200)) {
                at = out_.find(text, pos_);
                if (at != std::string::npos) {
                    pos_ = at + text.size();
                    return true;
                }
                if (std::chrono::steady_clock::now() > deadline || eof_) return false;
            }
        }
    }

    // Waits for the child to exit (draining its output); its exit code, 128+N for signal N, or -1.
    int wait_exit(int timeout_s = 120) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
        for (;;) {
            int status = 0;
            pid_t r = waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                exited_ = true;
                while (pump(50)) {
                }
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            if (std::chrono::steady_clock::now() > deadline) return -1;
            pump(100);
        }
    }

    const std::string& output() const { return out_; }
    std::string since_last_match() const { return out_.substr(pos_); }

private:
    // Reads what is available within timeout_ms; false at end of output.
    bool pump(int timeout_ms) {
        if (eof_) return false;
        struct pollfd p {fd_, POLLIN, 0};
        int r = poll(&p, 1, timeout_ms);
        if (r <= 0) return true;
        char buf[4096];
        ssize_t n = read(fd_, buf, sizeof buf);
        if (n <= 0) {
            eof_ = true;
            return false;
        }
        out_.append(buf, static_cast<size_t>(n));
        return true;
    }

    pid_t pid_ = -1;
    int fd_ = -1;
    bool exited_ = false;
    bool eof_ = false;
    std::string out_;
    size_t pos_ = 0;
};

}  // namespace qlm::test
