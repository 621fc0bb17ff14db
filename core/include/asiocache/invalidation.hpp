// SPDX-License-Identifier: MIT
#pragma once
// Channels that tell a near cache (a tiered backend's L1) about writes made elsewhere.

#include "asiocache/types.hpp"

#include <functional>
#include <string>
#include <vector>

namespace asiocache {

/// Where a tiered backend hears of writes made elsewhere (other processes, redis-cli, a Python
/// service): it calls the handler's functions from its own executor, at any time.
struct invalidation_handler {
    /// These stored keys changed: drop them from L1.
    std::function<void(std::vector<std::string> const& keys)> keys;
    /// Everything may have changed (FLUSHDB, FLUSHALL): drop all of L1.
    std::function<void()> flush;
    /// The channel is up (`true`: every write from now on will be heard) or lost (`false`:
    /// writes may go unheard until it is back).
    std::function<void(bool up)> state;
};

/// A channel of invalidations: Redis server-assisted client-side caching is one
/// (`make_redis_tracking_source`). `start` is called once; `stop` ends it for good and may be
/// called from any thread. A handler call already running may finish after `stop` returns, so
/// handlers must own what they use (the tiered backend's hold a weak reference to it).
class invalidation_source {
public:
    invalidation_source() = default;
    invalidation_source(invalidation_source const&) = delete;
    auto operator=(invalidation_source const&) -> invalidation_source& = delete;
    virtual ~invalidation_source() = default;

    virtual void start(invalidation_handler h) = 0;
    virtual void stop() = 0;

    /// True when writers must tell the channel what they wrote (a pub/sub backplane); false
    /// when the server reports writes itself (Redis tracking). Default false.
    [[nodiscard]] virtual auto publishes() const noexcept -> bool { return false; }
    /// Tells every listener that `keys` changed (`all`: everything did). Called by a tiered
    /// backend after each write to its L2, when `publishes()`. Default: nothing.
    virtual auto publish(std::vector<std::string> keys, bool all) -> task<void>;
    /// "redis tracking 127.0.0.1:6379", for messages and statistics.
    [[nodiscard]] virtual auto describe() const -> std::string = 0;
};

}  // namespace asiocache
