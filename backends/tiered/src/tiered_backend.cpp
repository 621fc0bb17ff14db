// SPDX-License-Identifier: MIT
#include "asiocache/backends/tiered.hpp"

#include "asiocache/backends/memory.hpp"
#include "asiocache/errors.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/multiple_exceptions.hpp>

#include <fmt/format.h>

#include <array>
#include <atomic>
#include <functional>
#include <mutex>
#include <tuple>
#include <utility>

namespace asiocache::backends {

namespace {

/// Invalidation stamps, one per stripe of keys: a read notes its key's stamp before asking L2
/// and keeps the value only if the stamp has not moved, so an invalidation that arrives while
/// the read is in flight wins. Stripes share stamps, which can only refuse a fill too many.
class stamps {
public:
    static constexpr std::size_t stripes = 1024;

    [[nodiscard]] auto of(std::string_view key) const noexcept -> std::uint64_t {
        return slot(key).load(std::memory_order_acquire);
    }
    void bump(std::string_view key) noexcept { slot(key).fetch_add(1, std::memory_order_acq_rel); }
    void bump_all() noexcept {
        for (auto& s : slots_) {
            s.fetch_add(1, std::memory_order_acq_rel);
        }
    }

private:
    [[nodiscard]] auto slot(std::string_view key) const noexcept -> std::atomic<std::uint64_t>& {
        return slots_[std::hash<std::string_view>{}(key) % stripes];
    }
    mutable std::array<std::atomic<std::uint64_t>, stripes> slots_{};
};

auto relaxed_add(std::atomic<std::uint64_t>& a, std::uint64_t n = 1) noexcept {
    a.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace

class tiered_backend final : public backend,
                             public object_store,
                             public std::enable_shared_from_this<tiered_backend> {
public:
    tiered_backend(std::shared_ptr<backend> l2, tiered_options opts)
        : l2_(std::move(l2)), opts_(std::move(opts)) {
        if (!l2_) {
            throw_error(errc::invalid_argument, "tiered: L2 backend is null");
        }
        if (auto* o = l2_->objects(); o != nullptr) {
            throw_error(errc::invalid_argument,
                        fmt::format("tiered: the L2 ({}) keeps objects itself; put a byte "
                                    "backend (redis, memcached) behind L1",
                                    l2_->traits().name));
        }
        if (opts_.l1_ttl.count() <= 0) {
            throw_error(errc::invalid_argument, "tiered: l1_ttl must be more than 0");
        }
        traits_ = l2_->traits();
        traits_.name = "tiered";
        traits_.immediate = false;  // its L2 may be immediate; a tiered get may await it
        l1_ = make_memory_backend({.max_entries = opts_.l1_max_entries,
                                   .max_bytes = opts_.l1_max_bytes,
                                   .time_source = opts_.time_source});
        // Without a channel L1 is always in use; with one, only once it is up.
        live_.store(!opts_.invalidation, std::memory_order_release);
        publishing_ = opts_.invalidation && opts_.invalidation->publishes();
    }

    tiered_backend(tiered_backend const&) = delete;
    auto operator=(tiered_backend const&) -> tiered_backend& = delete;

    ~tiered_backend() override {
        if (opts_.invalidation) {
            opts_.invalidation->stop();
        }
    }

    /// Starts the channel; its handler holds a weak reference, so it never keeps the backend.
    void start(std::weak_ptr<tiered_backend> self) {
        if (!opts_.invalidation) {
            return;
        }
        invalidation_handler h;
        h.keys = [self](std::vector<std::string> const& keys) {
            if (auto t = self.lock()) {
                t->invalidate(keys);
            }
        };
        h.flush = [self] {
            if (auto t = self.lock()) {
                t->flush();
            }
        };
        h.state = [self](bool up) {
            if (auto t = self.lock()) {
                t->channel(up);
            }
        };
        opts_.invalidation->start(std::move(h));
    }

    [[nodiscard]] auto traits() const noexcept -> backend_traits const& override { return traits_; }
    [[nodiscard]] auto build_key(std::string_view ns, std::string_view key) const
        -> std::string override {
        return l2_->build_key(ns, key);
    }

    // ---- the object side (the facade's typed operations) ----

    auto objects() noexcept -> object_store* override { return this; }
    /// Lease waiters are woken by the L2's channel (Redis), as on a plain cache.
    auto wakeups() noexcept -> wake_channel* override { return l2_->wakeups(); }
    [[nodiscard]] auto layered() const noexcept -> bool override { return true; }

    auto lookup(std::string_view key) -> object_lookup override {
        object_lookup out;
        out.what = object_lookup::state::not_held;
        if (!live_.load(std::memory_order_acquire)) {
            relaxed_add(misses_);
            relaxed_add(bypassed_);
            return out;
        }
        auto l = l1_->lookup(key);
        if (l.what == object_lookup::state::object) {
            relaxed_add(hits_);
            out.what = l.what;
            out.object = std::move(l.object);
            return out;
        }
        relaxed_add(misses_);
        return out;
    }

    auto load(std::string key, deadline dl) -> task<object_load> override {
        using namespace boost::asio::experimental::awaitable_operators;
        object_load out;
        out.ticket = stamps_.of(key);
        if (!traits_.supports_ttl || !live_.load(std::memory_order_acquire)) {
            // No TTL to read, or L1 bypassed (nothing will be kept): the value alone.
            out.bytes = co_await l2_->get(std::move(key), dl);
            out.ttl = expiry(opts_.l1_ttl);
            co_return out;
        }
        // The value and its remaining TTL in one round trip on a pipelining L2.
        auto k = key;
        std::optional<std::string> bytes;
        std::optional<expiry> ttl;
        try {
            std::tie(bytes, ttl) =
                co_await (l2_->get(std::move(k), dl) && l2_->ttl(std::move(key), dl));
        } catch (boost::asio::multiple_exceptions const& e) {
            std::rethrow_exception(e.first_exception());  // both failed: report the first
        }
        out.bytes = std::move(bytes);
        if (!ttl) {
            out.ticket = no_fill;  // gone between the two: keep nothing
        } else {
            out.ttl = cap(*ttl);
        }
        co_return out;
    }

    void fill(std::string_view key, std::uint64_t ticket, object_ptr obj, expiry ttl) override {
        if (ticket == no_fill || !live_.load(std::memory_order_acquire) ||
            stamps_.of(key) != ticket) {
            relaxed_add(fills_refused_);
            return;
        }
        try {
            l1_->put_now(std::string(key), std::move(obj), cap(ttl));
        } catch (boost::system::system_error const&) {
            return;  // larger than L1's budget: it stays in L2 only
        }
        // An invalidation between the check and the store moved the stamp: undo, so the
        // value can never outlive it. (One after the store removes it anyway.)
        if (stamps_.of(key) != ticket || !live_.load(std::memory_order_acquire)) {
            l1_->forget(key);
            relaxed_add(fills_refused_);
            return;
        }
        relaxed_add(fills_);
    }

    auto put(std::string key, object_ptr obj, std::string bytes, expiry ttl, put_mode mode,
             std::uint64_t /*token*/, deadline dl) -> task<bool> override {
        if (mode == put_mode::if_version) {
            throw_error(errc::not_supported, "tiered: cas goes through the byte path");
        }
        drop(key);
        // Noted before the write: anything that moves the stamp while it is in flight (a
        // write by another process heard, another write of this one, a flush) refuses the
        // fill. The second drop below moves it by exactly one.
        auto const ticket = stamps_.of(key) + 1;
        if (mode == put_mode::if_absent) {
            co_await l2_->add(key, std::move(bytes), ttl, dl);
        } else {
            co_await l2_->set(key, std::move(bytes), ttl, dl);
        }
        drop(key);
        if (publishing_) {
            co_await announce(std::vector<std::string>(1, key), false);
        }
        fill(key, ticket, std::move(obj), ttl);
        co_return true;
    }

    // ---- the byte side: L2, dropping from L1 what a call may change ----

    auto get(std::string key, deadline dl) -> task<std::optional<std::string>> override {
        return l2_->get(std::move(key), dl);
    }
    auto multi_get(std::vector<std::string> keys, deadline dl)
        -> task<std::vector<std::optional<std::string>>> override {
        return l2_->multi_get(std::move(keys), dl);
    }
    auto set(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> override {
        drop(key);
        co_await l2_->set(key, std::move(value), ttl, dl);
        drop(key);
        if (publishing_) {
            co_await announce(std::vector<std::string>(1, key), false);
        }
    }
    auto multi_set(std::vector<std::pair<std::string, std::string>> items, expiry ttl,
                   deadline dl) -> task<void> override {
        std::vector<std::string> keys;
        keys.reserve(items.size());
        for (auto const& [k, v] : items) {
            keys.push_back(k);
            drop(k);
        }
        struct redrop {
            tiered_backend* self;
            std::vector<std::string> const* keys;
            ~redrop() {
                for (auto const& k : *keys) {
                    self->drop(k);
                }
            }
        };
        redrop after{this, &keys};  // also when some servers failed (partial_failure)
        std::exception_ptr failed;
        try {
            co_await l2_->multi_set(std::move(items), ttl, dl);
        } catch (...) {
            failed = std::current_exception();  // some items may have been stored
        }
        if (publishing_) {
            co_await announce(keys, false);
        }
        if (failed) {
            std::rethrow_exception(failed);
        }
    }
    auto add(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> override {
        drop(key);
        co_await l2_->add(key, std::move(value), ttl, dl);
        drop(key);
        if (publishing_) {
            co_await announce(std::vector<std::string>(1, key), false);
        }
    }
    auto remove(std::string key, deadline dl) -> task<std::size_t> override {
        drop(key);
        auto n = co_await l2_->remove(key, dl);
        drop(key);
        if (publishing_) {
            co_await announce(std::vector<std::string>(1, key), false);
        }
        co_return n;
    }
    auto exists(std::string key, deadline dl) -> task<bool> override {
        return l2_->exists(std::move(key), dl);
    }
    auto increment(std::string key, std::int64_t delta, deadline dl)
        -> task<std::int64_t> override {
        drop(key);
        auto n = co_await l2_->increment(key, delta, dl);
        drop(key);
        if (publishing_) {
            co_await announce(std::vector<std::string>(1, key), false);
        }
        co_return n;
    }
    auto expire(std::string key, expiry ttl, deadline dl) -> task<bool> override {
        drop(key);  // L1 must not outlive the new TTL
        auto ok = co_await l2_->expire(key, ttl, dl);
        drop(key);
        if (publishing_) {
            co_await announce(std::vector<std::string>(1, key), false);
        }
        co_return ok;
    }
    auto ttl(std::string key, deadline dl) -> task<std::optional<expiry>> override {
        return l2_->ttl(std::move(key), dl);
    }
    auto clear(std::string ns, deadline dl) -> task<std::size_t> override {
        flush();
        auto n = co_await l2_->clear(std::move(ns), dl);
        flush();
        if (publishing_) {
            co_await announce(std::vector<std::string>(), true);
        }
        co_return n;
    }
    auto clear_all(deadline dl) -> task<void> override {
        flush();
        co_await l2_->clear_all(dl);
        flush();
        if (publishing_) {
            co_await announce(std::vector<std::string>(), true);
        }
    }
    auto gets(std::string key, deadline dl) -> task<std::optional<versioned_bytes>> override {
        return l2_->gets(std::move(key), dl);
    }
    auto cas(std::string key, std::string value, std::uint64_t token, expiry ttl, deadline dl)
        -> task<bool> override {
        drop(key);
        auto ok = co_await l2_->cas(key, std::move(value), token, ttl, dl);
        drop(key);
        if (publishing_) {
            co_await announce(std::vector<std::string>(1, key), false);
        }
        co_return ok;
    }
    auto remove_if_equal(std::string key, std::string expected, deadline dl)
        -> task<bool> override {
        drop(key);
        auto ok = co_await l2_->remove_if_equal(key, std::move(expected), dl);
        drop(key);
        if (publishing_) {
            co_await announce(std::vector<std::string>(1, key), false);
        }
        co_return ok;
    }
    auto expire_if_equal(std::string key, std::string expected, expiry ttl, deadline dl)
        -> task<bool> override {
        drop(key);
        auto ok = co_await l2_->expire_if_equal(key, std::move(expected), ttl, dl);
        drop(key);
        if (publishing_) {
            co_await announce(std::vector<std::string>(1, key), false);
        }
        co_return ok;
    }
    auto raw(std::vector<std::string> argv, deadline dl) -> task<raw_reply> override {
        // A native command may write anything. Redis tracking reports what it writes; without
        // it, all of L1 goes.
        bool const reported = opts_.invalidation && !publishing_;
        if (!reported) {
            flush();
        }
        auto r = co_await l2_->raw(std::move(argv), dl);
        if (!reported) {
            flush();
        }
        if (publishing_) {
            co_await announce(std::vector<std::string>(), true);
        }
        co_return r;
    }
    auto close() -> task<void> override {
        flush();
        co_await l2_->close();
    }

    // ---- the channel ----

    /// Tells the other processes what this one wrote, when the channel needs writers to
    /// (a backplane). Sent in the background, on the caller's executor: a write never waits
    /// for the backplane, so a stalled one cannot slow writes (its listeners, this process
    /// included, lose the channel and bypass L1 meanwhile). A failure is counted, not thrown:
    /// the write itself succeeded, and other copies expire within `l1_ttl`.
    auto announce(std::vector<std::string> keys, bool all) -> task<void> {
        auto ex = co_await boost::asio::this_coro::executor;
        boost::asio::co_spawn(ex, send(shared_from_this(), std::move(keys), all),
                              boost::asio::detached);
    }
    static auto send(std::shared_ptr<tiered_backend> self, std::vector<std::string> keys,
                     bool all) -> task<void> {
        try {
            co_await self->opts_.invalidation->publish(std::move(keys), all);
        } catch (std::exception const&) {
            relaxed_add(self->publish_failures_);
        }
    }

    void invalidate(std::vector<std::string> const& keys) {
        for (auto const& k : keys) {
            drop(k);
        }
        relaxed_add(invalidated_, keys.size());
    }

    void flush() {
        stamps_.bump_all();
        l1_->forget_all();
        relaxed_add(flushes_);
    }

    void channel(bool up) {
        if (up) {
            // Nothing heard while down reached L1: it was empty and bypassed, and every read
            // in flight across the outage holds a stamp the flush moved.
            flush();
            live_.store(true, std::memory_order_release);
        } else {
            live_.store(false, std::memory_order_release);
            flush();
            relaxed_add(losses_);
        }
    }

    [[nodiscard]] auto stats() const -> tiered_stats {
        tiered_stats s;
        s.l1_hits = hits_.load(std::memory_order_relaxed);
        s.l1_misses = misses_.load(std::memory_order_relaxed);
        s.bypassed = bypassed_.load(std::memory_order_relaxed);
        s.fills = fills_.load(std::memory_order_relaxed);
        s.fills_refused = fills_refused_.load(std::memory_order_relaxed);
        s.invalidated_keys = invalidated_.load(std::memory_order_relaxed);
        s.flushes = flushes_.load(std::memory_order_relaxed);
        s.channel_losses = losses_.load(std::memory_order_relaxed);
        s.channel_up = live_.load(std::memory_order_acquire);
        s.publish_failures = publish_failures_.load(std::memory_order_relaxed);
        s.l1_entries = l1_->stats().entries;
        return s;
    }

    [[nodiscard]] auto l2() const -> std::shared_ptr<backend> const& { return l2_; }

private:
    static constexpr std::uint64_t no_fill = ~std::uint64_t{0};

    /// The L1 TTL for an L2 TTL: never longer than `l1_ttl`.
    [[nodiscard]] auto cap(expiry ttl) const noexcept -> expiry {
        if (ttl.is_never() || ttl.duration() > opts_.l1_ttl) {
            return expiry(opts_.l1_ttl);
        }
        return ttl;
    }

    void drop(std::string const& key) {
        stamps_.bump(key);
        l1_->forget(key);
    }

    std::shared_ptr<backend> l2_;
    tiered_options opts_;
    backend_traits traits_;
    std::shared_ptr<memory_backend> l1_;
    stamps stamps_;
    std::atomic<bool> live_{false};
    std::atomic<std::uint64_t> hits_{0};
    std::atomic<std::uint64_t> misses_{0};
    std::atomic<std::uint64_t> bypassed_{0};
    std::atomic<std::uint64_t> fills_{0};
    std::atomic<std::uint64_t> fills_refused_{0};
    std::atomic<std::uint64_t> invalidated_{0};
    std::atomic<std::uint64_t> flushes_{0};
    std::atomic<std::uint64_t> losses_{0};
    std::atomic<std::uint64_t> publish_failures_{0};
    bool publishing_ = false;
};

auto make_tiered_backend(std::shared_ptr<backend> l2, tiered_options opts)
    -> std::shared_ptr<backend> {
    auto t = std::make_shared<tiered_backend>(std::move(l2), std::move(opts));
    t->start(t);
    return t;
}

auto tiered_statistics(backend const& b) -> std::optional<tiered_stats> {
    if (auto const* t = dynamic_cast<tiered_backend const*>(&b)) {
        return t->stats();
    }
    return std::nullopt;
}

auto tiered_l2(backend const& b) -> std::shared_ptr<backend> {
    if (auto const* t = dynamic_cast<tiered_backend const*>(&b)) {
        return t->l2();
    }
    return nullptr;
}

auto take_tiered_params(backend_config& cfg) -> std::pair<tiered_options, std::string> {
    tiered_options o;
    if (auto v = cfg.take_size("l1_max_entries")) {
        o.l1_max_entries = static_cast<std::size_t>(*v);
    }
    if (auto v = cfg.take_size("l1_max_bytes")) {
        o.l1_max_bytes = static_cast<std::size_t>(*v);
    }
    if (auto v = cfg.take_duration("l1_ttl")) {
        if (v->count() <= 0) {
            throw_error(errc::invalid_config, "parameter 'l1_ttl': must be more than 0");
        }
        o.l1_ttl = *v;
    }
    return {std::move(o), cfg.take("invalidation").value_or("")};
}

}  // namespace asiocache::backends
