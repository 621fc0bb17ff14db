// SPDX-License-Identifier: MIT
#pragma once
// Servers and backends shared by the memcached tests: memcached processes started on first use
// at free 127.0.0.1 ports (one, or a pair for the multi-server environment), and the
// conformance environments over them.

#include "asiocache/backends/memcached.hpp"
#include "local_server.hpp"
#include "run_coro.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <initializer_list>
#include <memory>
#include <optional>
#include <thread>

namespace asiocache::test {

/// The process's shared memcached, or nullptr when the binary is missing.
inline auto shared_memcached() -> local_server* {
    static std::optional<local_server> server = local_server::memcached();
    return server ? &*server : nullptr;
}

/// A second shared memcached, for the two-server environment; nullptr without the binary.
inline auto second_memcached() -> local_server* {
    static std::optional<local_server> server = local_server::memcached();
    return server ? &*server : nullptr;
}

/// Options for a backend on `servers` (their "127.0.0.1", port), in that order.
inline auto memcached_options_for(std::initializer_list<local_server const*> servers)
    -> backends::memcached_options {
    backends::memcached_options o;
    o.servers.clear();
    for (auto const* s : servers) {
        o.servers.push_back({s->host(), s->port()});
    }
    return o;
}

/// A backend over the shared server, emptied (flush_all) first; nullptr without a server.
inline auto fresh_memcached_backend(boost::asio::io_context& io,
                                    backends::memcached_options o)
    -> std::shared_ptr<backend> {
    auto* server = shared_memcached();
    if (server == nullptr) {
        return nullptr;
    }
    o.servers = {{server->host(), server->port()}};
    auto b = backends::make_memcached_backend(io.get_executor(), std::move(o));
    run(io, b->clear_all(deadline::after(std::chrono::seconds(5))));
    return b;
}

/// Real time must pass for the server; memcached's clock ticks once a second.
inline void advance_memcached(boost::asio::io_context& io, std::chrono::milliseconds d) {
    auto const end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
        io.restart();
        io.poll();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

/// Conformance environment: one server, one connection, namespace generations on.
struct memcached_env {
    static constexpr char const* name = "memcached";
    static auto make(boost::asio::io_context& io) -> std::shared_ptr<backend> {
        backends::memcached_options o;  // (designated initializers here crash g++ 12)
        o.namespace_generations = true;
        return fresh_memcached_backend(io, std::move(o));
    }
    static void advance(boost::asio::io_context& io, std::chrono::milliseconds d) {
        advance_memcached(io, d);
    }
};

/// Conformance environment: two servers (keys split by ketama), two pipelined connections to
/// each, namespace generations on. Every single-key operation lands on one of the two servers,
/// and multi_get, multi_set, clear_all and the generation counters span both.
struct memcached_pair_env {
    static constexpr char const* name = "memcached_pair";
    static auto make(boost::asio::io_context& io) -> std::shared_ptr<backend> {
        auto* a = shared_memcached();
        auto* b = second_memcached();
        if (a == nullptr || b == nullptr) {
            return nullptr;
        }
        auto o = memcached_options_for({a, b});
        o.connections_per_server = 2;
        o.namespace_generations = true;
        auto backend = backends::make_memcached_backend(io.get_executor(), std::move(o));
        run(io, backend->clear_all(deadline::after(std::chrono::seconds(5))));
        return backend;
    }
    static void advance(boost::asio::io_context& io, std::chrono::milliseconds d) {
        advance_memcached(io, d);
    }
};

}  // namespace asiocache::test
