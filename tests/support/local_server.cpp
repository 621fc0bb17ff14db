// SPDX-License-Identifier: MIT
#include "local_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

#ifndef ASIOCACHE_REDIS_SERVER_BIN
#define ASIOCACHE_REDIS_SERVER_BIN ""
#endif
#ifndef ASIOCACHE_MEMCACHED_BIN
#define ASIOCACHE_MEMCACHED_BIN ""
#endif

namespace asiocache::test {
namespace {

auto loopback(std::uint16_t port) -> sockaddr_in {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
}

// One request/response exchange on a fresh connection; true if the reply starts with `expect`.
auto probe(std::uint16_t port, std::string_view request, std::string_view expect) -> bool {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    timeval tv{0, 200'000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    auto addr = loopback(port);
    bool ok = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size())) {
        char buf[256];
        auto n = ::recv(fd, buf, sizeof buf, 0);
        ok = n > 0 && std::string_view(buf, static_cast<std::size_t>(n)).starts_with(expect);
    }
    ::close(fd);
    return ok;
}

// True when every thread of `pid` is stopped ('T' or 't' in /proc/<pid>/task/<tid>/stat).
auto all_threads_stopped(pid_t pid) -> bool {
    std::error_code ec;
    auto const dir = std::filesystem::path("/proc") / std::to_string(pid) / "task";
    for (auto const& task : std::filesystem::directory_iterator(dir, ec)) {
        std::ifstream in(task.path() / "stat");
        std::string const stat((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
        auto const close = stat.rfind(')');  // the command name may hold spaces and ')'
        if (close == std::string::npos || close + 2 >= stat.size() ||
            (stat[close + 2] != 'T' && stat[close + 2] != 't')) {
            return false;
        }
    }
    return !ec;
}

}  // namespace

auto free_port() -> std::uint16_t {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        throw std::runtime_error("free_port: socket failed");
    }
    auto addr = loopback(0);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("free_port: bind failed");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

auto local_server::redis(std::vector<std::string> extra_args) -> std::optional<local_server> {
    std::string bin = ASIOCACHE_REDIS_SERVER_BIN;
    if (bin.empty() || ::access(bin.c_str(), X_OK) != 0) {
        return std::nullopt;
    }
    return local_server(kind::redis, std::move(bin), std::move(extra_args));
}

auto local_server::memcached(std::vector<std::string> extra_args)
    -> std::optional<local_server> {
    std::string bin = ASIOCACHE_MEMCACHED_BIN;
    if (bin.empty() || ::access(bin.c_str(), X_OK) != 0) {
        return std::nullopt;
    }
    return local_server(kind::memcached, std::move(bin), std::move(extra_args));
}

local_server::local_server(kind k, std::string binary, std::vector<std::string> args)
    : kind_(k), binary_(std::move(binary)), extra_args_(std::move(args)) {
    // The port is free when picked but could be taken before the server binds it: retry.
    for (int attempt = 0;; ++attempt) {
        port_ = free_port();
        try {
            start();
            return;
        } catch (std::runtime_error const&) {
            if (attempt == 4) {
                throw;
            }
        }
    }
}

local_server::local_server(local_server&& other) noexcept
    : kind_(other.kind_),
      binary_(std::move(other.binary_)),
      extra_args_(std::move(other.extra_args_)),
      port_(other.port_),
      pid_(other.pid_) {
    other.pid_ = -1;
}

local_server::~local_server() { stop(); }

auto local_server::address() const -> std::string {
    return host() + ":" + std::to_string(port_);
}

void local_server::spawn() {
    std::vector<std::string> args{binary_};
    auto port = std::to_string(port_);
    if (kind_ == kind::redis) {
        args.insert(args.end(), {"--bind", "127.0.0.1", "--port", port, "--save", "",
                                 "--appendonly", "no", "--daemonize", "no", "--protected-mode",
                                 "no"});
    } else {
        args.insert(args.end(), {"-l", "127.0.0.1", "-p", port, "-U", "0", "-t", "2", "-m", "64"});
        if (::geteuid() == 0) {
            args.insert(args.end(), {"-u", "root"});
        }
    }
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());

    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);

    pid_t pid = ::fork();
    if (pid < 0) {
        throw std::runtime_error("local_server: fork failed");
    }
    if (pid == 0) {
        // If the test process dies (a crash, a timeout kill), the server dies with it: no
        // orphaned servers are left behind on the machine.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = ::open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            ::dup2(devnull, STDIN_FILENO);
            ::dup2(devnull, STDOUT_FILENO);
            ::dup2(devnull, STDERR_FILENO);
        }
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    pid_ = pid;
}

void local_server::wait_ready() {
    auto const end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    auto request = kind_ == kind::redis ? std::string_view("PING\r\n") : "version\r\n";
    auto expect = kind_ == kind::redis ? std::string_view("+PONG") : "VERSION";
    while (std::chrono::steady_clock::now() < end) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("local_server: " + binary_ + " exited during start-up");
        }
        if (probe(port_, request, expect)) {
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    signal_and_reap(SIGKILL);
    throw std::runtime_error("local_server: " + binary_ + " did not answer within 10 s");
}

void local_server::start() {
    if (running()) {
        return;
    }
    spawn();
    wait_ready();
}

void local_server::signal_and_reap(int sig) {
    if (pid_ <= 0) {
        return;
    }
    ::kill(pid_, sig);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
}

void local_server::stop() {
    resume();  // a stopped process would hold SIGTERM until continued
    signal_and_reap(SIGTERM);
}

auto local_server::pause() -> bool {
    if (pid_ <= 0) {
        return false;
    }
    ::kill(pid_, SIGSTOP);
    auto const end = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (!all_threads_stopped(pid_)) {
        if (std::chrono::steady_clock::now() >= end) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return true;
}

void local_server::resume() {
    if (pid_ > 0) {
        ::kill(pid_, SIGCONT);
    }
}

void local_server::kill() { signal_and_reap(SIGKILL); }

}  // namespace asiocache::test
