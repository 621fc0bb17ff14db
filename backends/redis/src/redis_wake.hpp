// SPDX-License-Identifier: MIT
#pragma once
// The Redis backend's wake channel (asiocache/wake.hpp): PUBLISH on the backend's pipelined
// connection, and one subscriber connection per backend, started on first use. Internal.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "asiocache/backends/redis.hpp"
#include "asiocache/wake.hpp"

namespace asiocache::backends::redis_detail {

class subscriber;

/// The channel a wake-up of `<key>` is published on: `asiocache:wake:<key>`, the key as
/// stored (namespaced). The payload is `1` and is not read. Pub/sub ignores databases, so a
/// wake-up reaches watchers of the same key name in every database of the server: one look
/// too many for them, never a wrong value.
inline constexpr std::string_view wake_prefix = "asiocache:wake:";

/**
 * The wake channel of one Redis backend.
 *
 * One connection PSUBSCRIBEs `asiocache:wake:*` (the shared `redis_detail::subscriber`, which
 * reconnects with backoff and PINGs). A pattern rather than a SUBSCRIBE per watched key: the
 * subscription is then fixed, so a watch costs no round trip before the waiter may look at the
 * cache, and a reconnect restores it whole; the price is that every process hears every
 * wake-up, one small message per leased computation, which is rare next to reads.
 *
 * The subscription starts on the first `ready()` or `watch()`, so processes that never wait
 * on a lease open no second connection. When it is lost, every watch completes with `lost`
 * (its waiter looks, then polls) and `ready()` is false until it is back.
 */
class redis_wake final : public wake_channel {
public:
    /// `publisher` is the backend that owns this channel (PUBLISH goes through its `raw`);
    /// `o` the server it subscribes to.
    redis_wake(boost::asio::any_io_executor ex, redis_options o, backend& publisher);
    ~redis_wake() override;
    redis_wake(redis_wake const&) = delete;
    auto operator=(redis_wake const&) -> redis_wake& = delete;

    [[nodiscard]] auto ready() noexcept -> bool override;
    auto watch(std::string key) -> wake_watch override;
    auto wake(std::string key, deadline dl) -> task<void> override;

    /// Ends the subscription (the backend is closing); the next `ready()` or `watch()`
    /// starts a new one.
    void stop() noexcept;
    [[nodiscard]] auto stats() const -> redis_wake_stats;

private:
    void start_locked();

    boost::asio::any_io_executor ex_;
    redis_options opts_;
    backend& publisher_;
    wake_hub hub_;
    mutable std::mutex m_;
    std::shared_ptr<subscriber> sub_;        // guarded by m_
    std::shared_ptr<std::atomic<bool>> up_;  // guarded by m_; one per subscriber
    std::uint64_t subscribers_ = 0;          // guarded by m_
    std::atomic<std::uint64_t> published_{0};
};

}  // namespace asiocache::backends::redis_detail
