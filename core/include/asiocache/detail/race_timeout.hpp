// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/errors.hpp"
#include "asiocache/types.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <chrono>
#include <exception>
#include <string_view>
#include <type_traits>
#include <utility>

namespace asiocache::detail {

/// Races `op` against a timer and fails with `errc::timeout` if the timer fires first; `op` is
/// then cancelled through its cancellation slot and awaited until it stops. Whatever `op` ends
/// with first, a value or an exception, is what the caller gets. (Asio's `operator||` waits for
/// the first *success*, so a failing `op` would be reported as a timeout: not used here.)
///
/// Only for backends that do not enforce deadlines themselves (`backend_traits`): it costs a
/// spawn, a parallel group and a timer per call, about 100x a memory get.
template <class T>
auto race_timeout(task<T> op, std::chrono::milliseconds timeout, std::string_view what) -> task<T> {
    namespace asio = boost::asio;
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex, timeout);
    auto spawned = asio::co_spawn(ex, std::move(op), asio::deferred);
    auto waited = timer.async_wait(asio::deferred);
    auto group = asio::experimental::make_parallel_group(std::move(spawned), std::move(waited));
    if constexpr (std::is_void_v<T>) {
        auto [order, error, timer_ec] =
            co_await std::move(group).async_wait(asio::experimental::wait_for_one(),
                                                 asio::use_awaitable);
        if (order[0] == 1) {
            throw_error(errc::timeout, fmt::format("{} timed out after {} ms", what,
                                                   timeout.count()));
        }
        if (error) {
            std::rethrow_exception(error);
        }
    } else {
        auto [order, error, value, timer_ec] =
            co_await std::move(group).async_wait(asio::experimental::wait_for_one(),
                                                 asio::use_awaitable);
        if (order[0] == 1) {
            throw_error(errc::timeout, fmt::format("{} timed out after {} ms", what,
                                                   timeout.count()));
        }
        if (error) {
            std::rethrow_exception(error);
        }
        co_return std::move(value);
    }
}

}  // namespace asiocache::detail
