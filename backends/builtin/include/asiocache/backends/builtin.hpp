// SPDX-License-Identifier: MIT
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "asiocache/cache.hpp"
#include "asiocache/registry.hpp"

namespace asiocache::backends {

/// Registers the factories of the backends built into this library: `memory`, `redis`,
/// `redis+unix` and `memcached`. A scheme whose backend was left out of the build
/// (`-DASIOCACHE_WITH_REDIS=OFF`) is still registered, with a factory that fails with
/// `errc::unknown_backend` saying how to rebuild with it.
///
/// Registration is explicit by design: static self-registration is silently dropped when
/// linking static libraries.
void register_builtin(registry& r);

/// The schemes whose backends this build really has (not those registered as unavailable).
auto builtin_schemes() -> std::vector<std::string>;

}  // namespace asiocache::backends

namespace asiocache {

/**
 * Builds a ready cache from a URL with the built-in backends, on `ex`:
 * @code
 * auto cache = asiocache::make_cache("redis://127.0.0.1:6379/0?namespace=app&timeout=2s", ex);
 * co_await cache.set("k", 42);
 * @endcode
 * Network backends connect on first use. Errors (thrown as `boost::system::system_error`):
 * `invalid_config` naming the parameter, `unknown_backend` for a scheme this build lacks.
 */
auto make_cache(std::string_view url, boost::asio::any_io_executor ex) -> cache;

}  // namespace asiocache
