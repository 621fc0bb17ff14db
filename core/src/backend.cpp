// SPDX-License-Identifier: MIT
#include "asiocache/backend.hpp"

#include "asiocache/errors.hpp"
#include "asiocache/invalidation.hpp"

#include <fmt/format.h>

namespace asiocache {

auto backend::build_key(std::string_view ns, std::string_view key) const -> std::string {
    if (ns.empty()) {
        return std::string(key);
    }
    auto sep = traits().namespace_separator;
    std::string out;
    out.reserve(ns.size() + sep.size() + key.size());
    out.append(ns).append(sep).append(key);
    return out;
}

auto backend::try_get(std::string_view /*key*/) -> std::optional<std::optional<std::string>> {
    return std::nullopt;
}

auto backend::gets(std::string /*key*/, deadline /*dl*/) -> task<std::optional<versioned_bytes>> {
    throw_error(errc::not_supported, fmt::format("{}: gets", traits().name));
    co_return std::nullopt;
}

auto backend::cas(std::string /*key*/, std::string /*value*/, std::uint64_t /*token*/,
                  expiry /*ttl*/, deadline /*dl*/) -> task<bool> {
    throw_error(errc::not_supported, fmt::format("{}: cas", traits().name));
    co_return false;
}

auto backend::remove_if_equal(std::string /*key*/, std::string /*expected*/, deadline /*dl*/)
    -> task<bool> {
    throw_error(errc::not_supported, fmt::format("{}: remove_if_equal", traits().name));
    co_return false;
}

auto backend::expire_if_equal(std::string /*key*/, std::string /*expected*/, expiry /*ttl*/,
                              deadline /*dl*/) -> task<bool> {
    throw_error(errc::not_supported, fmt::format("{}: expire_if_equal", traits().name));
    co_return false;
}

auto backend::raw(std::vector<std::string> /*argv*/, deadline /*dl*/) -> task<raw_reply> {
    throw_error(errc::not_supported, fmt::format("{}: raw", traits().name));
    co_return raw_reply{};
}

auto invalidation_source::publish(std::vector<std::string> /*keys*/, bool /*all*/) -> task<void> {
    co_return;
}

auto object_store::load(std::string /*key*/, deadline /*dl*/) -> task<object_load> {
    throw_error(errc::not_supported, "object store: load needs a layered store");
    co_return object_load{};
}

void object_store::fill(std::string_view /*key*/, std::uint64_t /*ticket*/, object_ptr /*obj*/,
                        expiry /*ttl*/) {}

}  // namespace asiocache
