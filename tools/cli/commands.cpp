// SPDX-License-Identifier: MIT
#include "cli.hpp"

namespace asiocache::cli {

auto commands() -> std::vector<command_adder> const& {
    static std::vector<command_adder> const all{
        add_get,  add_mget,   add_exists, add_ttl,   add_set,   add_add,   add_mset, add_del,
        add_incr, add_expire, add_clear,  add_flush, add_stats, add_watch, add_raw,
    };
    return all;
}

}  // namespace asiocache::cli
