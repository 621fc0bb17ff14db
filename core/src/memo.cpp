// SPDX-License-Identifier: MIT
#include "asiocache/memo.hpp"

#include "asiocache/memo_envelope.hpp"

#include <fmt/format.h>

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

namespace asiocache::detail {

namespace {

// The envelope's magic: 0xAC, which no UTF-8 text (so no JSON or string value) starts with,
// then "me"; and its version.
constexpr unsigned char envelope_magic[3] = {0xAC, 'm', 'e'};
constexpr unsigned char envelope_version = 1;

void put_be64(std::string& out, std::int64_t v) {
    auto u = static_cast<std::uint64_t>(v);
    for (int shift = 56; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((u >> shift) & 0xFF));
    }
}

auto get_be64(std::string_view b) -> std::int64_t {
    std::uint64_t u = 0;
    for (std::size_t i = 0; i < 8; ++i) {
        u = (u << 8) | static_cast<unsigned char>(b[i]);
    }
    return static_cast<std::int64_t>(u);
}

[[noreturn]] void bad_envelope(std::string_view key, std::string_view why) {
    throw_error(errc::serialization_failed,
                fmt::format("key '{}': not a memoization envelope: {}", key, why));
}

}  // namespace

auto envelope_header(std::int64_t expires_ms, std::int64_t soft_ms) -> std::string {
    std::string out;
    out.reserve(envelope_header_size + 32);
    out.append(reinterpret_cast<char const*>(envelope_magic), sizeof envelope_magic);
    out.push_back(static_cast<char>(envelope_version));
    put_be64(out, expires_ms);
    put_be64(out, soft_ms);
    return out;
}

auto parse_envelope_header(std::string_view bytes, std::string_view key) -> envelope_times {
    if (bytes.size() < envelope_header_size) {
        bad_envelope(key, fmt::format("{} bytes, shorter than its {}-byte header", bytes.size(),
                                      envelope_header_size));
    }
    if (bytes.substr(0, 3) !=
        std::string_view(reinterpret_cast<char const*>(envelope_magic), sizeof envelope_magic)) {
        bad_envelope(key, "wrong magic (a value stored without a resilience policy, or by "
                          "another program?)");
    }
    if (static_cast<unsigned char>(bytes[3]) != envelope_version) {
        bad_envelope(key, fmt::format("unknown version {}", static_cast<unsigned char>(bytes[3])));
    }
    envelope_times t{get_be64(bytes.substr(4)), get_be64(bytes.substr(12))};
    if (t.expires_ms < 0 || t.soft_ms < 0) {
        bad_envelope(key, "negative expiry");
    }
    return t;
}

memo_base::memo_base(cache c, memo_settings s)
    : cache_(std::move(c)),
      call_{std::move(s.ns), s.cache_timeout},
      prefix_(std::move(s.key_prefix)),
      fail_open_(s.fail_open),
      on_cache_error_(std::move(s.on_cache_error)) {
    if (s.cache_timeout && s.cache_timeout->count() < 0) {
        throw_error(errc::invalid_argument, "cached: cache_timeout is negative");
    }
    if (auto head = cache_.plain_key_head(call_)) {
        read_head_.assign(*head);
        read_head_stored_ = true;
    }
    read_head_.append(prefix_).push_back(':');
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
    // Room for the arguments, and for the cache's namespace, which the lookup puts in front.
    key.reserve(prefix_.size() + 80);
    key.append(prefix_).push_back(':');
    return key;
}

auto memo_base::scratch_key() const -> scratch_buffer* {
    thread_local scratch_buffer buffer;
    if (buffer.busy) {
        return nullptr;
    }
    buffer.key.assign(read_head_);
    return &buffer;
}

auto memo_base::key_from_scratch(std::string const& scratch) const -> std::string {
    auto const key = std::string_view(scratch).substr(read_head_.size() - prefix_.size() - 1);
    std::string out;
    out.reserve(key.size() + 80);  // as key_head: the lookup puts the namespace in front
    out.append(key);
    return out;
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
            load(counters_.lease_renewals), load(counters_.unrequested_keys),
            load(counters_.fail_safe), load(counters_.background_refreshes),
            load(counters_.refresh_failures), load(counters_.lease_wakeups)};
}

}  // namespace asiocache::detail
