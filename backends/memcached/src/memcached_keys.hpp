// SPDX-License-Identifier: MIT
#pragma once
// Key layout for the memcached backend: aiocache's `nskey` with spaces as `_`, validation, and
// the opt-in namespace-generation encoding. Pure functions, no libmemcached.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace asiocache::backends::detail {

/// memcached's longest key.
inline constexpr std::size_t max_key_size = 250;
/// Longest decimal generation (a 64-bit counter).
inline constexpr std::size_t max_generation_digits = 20;
/// Keys starting with this are the backend's own in generation mode.
inline constexpr std::string_view reserved_prefix = "~:";

/// Why `key` cannot be a memcached key, or empty when it can.
auto key_problem(std::string_view key) -> std::string_view;

/// Throws `errc::invalid_key` naming the key unless it is a valid memcached key (and, when
/// `generations` is on, not in the reserved `~:` space).
void check_plain_key(std::string_view key, bool generations);

/// What `backend::build_key` returns: aiocache's layout, or in generation mode for a namespaced
/// key an internal form `\x1e<ns>\x1f<key>` that the worker resolves against the namespace's
/// current generation. Throws `errc::invalid_key`.
auto build_key(std::string_view ns, std::string_view key, bool generations) -> std::string;

/// A built key in the internal generation form, split.
struct namespaced_key {
    std::string_view ns;
    std::string_view key;
};
auto split_namespaced(std::string_view built) -> std::optional<namespaced_key>;

/// The stored key for `k` under generation `gen`: `~:<len(ns)>:<ns>:<gen>:<key>`.
auto generation_key_for(namespaced_key k, std::string_view gen) -> std::string;
/// Where namespace `ns`'s generation lives: `~:g:<ns>`.
auto generation_counter_key(std::string_view ns) -> std::string;

}  // namespace asiocache::backends::detail
