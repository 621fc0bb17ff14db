// SPDX-License-Identifier: MIT
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "asiocache/backend_config.hpp"
#include "asiocache/cache.hpp"
#include "asiocache/url.hpp"

namespace asiocache {

/// Changes applied to an alias's configuration by `registry::create`, as aiocache's
/// `caches.create(alias, **kwargs)`. Empty fields keep the alias's value.
struct cache_overrides {
    std::optional<std::string> ns;                     ///< Replaces the namespace.
    std::optional<expiry> ttl;                         ///< Replaces the default TTL.
    std::optional<std::chrono::milliseconds> timeout;  ///< Replaces the per-operation timeout.
    std::shared_ptr<asiocache::serializer const> serializer;  ///< Replaces the serializer if set.
    /// Parameters as in a URL query, replacing the alias's: backend parameters
    /// (`max_entries=10`) and the facade's (`namespace`, `ttl`, `timeout`, `serializer`).
    /// Checked like a URL's: a bad value or an unknown name is `errc::invalid_config`.
    std::map<std::string, std::string, std::less<>> params;
};

/**
 * Named caches chosen at run time (aiocache's `caches`): URL schemes map to backend factories,
 * aliases map to configurations, and each alias has one shared instance built on first use.
 *
 * @code
 * asiocache::registry caches{io.get_executor()};
 * asiocache::backends::register_builtin(caches);   // memory, redis, memcached: explicit
 * caches.add("default", "memory://?max_entries=100000");
 * caches.add("replies", "redis://127.0.0.1:6379/0?namespace=replies&ttl=60s");
 * caches.load_environment();                       // ASIOCACHE_CONFIG, then ASIOCACHE_URL
 * auto v = co_await caches.get("replies").get<std::string>("k");
 * @endcode
 *
 * Factories are registered explicitly (`register_backend`, or `register_builtin` for the
 * backends built with the library): static self-registration is silently dropped when linking
 * static libraries. Backends are built on the registry's executor.
 *
 * @par Errors
 * Configuration calls throw `boost::system::system_error` with `errc::invalid_config` (a
 * malformed URL or file, a bad or unknown parameter: the message names it),
 * `errc::unknown_backend` (no factory for the scheme: the message says how to get one) or
 * `errc::unknown_alias`. Messages never contain passwords.
 *
 * @par Thread safety
 * Every member function may be called from several threads at once. Backend factories run
 * under the registry's lock, so they must not call back into the registry.
 */
class registry {
public:
    /// Backends built by this registry run on `ex`.
    explicit registry(boost::asio::any_io_executor ex);
    registry(registry const&) = delete;
    auto operator=(registry const&) -> registry& = delete;
    ~registry();

    [[nodiscard]] auto executor() const -> boost::asio::any_io_executor { return ex_; }

    // ---- backends ----

    /// Maps a URL scheme (lowercase, e.g. "redis") to a factory, replacing any earlier one.
    void register_backend(std::string scheme, backend_factory factory);
    [[nodiscard]] auto has_backend(std::string_view scheme) const -> bool;
    /// The registered schemes, sorted.
    [[nodiscard]] auto schemes() const -> std::vector<std::string>;

    /// Builds a backend from its settings with the factory registered for `cfg.scheme`.
    /// Errors: `unknown_backend`; `invalid_config` from the factory (unknown parameters).
    [[nodiscard]] auto make_backend(backend_config cfg) const -> std::shared_ptr<backend>;
    /// Builds a fresh, unnamed cache. The cache is ready: network backends connect on first use.
    [[nodiscard]] auto make_cache(cache_config cfg) const -> cache;
    /// Parses `url` (see `parse_url`) and builds a fresh, unnamed cache.
    [[nodiscard]] auto make_cache(std::string_view url) const -> cache;

    // ---- aliases ----

    /// Names a configuration. Replacing an alias whose shared instance exists keeps that
    /// instance alive (references to it stay valid) until the registry is destroyed; later
    /// `get` calls build a new one. The URL is parsed now; the backend is built on first use.
    void add(std::string alias, std::string_view url);
    void add(std::string alias, cache_config cfg);
    [[nodiscard]] auto contains(std::string_view alias) const -> bool;
    /// The configured aliases, sorted.
    [[nodiscard]] auto aliases() const -> std::vector<std::string>;
    /// The configuration of `alias`. Errors: `unknown_alias`.
    [[nodiscard]] auto config(std::string_view alias) const -> cache_config;

    /// The shared instance of `alias`, built on first call; later calls return the same cache.
    /// The reference stays valid for the registry's lifetime. This is what the memoization layer
    /// accepts in place of a cache object: `cached(caches.get("replies"), fn, opts)`.
    /// Errors: `unknown_alias`, `unknown_backend`, `invalid_config`.
    auto get(std::string_view alias) -> cache&;
    /// The shared instance of `alias`, as a `shared_ptr` for owners that outlive the registry.
    auto get_shared(std::string_view alias) -> std::shared_ptr<cache>;
    /// A new instance with its own backend (and connections), built from the alias's
    /// configuration with `overrides` applied; never shared or remembered.
    [[nodiscard]] auto create(std::string_view alias, cache_overrides overrides = {}) const
        -> cache;

    // ---- configuration files and the environment ----

    /// Adds every alias of a JSON object mapping alias names to URLs or structured entries (see
    /// `parse_cache_entry`); `default` is required. All entries are checked before any is added.
    ///
    /// @code{.json}
    /// { "default": "memory://?max_entries=10000",
    ///   "replies": { "url": "redis://127.0.0.1:6379/0", "namespace": "replies", "ttl": "60s" },
    ///   "sessions": { "backend": "memcached", "hosts": ["10.0.0.1:11211", "10.0.0.2"] } }
    /// @endcode
    void load_config(nlohmann::json const& config);
    /// Reads a JSON file and calls `load_config`. Errors name the file (and the line, for JSON
    /// syntax errors).
    void load_config_file(std::filesystem::path const& file);
    /// Applies the environment, without a code change: `ASIOCACHE_CONFIG` names a config file to
    /// load, then `ASIOCACHE_URL` replaces the `default` alias's URL. Call it after the
    /// program's own configuration so that the environment wins. Returns true if either was set.
    auto load_environment() -> bool;

private:
    struct entry {
        cache_config config;
        std::shared_ptr<cache> instance;
    };

    auto factory_locked(std::string_view scheme) const -> backend_factory;
    auto find_locked(std::string_view alias) const -> entry const&;
    [[noreturn]] void throw_unknown_alias_locked(std::string_view alias) const;
    auto shared_locked(std::string_view alias) -> std::shared_ptr<cache> const&;
    void add_locked(std::string alias, cache_config cfg);

    boost::asio::any_io_executor ex_;
    mutable std::mutex mutex_;
    std::map<std::string, backend_factory, std::less<>> factories_;
    std::map<std::string, entry, std::less<>> aliases_;
    std::vector<std::shared_ptr<cache>> retired_;
};

}  // namespace asiocache
