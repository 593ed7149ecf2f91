#include "common/test_support.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

namespace fs = std::filesystem;

namespace qlm::test {

static fs::path env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return fs::path(v && *v ? v : fallback);
}

fs::path source_dir() { return env_or("QLM_SOURCE_DIR", QLM_SOURCE_DIR_DEFAULT); }
fs::path shared_dir() { return env_or("QLM_SHARED_DIR", QLM_SHARED_DIR_DEFAULT); }
fs::path cache_dir() { return env_or("QLM_CACHE_DIR", QLM_CACHE_DIR_DEFAULT); }
fs::path qlm_bin() { return env_or("QLM_BIN", QLM_BIN_DEFAULT); }

fs::path shared_file(const std::string& relative) {
    fs::path p = shared_dir() / relative;
    if (!fs::exists(p)) {
        ADD_FAILURE() << "required shared data file is missing: " << p.string()
                      << " (set QLM_SHARED_DIR to the shared/ folder)";
        throw std::runtime_error("missing shared file " + p.string());
    }
    return p;
}

fs::path synth_model(const std::string& name) {
    fs::path p = cache_dir() / "models" / name;
    if (!fs::exists(p)) {
        ADD_FAILURE() << "synthetic model is missing: " << p.string()
                      << " (run scripts/synth-models.sh " << (cache_dir() / "models").string() << ")";
        throw std::runtime_error("missing synthetic model " + p.string());
    }
    return p;
}

std::string read_text(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open " + p.string());
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::vector<uint8_t> read_bytes(const fs::path& p) {
    std::string s = read_text(p);
    return std::vector<uint8_t>(s.begin(), s.end());
}

void write_bytes(const fs::path& p, const std::vector<uint8_t>& bytes) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error("cannot write " + p.string());
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(read_text(p)); }

namespace {

// Every folder temp_dir made, removed when the test process exits: a full suite writes several GiB
// of quantized models and outputs, which filled CI's disk when they were left behind. Only the
// process that made them removes them (a forked child that exits must not), and owner permissions
// are restored first because some tests make files unreadable on purpose. QLM_KEEP_TEST_TMP=1
// keeps them for a post-mortem.
class TempDirs {
public:
    void add(const fs::path& p) { dirs_.push_back(p); }
    ~TempDirs() {
        if (getpid() != owner_) return;
        const char* keep = std::getenv("QLM_KEEP_TEST_TMP");
        if (keep && std::string(keep) == "1") return;
        for (const auto& d : dirs_) remove_tree(d);
    }

private:
    static void remove_tree(const fs::path& root) {
        std::error_code ec;
        fs::permissions(root, fs::perms::owner_all, fs::perm_options::add, ec);
        for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            if (it->is_symlink(ec)) continue;
            fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
        }
        fs::remove_all(root, ec);
    }
    pid_t owner_ = getpid();
    std::vector<fs::path> dirs_;
};

TempDirs& temp_dirs() {
    static TempDirs dirs;
    return dirs;
}

}  // namespace

fs::path temp_dir(const std::string& tag) {
    std::string tmpl = (fs::temp_directory_path() / ("qlm-test-" + tag + "-XXXXXX")).string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    temp_dirs().add(fs::path(tmpl));
    return fs::path(tmpl);
}

CommandResult run_command(const std::vector<std::string>& argv, const std::string& stdin_text,
                          int timeout_s) {
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (pipe(in_pipe) || pipe(out_pipe) || pipe(err_pipe)) throw std::runtime_error("pipe failed");
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        dup2(in_pipe[0], 0);
        dup2(out_pipe[1], 1);
        dup2(err_pipe[1], 2);
        for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    signal(SIGPIPE, SIG_IGN);
    size_t written = 0;
    if (stdin_text.empty()) { close(in_pipe[1]); in_pipe[1] = -1; }
    else fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
    CommandResult r;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    bool out_open = true, err_open = true, killed = false;
    while (out_open || err_open) {
        std::vector<pollfd> fds;
        if (out_open) fds.push_back({out_pipe[0], POLLIN, 0});
        if (err_open) fds.push_back({err_pipe[0], POLLIN, 0});
        if (in_pipe[1] >= 0) fds.push_back({in_pipe[1], POLLOUT, 0});
        int rc = poll(fds.data(), fds.size(), 200);
        if (std::chrono::steady_clock::now() > deadline && !killed) {
            kill(pid, SIGKILL);
            killed = true;
        }
        if (rc <= 0) continue;
        for (auto& p : fds) {
            if (!p.revents) continue;
            if (p.fd == in_pipe[1]) {
                ssize_t n = write(in_pipe[1], stdin_text.data() + written, stdin_text.size() - written);
                if (n > 0) written += static_cast<size_t>(n);
                if (n < 0 || written >= stdin_text.size()) { close(in_pipe[1]); in_pipe[1] = -1; }
                continue;
            }
            char buf[65536];
            ssize_t n = read(p.fd, buf, sizeof buf);
            if (n <= 0) {
                if (p.fd == out_pipe[0]) out_open = false; else err_open = false;
            } else {
                (p.fd == out_pipe[0] ? r.out : r.err).append(buf, static_cast<size_t>(n));
            }
        }
    }
    if (in_pipe[1] >= 0) close(in_pipe[1]);
    close(out_pipe[0]);
    close(err_pipe[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
    return r;
}

}  // namespace qlm::test
