// SPDX-License-Identifier: MIT
#pragma once

/// Single-flight: callers of one key that arrive while its value is being computed wait for that
/// one computation instead of starting their own.
///
/// `flight<R>` is the wait primitive: a one-shot result (a value or an exception) that any
/// number of waiters await with an Asio completion token. `flight_group<R>` maps keys to the
/// flights in progress. `cached` builds on both; they are public so that code of your own can
/// collapse concurrent work the same way.

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/system/system_error.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace asiocache {

/// A one-shot result that many waiters await: completed once, by `complete` or `fail`, and
/// delivered to every waiter, present and future.
///
/// `async_wait(token)` completes with `void(std::exception_ptr, std::shared_ptr<R const>)`:
/// under `use_awaitable`, `co_await` returns the shared value or rethrows the exception.
///
/// - **Executors.** Each waiter's handler is posted to its own associated executor (never run
///   inline on the completing thread), so a coroutine resumes where it was running.
/// - **Cancellation.** A waiter whose associated cancellation slot is signalled (any type) is
///   removed and completes with `boost::asio::error::operation_aborted`. The other waiters and
///   the computation are not affected. Signals must be emitted from the waiter's own executor,
///   as for any Asio operation.
/// - **Threads.** Every member is safe to call from several threads at once.
/// - **Lifetime.** Pending waiters keep the flight alive; it must be held by a `shared_ptr`.
template <class R>
class flight : public std::enable_shared_from_this<flight<R>> {
public:
    using value_ptr = std::shared_ptr<R const>;
    using signature = void(std::exception_ptr, value_ptr);

    /// Completes every waiter with `value`. Later calls of `complete`/`fail` are ignored.
    void complete(value_ptr value) { finish(nullptr, std::move(value)); }
    /// Completes every waiter with `error`. Later calls of `complete`/`fail` are ignored.
    void fail(std::exception_ptr error) { finish(std::move(error), nullptr); }

    /// Waits for the result. Completes at once (posted) if it is already there.
    template <class CompletionToken>
    auto async_wait(CompletionToken&& token) {
        return boost::asio::async_initiate<CompletionToken, signature>(
            [self = this->shared_from_this()](auto handler) {
                self->add_waiter(std::move(handler));
            },
            token);
    }

    /// True once `complete` or `fail` was called.
    [[nodiscard]] auto done() const -> bool {
        std::lock_guard lock(mutex_);
        return done_;
    }
    /// How many waiters are pending now.
    [[nodiscard]] auto waiting() const -> std::size_t {
        std::lock_guard lock(mutex_);
        return waiters_.size();
    }

private:
    struct waiter_base {
        virtual ~waiter_base() = default;
        virtual void post(std::exception_ptr error, value_ptr value) = 0;
    };

    template <class Handler>
    struct waiter final : waiter_base {
        using executor_type =
            boost::asio::associated_executor_t<Handler, boost::asio::system_executor>;
        // Keeps the handler's execution context running while the waiter is pending, as a
        // composed operation must.
        using work_type = std::decay_t<decltype(boost::asio::prefer(
            std::declval<executor_type>(), boost::asio::execution::outstanding_work.tracked))>;

        explicit waiter(Handler h)
            : handler(std::move(h)),
              work(boost::asio::prefer(
                  boost::asio::get_associated_executor(handler, boost::asio::system_executor()),
                  boost::asio::execution::outstanding_work.tracked)) {}

        void post(std::exception_ptr error, value_ptr value) override {
            auto ex = boost::asio::get_associated_executor(handler,
                                                          boost::asio::system_executor());
            boost::asio::post(ex, [h = std::move(handler), error = std::move(error),
                                   value = std::move(value)]() mutable {
                // On the waiter's own executor: detach our cancellation handler, then complete.
                auto slot = boost::asio::get_associated_cancellation_slot(h);
                if (slot.is_connected()) {
                    slot.clear();
                }
                std::move(h)(error, std::move(value));
            });
        }

        Handler handler;
        work_type work;
    };

    /// Installed in a waiter's cancellation slot: removes that waiter only.
    struct cancel_handler {
        std::weak_ptr<flight> owner;
        std::uint64_t id;
        void operator()(boost::asio::cancellation_type type) const {
            if (type == boost::asio::cancellation_type::none) {
                return;
            }
            if (auto f = owner.lock()) {
                f->cancel(id);
            }
        }
    };

    template <class Handler>
    void add_waiter(Handler handler) {
        auto slot = boost::asio::get_associated_cancellation_slot(handler);
        auto w = std::make_unique<waiter<Handler>>(std::move(handler));
        std::unique_lock lock(mutex_);
        if (done_) {
            auto error = error_;
            auto value = value_;
            lock.unlock();
            w->post(std::move(error), std::move(value));
            return;
        }
        auto id = next_id_++;
        // Installed before the waiter is published: once it is, another thread may complete it
        // and resume its owner, which then reuses the slot. The slot belongs to the waiter's own
        // execution context, which cannot emit on it while it is inside this initiation.
        if (slot.is_connected()) {
            slot.template emplace<cancel_handler>(cancel_handler{this->weak_from_this(), id});
        }
        waiters_.emplace_back(id, std::move(w));
    }

    void cancel(std::uint64_t id) {
        std::unique_ptr<waiter_base> w;
        {
            std::lock_guard lock(mutex_);
            for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
                if (it->first == id) {
                    w = std::move(it->second);
                    waiters_.erase(it);
                    break;
                }
            }
        }
        if (w) {
            auto aborted = std::make_exception_ptr(
                boost::system::system_error(boost::asio::error::operation_aborted));
            w->post(std::move(aborted), nullptr);
        }
    }

    void finish(std::exception_ptr error, value_ptr value) {
        std::vector<std::pair<std::uint64_t, std::unique_ptr<waiter_base>>> waiters;
        {
            std::lock_guard lock(mutex_);
            if (done_) {
                return;
            }
            done_ = true;
            error_ = error;
            value_ = value;
            waiters.swap(waiters_);
        }
        for (auto& [id, w] : waiters) {
            w->post(error, value);
        }
    }

    mutable std::mutex mutex_;
    bool done_ = false;
    std::exception_ptr error_;
    value_ptr value_;
    std::uint64_t next_id_ = 0;
    std::vector<std::pair<std::uint64_t, std::unique_ptr<waiter_base>>> waiters_;
};

/// The flights in progress, by key: the first caller of a key starts one and every caller until
/// it completes joins it. Safe to use from several threads at once.
template <class R>
class flight_group {
public:
    /// The flight for `key`, and whether this call created it (and so must run it and then
    /// `finish` it).
    auto join(std::string const& key) -> std::pair<std::shared_ptr<flight<R>>, bool> {
        std::lock_guard lock(mutex_);
        auto [it, created] = flights_.try_emplace(key);
        if (created) {
            it->second = std::make_shared<flight<R>>();
        }
        return {it->second, created};
    }

    /// Removes `f` from the group (callers arriving from now on start a new flight), then
    /// completes it with `value`.
    void complete(std::string const& key, std::shared_ptr<flight<R>> const& f,
                  typename flight<R>::value_ptr value) {
        forget(key, f);
        f->complete(std::move(value));
    }
    /// Removes `f` from the group, then fails it with `error`: errors are never remembered.
    void fail(std::string const& key, std::shared_ptr<flight<R>> const& f,
              std::exception_ptr error) {
        forget(key, f);
        f->fail(std::move(error));
    }

    /// How many keys have a flight in progress.
    [[nodiscard]] auto size() const -> std::size_t {
        std::lock_guard lock(mutex_);
        return flights_.size();
    }

private:
    void forget(std::string const& key, std::shared_ptr<flight<R>> const& f) {
        std::lock_guard lock(mutex_);
        if (auto it = flights_.find(key); it != flights_.end() && it->second == f) {
            flights_.erase(it);
        }
    }

    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::shared_ptr<flight<R>>> flights_;
};

}  // namespace asiocache
