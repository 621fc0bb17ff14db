// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/types.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>

namespace asiocache::test {

using namespace std::chrono_literals;

/// Thrown when a coroutine under test does not finish within its limit: a hang is a failure,
/// never a stuck test binary.
struct hang_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Runs `t` on `io` (on this thread) until it completes or `limit` passes; returns its value or
/// rethrows its exception. Other work on `io` (a connection's reader) is left pending.
template <class T>
auto run(boost::asio::io_context& io, task<T> t, std::chrono::milliseconds limit = 30s) -> T {
    std::exception_ptr error;
    bool done = false;
    using slot_t = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;
    slot_t result{};
    if constexpr (std::is_void_v<T>) {
        boost::asio::co_spawn(io, std::move(t), [&](std::exception_ptr e) {
            error = e;
            done = true;
        });
    } else {
        boost::asio::co_spawn(io, std::move(t), [&](std::exception_ptr e, T v) {
            error = e;
            if (!e) {
                result.emplace(std::move(v));
            }
            done = true;
        });
    }
    io.restart();
    auto const end = std::chrono::steady_clock::now() + limit;
    while (!done) {
        auto now = std::chrono::steady_clock::now();
        if (now >= end) {
            // Drop what is pending so the handler above never runs against a dead frame.
            io.stop();
            throw hang_error("coroutine did not complete within the test's limit");
        }
        io.run_one_for(end - now);
    }
    if (error) {
        std::rethrow_exception(error);
    }
    if constexpr (!std::is_void_v<T>) {
        return std::move(*result);
    }
}

/// Runs `io` for `d` of wall time, so that timers, replies and reconnects proceed; when it
/// runs out of work, the time passes anyway.
inline void run_for(boost::asio::io_context& io, std::chrono::milliseconds d) {
    using namespace std::chrono_literals;
    auto const end = std::chrono::steady_clock::now() + d;
    io.restart();
    for (auto now = std::chrono::steady_clock::now(); now < end;
         now = std::chrono::steady_clock::now()) {
        io.run_one_for(end - now);
        if (io.stopped()) {
            io.restart();
            std::this_thread::sleep_for(
                std::min<std::chrono::steady_clock::duration>(1ms, end - now));
        }
    }
}

/// Runs `t` and returns the `error_code` of the `system_error` it threw, or a default
/// (success) code if it completed.
template <class T>
auto run_error(boost::asio::io_context& io, task<T> t, std::chrono::milliseconds limit = 30s)
    -> boost::system::error_code {
    try {
        run(io, std::move(t), limit);
    } catch (boost::system::system_error const& e) {
        return e.code();
    }
    return {};
}

}  // namespace asiocache::test
