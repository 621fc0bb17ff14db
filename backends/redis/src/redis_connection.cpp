// SPDX-License-Identifier: MIT
#include "redis_connection.hpp"

#include <fmt/format.h>

#include "asiocache_net/pipelined_connection_impl.hpp"

namespace asiocache::backends::redis_detail {

auto resp_protocol::error_result(std::string text) -> raw_reply {
    raw_reply r;
    r.type = raw_reply::kind::error;
    r.str = std::move(text);
    return r;
}

// AUTH, SELECT, READONLY (cluster replicas) and PING. Only the PING's PONG proves that the server serves this client: a
// server that greets every command with -DENIED or "max number of clients reached" fails here.
auto resp_protocol::handshake(settings const& s) -> net::handshake {
    net::handshake h;
    if (s.password) {
        if (s.username) {
            append_command(h.bytes, {"AUTH", *s.username, *s.password});
        } else {
            append_command(h.bytes, {"AUTH", *s.password});
        }
        h.steps.emplace_back("AUTH");
    }
    if (s.db != 0) {
        append_command(h.bytes, {"SELECT", std::to_string(s.db)});
        h.steps.emplace_back("SELECT");
    }
    if (s.readonly) {
        append_command(h.bytes, {"READONLY"});
        h.steps.emplace_back("READONLY");
    }
    append_command(h.bytes, {"PING"});
    h.steps.emplace_back("PING");
    return h;
}

auto resp_protocol::check_handshake(std::string_view step, raw_reply const& r)
    -> std::optional<net::failure> {
    if (r.type == raw_reply::kind::error) {
        return net::failure{errc::backend_unavailable, fmt::format("{} rejected: {}", step, r.str)};
    }
    if (step == "PING" && (r.type != raw_reply::kind::status || r.str != "PONG")) {
        return net::failure{errc::backend_unavailable, "PING was not answered with PONG"};
    }
    return std::nullopt;
}

auto resp_protocol::probe() -> std::pair<std::string, std::size_t> {
    return {format_command({"PING"}), 1};
}

}  // namespace asiocache::backends::redis_detail

template class asiocache::backends::net::pipelined_connection<
    asiocache::backends::redis_detail::resp_protocol>;
