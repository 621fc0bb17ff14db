// SPDX-License-Identifier: MIT
#include "asiocache/backends/builtin.hpp"

#include "asiocache/errors.hpp"

#if defined(ASIOCACHE_HAS_MEMORY)
#include "asiocache/backends/memory.hpp"
#endif
#if defined(ASIOCACHE_HAS_REDIS)
#include "asiocache/backends/redis.hpp"
#include "asiocache/backends/redis_cluster.hpp"
#include "asiocache/backends/redis_tracking.hpp"
#endif
#if defined(ASIOCACHE_HAS_TIERED)
#include "asiocache/backends/tiered.hpp"
#endif
#if defined(ASIOCACHE_HAS_MEMCACHED)
#include "asiocache/backends/memcached.hpp"
#endif

#include "asiocache/url.hpp"

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


#if defined(ASIOCACHE_HAS_TIERED)
/// `tiered+<scheme>://`: an L1 of objects in front of the `<scheme>` backend built by `l2`.
/// `tracking`: the L2 is one Redis server, whose CLIENT TRACKING is the default channel.
auto tiered_over(std::string l2_scheme, backend_factory l2, bool tracking) -> backend_factory {
    return [l2_scheme = std::move(l2_scheme), l2 = std::move(l2), tracking](
               boost::asio::any_io_executor ex, backend_config cfg) -> std::shared_ptr<backend> {
        auto [opts, channel] = take_tiered_params(cfg);
        auto backplane = cfg.take("backplane");
        auto backplane_channel = cfg.take("backplane_channel");
        if (channel.empty()) {
            channel = backplane ? "backplane" : tracking ? "tracking" : "";
        }
        auto const scheme = cfg.scheme;
        if ((backplane || backplane_channel) && channel != "backplane") {
            throw_error(errc::invalid_config,
                        fmt::format("{}: 'backplane' goes with invalidation=backplane, not {}",
                                    scheme, channel));
        }
        if (channel == "backplane") {
#if defined(ASIOCACHE_HAS_REDIS)
            if (!backplane) {
                throw_error(errc::invalid_config,
                            fmt::format("{}: invalidation=backplane needs backplane=redis://...",
                                        scheme));
            }
            auto where = parse_url(*backplane).value();
            if (where.backend.scheme != "redis" && where.backend.scheme != "redis+unix") {
                throw_error(errc::invalid_config,
                            fmt::format("parameter 'backplane': '{}' is not a redis:// URL",
                                        where.redacted()));
            }
            redis_backplane_options b;
            // What the channel's URL may say: the connection's parameters, nothing else.
            b.connection = redis_channel_options(where.backend);
            where.backend.reject_unknown();
            if (backplane_channel) {
                b.channel = *backplane_channel;
            }
            opts.invalidation = make_redis_backplane_source(ex, std::move(b));
#endif
        } else if (channel == "tracking") {
            if (!tracking) {
                throw_error(errc::invalid_config,
                            fmt::format("{}: invalidation=tracking needs a single Redis server "
                                        "as L2; with invalidation=none L1 serves values up to "
                                        "l1_ttl old",
                                        scheme));
            }
#if defined(ASIOCACHE_HAS_REDIS)
            redis_tracking_options t;
            auto copy = cfg;  // the L2 takes the same parameters below
            t.connection = redis_channel_options(copy);
            opts.invalidation = make_redis_tracking_source(ex, std::move(t));
#endif
        } else if (channel.empty()) {
            throw_error(errc::invalid_config,
                        fmt::format("{}: {} cannot report writes to L1; set "
                                    "backplane=redis://host:port (writers publish what they "
                                    "write), or invalidation=none to accept values up to l1_ttl "
                                    "old in L1",
                                    scheme, l2_scheme));
        } else if (channel != "none") {
            throw_error(errc::invalid_config,
                        fmt::format("parameter 'invalidation': '{}' is not tracking, "
                                    "backplane or none",
                                    channel));
        }
        cfg.scheme = l2_scheme;
        return make_tiered_backend(l2(ex, std::move(cfg)), std::move(opts));
    };
}
#endif

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
    auto redis_cluster_factory = [](boost::asio::any_io_executor ex, backend_config cfg) {
        return std::shared_ptr<backend>(
            redis_cluster_backend_from_config(std::move(ex), std::move(cfg)));
    };
    r.register_backend("redis-cluster", redis_cluster_factory);
#else
    r.register_backend("redis", unavailable("redis", redis_hint));
    r.register_backend("redis+unix", unavailable("redis", redis_hint));
    r.register_backend("redis-cluster", unavailable("redis-cluster", redis_hint));
#endif
#if defined(ASIOCACHE_HAS_MEMCACHED)
    auto memcached_factory = [](boost::asio::any_io_executor ex, backend_config cfg) {
        return std::shared_ptr<backend>(
            memcached_backend_from_config(std::move(ex), std::move(cfg)));
    };
    r.register_backend("memcached", memcached_factory);
#else
    r.register_backend("memcached", unavailable("memcached", memcached_hint));
#endif
#if defined(ASIOCACHE_HAS_TIERED) && defined(ASIOCACHE_HAS_REDIS)
    r.register_backend("tiered+redis", tiered_over("redis", redis, true));
    r.register_backend("tiered+redis+unix", tiered_over("redis+unix", redis, true));
    r.register_backend("tiered+redis-cluster",
                       tiered_over("redis-cluster", redis_cluster_factory, false));
#endif
#if defined(ASIOCACHE_HAS_TIERED) && defined(ASIOCACHE_HAS_MEMCACHED)
    r.register_backend("tiered+memcached", tiered_over("memcached", memcached_factory, false));
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
#if defined(ASIOCACHE_HAS_TIERED) && defined(ASIOCACHE_HAS_REDIS)
    out.emplace_back("tiered+redis");
    out.emplace_back("tiered+redis+unix");
    out.emplace_back("tiered+redis-cluster");
#endif
#if defined(ASIOCACHE_HAS_TIERED) && defined(ASIOCACHE_HAS_MEMCACHED)
    out.emplace_back("tiered+memcached");
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
