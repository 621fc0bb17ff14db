// SPDX-License-Identifier: MIT
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <string>
#include <string_view>

#include "asiocache/backends/builtin.hpp"
#include "local_server.hpp"

// Helpers for tests that run once per server kind (the tool's and the interop tests).
namespace asiocache::test {

inline auto kind_name(local_server::kind k) -> char const* {
    return k == local_server::kind::redis ? "redis" : "memcached";
}

/// Names the server kind in test names and messages.
inline void PrintTo(local_server::kind k, std::ostream* os) { *os << kind_name(k); }

/// For INSTANTIATE_TEST_SUITE_P: instances named "redis" and "memcached".
struct kind_param_name {
    template <class Info>
    auto operator()(Info const& param_info) const -> std::string {
        return kind_name(param_info.param);
    }
};

/// Both kinds, as test parameters.
inline auto both_server_kinds() {
    return ::testing::Values(local_server::kind::redis, local_server::kind::memcached);
}

/// True when this build has the backend for `scheme`.
inline auto backend_built(std::string_view scheme) -> bool {
    auto all = backends::builtin_schemes();
    return std::find(all.begin(), all.end(), scheme) != all.end();
}

}  // namespace asiocache::test
