// SPDX-License-Identifier: MIT
#include "memcached_pool.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace asiocache::backends::detail {
namespace {

// The watchdog checks deadlines this often while requests with a deadline are outstanding, and
// parks after this many empty ticks in a row, so an idle backend costs no wake-ups.
constexpr auto watchdog_tick = std::chrono::milliseconds(5);
constexpr int watchdog_idle_ticks = 200;
// Most gets that share one multi-get.
constexpr std::size_t max_batch = 100;

auto clamp_ms(std::chrono::milliseconds limit, deadline dl) -> std::uint64_t {
    auto left = dl.remaining();
    auto ms = std::min(limit, left).count();
    return static_cast<std::uint64_t>(std::max<std::int64_t>(ms, 1));
}

}  // namespace

auto make_failure(errc e, std::string detail) -> std::exception_ptr {
    return std::make_exception_ptr(
        boost::system::system_error(make_error_code(e), std::move(detail)));
}

worker_pool::worker_pool(std::vector<memcached_handle> handles, pool_limits limits)
    : limits_(limits), handles_(std::move(handles)), running_(handles_.size()) {
    threads_.reserve(handles_.size());
    for (std::size_t i = 0; i < handles_.size(); ++i) {
        threads_.emplace_back([this, i] { worker_loop(i); });
    }
    watchdog_ = std::thread([this] { watchdog_loop(); });
}

worker_pool::~worker_pool() {
    std::deque<std::shared_ptr<pool_job>> dropped;
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
        dropped.swap(queue_);
        queued_.store(0, std::memory_order_relaxed);
    }
    work_cv_.notify_all();
    watch_cv_.notify_all();
    for (auto& job : dropped) {
        job->fail(make_failure(errc::closed, "memcached: backend destroyed"));
    }
    for (auto& t : threads_) {
        t.join();
    }
    watchdog_.join();
}

void worker_pool::submit(std::shared_ptr<pool_job> job) {
    auto dl = job->job_deadline();
    if (dl.expired()) {
        job->fail(make_failure(errc::timeout, "memcached: deadline passed before the request "
                                              "was queued"));
        return;
    }
    bool wake_watchdog = false;
    bool wake_worker = false;
    {
        std::unique_lock lock(mutex_);
        if (stop_ || queue_.size() >= limits_.max_queue) {
            bool stopping = stop_;
            lock.unlock();
            job->fail(stopping ? make_failure(errc::closed, "memcached: backend destroyed")
                               : make_failure(errc::backend_unavailable,
                                              fmt::format("memcached: request queue full ({} "
                                                          "waiting)",
                                                          limits_.max_queue)));
            return;
        }
        queue_.push_back(std::move(job));
        queued_.store(queue_.size(), std::memory_order_relaxed);
        if (watchdog_parked_ && !dl.is_never()) {
            watchdog_parked_ = false;
            wake_watchdog = true;
        }
        // One wake-up at a time: the woken worker takes every queued get into one multi-get
        // and wakes the next worker if work is left (see worker_loop).
        wake_worker = !spinning_ && !wake_pending_ && idle_ > 0;
        wake_pending_ = wake_pending_ || wake_worker;
    }
    if (wake_worker) {
        work_cv_.notify_one();
    }
    if (wake_watchdog) {
        watch_cv_.notify_one();
    }
}

void worker_pool::reset_connections() {
    {
        std::lock_guard lock(mutex_);
        ++epoch_;
    }
    work_cv_.notify_all();
}

void worker_pool::worker_loop(std::size_t index) {
    memcached_st* mc = handles_[index].get();
    std::size_t seen_epoch = 0;
    std::unique_lock lock(mutex_);
    for (;;) {
        if (limits_.spin.count() > 0 && queue_.empty() && !stop_ && !spinning_ &&
            seen_epoch == epoch_) {
            spin_for_work(lock);
        }
        ++idle_;
        work_cv_.wait(lock, [&] { return stop_ || !queue_.empty() || seen_epoch != epoch_; });
        --idle_;
        wake_pending_ = false;  // the notified worker (or another) is up: the next wake may go
        if (seen_epoch != epoch_) {
            seen_epoch = epoch_;
            lock.unlock();
            memcached_quit(mc);
            lock.lock();
            continue;
        }
        if (queue_.empty()) {  // stopping
            return;
        }
        auto job = std::move(queue_.front());
        queue_.pop_front();
        if (job->finished()) {  // timed out or cancelled while queued
            queued_.store(queue_.size(), std::memory_order_relaxed);
            continue;
        }
        std::vector<std::shared_ptr<pool_job>> batch;
        if (job->batch_key() != nullptr) {
            batch = take_batch();
        }
        queued_.store(queue_.size(), std::memory_order_relaxed);
        running_[index] = batch;  // the watchdog fails any of them at its deadline
        running_[index].push_back(job);
        bool wake_next = !queue_.empty() && idle_ > 0 && !wake_pending_;  // work left over
        wake_pending_ = wake_pending_ || wake_next;
        lock.unlock();
        if (wake_next) {
            work_cv_.notify_one();
        }

        // libmemcached's waits are capped by the latest deadline of the batch; the watchdog
        // completes the others at theirs.
        deadline dl{clock::time_point::min()};
        for (auto const& j : running_[index]) {
            if (j->job_deadline().expired()) {
                j->fail(make_failure(errc::timeout, "memcached: deadline passed while queued"));
            } else {
                dl.at = std::max(dl.at, j->job_deadline().at);
            }
        }
        if (dl.at != clock::time_point::min()) {
            memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT,
                                   clamp_ms(limits_.io_timeout, dl));
            memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT,
                                   clamp_ms(limits_.connect_timeout, dl));
            if (batch.empty()) {
                job->run(mc);
            } else {
                job->run_batch(mc, batch, dl);
            }
        }
        job.reset();
        batch.clear();

        lock.lock();
        running_[index].clear();
    }
}

auto worker_pool::take_batch() -> std::vector<std::shared_ptr<pool_job>> {
    std::vector<std::shared_ptr<pool_job>> batch;
    for (auto it = queue_.begin(); it != queue_.end() && batch.size() + 1 < max_batch;) {
        if ((*it)->batch_key() != nullptr && !(*it)->finished()) {
            batch.push_back(std::move(*it));
            it = queue_.erase(it);
        } else {
            ++it;
        }
    }
    return batch;
}

void worker_pool::spin_for_work(std::unique_lock<std::mutex>& lock) {
    spinning_ = true;
    lock.unlock();
    auto const until = clock::now() + limits_.spin;
    while (queued_.load(std::memory_order_relaxed) == 0 && clock::now() < until) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    lock.lock();
    spinning_ = false;
}

void worker_pool::watchdog_loop() {
    std::unique_lock lock(mutex_);
    int idle_ticks = 0;
    std::vector<std::shared_ptr<pool_job>> expired;
    while (!stop_) {
        if (idle_ticks >= watchdog_idle_ticks) {
            watchdog_parked_ = true;
            watch_cv_.wait(lock, [&] { return stop_ || !watchdog_parked_; });
            idle_ticks = 0;
            continue;
        }
        watch_cv_.wait_for(lock, watchdog_tick);
        auto now = clock::now();
        bool watching = false;
        for (auto it = queue_.begin(); it != queue_.end();) {
            auto dl = (*it)->job_deadline();
            if ((*it)->finished()) {
                it = queue_.erase(it);
            } else if (dl.expired(now)) {
                expired.push_back(std::move(*it));
                it = queue_.erase(it);
            } else {
                watching = watching || !dl.is_never();
                ++it;
            }
        }
        queued_.store(queue_.size(), std::memory_order_relaxed);
        std::size_t queued_expired = expired.size();
        for (auto const& jobs : running_) {
            for (auto const& job : jobs) {
                if (!job->finished()) {
                    auto dl = job->job_deadline();
                    if (dl.expired(now)) {
                        expired.push_back(job);
                    } else {
                        watching = watching || !dl.is_never();
                    }
                }
            }
        }
        idle_ticks = watching ? 0 : idle_ticks + 1;
        if (expired.empty()) {
            continue;
        }
        lock.unlock();
        for (std::size_t i = 0; i < expired.size(); ++i) {
            expired[i]->fail(make_failure(
                errc::timeout, i < queued_expired
                                   ? "memcached: deadline passed while waiting for a worker"
                                   : "memcached: deadline passed while waiting for the server"));
        }
        expired.clear();
        lock.lock();
    }
}

}  // namespace asiocache::backends::detail
