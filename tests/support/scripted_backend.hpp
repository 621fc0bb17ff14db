// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/backend.hpp"
#include "asiocache/errors.hpp"
#include "asiocache/plugin.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace asiocache::test {

/// A backend for facade unit tests: a plain map plus scripted faults (FusionCache's Chaos,
/// aiocache's mocked `_get`). It records calls, can stall or fail the next operation of a
/// given kind, and does not enforce deadlines, so the facade's own timeout guards it.
/// Never used to test a real backend's behaviour: those run against real servers.
class scripted_backend final : public backend {
public:
    scripted_backend();

    /// The next call of `o` waits until cancelled (the facade's timeout does that).
    void stall_next(op o);
    /// The next call of `o` throws `system_error(e)`.
    void fail_next(op o, errc e);
    /// How many times `o` reached the backend.
    [[nodiscard]] auto calls(op o) const -> int;
    /// The last key, TTL and value the backend saw.
    [[nodiscard]] auto last_key() const -> std::string;
    [[nodiscard]] auto last_ttl() const -> expiry;
    /// Direct access to stored bytes, bypassing the facade.
    [[nodiscard]] auto stored(std::string const& key) const -> std::optional<std::string>;
    void put(std::string const& key, std::string value);

    auto traits() const noexcept -> backend_traits const& override { return traits_; }
    /// Claims the default key layout (`backend_traits::plain_keys`), which it has.
    void claim_plain_keys() noexcept { traits_.plain_keys = true; }
    auto get(std::string key, deadline dl) -> task<std::optional<std::string>> override;
    auto multi_get(std::vector<std::string> keys, deadline dl)
        -> task<std::vector<std::optional<std::string>>> override;
    auto set(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> override;
    auto multi_set(std::vector<std::pair<std::string, std::string>> items, expiry ttl,
                   deadline dl) -> task<void> override;
    auto add(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> override;
    auto remove(std::string key, deadline dl) -> task<std::size_t> override;
    auto exists(std::string key, deadline dl) -> task<bool> override;
    auto increment(std::string key, std::int64_t delta, deadline dl)
        -> task<std::int64_t> override;
    auto expire(std::string key, expiry ttl, deadline dl) -> task<bool> override;
    auto ttl(std::string key, deadline dl) -> task<std::optional<expiry>> override;
    auto clear(std::string ns, deadline dl) -> task<std::size_t> override;
    auto clear_all(deadline dl) -> task<void> override;
    auto close() -> task<void> override;

private:
    /// Records the call, then stalls or throws if scripted to.
    auto enter(op o, std::string key) -> task<void>;

    backend_traits traits_;
    mutable std::mutex mutex_;
    std::map<std::string, std::string> data_;
    std::map<op, int> calls_;
    std::optional<op> stall_;
    std::optional<std::pair<op, errc>> fail_;
    std::string last_key_;
    expiry last_ttl_;
};

}  // namespace asiocache::test
