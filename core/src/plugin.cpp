// SPDX-License-Identifier: MIT
#include "asiocache/plugin.hpp"

namespace asiocache {

auto to_string(op o) noexcept -> std::string_view {
    switch (o) {
        case op::get: return "get";
        case op::multi_get: return "multi_get";
        case op::set: return "set";
        case op::multi_set: return "multi_set";
        case op::add: return "add";
        case op::remove: return "remove";
        case op::exists: return "exists";
        case op::increment: return "increment";
        case op::expire: return "expire";
        case op::ttl: return "ttl";
        case op::clear: return "clear";
        case op::clear_all: return "clear_all";
        case op::gets: return "gets";
        case op::cas: return "cas";
        case op::raw: return "raw";
        case op::close: return "close";
    }
    return "unknown";
}

}  // namespace asiocache
