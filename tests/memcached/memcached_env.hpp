// SPDX-License-Identifier: MIT
#pragma once
// Servers and backends shared by the memcached tests: one memcached per test process, started
// on first use at a free 127.0.0.1 port.

#include "asiocache/backends/memcached.hpp"
#include "local_server.hpp"
#include "run_coro.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <thread>

namespace asiocache::test {

/// The process's shared memcached, or nullptr when the binary is missing.
inline auto shared_memcached() -> local_server* {
    static std::optional<local_server> server = local_server::memcached();
    return server ? &*server : nullptr;
}

/// Options for a backend on `servers` (their "127.0.0.1", port).
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

/// Conformance environment: namespace generations on, text or binary protocol.
template <bool Binary>
struct memcached_env_t {
    static constexpr char const* name = Binary ? "memcached_binary" : "memcached";
    static auto make(boost::asio::io_context& io) -> std::shared_ptr<backend> {
        backends::memcached_options o;  // (designated initializers here crash g++ 12)
        o.binary_protocol = Binary;
        o.namespace_generations = true;
        return fresh_memcached_backend(io, std::move(o));
    }
    /// Real time must pass for the server; memcached's clock ticks once a second.
    static void advance(boost::asio::io_context& io, std::chrono::milliseconds d) {
        auto const end = std::chrono::steady_clock::now() + d;
        while (std::chrono::steady_clock::now() < end) {
            io.restart();
            io.poll();
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
};
using memcached_env = memcached_env_t<false>;
using memcached_binary_env = memcached_env_t<true>;

}  // namespace asiocache::test
