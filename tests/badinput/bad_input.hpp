// SPDX-License-Identifier: MIT
#pragma once
// The bad-input corpus: each case is one row of docs/bad-input.md and one test per backend it
// applies to. Cases live in bad_input_cases.cpp; the harness in bad_input_test.cpp.

#include <boost/asio/io_context.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "asiocache/cache.hpp"
#include "local_server.hpp"

namespace asiocache::test::bad_input {

/// Where a case runs: a cache over one of the backends, or once without one (URLs, config
/// files and most of the command line, which build their own).
enum class where { memory, redis, memcached, none };

inline auto name_of(where w) -> char const* {
    switch (w) {
        case where::memory: return "memory";
        case where::redis: return "redis";
        case where::memcached: return "memcached";
        case where::none: return "none";
    }
    return "?";
}

/// What a case gets to work with. For the backend kinds, `cache` is a fresh cache over an empty
/// server with namespace `bi`, the JSON serializer and a 5 s timeout; the harness has stored
/// the neighbour key and checks it afterwards.
struct env {
    where kind = where::none;
    boost::asio::io_context& io;
    asiocache::cache* cache = nullptr;
    local_server* server = nullptr;  ///< The redis or memcached process, else null.

    /// The cache URL of this backend with `query` (without '?').
    [[nodiscard]] auto url(std::string const& query) const -> std::string;
    /// Another cache on the same server (for memory: a new memory backend) with `query`.
    [[nodiscard]] auto make(std::string const& query) const -> asiocache::cache;
    /// Stores `bytes` under the stored key `full_key`, bypassing the library's serializers: a raw
    /// SET / set command on its own socket for redis and memcached, the backend itself for
    /// memory.
    void write_raw(std::string const& full_key, std::string const& bytes) const;
};

/// Backends as a bit mask.
inline constexpr unsigned on_memory = 1, on_redis = 2, on_memcached = 4;
inline constexpr unsigned on_all = on_memory | on_redis | on_memcached;
inline constexpr unsigned on_none = 0;

struct bad_case {
    std::string id;        ///< "K01": the area's letter and a number.
    std::string area;      ///< keys, values, payloads, increment, ttl, url, config, cli
    std::string input;     ///< Markdown: what is fed in.
    unsigned backends;     ///< A mask of on_*; on_none runs once without a backend.
    std::string expected;  ///< Markdown: the error code or outcome, per backend when it differs.
    std::function<void(env&)> run;  ///< Asserts the outcome with gtest macros.
};

/// Every case, in table order.
auto all_cases() -> std::vector<bad_case> const&;

/// docs/bad-input.md as the table renders it.
auto render_doc() -> std::string;

}  // namespace asiocache::test::bad_input
