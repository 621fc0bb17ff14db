// SPDX-License-Identifier: MIT
#pragma once
// The memcached connection: the pipelined connection shared with the Redis backend, with the
// meta-protocol policy. Internal.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "asiocache/types.hpp"
#include "asiocache_net/pipelined_connection.hpp"
#include "meta_protocol.hpp"

namespace asiocache::backends::meta {

/// One server's connection settings; `label` ("memcached 127.0.0.1:11211") prefixes every
/// diagnostic.
struct connection_settings {
    std::string label;
    std::string host;
    std::uint16_t port = 11211;
    std::string unix_path;
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds reconnect_min{50};
    std::chrono::milliseconds reconnect_max{1000};
    std::chrono::milliseconds health_check_interval{2000};
    std::size_t max_in_flight = 1024;
    std::size_t max_value = std::size_t{1} << 30;
};

/// What completes a request, passed as `expect` to `async_exec`.
namespace until {
/// Collect replies up to and including the `MN` that ends a quiet batch.
inline constexpr std::size_t noop = 0;
/// Collect replies up to and including `END` (STAT lines, or VALUE items), or an error reply.
inline constexpr std::size_t end = std::numeric_limits<std::size_t>::max();
}  // namespace until

/// The meta protocol for `net::pipelined_connection`. A request is one or more commands; it
/// completes after `n` replies, or at the `MN` of a quiet batch (`until::noop`), or at the
/// `END` of a stats listing (`until::end`). The handshake is `mn`, which a server without the
/// meta protocol answers with `ERROR`: that is `errc::not_supported`, named as such. The
/// health check sends `mn`.
struct wire {
    using settings = connection_settings;
    using parser = meta::parser;
    using reply = meta::reply;
    using result = std::vector<meta::reply>;

    class collector {
    public:
        explicit collector(std::size_t expect) : expect_(expect) {}
        auto take(meta::reply&& r) -> bool {
            auto const type = r.type;
            replies_.push_back(std::move(r));
            if (expect_ == until::noop) {
                return type == reply::kind::noop;
            }
            if (expect_ == until::end) {
                return type != reply::kind::stat && type != reply::kind::item;
            }
            return replies_.size() == expect_;
        }
        auto take_result() -> result { return std::move(replies_); }

    private:
        std::size_t expect_;
        result replies_;
    };

    static auto make_parser(settings const& s) -> parser { return parser(4096, s.max_value); }
    static auto error_result(std::string text) -> result;
    static auto handshake(settings const& s) -> net::handshake;
    static auto check_handshake(std::string_view step, meta::reply const& r)
        -> std::optional<net::failure>;
    static auto probe() -> std::pair<std::string, std::size_t>;
};

using connection = net::pipelined_connection<wire>;

}  // namespace asiocache::backends::meta

extern template class asiocache::backends::net::pipelined_connection<
    asiocache::backends::meta::wire>;
