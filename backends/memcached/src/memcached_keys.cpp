// SPDX-License-Identifier: MIT
#include "memcached_keys.hpp"

#include "asiocache/backends/memcached.hpp"
#include "asiocache/errors.hpp"

#include <fmt/format.h>

#include <chrono>
#include <limits>

namespace asiocache::backends {
namespace detail {
namespace {

constexpr char ns_marker = '\x1e';
constexpr char ns_separator = '\x1f';

// A printable rendering of a key for error messages (control bytes escaped, long keys cut).
auto printable(std::string_view key) -> std::string {
    std::string out;
    for (unsigned char c : key.substr(0, 80)) {
        if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out += static_cast<char>(c);
        }
    }
    if (key.size() > 80) {
        out += fmt::format("... ({} bytes)", key.size());
    }
    return out;
}

auto has_forbidden_byte(std::string_view s) -> bool {
    for (unsigned char c : s) {
        if (c <= 0x20 || c == 0x7f) {
            return true;
        }
    }
    return false;
}

void append_underscored(std::string& out, std::string_view s) {
    for (char c : s) {
        out += c == ' ' ? '_' : c;
    }
}

[[noreturn]] void reject(std::string_view key, std::string_view why) {
    throw_error(errc::invalid_key, fmt::format("memcached key '{}': {}", printable(key), why));
}

auto decimal_digits(std::size_t n) -> std::size_t {
    std::size_t d = 1;
    while (n >= 10) {
        n /= 10;
        ++d;
    }
    return d;
}

}  // namespace

auto key_problem(std::string_view key) -> std::string_view {
    if (key.empty()) {
        return "empty key";
    }
    if (key.size() > max_key_size) {
        return "longer than memcached's 250 bytes";
    }
    if (has_forbidden_byte(key)) {
        return "contains a space, a control character or DEL";
    }
    return {};
}

void check_plain_key(std::string_view key, bool generations) {
    if (auto why = key_problem(key); !why.empty()) {
        reject(key, why);
    }
    if (generations && key.starts_with(reserved_prefix)) {
        reject(key, "keys starting with '~:' are reserved for namespace generations");
    }
}

auto build_key(std::string_view ns, std::string_view key, bool generations) -> std::string {
    std::string out;
    if (!generations || ns.empty()) {
        out.reserve(ns.size() + key.size());
        append_underscored(out, ns);
        append_underscored(out, key);
        check_plain_key(out, generations);
        return out;
    }
    out.reserve(ns.size() + key.size() + 2);
    out += ns_marker;
    append_underscored(out, ns);
    out += ns_separator;
    append_underscored(out, key);
    auto ns_part = std::string_view(out).substr(1, ns.size());
    auto key_part = std::string_view(out).substr(ns.size() + 2);
    if (has_forbidden_byte(ns_part) || has_forbidden_byte(key_part)) {
        reject(fmt::format("{}{}", ns, key), "contains a control character or DEL");
    }
    // Worst case stored form: "~:" len ":" ns ":" generation ":" key.
    auto stored = reserved_prefix.size() + decimal_digits(ns.size()) + 1 + ns.size() + 1 +
                  max_generation_digits + 1 + key.size();
    if (stored > max_key_size) {
        reject(fmt::format("{}{}", ns, key),
               fmt::format("with its namespace generation it takes up to {} bytes, over "
                           "memcached's 250",
                           stored));
    }
    return out;
}

auto split_namespaced(std::string_view built) -> std::optional<namespaced_key> {
    if (built.empty() || built.front() != ns_marker) {
        return std::nullopt;
    }
    auto sep = built.find(ns_separator, 1);
    if (sep == std::string_view::npos) {
        return std::nullopt;
    }
    return namespaced_key{built.substr(1, sep - 1), built.substr(sep + 1)};
}

auto generation_key_for(namespaced_key k, std::string_view gen) -> std::string {
    return fmt::format("{}{}:{}:{}:{}", reserved_prefix, k.ns.size(), k.ns, gen, k.key);
}

auto generation_counter_key(std::string_view ns) -> std::string {
    return fmt::format("{}g:{}", reserved_prefix, ns);
}

}  // namespace detail

auto memcached_expiration(expiry ttl, std::int64_t unix_now) -> std::int64_t {
    constexpr std::int64_t thirty_days = 60LL * 60 * 24 * 30;  // memcached's REALTIME_MAXDELTA
    if (ttl.is_never()) {
        return 0;
    }
    auto seconds = std::chrono::ceil<std::chrono::seconds>(ttl.duration()).count();
    if (seconds <= thirty_days) {
        return seconds;
    }
    if (seconds > std::numeric_limits<std::int32_t>::max() - unix_now) {
        throw_error(errc::invalid_argument,
                    fmt::format("memcached: a ttl of {} s ends after 2038, beyond memcached's "
                                "32-bit expiration time",
                                seconds));
    }
    return unix_now + seconds;
}

}  // namespace asiocache::backends
