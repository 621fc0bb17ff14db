// SPDX-License-Identifier: MIT
#pragma once
// The Redis connection: the shared pipelined connection with the RESP protocol policy.
// Internal.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "asiocache/backends/redis.hpp"
#include "asiocache/types.hpp"
#include "asiocache_net/pipelined_connection.hpp"
#include "resp.hpp"

namespace asiocache::backends::redis_detail {

/// Where and how to connect, shared by the connections of one backend: the options plus the
/// prefix of every diagnostic, "redis 127.0.0.1:6379" or "redis unix:/path", which never holds
/// the password.
struct connection_settings : redis_options {
    std::string label;
    /// Sends READONLY in the handshake: a Redis Cluster replica then serves reads of its
    /// master's slots instead of redirecting them.
    bool readonly = false;
};

/// RESP2 for `net::pipelined_connection`: a request is `n` commands expecting `n` replies;
/// the handshake is AUTH, SELECT and a PING that must be answered with PONG; the health check
/// sends PING.
struct resp_protocol {
    using settings = connection_settings;
    using parser = reply_parser;
    using reply = raw_reply;
    using result = raw_reply;

    /// Or'ed into a request's reply count: complete with every reply, in order, as the
    /// elements of one array (error replies included), instead of with one reply.
    static constexpr std::size_t gather = std::size_t{1} << 62;

    /// Collects `n` replies. A multi-command request (MULTI ... EXEC) completes with its first
    /// error reply, else with its last reply; with `gather` in `n`, with all of them.
    class collector {
    public:
        explicit collector(std::size_t n) : remaining_(n & ~gather), gather_((n & gather) != 0) {
            if (gather_) {
                result_.type = raw_reply::kind::array;
                result_.elements.reserve(remaining_);
            }
        }
        auto take(raw_reply&& r) -> bool {
            if (gather_) {
                result_.elements.push_back(std::move(r));
            } else if (!has_error_) {
                has_error_ = r.type == raw_reply::kind::error;
                result_ = std::move(r);
            }
            return --remaining_ == 0;
        }
        auto take_result() -> raw_reply { return std::move(result_); }

    private:
        std::size_t remaining_;
        raw_reply result_;
        bool has_error_ = false;
        bool gather_;
    };

    static auto make_parser(settings const& s) -> parser { return parser(s.max_reply_bytes); }
    static auto error_result(std::string text) -> raw_reply;
    static auto handshake(settings const& s) -> net::handshake;
    static auto check_handshake(std::string_view step, raw_reply const& r)
        -> std::optional<net::failure>;
    static auto probe() -> std::pair<std::string, std::size_t>;
};

using connection = net::pipelined_connection<resp_protocol>;
using request = net::basic_request<resp_protocol>;

}  // namespace asiocache::backends::redis_detail

extern template class asiocache::backends::net::pipelined_connection<
    asiocache::backends::redis_detail::resp_protocol>;
