// SPDX-License-Identifier: MIT
#include "meta_connection.hpp"

#include <fmt/format.h>

#include "asiocache_net/pipelined_connection_impl.hpp"

namespace asiocache::backends::meta {

auto wire::error_result(std::string text) -> result {
    result r(1);
    r.front().type = reply::kind::error;
    r.front().data = std::move(text);
    return r;
}

auto wire::handshake(settings const& /*s*/) -> net::handshake {
    net::handshake h;
    append_noop(h.bytes);
    h.steps.emplace_back("mn");
    return h;
}

auto wire::check_handshake(std::string_view /*step*/, meta::reply const& r)
    -> std::optional<net::failure> {
    if (r.type == reply::kind::noop) {
        return std::nullopt;
    }
    if (r.type == reply::kind::error) {
        return net::failure{errc::not_supported,
                            "the server does not speak the meta protocol (memcached 1.6 or "
                            "later is required): it answered 'mn' with ERROR"};
    }
    return net::failure{errc::protocol_error,
                        fmt::format("the server answered 'mn' with something other than MN{}{}",
                                    r.data.empty() ? "" : ": ", r.data.substr(0, 80))};
}

auto wire::probe() -> std::pair<std::string, std::size_t> {
    std::string bytes;
    append_noop(bytes);
    return {std::move(bytes), 1};
}

}  // namespace asiocache::backends::meta

template class asiocache::backends::net::pipelined_connection<asiocache::backends::meta::wire>;
