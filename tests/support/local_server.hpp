// SPDX-License-Identifier: MIT
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace asiocache::test {

/// A redis-server or memcached process owned by a test: 127.0.0.1, a free port, no
/// persistence. It is ready (answers PING / version) when a factory returns, and stopped with
/// SIGTERM and reaped when destroyed. One server per test process keeps `ctest -j` safe.
class local_server {
public:
    enum class kind { redis, memcached };

    /// `nullopt` when the binary was not found at configure time. Throws std::runtime_error if
    /// the server does not come up. `extra_args` are appended to the command line.
    static auto redis(std::vector<std::string> extra_args = {}) -> std::optional<local_server>;
    static auto memcached(std::vector<std::string> extra_args = {})
        -> std::optional<local_server>;

    local_server(local_server&& other) noexcept;
    auto operator=(local_server&&) -> local_server& = delete;
    local_server(local_server const&) = delete;
    ~local_server();

    [[nodiscard]] auto host() const -> std::string { return "127.0.0.1"; }
    [[nodiscard]] auto port() const noexcept -> std::uint16_t { return port_; }
    /// "127.0.0.1:port".
    [[nodiscard]] auto address() const -> std::string;
    [[nodiscard]] auto running() const noexcept -> bool { return pid_ > 0; }

    /// SIGTERM (after SIGCONT, should it be paused), then waits for the process to exit.
    void stop();
    /// SIGKILL, then waits: a crash, with no chance to close connections cleanly.
    void kill();
    /// Starts again on the same port and waits until it answers.
    void start();
    /// SIGSTOP, then waits (up to 1 s) until every thread of the server is stopped, so that
    /// nothing sent afterwards is served: a stalled server, its connections open. Returns
    /// whether every thread stopped.
    auto pause() -> bool;
    /// SIGCONT: a paused server answers again, beginning with what waited for it.
    void resume();

private:
    local_server(kind k, std::string binary, std::vector<std::string> args);
    void spawn();
    void wait_ready();
    void signal_and_reap(int sig);

    kind kind_;
    std::string binary_;
    std::vector<std::string> extra_args_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

/// A free TCP port on 127.0.0.1 (bound to port 0, then released).
auto free_port() -> std::uint16_t;

/// True when `ASIOCACHE_REQUIRE_SERVERS=1`: CI wants a missing server to fail, not skip.
inline auto servers_required() -> bool {
    char const* v = std::getenv("ASIOCACHE_REQUIRE_SERVERS");
    return v != nullptr && std::string_view(v) == "1";
}

}  // namespace asiocache::test

/// Skips the current test when a server binary is missing, or fails it under
/// `ASIOCACHE_REQUIRE_SERVERS=1`. Usable in a test body or `SetUp`.
#define ASIOCACHE_SKIP_OR_FAIL(why)                       \
    do {                                                  \
        if (::asiocache::test::servers_required()) {      \
            FAIL() << (why);                              \
        } else {                                          \
            GTEST_SKIP() << (why);                        \
        }                                                 \
    } while (false)
