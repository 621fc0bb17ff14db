// SPDX-License-Identifier: MIT
#pragma once

// Helpers shared by the memoization tests: a counted, slow upstream function and a way to run
// many concurrent callers to completion.

#include "asiocache/asiocache.hpp"
#include "asiocache/backends/memory.hpp"
#include "manual_clock.hpp"
#include "run_coro.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace asiocache::test {

/// A memory backend whose TTLs run on `clock`.
inline auto memory_on(std::shared_ptr<manual_clock> clock)
    -> std::shared_ptr<backends::memory_backend> {
    return backends::make_memory_backend({.time_source = std::move(clock)});
}

/// The stored bytes under `key`, read straight from the backend.
inline auto raw_bytes(boost::asio::io_context& io, backend& b, std::string key)
    -> std::optional<std::string> {
    return run(io, b.get(std::move(key), deadline::never()));
}

/// What an upstream function did: how often it ran, and what the next runs should do.
struct upstream_state {
    std::atomic<int> calls{0};
    /// How long each call takes (real time, on a timer of the caller's executor).
    std::chrono::milliseconds delay{0};
    /// When set, calls throw this after their delay.
    std::atomic<bool> fail{false};
};

/// `fetch(channel, ts)`: returns "<channel>/<ts>#<n>" where n counts the calls.
inline auto make_fetch(std::shared_ptr<upstream_state> s) {
    return [s](std::string channel, std::string ts) -> task<std::string> {
        int n = ++s->calls;
        if (s->delay.count() > 0) {
            boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, s->delay);
            co_await t.async_wait(boost::asio::use_awaitable);
        }
        if (s->fail.load()) {
            throw std::runtime_error("upstream failed");
        }
        co_return channel + "/" + ts + "#" + std::to_string(n);
    };
}

/// The outcome of one of many concurrent callers.
template <class T>
struct outcome {
    std::optional<T> value;
    std::exception_ptr error;
    bool done = false;
};

/// Starts `n` callers of `make()` on `ex`, each writing its outcome; run the context after.
template <class T, class Executor, class Make>
auto spawn_callers(Executor ex, int n, Make make) -> std::shared_ptr<std::vector<outcome<T>>> {
    auto out = std::make_shared<std::vector<outcome<T>>>(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        auto t = make(i);
        boost::asio::co_spawn(ex, std::move(t), [out, i](std::exception_ptr e, T v) {
            auto& o = (*out)[static_cast<std::size_t>(i)];
            o.error = e;
            if (!e) {
                o.value = std::move(v);
            }
            o.done = true;
        });
    }
    return out;
}

/// Runs `io` on this thread until `done()`, failing the test after 10 s.
template <class Done>
void run_until(boost::asio::io_context& io, Done done) {
    auto const end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    io.restart();
    while (!done() && std::chrono::steady_clock::now() < end) {
        io.run_one_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(done()) << "callers did not finish in time";
}

/// True once every caller in `outs` has finished.
template <class T, class... More>
auto all_done(std::shared_ptr<std::vector<outcome<T>>> const& out, More const&... more) -> bool {
    for (auto const& o : *out) {
        if (!o.done) {
            return false;
        }
    }
    if constexpr (sizeof...(More) > 0) {
        return all_done(more...);
    } else {
        return true;
    }
}

/// Runs each "process" (an io_context) on a thread of its own until its callers (`outs[p]`)
/// are all done, or `limit` passes.
template <class T>
void run_processes(std::vector<std::unique_ptr<boost::asio::io_context>> const& ios,
                   std::vector<std::shared_ptr<std::vector<outcome<T>>>> const& outs,
                   std::chrono::milliseconds limit) {
    std::vector<std::thread> threads;
    for (std::size_t p = 0; p < ios.size(); ++p) {
        threads.emplace_back([&ios, &outs, p, limit] {
            auto const& out = *outs[p];
            auto const end = std::chrono::steady_clock::now() + limit;
            while (std::chrono::steady_clock::now() < end &&
                   !std::all_of(out.begin(), out.end(), [](auto const& o) { return o.done; })) {
                ios[p]->run_one_for(std::chrono::milliseconds(10));
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
}

/// The error code of a `system_error` held by `e`, or an empty code.
inline auto code_of(std::exception_ptr const& e) -> boost::system::error_code {
    try {
        std::rethrow_exception(e);
    } catch (boost::system::system_error const& se) {
        return se.code();
    } catch (...) {
    }
    return {};
}

}  // namespace asiocache::test
