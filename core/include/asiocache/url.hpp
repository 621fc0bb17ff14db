// SPDX-License-Identifier: MIT
#pragma once

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "asiocache/backend_config.hpp"
#include "asiocache/cache.hpp"
#include "asiocache/errors.hpp"

namespace asiocache {

/// Everything needed to build one cache: the backend's settings and the facade's options.
///
/// Produced by `parse_url` or `parse_cache_entry` (a config file entry), or built by hand. The
/// backend factory registered for `backend.scheme` consumes `backend`; `options` go to the
/// `cache` facade unchanged, so a hand-built config may set a user serializer or key builder.
struct cache_config {
    backend_config backend;  ///< Scheme, hosts, credentials and the backend's own parameters.
    cache_options options;   ///< Namespace, default TTL, timeout and serializer.

    /// A printable form, as a URL, with the password replaced by `***`. Every place that prints
    /// a configured cache prints this.
    [[nodiscard]] auto redacted() const -> std::string;
};

/// A configuration error: an `errc` (`invalid_config`, `unknown_backend`, `unknown_alias`) and a
/// message that names the offending parameter, alias or scheme. Never contains a password.
struct config_error {
    errc code = errc::invalid_config;
    std::string message;
};

/// Lets `config_result<T>::value()` throw `boost::system::system_error` carrying the code and
/// the message (found by argument-dependent lookup from `boost::system::result`).
[[noreturn]] void throw_exception_from_error(config_error const& e,
                                             boost::source_location const& loc);

/// The result of synchronous configuration parsing, as Boost.URL returns its own results.
/// `.value()` throws `boost::system::system_error` with the message.
template <class T>
using config_result = boost::system::result<T, config_error>;

/**
 * Parses a cache URL.
 *
 * Schemes (case-insensitive):
 * - `memory://?max_entries=100000`: no host, no path.
 * - `redis://[user:password@]host[:port][/db]`: one host (default 127.0.0.1; the port defaults
 *   to the backend's); the path is the database number, or give `?db=N`, not both.
 * - `redis+unix://[user:password@]/path/to/redis.sock?db=N`: the path is the socket.
 * - `memcached://host[:port][,host[:port]...]`: one or more hosts, comma-separated. Boost.URL
 *   reads one authority only, so the host list is split here and each host is checked by
 *   `boost::urls::parse_authority`; the rest of the URL is checked by `boost::urls::parse_uri`.
 * - Any other scheme (a user backend): hosts, path and credentials as given.
 *
 * Query parameters the cache facade takes: `namespace`, `ttl` (default TTL; `0` never expires),
 * `timeout` (per operation; `0` disables) and `serializer` (`bytes`, `string`, `json`,
 * `msgpack`, `cbor`). Durations take units: `250ms`, `5s`, `1m`, `2h`; a bare number is seconds.
 * All other parameters stay in `backend.params` for the backend's factory, which rejects the
 * ones it does not know. Userinfo, paths and values are percent-decoded (`%40` for `@`, `%3A`
 * for `:`, `%2F` for `/`); in the query, `+` is a space (write `%2B` for a plus sign).
 *
 * Errors (`invalid_config`, the message naming the parameter): malformed URL, bad port, a
 * parameter given twice or without a value, a bad duration or serializer, a fragment, a host
 * list outside memcached. The scheme is not checked against a registry here.
 */
auto parse_url(std::string_view url) -> config_result<cache_config>;

/**
 * Parses one config file entry for `alias`: either a URL string, or an object with the keys
 * `url`, `backend` (a scheme, when there is no `url`), `host`, `port`, `hosts` (a list of
 * `"host:port"` strings), `path`, `db`, `username`, `password`, `namespace`, `ttl`, `timeout`
 * (durations as strings with units, or numbers of seconds), `serializer`; every other key is a
 * backend parameter (a string, number or boolean) checked by the backend's factory. Keys given
 * with `url` override what the URL says. Errors name the alias and the key.
 */
auto parse_cache_entry(nlohmann::json const& entry, std::string_view alias)
    -> config_result<cache_config>;

/// Moves the facade's parameters (`namespace`, `ttl`, `timeout`, `serializer`) out of
/// `cfg.params` into `opts`, overriding what `opts` had. Throws `invalid_config` naming the
/// parameter on a bad value.
void take_cache_params(backend_config& cfg, cache_options& opts);

/// `url` with any password replaced by `***`, without parsing it fully: for messages about URLs
/// that failed to parse.
auto redact_url_text(std::string_view url) -> std::string;

/// The detail a `system_error` was thrown with, without the `": <category message> [...]"`
/// suffix that `what()` appends: for messages shown to people.
auto error_detail(boost::system::system_error const& e) -> std::string;

}  // namespace asiocache
