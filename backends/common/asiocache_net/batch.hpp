// SPDX-License-Identifier: MIT
#pragma once
// Batches split over several servers, shared by the backends that talk to more than one
// server (memcached pools, Redis Cluster). Internal.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <fmt/format.h>

#include "asiocache/errors.hpp"
#include "asiocache/types.hpp"

namespace asiocache::backends::net {

/// Runs every task concurrently on the calling coroutine's executor and waits for all of them:
/// one exception_ptr per task, null for success. A task never outlives this call.
inline auto run_all(std::vector<task<void>> tasks) -> task<std::vector<std::exception_ptr>> {
    namespace asio = boost::asio;
    auto ex = co_await asio::this_coro::executor;
    if (tasks.empty()) {
        co_return std::vector<std::exception_ptr>{};
    }
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable),
                                            void(std::vector<std::exception_ptr>)>(
        [&tasks, ex](auto handler) {
            using handler_type = decltype(handler);
            struct state {
                state(handler_type h, std::size_t n) : done(std::move(h)), errors(n), left(n) {}
                handler_type done;
                std::vector<std::exception_ptr> errors;
                std::atomic<std::size_t> left;
            };
            auto st = std::make_shared<state>(std::move(handler), tasks.size());
            for (std::size_t i = 0; i < tasks.size(); ++i) {
                asio::co_spawn(ex, std::move(tasks[i]), [st, i](std::exception_ptr e) {
                    st->errors[i] = std::move(e);
                    if (st->left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                        std::move(st->done)(std::move(st->errors));
                    }
                });
            }
        },
        asio::use_awaitable);
}

/// The code and message of a failure caught as an exception_ptr.
inline auto describe(std::exception_ptr const& e)
    -> std::pair<boost::system::error_code, std::string> {
    try {
        std::rethrow_exception(e);
    } catch (boost::system::system_error const& se) {
        return {se.code(), se.what()};
    } catch (std::exception const& ex) {
        return {make_error_code(errc::backend_error), ex.what()};
    } catch (...) {
        return {make_error_code(errc::backend_error), "unknown failure"};
    }
}

/// One server's share of a batch that failed: which server (an index the caller's `name`
/// understands) and why.
using batch_failures = std::vector<std::pair<std::size_t, std::exception_ptr>>;

/// Reports the failed shares of a batch split over `shares` servers: none, nothing; all of
/// them, the first one's error as it was; some, `partial_failure` naming every failed item in
/// the caller's order, with the values read (`values`, for a multi_get; null for a multi_set).
/// `items_of(s)` lists the caller's positions that server share `s` carried; `name(s)` names
/// the server. `what` prefixes the message ("memcached multi_get").
inline void raise_batch_failures(batch_failures failed, std::size_t shares, std::size_t total,
                                 std::string_view what,
                                 std::function<std::vector<std::size_t> const&(std::size_t)> const&
                                     items_of,
                                 std::function<std::string(std::size_t)> const& name,
                                 std::vector<std::optional<std::string>>* values) {
    if (failed.empty()) {
        return;
    }
    if (failed.size() == shares) {
        std::rethrow_exception(failed.front().second);
    }
    std::vector<item_failure> items;
    std::string summary;
    for (auto const& [s, error] : failed) {
        auto [code, detail] = describe(error);
        auto const& positions = items_of(s);
        for (auto i : positions) {
            items.push_back(item_failure{i, code, detail});
        }
        summary += fmt::format("{}{} ({} keys): {}", summary.empty() ? "" : "; ", name(s),
                               positions.size(), detail);
    }
    std::sort(items.begin(), items.end(),
              [](auto const& a, auto const& b) { return a.index < b.index; });
    auto const message =
        fmt::format("{}: {} of {} keys failed: {}", what, items.size(), total, summary);
    throw partial_failure(
        std::move(items),
        values != nullptr ? std::move(*values) : std::vector<std::optional<std::string>>{},
        message);
}

}  // namespace asiocache::backends::net
