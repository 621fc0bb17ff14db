// SPDX-License-Identifier: MIT
// Fuzz target: cache URL parsing (asiocache::parse_url).
//
// Two modes, picked by the first byte. Raw text: any bytes parse or fail with invalid_config,
// never anything else, and a successful parse is internally consistent. Structured: the input
// chooses the parts of a URL (arbitrary user names, passwords, namespaces and parameter values,
// percent-encoded), the URL is assembled, and the parse must give back exactly those parts.
#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "asiocache/serializers.hpp"
#include "asiocache/url.hpp"
#include "fuzz_check.hpp"

namespace {

using asiocache::cache_config;
using asiocache::errc;
using asiocache::fuzz::input;

// Every byte outside RFC 3986's unreserved set is escaped, so any text survives the URL.
auto percent_encode(std::string_view s) -> std::string {
    std::string out;
    for (unsigned char c : s) {
        bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved) {
            out += static_cast<char>(c);
        } else {
            out += fmt::format("%{:02X}", c);
        }
    }
    return out;
}

// Properties of any successful parse, whatever the input was.
void check_consistent(cache_config const& cfg) {
    auto const& b = cfg.backend;
    FUZZ_CHECK(!b.scheme.empty());
    // The facade's parameters never stay behind for the backend's factory to reject.
    for (auto const* name : {"namespace", "ttl", "timeout", "serializer"}) {
        FUZZ_CHECK(!b.params.contains(name));
    }
    FUZZ_CHECK(!cfg.options.ttl.is_negative());
    FUZZ_CHECK(cfg.options.timeout.count() >= 0);
    if (b.scheme == "redis" || b.scheme == "memcached") {
        FUZZ_CHECK(!b.endpoints.empty());
    }
    if (b.scheme == "redis" || b.scheme == "redis+unix") {
        FUZZ_CHECK(!b.params.contains("db"));
        FUZZ_CHECK(!b.db || *b.db >= 0);
    }
    if (b.scheme == "memory") {
        FUZZ_CHECK(b.endpoints.empty() && !b.username && !b.password);
    }
    for (auto const& ep : b.endpoints) {
        FUZZ_CHECK(!ep.host.empty());
    }
    auto printed = cfg.redacted();
    if (b.password) {
        // The password is always shown as *** (checking that the password itself is absent
        // would misfire when it is also a substring of a host or parameter).
        FUZZ_CHECK(printed.find(":***@") != std::string::npos);
    }
}

void raw_mode(std::string_view text) {
    auto r = asiocache::parse_url(text);
    if (!r) {
        FUZZ_CHECK(r.error().code == errc::invalid_config);
        FUZZ_CHECK(!r.error().message.empty());
        return;
    }
    check_consistent(*r);
    // Parsing is a pure function of the text.
    auto again = asiocache::parse_url(text);
    FUZZ_CHECK(again && again->redacted() == r->redacted());
}

struct expected_url {
    std::string text;
    std::string scheme;
    std::optional<std::string> user;
    std::optional<std::string> password;
    std::vector<asiocache::endpoint> hosts;
    std::optional<int> db;
    std::string ns;
    std::optional<std::chrono::milliseconds> ttl;
    std::string serializer;
    std::map<std::string, std::string, std::less<>> params;
};

auto build(input& in) -> expected_url {
    static constexpr std::string_view schemes[] = {"redis", "memcached", "memory", "mybackend"};
    static constexpr std::string_view host_names[] = {"127.0.0.1", "localhost", "cache-1.example",
                                                      "10.0.0.2", "h"};
    static constexpr std::string_view units[] = {"ms", "s", "m", "h", ""};
    static constexpr std::string_view serializer_names[] = {"bytes", "string", "json", "msgpack",
                                                            "cbor"};
    expected_url e;
    e.scheme = schemes[in.byte() % 4];
    // Scheme case does not matter.
    auto written_scheme = e.scheme;
    if (in.byte() % 2 == 1) {
        for (auto& c : written_scheme) {
            c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
        }
    }
    e.text = written_scheme + "://";
    bool network = e.scheme != "memory";
    if (network) {
        auto flags = in.byte();
        auto user = std::string(in.piece());
        auto password = std::string(in.piece());
        if ((flags & 1) != 0 && !(user.empty() && password.empty())) {
            e.text += percent_encode(user);
            if (!user.empty()) {
                e.user = user;
            }
            if (!password.empty()) {
                e.text += ":" + percent_encode(password);
                e.password = password;
            }
            e.text += "@";
        }
        std::size_t count = e.scheme == "redis" ? 1 : 1 + in.byte() % 3;
        for (std::size_t i = 0; i < count; ++i) {
            asiocache::endpoint ep{std::string(host_names[in.byte() % 5]), 0};
            auto port = static_cast<std::uint16_t>(in.byte() << 8 | in.byte());
            ep.port = port;
            e.text += (i == 0 ? "" : ",") + ep.host;
            if (port != 0) {
                e.text += fmt::format(":{}", port);
            }
            e.hosts.push_back(ep);
        }
        if (e.scheme == "redis" && in.byte() % 2 == 1) {
            e.db = static_cast<int>(in.byte());
            e.text += fmt::format("/{}", *e.db);
        }
    }
    char sep = '?';
    auto add = [&](std::string_view key, std::string_view value) {
        e.text += fmt::format("{}{}={}", sep, key, value);
        sep = '&';
    };
    auto what = in.byte();
    if ((what & 1) != 0) {
        e.ns = std::string(in.piece());
        add("namespace", percent_encode(e.ns));
    }
    if ((what & 2) != 0) {
        auto n = in.byte() << 8 | in.byte();
        auto unit_index = in.byte() % 5;
        auto unit = units[unit_index];
        std::int64_t factor = unit == "ms" ? 1 : unit == "m" ? 60'000 : unit == "h" ? 3'600'000 : 1000;
        e.ttl = std::chrono::milliseconds(n * factor);
        add("ttl", fmt::format("{}{}", n, unit));
    }
    if ((what & 4) != 0) {
        e.serializer = serializer_names[in.byte() % 5];
        add("serializer", e.serializer);
    }
    // Backend parameters pass through untouched for the factory to check.
    for (unsigned i = 0, n = (what >> 3) % 3; i < n; ++i) {
        auto key = fmt::format("p{}", i);
        auto value = std::string(in.piece());
        e.params[key] = value;
        add(key, percent_encode(value));
    }
    return e;
}

void structured_mode(input& in) {
    auto e = build(in);
    auto r = asiocache::parse_url(e.text);
    FUZZ_CHECK(r.has_value());
    auto const& b = r->backend;
    FUZZ_CHECK(b.scheme == e.scheme);
    FUZZ_CHECK(b.username == e.user);
    FUZZ_CHECK(b.password == e.password);
    if (e.scheme == "memory") {
        FUZZ_CHECK(b.endpoints.empty());
    } else {
        FUZZ_CHECK(b.endpoints.size() == e.hosts.size());
        for (std::size_t i = 0; i < e.hosts.size(); ++i) {
            FUZZ_CHECK(b.endpoints[i].host == e.hosts[i].host);
            FUZZ_CHECK(b.endpoints[i].port == e.hosts[i].port);
        }
    }
    FUZZ_CHECK(b.db == e.db);
    FUZZ_CHECK(r->options.ns == e.ns);
    if (e.ttl) {
        FUZZ_CHECK(r->options.ttl == asiocache::expiry(*e.ttl));
    }
    if (!e.serializer.empty()) {
        FUZZ_CHECK(r->options.serializer && r->options.serializer->name() == e.serializer);
    }
    FUZZ_CHECK(b.params == e.params);
    check_consistent(*r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    input in(data, size);
    if (in.byte() % 2 == 0) {
        raw_mode(in.rest());
    } else {
        structured_mode(in);
    }
    return 0;
}
