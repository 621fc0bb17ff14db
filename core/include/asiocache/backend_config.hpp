// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/backend.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace asiocache {

/// A host and port, as given in a URL or a config file.
struct endpoint {
    std::string host;
    std::uint16_t port = 0;  ///< 0: the backend's default port.
};

/// A backend's settings, parsed from a URL (`redis://user:pw@host:6379/2?pool=4`) or a config
/// file entry, before the backend sees them.
///
/// The cache layer takes its own parameters (namespace, ttl, timeout, serializer) out of
/// `params` first. A backend factory then `take`s every parameter it understands and calls
/// `reject_unknown()`, so a misspelt parameter is an `errc::invalid_config` error naming it,
/// never silently ignored.
struct backend_config {
    std::string scheme;               ///< "memory", "redis", "redis+unix", "memcached", ...
    std::vector<endpoint> endpoints;  ///< Empty for memory and unix sockets.
    std::string path;                 ///< Unix socket path (`redis+unix`); else empty.
    std::optional<std::string> username;
    std::optional<std::string> password;  ///< Never printed: see `redacted()`.
    std::optional<int> db;                ///< Redis database number, from the URL path.
    std::map<std::string, std::string, std::less<>> params;  ///< Query parameters not yet taken.

    /// Removes and returns a parameter.
    auto take(std::string_view name) -> std::optional<std::string>;
    /// A duration with a unit: `250ms`, `5s`, `1m`, `2h`; a bare number is seconds (aiocache's
    /// unit). `0` is allowed. Errors: `invalid_config` naming the parameter.
    auto take_duration(std::string_view name) -> std::optional<std::chrono::milliseconds>;
    /// A non-negative integer, with an optional `k`/`m`/`g` suffix (powers of 1024) for sizes.
    auto take_size(std::string_view name) -> std::optional<std::uint64_t>;
    /// `true/false/1/0/yes/no/on/off`.
    auto take_bool(std::string_view name) -> std::optional<bool>;
    /// Throws `invalid_config` naming every parameter left in `params`.
    void reject_unknown() const;

    /// A printable form with the password replaced by `***`.
    [[nodiscard]] auto redacted() const -> std::string;
};

/// Parses a duration as `take_duration` does; `what` names it in the error.
auto parse_duration(std::string_view text, std::string_view what) -> std::chrono::milliseconds;

/// Builds a backend from its settings on the given executor. Registered per URL scheme.
using backend_factory = std::function<std::shared_ptr<backend>(boost::asio::any_io_executor,
                                                               backend_config)>;

}  // namespace asiocache
