// SPDX-License-Identifier: MIT
#include "asiocache/backends/builtin.hpp"

#include "asiocache/errors.hpp"

#if defined(ASIOCACHE_HAS_MEMORY)
#include "asiocache/backends/memory.hpp"
#endif
#if defined(ASIOCACHE_HAS_REDIS)
#include "asiocache/backends/redis.hpp"
#include "asiocache/backends/redis_cluster.hpp"
#endif
#if defined(ASIOCACHE_HAS_MEMCACHED)
#include "asiocache/backends/memcached.hpp"
#endif

#include <fmt/format.h>

namespace asiocache::backends {
namespace {

// Stands in for a backend this build does not have, so its scheme reports how to get it
// rather than "unknown scheme". Unused in a build that has every backend.
[[maybe_unused]] auto unavailable(std::string_view scheme, std::string_view how)
    -> backend_factory {
    return [scheme = std::string(scheme), how = std::string(how)](
               boost::asio::any_io_executor const& /*ex*/,
               backend_config const& /*cfg*/) -> std::shared_ptr<backend> {
        throw_error(
            errc::unknown_backend,
            fmt::format("the {} backend is not in this build of asiocache: {}", scheme, how));
    };
}

[[maybe_unused]] constexpr std::string_view memory_hint =
    "build it from backends/memory (it is part of every full source tree)";
[[maybe_unused]] constexpr std::string_view redis_hint =
    "rebuild with -DASIOCACHE_WITH_REDIS=ON (needs libhiredis-dev)";
[[maybe_unused]] constexpr std::string_view memcached_hint =
    "rebuild with -DASIOCACHE_WITH_MEMCACHED=ON (needs libmemcached-dev)";

}  // namespace

void register_builtin(registry& r) {
#if defined(ASIOCACHE_HAS_MEMORY)
    r.register_backend("memory", [](boost::asio::any_io_executor ex, backend_config cfg) {
        return std::shared_ptr<backend>(memory_backend_from_config(std::move(ex), std::move(cfg)));
    });
#else
    r.register_backend("memory", unavailable("memory", memory_hint));
#endif
#if defined(ASIOCACHE_HAS_REDIS)
    auto redis = [](boost::asio::any_io_executor ex, backend_config cfg) {
        return std::shared_ptr<backend>(redis_backend_from_config(std::move(ex), std::move(cfg)));
    };
    r.register_backend("redis", redis);
    r.register_backend("redis+unix", redis);
    r.register_backend("redis-cluster", [](boost::asio::any_io_executor ex, backend_config cfg) {
        return std::shared_ptr<backend>(
            redis_cluster_backend_from_config(std::move(ex), std::move(cfg)));
    });
#else
    r.register_backend("redis", unavailable("redis", redis_hint));
    r.register_backend("redis+unix", unavailable("redis", redis_hint));
    r.register_backend("redis-cluster", unavailable("redis-cluster", redis_hint));
#endif
#if defined(ASIOCACHE_HAS_MEMCACHED)
    r.register_backend("memcached", [](boost::asio::any_io_executor ex, backend_config cfg) {
        return std::shared_ptr<backend>(
            memcached_backend_from_config(std::move(ex), std::move(cfg)));
    });
#else
    r.register_backend("memcached", unavailable("memcached", memcached_hint));
#endif
}

auto builtin_schemes() -> std::vector<std::string> {
    std::vector<std::string> out;
#if defined(ASIOCACHE_HAS_MEMORY)
    out.emplace_back("memory");
#endif
#if defined(ASIOCACHE_HAS_REDIS)
    out.emplace_back("redis");
    out.emplace_back("redis+unix");
    out.emplace_back("redis-cluster");
#endif
#if defined(ASIOCACHE_HAS_MEMCACHED)
    out.emplace_back("memcached");
#endif
    return out;
}

}  // namespace asiocache::backends

namespace asiocache {

auto make_cache(std::string_view url, boost::asio::any_io_executor ex) -> cache {
    registry r(std::move(ex));
    backends::register_builtin(r);
    return r.make_cache(url);
}

}  // namespace asiocache
