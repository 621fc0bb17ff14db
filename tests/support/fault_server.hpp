// SPDX-License-Identifier: MIT
#pragma once
// The fault harness: servers that misbehave on purpose, for any backend's client.
//
// `fault_server` is a scriptable fake server on 127.0.0.1 (hostile or garbage replies, huge
// headers, accept-then-close, error greetings, silence, slow drip, close in the middle of a
// reply). `chaos_proxy` sits between a client and a real server and injects latency, stalls,
// resets, truncation, black holes and bandwidth limits. Both run on a thread and an io_context
// of their own, so a test's io_context only ever sees the client, and both count connections,
// which is how tests check a client's reconnect rate.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asiocache::test {

/// What a fake server sends back for what it has received so far.
struct reply_plan {
    std::string bytes;                   ///< Sent as they are.
    bool close_after = false;            ///< Close the connection once they are sent.
    std::chrono::milliseconds drip{0};   ///< Send one byte per `drip` instead of all at once.
};

/// Consumes what it understands from the front of `inbox` and says what to send; `nullopt`
/// waits for more bytes. A plan with empty bytes and no close sends nothing (silence).
using responder = std::function<std::optional<reply_plan>(std::string& inbox)>;

/// How a fake server treats each connection.
struct server_script {
    std::string greeting;          ///< Sent at accept (a Redis `-DENIED ...`, say).
    bool close_at_accept = false;  ///< Close right after the greeting.
    responder respond;             ///< Empty: read and never answer.
};

class fault_server {
public:
    explicit fault_server(server_script script);
    ~fault_server();
    fault_server(fault_server const&) = delete;
    auto operator=(fault_server const&) -> fault_server& = delete;

    [[nodiscard]] auto port() const noexcept -> std::uint16_t { return port_; }
    /// Connections accepted so far.
    [[nodiscard]] auto connections() const noexcept -> std::uint64_t { return accepted_.load(); }
    /// Replaces the script for connections accepted from now on; open ones keep theirs.
    void set_script(server_script script);
    /// Closes every open connection (the listener stays).
    void drop_connections();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
    std::uint16_t port_ = 0;
    std::atomic<std::uint64_t> accepted_{0};
};

/// A responder that parses RESP commands (arrays of bulk strings, as every client sends them)
/// and answers each with `answer(argv)`. An answer whose plan closes or drips stops the batch.
auto resp_responder(std::function<reply_plan(std::vector<std::string> const& argv)> answer)
    -> responder;
/// A fake Redis that answers PING with PONG, AUTH and SELECT with OK, and every other command
/// with `answer(argv)`.
auto redis_like(std::function<reply_plan(std::vector<std::string> const& argv)> answer)
    -> server_script;

/// Faults a `chaos_proxy` injects; every field can change while it runs.
struct chaos_faults {
    std::chrono::milliseconds latency{0};  ///< Delay before each chunk is forwarded.
    bool stall = false;         ///< Hold every byte (both ways) until cleared; connections stay.
    bool black_hole = false;    ///< Accept, then drop every byte both ways, forever.
    bool refuse = false;        ///< Close new connections at once.
    std::size_t truncate_after = 0;  ///< Nonzero: close after this many server bytes.
    std::size_t bandwidth = 0;  ///< Nonzero: at most this many bytes per second each way.
};

class chaos_proxy {
public:
    /// Forwards 127.0.0.1:port() to 127.0.0.1:`upstream_port`.
    explicit chaos_proxy(std::uint16_t upstream_port);
    ~chaos_proxy();
    chaos_proxy(chaos_proxy const&) = delete;
    auto operator=(chaos_proxy const&) -> chaos_proxy& = delete;

    [[nodiscard]] auto port() const noexcept -> std::uint16_t { return port_; }
    [[nodiscard]] auto connections() const noexcept -> std::uint64_t { return accepted_.load(); }
    void set(chaos_faults f);
    [[nodiscard]] auto faults() const -> chaos_faults;
    /// Resets every open connection (RST, not FIN), as a crashed middlebox does.
    void reset_all();
    /// Clears every fault.
    void heal() { set({}); }

private:
    struct impl;
    std::unique_ptr<impl> impl_;
    std::uint16_t port_ = 0;
    std::atomic<std::uint64_t> accepted_{0};
};

}  // namespace asiocache::test
