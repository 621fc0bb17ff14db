// SPDX-License-Identifier: MIT
#include "asiocache/backend_config.hpp"

#include "asiocache/errors.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

namespace asiocache {
namespace {

[[noreturn]] void bad(std::string_view what, std::string_view value, std::string_view expected) {
    throw_error(errc::invalid_config,
                fmt::format("parameter '{}': '{}' is not {}", what, value, expected));
}

auto parse_uint(std::string_view text) -> std::optional<std::uint64_t> {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc{} || p != text.data() + text.size()) {
        return std::nullopt;
    }
    return v;
}

// Multiplies without overflow; nullopt on overflow.
auto scaled(std::uint64_t v, std::uint64_t factor) -> std::optional<std::uint64_t> {
    if (factor != 0 && v > std::numeric_limits<std::uint64_t>::max() / factor) {
        return std::nullopt;
    }
    return v * factor;
}

}  // namespace

auto parse_duration(std::string_view text, std::string_view what) -> std::chrono::milliseconds {
    auto digits_end = std::find_if(text.begin(), text.end(),
                                   [](unsigned char c) { return std::isdigit(c) == 0; });
    auto number = parse_uint(text.substr(0, static_cast<std::size_t>(digits_end - text.begin())));
    auto unit = text.substr(static_cast<std::size_t>(digits_end - text.begin()));
    std::uint64_t factor = 0;
    if (unit == "ms") {
        factor = 1;
    } else if (unit.empty() || unit == "s") {
        factor = 1000;
    } else if (unit == "m") {
        factor = 60'000;
    } else if (unit == "h") {
        factor = 3'600'000;
    }
    std::optional<std::uint64_t> ms;
    if (number && factor != 0) {
        ms = scaled(*number, factor);
    }
    if (!ms || *ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        bad(what, text, "a duration such as 250ms, 5s, 1m or 2h");
    }
    return std::chrono::milliseconds(static_cast<std::int64_t>(*ms));
}

auto backend_config::take(std::string_view name) -> std::optional<std::string> {
    auto it = params.find(name);
    if (it == params.end()) {
        return std::nullopt;
    }
    auto value = std::move(it->second);
    params.erase(it);
    return value;
}

auto backend_config::take_duration(std::string_view name)
    -> std::optional<std::chrono::milliseconds> {
    auto v = take(name);
    if (!v) {
        return std::nullopt;
    }
    return parse_duration(*v, name);
}

auto backend_config::take_size(std::string_view name) -> std::optional<std::uint64_t> {
    auto v = take(name);
    if (!v) {
        return std::nullopt;
    }
    std::string_view text = *v;
    std::uint64_t factor = 1;
    if (!text.empty()) {
        switch (std::tolower(static_cast<unsigned char>(text.back()))) {
            case 'k': factor = 1024ULL; break;
            case 'm': factor = 1024ULL * 1024; break;
            case 'g': factor = 1024ULL * 1024 * 1024; break;
            default: break;
        }
        if (factor != 1) {
            text.remove_suffix(1);
        }
    }
    auto n = parse_uint(text);
    auto out = n ? scaled(*n, factor) : std::nullopt;
    if (!out) {
        bad(name, *v, "a non-negative integer (optionally with k, m or g)");
    }
    return out;
}

auto backend_config::take_bool(std::string_view name) -> std::optional<bool> {
    auto v = take(name);
    if (!v) {
        return std::nullopt;
    }
    std::string lower(*v);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") {
        return true;
    }
    if (lower == "false" || lower == "0" || lower == "no" || lower == "off") {
        return false;
    }
    bad(name, *v, "a boolean (true/false, 1/0, yes/no, on/off)");
}

void backend_config::reject_unknown() const {
    if (params.empty()) {
        return;
    }
    std::string names;
    for (auto const& [k, v] : params) {
        names += names.empty() ? "" : ", ";
        names += k;
    }
    throw_error(errc::invalid_config,
                fmt::format("{}: unknown parameter{} {}", scheme, params.size() > 1 ? "s" : "",
                            names));
}

auto backend_config::redacted() const -> std::string {
    std::string out = scheme + "://";
    if (username || password) {
        out += username.value_or("");
        if (password) {
            out += ":***";
        }
        out += "@";
    }
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
        out += i == 0 ? "" : ",";
        out += endpoints[i].host;
        if (endpoints[i].port != 0) {
            out += fmt::format(":{}", endpoints[i].port);
        }
    }
    out += path;
    char sep = '?';
    if (db && path.empty()) {
        out += fmt::format("/{}", *db);
    } else if (db) {
        // A unix socket path is the URL's path, so the database goes in the query.
        out += fmt::format("?db={}", *db);
        sep = '&';
    }
    for (auto const& [k, v] : params) {
        out += fmt::format("{}{}={}", sep, k, v);
        sep = '&';
    }
    return out;
}

}  // namespace asiocache
