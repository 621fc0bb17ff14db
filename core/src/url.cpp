// SPDX-License-Identifier: MIT
#include "asiocache/url.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/url/authority_view.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "asiocache/serializers.hpp"

namespace asiocache {
namespace {

[[noreturn]] void fail(std::string const& message) { throw_error(errc::invalid_config, message); }

auto lowercase(std::string_view s) -> std::string {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

template <class Int>
auto parse_number(std::string_view text) -> std::optional<Int> {
    Int v{};
    auto const* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, v);
    if (text.empty() || ec != std::errc{} || p != end) {
        return std::nullopt;
    }
    return v;
}

auto parse_port(std::string_view text, std::string_view host) -> std::uint16_t {
    auto n = parse_number<unsigned>(text);
    if (!n || *n == 0 || *n > 65535) {
        fail(fmt::format("port '{}' of host '{}' is not a number from 1 to 65535", text, host));
    }
    return static_cast<std::uint16_t>(*n);
}

auto parse_db(std::string_view text, std::string_view where) -> int {
    auto n = parse_number<int>(text);
    if (!n || *n < 0) {
        fail(fmt::format("{} '{}' is not a database number (0, 1, 2, ...)", where, text));
    }
    return *n;
}

// One `host[:port]` of a memcached host list, or of a config file's "hosts".
auto parse_endpoint(std::string_view text) -> endpoint {
    if (text.empty()) {
        fail("empty host in the host list (write host1:port1,host2:port2)");
    }
    if (text.find('@') != std::string_view::npos) {
        fail("credentials go before the first host only (user:password@host1,host2)");
    }
    auto a = boost::urls::parse_authority(text);
    if (!a) {
        fail(
            fmt::format("host '{}' is malformed: write host or host:port, where a port is a "
                        "number from 1 to 65535 and an IPv6 address is in brackets ([::1])",
                        text));
    }
    endpoint ep{a->host_address(), 0};
    if (ep.host.empty()) {
        fail(fmt::format("host '{}' has no host name", text));
    }
    if (a->has_port() && !a->port().empty()) {
        ep.port = parse_port(a->port(), ep.host);
    }
    return ep;
}

// Splits the authority of `scheme://a,b,c/...` into the URL with the first host only, which
// Boost.URL can check, and the endpoints of the others.
struct split_authority {
    std::string url;
    std::vector<endpoint> more;
};

auto split_host_list(std::string_view url, std::size_t authority_begin) -> split_authority {
    auto authority_end = url.find_first_of("/?#", authority_begin);
    if (authority_end == std::string_view::npos) {
        authority_end = url.size();
    }
    auto authority = url.substr(authority_begin, authority_end - authority_begin);
    if (authority.find(',') == std::string_view::npos) {
        return {std::string(url), {}};
    }
    auto at = authority.rfind('@');
    auto hosts_begin = at == std::string_view::npos ? 0 : at + 1;
    if (at != std::string_view::npos &&
        authority.substr(0, at).find(',') != std::string_view::npos) {
        fail("credentials go before the first host only (user:password@host1,host2)");
    }
    auto hosts = authority.substr(hosts_begin);
    std::vector<std::string_view> parts;
    for (std::size_t pos = 0;;) {
        auto comma = hosts.find(',', pos);
        parts.push_back(hosts.substr(pos, comma == std::string_view::npos ? comma : comma - pos));
        if (comma == std::string_view::npos) {
            break;
        }
        pos = comma + 1;
    }
    if (parts.front().empty()) {
        fail("empty host in the host list (write host1:port1,host2:port2)");
    }
    split_authority out;
    out.url.append(url.substr(0, authority_begin + hosts_begin));
    out.url.append(parts.front());
    out.url.append(url.substr(authority_end));
    for (std::size_t i = 1; i < parts.size(); ++i) {
        out.more.push_back(parse_endpoint(parts[i]));
    }
    return out;
}

void add_param(backend_config& cfg, std::string key, std::string value) {
    if (key.empty()) {
        fail("a query parameter has an empty name");
    }
    if (cfg.params.contains(key)) {
        fail(fmt::format("parameter '{}' is given twice", key));
    }
    cfg.params.emplace(std::move(key), std::move(value));
}

/// The scheme of the L2 behind a near cache (`tiered+redis` -> `redis`), or `s` itself.
auto base_scheme(std::string_view s) -> std::string_view {
    constexpr std::string_view tiered = "tiered+";
    return s.starts_with(tiered) ? s.substr(tiered.size()) : s;
}

// The built-in schemes that connect to one server; memcached and user schemes take a list.
auto single_host_scheme(std::string_view s) -> bool {
    s = base_scheme(s);
    return s == "memory" || s == "redis" || s == "redis+unix";
}

// A path of "" or "/" is no path.
auto empty_path(std::string_view p) -> bool { return p.empty() || p == "/"; }

void check_memory(boost::urls::url_view const& u, backend_config const& cfg) {
    if (!cfg.endpoints.empty() || u.has_userinfo() || !empty_path(u.path())) {
        fail(
            "memory:// takes no host, credentials or path; its settings go in the query, "
            "e.g. memory://?max_entries=100000");
    }
}

void apply_redis(boost::urls::url_view const& u, backend_config& cfg) {
    std::string path = u.path();
    if (!empty_path(path)) {
        auto db_text = std::string_view(path).substr(1);
        if (db_text.find('/') != std::string_view::npos) {
            fail(
                fmt::format("path '{}' is not a database number: write redis://host:port/0", path));
        }
        cfg.db = parse_db(db_text, "database in the path");
    }
    if (auto db = cfg.take("db")) {
        if (cfg.db) {
            fail(fmt::format("parameter 'db': the database is also given in the path (/{})",
                             *cfg.db));
        }
        cfg.db = parse_db(*db, "parameter 'db':");
    }
    if (cfg.endpoints.empty()) {
        cfg.endpoints.push_back({"127.0.0.1", 0});
    }
}

void apply_redis_unix(boost::urls::url_view const& u, backend_config& cfg) {
    if (!cfg.endpoints.empty()) {
        fail(fmt::format("redis+unix takes no host ('{}'): write redis+unix:///path/to/redis.sock",
                         cfg.endpoints.front().host));
    }
    cfg.path = u.path();
    if (empty_path(cfg.path)) {
        fail("redis+unix needs the socket path: redis+unix:///path/to/redis.sock");
    }
    if (auto db = cfg.take("db")) {
        cfg.db = parse_db(*db, "parameter 'db':");
    }
}

void apply_memcached(boost::urls::url_view const& u, backend_config& cfg) {
    if (!empty_path(u.path())) {
        fail(
            fmt::format("memcached takes no path ('{}'): write memcached://host1:port1,host2:port2",
                        std::string(u.path())));
    }
    if (cfg.endpoints.empty()) {
        cfg.endpoints.push_back({"127.0.0.1", 0});
    }
}

auto parse_url_or_throw(std::string_view text) -> cache_config {
    auto sep = text.find("://");
    if (sep == std::string_view::npos || sep == 0) {
        fail(
            fmt::format("'{}' is not a cache URL: expected scheme://..., e.g. memory://, "
                        "redis://127.0.0.1:6379/0 or memcached://127.0.0.1:11211",
                        redact_url_text(text)));
    }
    auto scheme = lowercase(text.substr(0, sep));
    auto split = split_host_list(text, sep + 3);
    if (!split.more.empty() && single_host_scheme(scheme)) {
        fail(fmt::format("{}: several hosts given; {}:// takes one (memcached:// takes a list)",
                         scheme, scheme));
    }
    auto parsed = boost::urls::parse_uri(split.url);
    if (!parsed) {
        fail(
            fmt::format("malformed URL '{}': {}", redact_url_text(text), parsed.error().message()));
    }
    auto const& u = *parsed;
    // Boost.URL 1.81 accepts text after the host that does not start with '/' as a path
    // ("redis://h:abc" has path "abc"), and an unencoded '@', '/', '?' or '#' in a password
    // pushes the rest of the password into the path, query or fragment. These messages show
    // only the redacted URL, never the parts, which may hold a piece of the password.
    auto path = std::string_view(u.encoded_path());
    if ((!path.empty() && path.front() != '/') || path.find('@') != std::string_view::npos) {
        fail(
            fmt::format("malformed URL '{}': unexpected text after the host. A port is a number "
                        "from 1 to 65535, and '@', ':', '/', '?' and '#' in user names and "
                        "passwords must be percent-encoded (%40, %3A, %2F, %3F, %23)",
                        redact_url_text(text)));
    }
    if (u.has_fragment()) {
        fail(
            fmt::format("malformed URL '{}': a cache URL has no '#' fragment (percent-encode "
                        "'#' in passwords as %23)",
                        redact_url_text(text)));
    }

    cache_config out;
    auto& cfg = out.backend;
    cfg.scheme = scheme;
    if (u.has_userinfo()) {
        if (auto user = std::string(u.user()); !user.empty()) {
            cfg.username = std::move(user);
        }
        if (u.has_password()) {
            cfg.password = std::string(u.password());
        }
    }
    if (auto host = std::string(u.host_address()); !host.empty()) {
        endpoint ep{std::move(host), 0};
        if (u.has_port() && !u.port().empty()) {
            ep.port = parse_port(u.port(), ep.host);
        }
        cfg.endpoints.push_back(std::move(ep));
    } else if (u.has_port() && !u.port().empty()) {
        fail(fmt::format("port '{}' is given without a host", std::string(u.port())));
    }
    for (auto&& e : split.more) {
        cfg.endpoints.push_back(std::move(e));
    }
    for (auto const& p : u.params()) {
        if (p.key.find('@') != std::string::npos) {
            fail(
                fmt::format("malformed URL '{}': '@' in a parameter name (percent-encode '?' "
                            "in passwords as %3F)",
                            redact_url_text(text)));
        }
        if (!p.has_value) {
            fail(fmt::format("parameter '{}' has no value (write {}=value)", p.key, p.key));
        }
        add_param(cfg, p.key, p.value);
    }

    auto const base = base_scheme(scheme);
    if (base == "memory") {
        check_memory(u, cfg);
    } else if (base == "redis") {
        apply_redis(u, cfg);
    } else if (base == "redis+unix") {
        apply_redis_unix(u, cfg);
    } else if (base == "memcached") {
        apply_memcached(u, cfg);
    } else if (!empty_path(u.path())) {
        cfg.path = u.path();
    }
    take_cache_params(cfg, out.options);
    return out;
}

// ---- config file entries ----

auto scalar_text(nlohmann::json const& v, std::string_view key) -> std::string {
    if (v.is_string()) {
        return v.get<std::string>();
    }
    if (v.is_boolean()) {
        return v.get<bool>() ? "true" : "false";
    }
    if (v.is_number_integer() || v.is_number_unsigned()) {
        return v.dump();
    }
    if (v.is_number_float()) {
        return v.dump();
    }
    fail(fmt::format("key '{}' must be a string, a number or a boolean", key));
}

// A duration in a config file: a string with a unit, or a number of seconds (aiocache's unit,
// which may have a fraction).
auto duration_text(nlohmann::json const& v, std::string_view key) -> std::string {
    if (v.is_number_float()) {
        auto seconds = v.get<double>();
        if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e12) {
            fail(fmt::format("parameter '{}': {} is not a duration", key, v.dump()));
        }
        return fmt::format("{}ms", static_cast<std::int64_t>(std::llround(seconds * 1000)));
    }
    return scalar_text(v, key);
}

auto entry_or_throw(nlohmann::json const& entry) -> cache_config {
    if (entry.is_string()) {
        return parse_url(entry.get<std::string>()).value();
    }
    if (!entry.is_object()) {
        fail("an entry must be a URL string or an object with \"url\" or \"backend\"");
    }
    cache_config out;
    auto& cfg = out.backend;
    if (auto it = entry.find("url"); it != entry.end()) {
        if (!it->is_string()) {
            fail("key 'url' must be a string");
        }
        if (entry.contains("backend")) {
            fail("give either 'url' or 'backend', not both");
        }
        out = parse_url(it->get<std::string>()).value();
    } else if (auto b = entry.find("backend"); b != entry.end() && b->is_string()) {
        cfg.scheme = lowercase(b->get<std::string>());
    } else {
        fail(
            "an entry needs \"url\" (e.g. \"redis://127.0.0.1:6379/0\") or \"backend\" "
            "(e.g. \"memory\")");
    }

    std::map<std::string, std::string, std::less<>> cache_params;
    for (auto const& [key, value] : entry.items()) {
        if (key == "url" || key == "backend") {
            continue;
        }
        if (key == "host" || key == "port") {
            continue;  // handled together below
        }
        if (key == "hosts") {
            if (!value.is_array() || value.empty()) {
                fail("key 'hosts' must be a non-empty list of \"host:port\" strings");
            }
            cfg.endpoints.clear();
            for (auto const& h : value) {
                if (!h.is_string()) {
                    fail("key 'hosts' must be a non-empty list of \"host:port\" strings");
                }
                cfg.endpoints.push_back(parse_endpoint(h.get<std::string>()));
            }
        } else if (key == "path") {
            cfg.path = scalar_text(value, key);
        } else if (key == "db") {
            cfg.db = parse_db(scalar_text(value, key), "key 'db':");
        } else if (key == "username") {
            cfg.username = scalar_text(value, key);
        } else if (key == "password") {
            cfg.password = scalar_text(value, key);
        } else if (key == "ttl" || key == "timeout") {
            cache_params[key] = duration_text(value, key);
        } else if (key == "namespace" || key == "serializer") {
            cache_params[key] = scalar_text(value, key);
        } else {
            cfg.params[key] = scalar_text(value, key);
        }
    }
    if (entry.contains("host") || entry.contains("port")) {
        if (entry.contains("hosts")) {
            fail("give either 'hosts' or 'host'/'port', not both");
        }
        endpoint ep = cfg.endpoints.empty() ? endpoint{"127.0.0.1", 0} : cfg.endpoints.front();
        if (auto h = entry.find("host"); h != entry.end()) {
            ep.host = scalar_text(*h, "host");
        }
        if (auto p = entry.find("port"); p != entry.end()) {
            ep.port = parse_port(scalar_text(*p, "port"), ep.host);
        }
        cfg.endpoints.assign(1, ep);
    }
    if (cfg.endpoints.size() > 1 && single_host_scheme(cfg.scheme)) {
        fail(fmt::format("{}: several hosts given; {} takes one (memcached takes a list)",
                         cfg.scheme, cfg.scheme));
    }
    if ((base_scheme(cfg.scheme) == "redis" || base_scheme(cfg.scheme) == "memcached") &&
        cfg.endpoints.empty()) {
        cfg.endpoints.push_back({"127.0.0.1", 0});
    }
    cfg.params.merge(cache_params);
    take_cache_params(cfg, out.options);
    return out;
}

auto to_config_error(boost::system::system_error const& e) -> config_error {
    auto code = e.code().category() == cache_category() ? static_cast<errc>(e.code().value())
                                                        : errc::invalid_config;
    return {code, error_detail(e)};
}

auto format_duration(std::chrono::milliseconds d) -> std::string {
    if (d.count() % 1000 == 0) {
        return fmt::format("{}s", d.count() / 1000);
    }
    return fmt::format("{}ms", d.count());
}

}  // namespace

void throw_exception_from_error(config_error const& e, boost::source_location const& /*loc*/) {
    throw_error(e.code, e.message);
}

auto parse_url(std::string_view url) -> config_result<cache_config> {
    try {
        return parse_url_or_throw(url);
    } catch (boost::system::system_error const& e) {
        return to_config_error(e);
    }
}

auto parse_cache_entry(nlohmann::json const& entry, std::string_view alias)
    -> config_result<cache_config> {
    try {
        return entry_or_throw(entry);
    } catch (boost::system::system_error const& e) {
        auto err = to_config_error(e);
        err.message = fmt::format("cache '{}': {}", alias, err.message);
        return err;
    }
}

void take_cache_params(backend_config& cfg, cache_options& opts) {
    if (auto ns = cfg.take("namespace")) {
        opts.ns = std::move(*ns);
    }
    if (auto ttl = cfg.take_duration("ttl")) {
        opts.ttl = *ttl;  // zero: never expires
    }
    if (auto timeout = cfg.take_duration("timeout")) {
        opts.timeout = *timeout;
    }
    if (auto name = cfg.take("serializer")) {
        opts.serializer = serializers::by_name(*name);
        if (!opts.serializer) {
            fail(
                fmt::format("parameter 'serializer': '{}' is not one of bytes, string, json, "
                            "msgpack, cbor, none",
                            *name));
        }
    }
}

auto cache_config::redacted() const -> std::string {
    auto out = backend.redacted();
    char sep = backend.params.empty() && !(backend.db && !backend.path.empty()) ? '?' : '&';
    auto append = [&](std::string_view key, std::string const& value) {
        out += fmt::format("{}{}={}", sep, key, value);
        sep = '&';
    };
    if (!options.ns.empty()) {
        append("namespace", options.ns);
    }
    if (!options.ttl.is_never()) {
        append("ttl", format_duration(options.ttl.duration()));
    }
    if (options.timeout != cache_options{}.timeout) {
        append("timeout", format_duration(options.timeout));
    }
    if (options.serializer) {
        append("serializer", std::string(options.serializer->name()));
    }
    return out;
}

auto redact_url_text(std::string_view url) -> std::string {
    // Deliberately coarse, for text that failed to parse: everything from the first ':' after
    // the scheme up to the last '@' is hidden, even if that over-redacts a query value.
    auto sep = url.find("://");
    auto at = url.rfind('@');
    if (sep == std::string_view::npos || at == std::string_view::npos || at < sep + 3) {
        return std::string(url);
    }
    auto colon = url.substr(sep + 3, at - sep - 3).find(':');
    if (colon == std::string_view::npos) {
        return std::string(url);
    }
    std::string out(url.substr(0, sep + 3 + colon));
    out += ":***";
    out += url.substr(at);
    return out;
}

auto error_detail(boost::system::system_error const& e) -> std::string {
    std::string what = e.what();
    auto suffix = std::string(": ") + e.code().what();
    if (what.size() >= suffix.size() &&
        what.compare(what.size() - suffix.size(), suffix.size(), suffix) == 0) {
        what.resize(what.size() - suffix.size());
    }
    return what;
}

}  // namespace asiocache
