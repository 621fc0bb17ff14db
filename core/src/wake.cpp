// SPDX-License-Identifier: MIT
// Watches and the hub that completes them. A wake-up arrives on the channel's own thread (a
// subscriber's strand) while the watch waits on the caller's executor, maybe another thread:
// every touch of the waiting timer (arming, cancelling, and forgetting it) happens under the
// slot's mutex, and the wait is armed inside its initiation, so a wake-up can land before
// the wait, during it, or between the two, and is never lost.
#include "asiocache/wake.hpp"

#include <atomic>
#include <boost/asio/async_result.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace asiocache {

namespace detail {

struct wake_slot {
    explicit wake_slot(std::string k) : key(std::move(k)) {}

    /// Records `s` (the first outcome wins) and ends a wait in progress.
    auto fire(wake_status s) -> bool {
        std::lock_guard lock(m);
        bool const first = status == wake_status::expired;
        if (first) {
            status = s;
        }
        if (timer != nullptr) {
            timer->cancel();
        }
        return first;
    }

    std::string const key;
    std::mutex m;
    wake_status status = wake_status::expired;   // guarded by m; `expired`: nothing yet
    boost::asio::steady_timer* timer = nullptr;  // guarded by m; set while a wait is armed
};

struct wake_hub_state {
    std::mutex m;
    std::unordered_multimap<std::string, std::shared_ptr<wake_slot>> slots;  // guarded by m
    std::atomic<std::uint64_t> watches{0};
    std::atomic<std::uint64_t> wakeups{0};
    std::atomic<std::uint64_t> woken{0};
    std::atomic<std::uint64_t> losses{0};
};

}  // namespace detail

wake_watch::wake_watch(std::shared_ptr<detail::wake_slot> slot,
                       std::weak_ptr<detail::wake_hub_state> hub) noexcept
    : slot_(std::move(slot)), hub_(std::move(hub)) {}

auto wake_watch::operator=(wake_watch&& other) noexcept -> wake_watch& {
    if (this != &other) {
        unregister();
        slot_ = std::move(other.slot_);
        hub_ = std::move(other.hub_);
    }
    return *this;
}

wake_watch::~wake_watch() { unregister(); }

void wake_watch::unregister() noexcept {
    if (!slot_) {
        return;
    }
    if (auto hub = hub_.lock()) {
        std::lock_guard lock(hub->m);
        auto [first, last] = hub->slots.equal_range(slot_->key);
        for (auto it = first; it != last; ++it) {
            if (it->second == slot_) {
                hub->slots.erase(it);
                break;
            }
        }
    }
    slot_.reset();
    hub_.reset();
}

auto wake_watch::wait(std::chrono::milliseconds max) -> task<wake_status> {
    namespace asio = boost::asio;
    asio::steady_timer timer(co_await asio::this_coro::executor, max);
    boost::system::error_code ec;
    if (!slot_) {
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        co_return wake_status::expired;
    }
    auto slot = slot_;
    // Armed under the slot's mutex: a wake-up either came before (the timer then fires at
    // once) or finds the timer to cancel. Bound to a local first (the g++ 12 rule).
    auto arm = [slot, &timer](auto handler) {
        std::lock_guard lock(slot->m);
        if (slot->status != wake_status::expired) {
            timer.expires_at(asio::steady_timer::time_point::min());
        }
        slot->timer = &timer;
        timer.async_wait(std::move(handler));
    };
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    co_await asio::async_initiate<decltype(token), void(boost::system::error_code)>(arm, token);
    wake_status status = wake_status::expired;
    {
        std::lock_guard lock(slot->m);
        slot->timer = nullptr;
        status = slot->status;
    }
    co_return status;
}

auto wake_watch::status() const noexcept -> wake_status {
    if (!slot_) {
        return wake_status::expired;
    }
    std::lock_guard lock(slot_->m);
    return slot_->status;
}

auto wake_watch::key() const noexcept -> std::string_view {
    return slot_ ? std::string_view(slot_->key) : std::string_view();
}

wake_hub::wake_hub() : state_(std::make_shared<detail::wake_hub_state>()) {}

auto wake_hub::watch(std::string key) const -> wake_watch {
    auto slot = std::make_shared<detail::wake_slot>(std::move(key));
    {
        std::lock_guard lock(state_->m);
        state_->slots.emplace(slot->key, slot);
    }
    state_->watches.fetch_add(1, std::memory_order_relaxed);
    return {std::move(slot), state_};
}

auto wake_hub::notify(std::string_view key) const -> std::size_t {
    state_->wakeups.fetch_add(1, std::memory_order_relaxed);
    std::size_t n = 0;
    std::lock_guard lock(state_->m);
    auto [first, last] = state_->slots.equal_range(std::string(key));
    for (auto it = first; it != last; ++it) {
        n += it->second->fire(wake_status::woken) ? 1 : 0;
    }
    state_->woken.fetch_add(n, std::memory_order_relaxed);
    return n;
}

auto wake_hub::notify_lost() const -> std::size_t {
    state_->losses.fetch_add(1, std::memory_order_relaxed);
    std::size_t n = 0;
    std::lock_guard lock(state_->m);
    for (auto& [key, slot] : state_->slots) {
        n += slot->fire(wake_status::lost) ? 1 : 0;
    }
    return n;
}

auto wake_hub::stats() const -> wake_stats {
    wake_stats out{.watches = state_->watches.load(std::memory_order_relaxed),
                   .wakeups = state_->wakeups.load(std::memory_order_relaxed),
                   .woken = state_->woken.load(std::memory_order_relaxed),
                   .losses = state_->losses.load(std::memory_order_relaxed)};
    std::lock_guard lock(state_->m);
    out.watching = state_->slots.size();
    return out;
}

}  // namespace asiocache
