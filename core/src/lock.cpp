// SPDX-License-Identifier: MIT
#include "asiocache/lock.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <random>

namespace asiocache {

namespace detail {

namespace {

// One generator per thread, seeded from the OS once; a process-wide counter is mixed in so
// that two threads (or two forks) never hand out the same token.
auto thread_rng() -> std::mt19937_64& {
    thread_local std::mt19937_64 rng = [] {
        std::random_device rd;
        std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd()};
        return std::mt19937_64(seq);
    }();
    return rng;
}

std::atomic<std::uint64_t> token_counter{0};

}  // namespace

auto make_lock_token() -> std::string {
    auto& rng = thread_rng();
    auto hi = rng();
    auto lo = rng() ^ (token_counter.fetch_add(1, std::memory_order_relaxed) *
                       0x9e3779b97f4a7c15ULL);
    return fmt::format("{:016x}{:016x}", hi, lo);
}

backoff::backoff(std::chrono::milliseconds min, std::chrono::milliseconds max) noexcept
    : next_(std::max(min, std::chrono::milliseconds(1))), max_(std::max(max, next_)) {}

auto backoff::wait() -> task<void> {
    // Full jitter over [next/2, next]: waiters that started together drift apart.
    auto span = next_.count();
    std::uniform_int_distribution<std::int64_t> pick(span / 2, span);
    std::chrono::milliseconds pause(pick(thread_rng()));
    next_ = std::min(next_ * 2, max_);
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, pause);
    co_await timer.async_wait(boost::asio::use_awaitable);
}

}  // namespace detail

lease_lock::lease_lock(cache c, std::string key, lease_options opts, call_options o)
    : cache_(std::move(c)),
      key_(std::move(key)),
      opts_(opts),
      call_(std::move(o)),
      token_(detail::make_lock_token()) {}

lease_lock::lease_lock(lease_lock&& other) noexcept
    : cache_(other.cache_),
      key_(std::move(other.key_)),
      opts_(other.opts_),
      call_(std::move(other.call_)),
      token_(std::move(other.token_)),
      held_(std::exchange(other.held_, false)),
      executor_(std::move(other.executor_)) {}

namespace {

/// The token as the backend holds it: encoded by the cache's serializer, or, in a cache that
/// keeps objects, the string itself (the memory backend compares string objects).
auto token_bytes(cache const& c, std::string const& token, std::string_view full) -> std::string {
    if (c.value_serializer().kind() == serializer_kind::objects) {
        return token;
    }
    return encode_value(c.value_serializer(), token, full);
}

auto renew_lease(cache c, std::string key, std::string token, std::chrono::milliseconds ttl,
                 call_options o) -> task<bool> {
    auto full = c.build_key(key, o);
    auto expected = token_bytes(c, token, full);
    auto dl = c.deadline_for(o);
    auto k = full;
    co_return co_await c.guarded(
        c.backend()->expire_if_equal(std::move(k), std::move(expected), expiry(ttl), dl), o,
        full);
}

auto release_lease(cache c, std::string key, std::string token, call_options o) -> task<bool> {
    auto full = c.build_key(key, o);
    auto expected = token_bytes(c, token, full);
    auto dl = c.deadline_for(o);
    auto k = full;
    co_return co_await c.guarded(c.backend()->remove_if_equal(std::move(k), std::move(expected), dl),
                                 o, full);
}

}  // namespace

lease_lock::~lease_lock() {
    if (!held_ || !executor_) {
        return;
    }
    // No co_await in a destructor: release in the background; if that fails too, the lease
    // still expires after its ttl.
    auto t = release_lease(cache_, key_, token_, call_);
    boost::asio::co_spawn(*executor_, std::move(t), boost::asio::detached);
}

auto lease_lock::try_acquire() -> task<bool> {
    if (held_) {
        co_return true;
    }
    if (opts_.ttl.count() <= 0) {
        throw_error(errc::invalid_argument, "lease_lock: the lease ttl must be positive");
    }
    bool taken = true;
    try {
        co_await cache_.add(key_, token_, expiry(opts_.ttl), call_);
    } catch (boost::system::system_error const& e) {
        if (e.code() != errc::key_exists) {
            throw;
        }
        taken = false;
    }
    if (taken) {
        held_ = true;
        executor_ = co_await boost::asio::this_coro::executor;
    }
    co_return taken;
}

auto lease_lock::acquire() -> task<void> {
    auto const until = clock::now() + opts_.wait;
    detail::backoff pause(opts_.poll_min, opts_.poll_max);
    while (!co_await try_acquire()) {
        if (clock::now() >= until) {
            throw_error(errc::lock_not_acquired,
                        fmt::format("lease_lock: '{}' still held after {} ms", key_,
                                    opts_.wait.count()));
        }
        co_await pause.wait();
    }
}

auto lease_lock::release() -> task<bool> {
    if (!held_) {
        co_return false;
    }
    held_ = false;
    co_return co_await release_lease(cache_, key_, token_, call_);
}

auto lease_lock::renew() -> task<bool> {
    if (!held_) {
        co_return false;
    }
    bool still = co_await renew_lease(cache_, key_, token_, opts_.ttl, call_);
    if (!still) {
        held_ = false;
    }
    co_return still;
}

namespace detail {

struct lease_keeper::state {
    state(boost::asio::any_io_executor ex, lease_lock const& lock, std::function<bool()> w)
        : wanted(std::move(w)),
          strand(boost::asio::make_strand(ex)),
          timer(strand),
          c(lock.cache_),
          key(lock.key_),
          token(lock.token_),
          ttl(lock.opts_.ttl),
          call(lock.call_) {}

    std::function<bool()> wanted;
    boost::asio::strand<boost::asio::any_io_executor> strand;
    boost::asio::steady_timer timer;  // used on `strand` only
    cache c;
    std::string key;
    std::string token;
    std::chrono::milliseconds ttl;
    call_options call;
    std::atomic<bool> stopped{false};
    std::atomic<bool> lost{false};
    std::atomic<std::uint64_t> renewals{0};

    static auto run(std::shared_ptr<state> self) -> task<void> {
        // A third of what is sure to remain after a renewal: on a backend that counts TTLs in
        // whole seconds (memcached), a lease renewed for 2 s may end 1 s later.
        // memcached stores ceil(ttl) seconds and may drop the item a second early.
        auto const grain = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        self->c.backend()->traits().ttl_granularity),
                                    std::chrono::milliseconds(1));
        auto const stored = (self->ttl + grain - std::chrono::milliseconds(1)) / grain * grain;
        auto const sure = stored > grain ? stored - grain : stored / 2;
        auto const every = std::max(sure / 3, std::chrono::milliseconds(1));
        while (!self->stopped.load()) {
            self->timer.expires_after(every);
            boost::system::error_code ec;
            co_await self->timer.async_wait(
                boost::asio::redirect_error(boost::asio::use_awaitable, ec));
            if (self->stopped.load() || (self->wanted && !self->wanted())) {
                co_return;
            }
            bool still = true;
            try {
                still = co_await renew_lease(self->c, self->key, self->token, self->ttl,
                                             self->call);
            } catch (boost::system::system_error const& e) {
                if (e.code() == errc::not_supported) {
                    co_return;  // a backend that cannot renew: the lease lasts its TTL
                }
                // The backend failed this once: the lease is still ours until it expires, so
                // try again at the next tick.
                continue;
            } catch (...) {
                continue;
            }
            if (!still) {
                self->lost.store(true);
                co_return;
            }
            self->renewals.fetch_add(1, std::memory_order_relaxed);
        }
    }
};

lease_keeper::lease_keeper(boost::asio::any_io_executor ex, lease_lock const& lock,
                           std::function<bool()> wanted)
    : state_(std::make_shared<state>(std::move(ex), lock, std::move(wanted))) {
    boost::asio::co_spawn(state_->strand, state::run(state_), boost::asio::detached);
}

lease_keeper::~lease_keeper() { stop(); }

void lease_keeper::stop() noexcept {
    if (state_->stopped.exchange(true)) {
        return;
    }
    try {
        boost::asio::post(state_->strand, [s = state_] { s->timer.cancel(); });
    } catch (...) {  // NOLINT(bugprone-empty-catch): the keeper then ends at its next tick
    }
}

auto lease_keeper::renewals() const noexcept -> std::uint64_t {
    return state_->renewals.load(std::memory_order_relaxed);
}

auto lease_keeper::lost() const noexcept -> bool { return state_->lost.load(); }

}  // namespace detail

}  // namespace asiocache
