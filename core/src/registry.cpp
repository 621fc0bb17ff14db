// SPDX-License-Identifier: MIT
#include "asiocache/registry.hpp"

#include "asiocache/serializers.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace asiocache {
namespace {

auto join(std::vector<std::string> const& names) -> std::string {
    std::string out;
    for (auto const& n : names) {
        out += out.empty() ? "" : ", ";
        out += n;
    }
    return out.empty() ? "none" : out;
}

// The keys of a name-keyed map, in order.
template <class Map>
auto names_of(Map const& m) -> std::vector<std::string> {
    std::vector<std::string> out;
    out.reserve(m.size());
    for (auto const& entry : m) {
        out.push_back(entry.first);
    }
    return out;
}

auto is_builtin_scheme(std::string_view s) -> bool {
    return s == "memory" || s == "redis" || s == "redis+unix" || s == "memcached";
}

// Rethrows a configuration error with `context` in front of its message, keeping its code.
[[noreturn]] void rethrow_with(std::string_view context, boost::system::system_error const& e) {
    auto code = e.code().category() == cache_category() ? static_cast<errc>(e.code().value())
                                                        : errc::invalid_config;
    throw_error(code, fmt::format("{}: {}", context, error_detail(e)));
}

auto call_factory(backend_factory const& factory, boost::asio::any_io_executor const& ex,
                  backend_config cfg, std::string const& context) -> std::shared_ptr<backend> {
    std::shared_ptr<backend> b;
    try {
        b = factory(ex, std::move(cfg));
    } catch (boost::system::system_error const& e) {
        rethrow_with(context, e);
    }
    if (!b) {
        throw_error(errc::unknown_backend,
                    fmt::format("{}: the backend factory returned nothing", context));
    }
    return b;
}

auto build_cache(backend_factory const& factory, boost::asio::any_io_executor const& ex,
                 cache_config cfg, std::string_view alias) -> cache {
    auto context =
        alias.empty() ? cfg.redacted() : fmt::format("cache '{}' ({})", alias, cfg.redacted());
    auto b = call_factory(factory, ex, std::move(cfg.backend), context);
    // A backend that keeps objects itself (memory://) keeps them by default, as aiocache's
    // SimpleMemoryCache does: a hit then costs no decode. `serializer=` chooses bytes instead.
    if (!cfg.options.serializer && b->objects() != nullptr && !b->objects()->layered()) {
        cfg.options.serializer = serializers::none();
    }
    return cache(std::move(b), std::move(cfg.options));
}

void apply_overrides(cache_config& cfg, cache_overrides o) {
    for (auto& [key, value] : o.params) {
        cfg.backend.params.insert_or_assign(key, std::move(value));
    }
    // The database lives outside `params` once a URL is parsed; an override puts it back.
    if (auto db = cfg.backend.take("db")) {
        int n = -1;
        auto [end, ec] = std::from_chars(db->data(), db->data() + db->size(), n);
        if (ec != std::errc{} || end != db->data() + db->size() || n < 0) {
            throw_error(errc::invalid_config,
                        fmt::format("parameter 'db': '{}' is not a database number", *db));
        }
        cfg.backend.db = n;
    }
    take_cache_params(cfg.backend, cfg.options);
    if (o.ns) {
        cfg.options.ns = std::move(*o.ns);
    }
    if (o.ttl) {
        cfg.options.ttl = *o.ttl;
    }
    if (o.timeout) {
        cfg.options.timeout = *o.timeout;
    }
    if (o.serializer) {
        cfg.options.serializer = std::move(o.serializer);
    }
}

}  // namespace

registry::registry(boost::asio::any_io_executor ex) : ex_(std::move(ex)) {}

registry::~registry() = default;

void registry::register_backend(std::string scheme, backend_factory factory) {
    if (scheme.empty() || !factory) {
        throw_error(errc::invalid_argument, "register_backend: empty scheme or factory");
    }
    std::lock_guard lock(mutex_);
    factories_.insert_or_assign(std::move(scheme), std::move(factory));
}

auto registry::has_backend(std::string_view scheme) const -> bool {
    std::lock_guard lock(mutex_);
    return factories_.find(scheme) != factories_.end();
}

auto registry::schemes() const -> std::vector<std::string> {
    std::lock_guard lock(mutex_);
    return names_of(factories_);
}

auto registry::factory_locked(std::string_view scheme) const -> backend_factory {
    if (auto it = factories_.find(scheme); it != factories_.end()) {
        return it->second;
    }
    if (is_builtin_scheme(scheme)) {
        throw_error(errc::unknown_backend,
                    fmt::format("no backend registered for scheme '{}': call "
                                "asiocache::backends::register_builtin(registry), from "
                                "asiocache::builtin, before using it",
                                scheme));
    }
    throw_error(errc::unknown_backend,
                fmt::format("no backend registered for scheme '{}' (registered: {}); add one "
                            "with registry::register_backend",
                            scheme, join(names_of(factories_))));
}

auto registry::make_backend(backend_config cfg) const -> std::shared_ptr<backend> {
    backend_factory f;
    {
        std::lock_guard lock(mutex_);
        f = factory_locked(cfg.scheme);
    }
    auto context = cfg.redacted();
    return call_factory(f, ex_, std::move(cfg), context);
}

auto registry::make_cache(cache_config cfg) const -> cache {
    backend_factory f;
    {
        std::lock_guard lock(mutex_);
        f = factory_locked(cfg.backend.scheme);
    }
    return build_cache(f, ex_, std::move(cfg), {});
}

auto registry::make_cache(std::string_view url) const -> cache {
    return make_cache(parse_url(url).value());
}

void registry::add(std::string alias, std::string_view url) {
    auto cfg = parse_url(url);
    if (!cfg) {
        throw_error(cfg.error().code, fmt::format("cache '{}': {}", alias, cfg.error().message));
    }
    add(std::move(alias), std::move(*cfg));
}

void registry::add(std::string alias, cache_config cfg) {
    std::lock_guard lock(mutex_);
    add_locked(std::move(alias), std::move(cfg));
}

void registry::add_locked(std::string alias, cache_config cfg) {
    if (alias.empty()) {
        throw_error(errc::invalid_config, "a cache alias must not be empty");
    }
    auto it = aliases_.find(alias);
    if (it == aliases_.end()) {
        aliases_.emplace(std::move(alias), entry{std::move(cfg), nullptr});
        return;
    }
    if (it->second.instance) {
        retired_.push_back(std::move(it->second.instance));
    }
    it->second = entry{std::move(cfg), nullptr};
}

auto registry::contains(std::string_view alias) const -> bool {
    std::lock_guard lock(mutex_);
    return aliases_.find(alias) != aliases_.end();
}

auto registry::aliases() const -> std::vector<std::string> {
    std::lock_guard lock(mutex_);
    return names_of(aliases_);
}

auto registry::find_locked(std::string_view alias) const -> entry const& {
    auto it = aliases_.find(alias);
    if (it == aliases_.end()) {
        throw_unknown_alias_locked(alias);
    }
    return it->second;
}

void registry::throw_unknown_alias_locked(std::string_view alias) const {
    auto hint = alias == "default" ? "; add a 'default' entry, load a config file "
                                     "(ASIOCACHE_CONFIG) or set ASIOCACHE_URL"
                                   : "";
    throw_error(errc::unknown_alias, fmt::format("no cache named '{}' (configured: {}){}", alias,
                                                 join(names_of(aliases_)), hint));
}

auto registry::config(std::string_view alias) const -> cache_config {
    std::lock_guard lock(mutex_);
    return find_locked(alias).config;
}

auto registry::shared_locked(std::string_view alias) -> std::shared_ptr<cache> const& {
    auto it = aliases_.find(alias);
    if (it == aliases_.end()) {
        throw_unknown_alias_locked(alias);
    }
    auto& e = it->second;
    if (!e.instance) {
        auto f = factory_locked(e.config.backend.scheme);
        e.instance = std::make_shared<cache>(build_cache(f, ex_, e.config, alias));
    }
    return e.instance;
}

auto registry::get(std::string_view alias) -> cache& {
    std::lock_guard lock(mutex_);
    return *shared_locked(alias);
}

auto registry::get_shared(std::string_view alias) -> std::shared_ptr<cache> {
    std::lock_guard lock(mutex_);
    return shared_locked(alias);
}

auto registry::create(std::string_view alias, cache_overrides overrides) const -> cache {
    cache_config cfg;
    backend_factory f;
    {
        std::lock_guard lock(mutex_);
        cfg = find_locked(alias).config;
        f = factory_locked(cfg.backend.scheme);
    }
    try {
        apply_overrides(cfg, std::move(overrides));
    } catch (boost::system::system_error const& e) {
        rethrow_with(fmt::format("cache '{}' overrides", alias), e);
    }
    return build_cache(f, ex_, std::move(cfg), alias);
}

void registry::load_config(nlohmann::json const& config) {
    if (!config.is_object()) {
        throw_error(errc::invalid_config,
                    "a cache config must be a JSON object mapping alias names to URLs or "
                    "entries");
    }
    if (!config.contains("default")) {
        throw_error(errc::invalid_config,
                    "the cache config has no 'default' entry: add \"default\": \"memory://\" "
                    "or a URL of your choice");
    }
    std::vector<std::pair<std::string, cache_config>> parsed;
    for (auto const& [alias, value] : config.items()) {
        parsed.emplace_back(alias, parse_cache_entry(value, alias).value());
    }
    std::lock_guard lock(mutex_);
    for (auto& [alias, cfg] : parsed) {
        add_locked(alias, std::move(cfg));
    }
}

void registry::load_config_file(std::filesystem::path const& file) {
    auto context = fmt::format("config file '{}'", file.string());
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        throw_error(errc::invalid_config,
                    fmt::format("{} cannot be read: {}", context, std::strerror(errno)));
    }
    std::stringstream text;
    text << in.rdbuf();
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(text.str());
    } catch (nlohmann::json::exception const& e) {
        throw_error(errc::invalid_config,
                    fmt::format("{} is not valid JSON: {}", context, e.what()));
    }
    try {
        load_config(doc);
    } catch (boost::system::system_error const& e) {
        rethrow_with(context, e);
    }
}

auto registry::load_environment() -> bool {
    bool applied = false;
    if (char const* file = std::getenv("ASIOCACHE_CONFIG"); file != nullptr && *file != '\0') {
        try {
            load_config_file(file);
        } catch (boost::system::system_error const& e) {
            rethrow_with("ASIOCACHE_CONFIG", e);
        }
        applied = true;
    }
    if (char const* url = std::getenv("ASIOCACHE_URL"); url != nullptr && *url != '\0') {
        try {
            add("default", std::string_view(url));
        } catch (boost::system::system_error const& e) {
            rethrow_with("ASIOCACHE_URL", e);
        }
        applied = true;
    }
    return applied;
}

}  // namespace asiocache
