// SPDX-License-Identifier: MIT
// The Redis wake channel: the hooks run on the subscriber's strand and only touch the hub and
// the subscriber's own `up` flag, which they hold by shared pointer, so they may outlive a
// stopped subscriber, and the channel itself.
#include "redis_wake.hpp"

#include <utility>
#include <vector>

#include "redis_subscriber.hpp"

namespace asiocache::backends::redis_detail {

redis_wake::redis_wake(boost::asio::any_io_executor ex, redis_options o, backend& publisher)
    : ex_(std::move(ex)), opts_(std::move(o)), publisher_(publisher) {}

redis_wake::~redis_wake() { stop(); }

void redis_wake::start_locked() {
    auto up = std::make_shared<std::atomic<bool>>(false);
    auto sub = make_subscriber(
        ex_, {.connection = opts_, .what = "wake", .patterns = {std::string(wake_prefix) + "*"}});
    subscriber_hooks hooks;
    hooks.message = [hub = hub_](std::string_view channel, raw_reply&& /*payload*/) {
        if (channel.starts_with(wake_prefix)) {
            hub.notify(channel.substr(wake_prefix.size()));
        }
    };
    hooks.state = [hub = hub_, up](bool is_up) {
        up->store(is_up, std::memory_order_release);
        if (!is_up) {
            hub.notify_lost();  // a wake-up may have been missed: every waiter looks now
        }
    };
    sub->start(std::move(hooks));
    sub_ = std::move(sub);
    up_ = std::move(up);
    ++subscribers_;
}

auto redis_wake::ready() noexcept -> bool {
    std::lock_guard lock(m_);
    if (!sub_) {
        try {
            start_locked();
        } catch (...) {
            return false;  // out of memory, say: waiters poll, and the next call tries again
        }
    }
    return up_->load(std::memory_order_acquire);
}

auto redis_wake::watch(std::string key) -> wake_watch {
    {
        std::lock_guard lock(m_);
        if (!sub_) {
            start_locked();
        }
    }
    return hub_.watch(std::move(key));
}

auto redis_wake::wake(std::string key, deadline dl) -> task<void> {
    // Built before the co_await: g++ 12 rejects a braced list of strings inside one.
    std::vector<std::string> argv;
    argv.reserve(3);
    argv.emplace_back("PUBLISH");
    argv.emplace_back(wake_prefix).append(key);
    argv.emplace_back("1");
    // An error reply (a NOPERM channel ACL, say) is data from `raw`: the waiters poll.
    co_await publisher_.raw(std::move(argv), dl);
    published_.fetch_add(1, std::memory_order_relaxed);
}

void redis_wake::stop() noexcept {
    std::shared_ptr<subscriber> sub;
    {
        std::lock_guard lock(m_);
        sub = std::move(sub_);
        up_.reset();
    }
    if (sub) {
        try {
            sub->stop();
        } catch (...) {  // NOLINT(bugprone-empty-catch): its socket closes with the context
        }
    }
}

auto redis_wake::stats() const -> redis_wake_stats {
    redis_wake_stats out{.hub = hub_.stats(),
                         .published = published_.load(std::memory_order_relaxed)};
    std::lock_guard lock(m_);
    out.subscribers = subscribers_;
    out.up = up_ && up_->load(std::memory_order_acquire);
    return out;
}

}  // namespace asiocache::backends::redis_detail
