// SPDX-License-Identifier: MIT
#include "scripted_backend.hpp"

#include "asiocache/errors.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <charconv>

namespace asiocache::test {

scripted_backend::scripted_backend() {
    traits_.name = "scripted";
    traits_.enforces_deadlines = false;
}

void scripted_backend::stall_next(op o) {
    std::lock_guard lock(mutex_);
    stall_ = o;
}

void scripted_backend::fail_next(op o, errc e) {
    std::lock_guard lock(mutex_);
    fail_ = std::pair{o, e};
}

auto scripted_backend::calls(op o) const -> int {
    std::lock_guard lock(mutex_);
    auto it = calls_.find(o);
    return it == calls_.end() ? 0 : it->second;
}

auto scripted_backend::last_key() const -> std::string {
    std::lock_guard lock(mutex_);
    return last_key_;
}

auto scripted_backend::last_ttl() const -> expiry {
    std::lock_guard lock(mutex_);
    return last_ttl_;
}

auto scripted_backend::stored(std::string const& key) const -> std::optional<std::string> {
    std::lock_guard lock(mutex_);
    auto it = data_.find(key);
    if (it == data_.end()) {
        return std::nullopt;
    }
    return it->second;
}

void scripted_backend::put(std::string const& key, std::string value) {
    std::lock_guard lock(mutex_);
    data_[key] = std::move(value);
}

auto scripted_backend::enter(op o, std::string key) -> task<void> {
    bool stall = false;
    std::optional<errc> fail;
    {
        std::lock_guard lock(mutex_);
        ++calls_[o];
        last_key_ = key;
        if (stall_ == o) {
            stall_.reset();
            stall = true;
        }
        if (fail_ && fail_->first == o) {
            fail = fail_->second;
            fail_.reset();
        }
    }
    if (fail) {
        throw_error(*fail, "scripted failure");
    }
    if (stall) {
        // Waits "forever"; the facade's timeout cancels the wait through the cancellation slot.
        boost::asio::steady_timer t(co_await boost::asio::this_coro::executor,
                                    std::chrono::hours(24));
        co_await t.async_wait(boost::asio::use_awaitable);
        throw_error(errc::backend_error, "scripted stall ended without cancellation");
    }
}

auto scripted_backend::get(std::string key, deadline /*dl*/) -> task<std::optional<std::string>> {
    co_await enter(op::get, key);
    co_return stored(key);
}

auto scripted_backend::multi_get(std::vector<std::string> keys, deadline /*dl*/)
    -> task<std::vector<std::optional<std::string>>> {
    // g++ 12 destroys a conditional's temporary twice inside co_await: hoist it.
    std::string first = keys.empty() ? std::string{} : keys.front();
    co_await enter(op::multi_get, std::move(first));
    std::vector<std::optional<std::string>> out;
    for (auto const& k : keys) {
        out.push_back(stored(k));
    }
    co_return out;
}

auto scripted_backend::set(std::string key, std::string value, expiry ttl, deadline /*dl*/)
    -> task<void> {
    co_await enter(op::set, key);
    std::lock_guard lock(mutex_);
    last_ttl_ = ttl;
    data_[key] = std::move(value);
}

auto scripted_backend::multi_set(std::vector<std::pair<std::string, std::string>> items,
                                 expiry ttl, deadline /*dl*/) -> task<void> {
    std::string first = items.empty() ? std::string{} : items.front().first;
    co_await enter(op::multi_set, std::move(first));
    std::lock_guard lock(mutex_);
    last_ttl_ = ttl;
    for (auto& item : items) {
        data_[item.first] = std::move(item.second);
    }
}

auto scripted_backend::add(std::string key, std::string value, expiry ttl, deadline /*dl*/)
    -> task<void> {
    co_await enter(op::add, key);
    std::lock_guard lock(mutex_);
    last_ttl_ = ttl;
    if (!data_.emplace(key, std::move(value)).second) {
        throw_error(errc::key_exists, key);
    }
}

auto scripted_backend::remove(std::string key, deadline /*dl*/) -> task<std::size_t> {
    co_await enter(op::remove, key);
    std::lock_guard lock(mutex_);
    co_return data_.erase(key);
}

auto scripted_backend::exists(std::string key, deadline /*dl*/) -> task<bool> {
    co_await enter(op::exists, key);
    std::lock_guard lock(mutex_);
    co_return data_.contains(key);
}

auto scripted_backend::increment(std::string key, std::int64_t delta, deadline /*dl*/)
    -> task<std::int64_t> {
    co_await enter(op::increment, key);
    std::lock_guard lock(mutex_);
    std::int64_t v = 0;
    if (auto it = data_.find(key); it != data_.end()) {
        auto const& s = it->second;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc{} || p != s.data() + s.size()) {
            throw_error(errc::not_a_number, key);
        }
    }
    v += delta;
    data_[key] = std::to_string(v);
    co_return v;
}

auto scripted_backend::expire(std::string key, expiry ttl, deadline /*dl*/) -> task<bool> {
    co_await enter(op::expire, key);
    std::lock_guard lock(mutex_);
    last_ttl_ = ttl;
    co_return data_.contains(key);
}

auto scripted_backend::ttl(std::string key, deadline /*dl*/) -> task<std::optional<expiry>> {
    co_await enter(op::ttl, key);
    std::lock_guard lock(mutex_);
    if (!data_.contains(key)) {
        co_return std::nullopt;
    }
    co_return expiry::never();
}

auto scripted_backend::clear(std::string ns, deadline /*dl*/) -> task<std::size_t> {
    co_await enter(op::clear, ns);
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    auto prefix = ns + std::string(traits_.namespace_separator);
    for (auto it = data_.begin(); it != data_.end();) {
        if (it->first.starts_with(prefix)) {
            it = data_.erase(it);
            ++n;
        } else {
            ++it;
        }
    }
    co_return n;
}

auto scripted_backend::clear_all(deadline /*dl*/) -> task<void> {
    co_await enter(op::clear_all, std::string{});
    std::lock_guard lock(mutex_);
    data_.clear();
}

auto scripted_backend::close() -> task<void> {
    co_await enter(op::close, std::string{});
}

}  // namespace asiocache::test
