// SPDX-License-Identifier: MIT
#include "asiocache/memo.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

namespace asiocache::detail {

memo_base::memo_base(cache c, memo_settings s)
    : cache_(std::move(c)),
      call_{std::move(s.ns), s.cache_timeout},
      prefix_(std::move(s.key_prefix)),
      fail_open_(s.fail_open),
      on_cache_error_(std::move(s.on_cache_error)) {
    if (s.cache_timeout && s.cache_timeout->count() < 0) {
        throw_error(errc::invalid_argument, "cached: cache_timeout is negative");
    }
}

auto memo_base::full_key(std::string_view part) const -> std::string {
    if (prefix_.empty()) {
        return std::string(part);
    }
    std::string key;
    key.reserve(prefix_.size() + 1 + part.size());
    key.append(prefix_).push_back(':');
    key.append(part);
    return key;
}

auto memo_base::key_head() const -> std::string {
    std::string key;
    key.reserve(prefix_.size() + 48);
    key.append(prefix_).push_back(':');
    return key;
}

auto memo_base::cache_failed(std::exception_ptr const& error, std::string_view key) -> bool {
    boost::system::error_code code;
    try {
        std::rethrow_exception(error);
    } catch (boost::system::system_error const& e) {
        code = e.code();
    } catch (...) {
        // Not a cache failure we know: out of memory, a bug. Never hidden.
        throw;
    }
    if (code == boost::asio::error::operation_aborted) {
        std::rethrow_exception(error);  // the caller was cancelled: not the cache's failure
    }
    bump(counters_.cache_errors);
    if (!fail_open_ || code == errc::not_supported || code == errc::invalid_argument) {
        std::rethrow_exception(error);
    }
    bump(counters_.fail_opens);
    if (on_cache_error_) {
        on_cache_error_(code, key);
    }
    return code == errc::serialization_failed;
}

auto memo_base::stats() const noexcept -> memo_stats {
    auto load = [](std::atomic<std::uint64_t> const& c) {
        return c.load(std::memory_order_relaxed);
    };
    return {load(counters_.hits),   load(counters_.misses),      load(counters_.upstream_calls),
            load(counters_.shared), load(counters_.lease_waits), load(counters_.cache_errors),
            load(counters_.call_timeouts), load(counters_.fail_opens),
            load(counters_.lease_renewals), load(counters_.unrequested_keys)};
}

}  // namespace asiocache::detail
