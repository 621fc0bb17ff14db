// SPDX-License-Identifier: MIT
#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace asiocache::test {
namespace {

auto build_env(std::vector<std::string> const& changes) -> std::vector<std::string> {
    std::vector<std::string> out;
    auto name_of = [](std::string const& entry) { return entry.substr(0, entry.find('=')); };
    for (char** e = environ; *e != nullptr; ++e) {
        std::string entry(*e);
        bool replaced = false;
        for (auto const& c : changes) {
            replaced = replaced || name_of(c) == name_of(entry);
        }
        if (!replaced) {
            out.push_back(std::move(entry));
        }
    }
    for (auto const& c : changes) {
        if (c.find('=') != std::string::npos) {
            out.push_back(c);
        }
    }
    return out;
}

auto c_strings(std::vector<std::string>& v) -> std::vector<char*> {
    std::vector<char*> out;
    for (auto& s : v) {
        out.push_back(s.data());
    }
    out.push_back(nullptr);
    return out;
}

void check(bool ok, char const* what) {
    if (!ok) {
        throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
    }
}

}  // namespace

auto run_process(std::vector<std::string> const& argv, std::string const& input,
                 std::vector<std::string> const& env, std::chrono::milliseconds limit,
                 signal_plan plan) -> process_result {
    // A child that exits before reading all its input must not kill the test with SIGPIPE.
    ::signal(SIGPIPE, SIG_IGN);
    int in[2];
    int out[2];
    int err[2];
    check(
        ::pipe2(in, O_CLOEXEC) == 0 && ::pipe2(out, O_CLOEXEC) == 0 && ::pipe2(err, O_CLOEXEC) == 0,
        "pipe2");
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    ::posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    ::posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    auto args = argv;
    auto envs = build_env(env);
    auto arg_ptrs = c_strings(args);
    auto env_ptrs = c_strings(envs);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, arg_ptrs[0], &actions, nullptr, arg_ptrs.data(), env_ptrs.data());
    ::posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
        ::close(in[1]);
        ::close(out[0]);
        ::close(err[0]);
        errno = rc;
        check(false, argv.at(0).c_str());
    }

    process_result result;
    std::size_t written = 0;
    int in_fd = in[1];
    ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
    if (input.empty()) {
        ::close(in_fd);
        in_fd = -1;
    }
    int out_fd = out[0];
    int err_fd = err[0];
    auto const start = std::chrono::steady_clock::now();
    auto const end = start + limit;
    bool hung = false;
    bool signal_due = plan.sig != 0;
    while (out_fd >= 0 || err_fd >= 0) {
        auto now = std::chrono::steady_clock::now();
        if (signal_due && now >= start + plan.after) {
            // Not reaped before the end, so `pid` is still the child's, even if it has exited.
            ::kill(pid, plan.sig);
            signal_due = false;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - now);
        if (left.count() <= 0) {
            hung = true;
            break;
        }
        if (signal_due) {
            auto until_signal =
                std::chrono::duration_cast<std::chrono::milliseconds>(start + plan.after - now);
            left = std::min(left, until_signal + std::chrono::milliseconds(1));
        }
        pollfd fds[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {in_fd, POLLOUT, 0}};
        if (::poll(fds, 3, static_cast<int>(left.count())) < 0 && errno != EINTR) {
            check(false, "poll");
        }
        char buf[65536];
        for (int i = 0; i < 2; ++i) {
            int& fd = i == 0 ? out_fd : err_fd;
            if (fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
                auto n = ::read(fd, buf, sizeof buf);
                if (n > 0) {
                    (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(n));
                } else if (n == 0 || errno != EINTR) {
                    ::close(fd);
                    fd = -1;
                }
            }
        }
        if (in_fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
            auto n = ::write(in_fd, input.data() + written, input.size() - written);
            if (n > 0) {
                written += static_cast<std::size_t>(n);
            }
            if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) {
                ::close(in_fd);
                in_fd = -1;
            }
        }
    }
    for (int fd : {in_fd, out_fd, err_fd}) {
        if (fd >= 0) {
            ::close(fd);
        }
    }
    if (hung) {
        ::kill(pid, SIGKILL);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (hung) {
        result.exit_code = -1;
    } else if (WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        result.exit_code = 128 + WTERMSIG(status);
    }
    return result;
}

}  // namespace asiocache::test
