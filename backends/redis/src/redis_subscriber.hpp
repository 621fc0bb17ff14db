// SPDX-License-Identifier: MIT
#pragma once
// A subscribed Redis connection, shared by the near cache's invalidation channels (CLIENT
// TRACKING, the pub/sub backplane) and the lease's wake-ups. Internal.

#include "asiocache/backends/redis.hpp"
#include "asiocache/backends/redis_tracking.hpp"
#include "asiocache/types.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace asiocache::backends::redis_detail {

/// What a subscriber listens to.
struct subscriber_options {
    /// The server (`db` and the pool settings are not used: pub/sub ignores databases).
    redis_options connection;
    /// Names it in messages: "redis <what> host:port".
    std::string what = "subscriber";
    /// CLIENT TRACKING ON REDIRECT <own id> BCAST, and `__redis__:invalidate`.
    bool tracking = false;
    /// BCAST PREFIX arguments (with `tracking`); empty: every key.
    std::vector<std::string> prefixes;
    std::vector<std::string> channels;  ///< SUBSCRIBE at every connect.
    std::vector<std::string> patterns;  ///< PSUBSCRIBE at every connect.
};

/// What a subscriber hands over, on its strand.
struct subscriber_hooks {
    /// A message published on `channel` (for a pattern, the channel it matched).
    std::function<void(std::string_view channel, raw_reply&& payload)> message;
    /// Every subscription confirmed (`true`), or the connection lost (`false`).
    std::function<void(bool up)> state;
};

class subscriber {
public:
    subscriber() = default;
    subscriber(subscriber const&) = delete;
    auto operator=(subscriber const&) -> subscriber& = delete;
    virtual ~subscriber() = default;

    /// Connects, and reconnects with backoff after every loss, until `stop`.
    virtual void start(subscriber_hooks h) = 0;
    /// Ends it for good; from any thread. A hook already running may finish after it.
    virtual void stop() = 0;
    [[nodiscard]] virtual auto describe() const -> std::string = 0;
    [[nodiscard]] virtual auto stats() const -> redis_tracking_stats = 0;
};

auto make_subscriber(boost::asio::any_io_executor ex, subscriber_options o)
    -> std::shared_ptr<subscriber>;

}  // namespace asiocache::backends::redis_detail
