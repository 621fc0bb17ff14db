// SPDX-License-Identifier: MIT
#pragma once
// The worker pool that runs blocking libmemcached calls off the caller's executor.
//
// Each worker thread owns one `memcached_st` and is the only thread that ever touches it. Jobs
// wait in one bounded FIFO queue. A watchdog thread fails every job whose deadline has passed,
// whether still queued or already running (a running job's late result is then dropped), so a
// caller never waits past its deadline even while libmemcached blocks; each call's own waits are
// also capped by the deadline through libmemcached's poll and connect timeouts, which frees the
// worker soon after. Completions are posted to the handler's associated executor, holding
// outstanding work on it until then.

#include "asiocache/errors.hpp"
#include "asiocache/types.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

#include <libmemcached/memcached.h>

#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace asiocache::backends::detail {

struct memcached_deleter {
    void operator()(memcached_st* m) const noexcept { memcached_free(m); }
};
using memcached_handle = std::unique_ptr<memcached_st, memcached_deleter>;

/// A `system_error` carrying `e`, as an exception_ptr.
auto make_failure(errc e, std::string detail) -> std::exception_ptr;

/// One request for a worker. Exactly one of `run` (worker) and `fail` (watchdog, cancellation,
/// shutdown, a full queue) completes it; the other becomes a no-op.
class pool_job {
public:
    explicit pool_job(deadline dl) noexcept : deadline_(dl) {}
    pool_job(pool_job const&) = delete;
    auto operator=(pool_job const&) -> pool_job& = delete;
    virtual ~pool_job() = default;

    /// Runs the blocking work on `mc` and completes with its result, unless already completed.
    virtual void run(memcached_st* mc) noexcept = 0;
    /// Completes with `error`, unless already completed.
    virtual void fail(std::exception_ptr error) noexcept = 0;

    /// For a single-key get that can share one multi-get with other such jobs: its key (already
    /// checked). Null for every other job.
    [[nodiscard]] virtual auto batch_key() const noexcept -> std::string const* { return nullptr; }
    /// Runs this job and `others` (all with a `batch_key`) as one multi-get and completes each.
    virtual void run_batch(memcached_st* mc, std::vector<std::shared_ptr<pool_job>>& others,
                           deadline dl) noexcept {
        (void)others;
        (void)dl;
        run(mc);
    }
    /// Completes a batched get with its value, unless already completed.
    virtual void complete_get(std::optional<std::string> /*value*/) noexcept {}

    [[nodiscard]] auto finished() const noexcept -> bool {
        return done_.load(std::memory_order_acquire);
    }
    [[nodiscard]] auto job_deadline() const noexcept -> deadline { return deadline_; }

protected:
    /// True for the one caller that may complete the job.
    auto claim() noexcept -> bool { return !done_.exchange(true, std::memory_order_acq_rel); }

private:
    deadline deadline_;
    std::atomic<bool> done_{false};
};

/// Limits that the pool applies to each call from the job's deadline.
struct pool_limits {
    std::size_t max_queue = 4096;
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds io_timeout{1000};
    /// How long one idle worker polls the queue before it sleeps (0: never polls).
    std::chrono::microseconds spin{0};
};

/// A batchable `Fn` for `async_run<std::optional<std::string>>`: it names its key and can fetch
/// many keys at once, one result per key in order.
template <class Fn>
concept batchable_get = requires(Fn const& f, memcached_st* mc,
                                 std::vector<std::string const*> const& keys) {
    { f.key } -> std::convertible_to<std::string const&>;
    { f.fetch(mc, keys) } -> std::same_as<std::vector<std::optional<std::string>>>;
};

class worker_pool {
public:
    worker_pool(std::vector<memcached_handle> handles, pool_limits limits);
    worker_pool(worker_pool const&) = delete;
    auto operator=(worker_pool const&) -> worker_pool& = delete;
    /// Fails queued jobs with `errc::closed`, lets running ones finish, joins the threads.
    ~worker_pool();

    /// Queues `job`, or fails it at once when the queue is full or the pool is stopping.
    void submit(std::shared_ptr<pool_job> job);
    /// Makes every worker drop its connections before its next job (reconnecting lazily).
    void reset_connections();

    /// Runs `fn(memcached_st*) -> T` on a worker; completes with `void(std::exception_ptr, T)`
    /// on the handler's associated executor (`fallback` when it has none). Whatever `fn` throws
    /// is the exception; a passed deadline is `errc::timeout`; cancellation (any type) is
    /// `boost::asio::error::operation_aborted`, after which a running call's result is dropped.
    template <class T, class Fn, class CompletionToken>
    auto async_run(deadline dl, Fn fn, boost::asio::any_io_executor fallback,
                   CompletionToken&& token);

private:
    template <class T, class Fn, class Handler>
    class job_impl;

    void worker_loop(std::size_t index);
    void watchdog_loop();
    // Takes further batchable gets from the queue (lock held) to join `leader`'s multi-get.
    auto take_batch() -> std::vector<std::shared_ptr<pool_job>>;
    void spin_for_work(std::unique_lock<std::mutex>& lock);

    pool_limits limits_;
    std::vector<memcached_handle> handles_;
    std::mutex mutex_;
    std::condition_variable work_cv_;
    std::condition_variable watch_cv_;
    std::deque<std::shared_ptr<pool_job>> queue_;
    std::vector<std::vector<std::shared_ptr<pool_job>>> running_;  // per worker (a batch)
    std::size_t epoch_ = 0;                           // bumped by reset_connections
    bool stop_ = false;
    bool watchdog_parked_ = false;
    bool spinning_ = false;               // one idle worker polls briefly before sleeping
    bool wake_pending_ = false;           // a worker was notified and has not taken work yet
    std::size_t idle_ = 0;                // workers waiting for work
    std::atomic<std::size_t> queued_{0};  // queue_.size(), readable without the lock
    std::vector<std::thread> threads_;
    std::thread watchdog_;
};

template <class T, class Fn, class Handler>
class worker_pool::job_impl final : public pool_job {
public:
    using work_executor = std::decay_t<decltype(boost::asio::prefer(
        std::declval<boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>>(),
        boost::asio::execution::outstanding_work.tracked))>;

    job_impl(deadline dl, Fn fn, Handler handler, boost::asio::any_io_executor const& fallback)
        : pool_job(dl),
          fn_(std::move(fn)),
          handler_(std::move(handler)),
          work_(boost::asio::prefer(boost::asio::get_associated_executor(handler_, fallback),
                                    boost::asio::execution::outstanding_work.tracked)) {}

    void run(memcached_st* mc) noexcept override {
        if (finished()) {
            return;
        }
        std::exception_ptr error;
        T value{};
        try {
            value = fn_(mc);
        } catch (...) {
            error = std::current_exception();
        }
        complete(std::move(error), std::move(value));
    }

    void fail(std::exception_ptr error) noexcept override { complete(std::move(error), T{}); }

    [[nodiscard]] auto batch_key() const noexcept -> std::string const* override {
        if constexpr (batchable_get<Fn>) {
            return &fn_.key;
        } else {
            return nullptr;
        }
    }

    void run_batch(memcached_st* mc, std::vector<std::shared_ptr<pool_job>>& others,
                   deadline dl) noexcept override {
        if constexpr (batchable_get<Fn>) {
            std::vector<std::string const*> keys{&fn_.key};
            for (auto const& o : others) {
                keys.push_back(o->batch_key());
            }
            (void)dl;
            try {
                auto values = fn_.fetch(mc, keys);
                complete_get(std::move(values[0]));
                for (std::size_t i = 0; i < others.size(); ++i) {
                    others[i]->complete_get(std::move(values[i + 1]));
                }
            } catch (...) {
                auto error = std::current_exception();
                fail(error);
                for (auto const& o : others) {
                    o->fail(error);
                }
            }
        } else {
            pool_job::run_batch(mc, others, dl);
        }
    }

    void complete_get(std::optional<std::string> value) noexcept override {
        if constexpr (std::is_same_v<T, std::optional<std::string>>) {
            complete(nullptr, std::move(value));
        }
    }

private:
    void complete(std::exception_ptr error, T value) noexcept {
        if (!claim()) {
            return;
        }
        auto ex = work_;
        auto deliver = [h = std::move(handler_), e = std::move(error), v = std::move(value),
                        w = std::move(work_)]() mutable {
            auto slot = boost::asio::get_associated_cancellation_slot(h);
            if (slot.is_connected()) {
                slot.clear();
            }
            std::move(h)(std::move(e), std::move(v));
        };
        boost::asio::post(ex, std::move(deliver));
    }

    Fn fn_;
    Handler handler_;
    work_executor work_;
};

template <class T, class Fn, class CompletionToken>
auto worker_pool::async_run(deadline dl, Fn fn, boost::asio::any_io_executor fallback,
                            CompletionToken&& token) {
    auto initiation = [this](auto handler, deadline d, Fn f, boost::asio::any_io_executor fb) {
        using handler_t = decltype(handler);
        auto slot = boost::asio::get_associated_cancellation_slot(handler);
        auto job = std::make_shared<job_impl<T, Fn, handler_t>>(d, std::move(f),
                                                                std::move(handler), fb);
        if (slot.is_connected()) {
            slot.assign([weak = std::weak_ptr<pool_job>(job)](boost::asio::cancellation_type) {
                if (auto j = weak.lock()) {
                    j->fail(std::make_exception_ptr(boost::system::system_error(
                        boost::asio::error::operation_aborted, "memcached: operation cancelled")));
                }
            });
        }
        submit(std::move(job));
    };
    return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr, T)>(
        std::move(initiation), token, dl, std::move(fn), std::move(fallback));
}

}  // namespace asiocache::backends::detail
