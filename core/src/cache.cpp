// SPDX-License-Identifier: MIT
#include "asiocache/cache.hpp"

#include "asiocache/serializers.hpp"

#include <boost/core/demangle.hpp>
#include <fmt/format.h>

namespace asiocache {

cache::plugin_set::plugin_set() {
    lists.push_back(std::make_unique<std::vector<std::shared_ptr<plugin>> const>());
    current.store(lists.back().get(), std::memory_order_release);
}

cache::cache(std::shared_ptr<asiocache::backend> b, cache_options opts)
    : backend_(std::move(b)), opts_(std::move(opts)), plugins_(std::make_shared<plugin_set>()) {
    if (!backend_) {
        throw_error(errc::invalid_argument, "cache: backend is null");
    }
    if (opts_.ttl.is_negative()) {
        throw_error(errc::invalid_argument, "cache: default ttl is negative");
    }
    if (opts_.timeout.count() < 0) {
        throw_error(errc::invalid_argument, "cache: timeout is negative");
    }
    serializer_ = opts_.serializer ? opts_.serializer : serializers::json();
    enforces_deadlines_ = backend_->traits().enforces_deadlines;
    plain_keys_ = backend_->traits().plain_keys && !opts_.key_builder;
    if (plain_keys_) {
        key_head_ = opts_.ns.empty() ? std::string() : backend_->build_key(opts_.ns, "");
        // A backend that claims the trait while building keys its own way would get keys
        // it never built: check one, and build every key when it differs.
        plain_keys_ = backend_->build_key(opts_.ns, "k") == key_head_ + "k" &&
                      backend_->build_key("", "k") == "k";
    }
    immediate_ = backend_->traits().immediate;
    strings_as_bytes_ = serializer_->kind() != serializer_kind::structured;
    bool const wants_objects = serializer_->kind() == serializer_kind::objects;
    if (auto* store = backend_->objects(); store != nullptr) {
        if (store->layered() && wants_objects) {
            throw_error(errc::invalid_config,
                        fmt::format("cache: serializer 'none' on {}: its L1 keeps objects, but "
                                    "the L2 behind it stores bytes; choose a serializer for them",
                                    backend_->traits().name));
        }
        if (store->layered() || wants_objects) {
            objects_ = store;
        }
        immediate_ = immediate_ && !store->layered();
    } else if (wants_objects) {
        throw_error(errc::invalid_config,
                    fmt::format("cache: serializer 'none' keeps objects, and the {} backend "
                                "stores bytes; choose a serializer (json, msgpack, ...)",
                                backend_->traits().name));
    }
}

namespace detail {

void throw_wrong_object(std::string_view key, std::type_info const& held,
                        std::type_info const& wanted) {
    throw_error(errc::serialization_failed,
                fmt::format("'{}' holds a {}, read as a {}", key, boost::core::demangle(held.name()),
                            boost::core::demangle(wanted.name())));
}

void throw_key_exists(std::string_view key) {
    throw_error(errc::key_exists, fmt::format("add '{}': key exists", key));
}

void throw_not_immediate(std::string_view backend) {
    throw_error(errc::backend_error,
                fmt::format("{}: the backend says it answers at once (traits().immediate) but "
                            "its try_get did not answer",
                            backend));
}

auto held_bytes_serializer() -> serializer const* {
    static auto const json = serializers::json();
    return json.get();
}

}  // namespace detail

auto cache::build_key(std::string_view key, call_options const& o) const -> std::string {
    std::string_view ns = o.ns ? std::string_view(*o.ns) : std::string_view(opts_.ns);
    if (opts_.key_builder) {
        return opts_.key_builder(key, ns);
    }
    return backend_->build_key(ns, key);
}

auto cache::take_key(std::string& key, call_options const& o) const -> std::string {
    if (!plain_keys_ || (o.ns && !o.ns->empty())) {
        return build_key(key, o);
    }
    if (!o.ns) {
        // In place when the key has room for the namespace (memoized keys reserve it).
        key.insert(0, key_head_);
    }
    return std::move(key);
}

auto cache::place_built_key(key_arg& key, call_options const& o) const -> std::string_view {
    if (!plain_keys_ || (o.ns && !o.ns->empty())) {
        key = key_arg(build_key(key.view(), o));
    } else if (!o.ns) {
        key.prepend(key_head_);
    }
    return key.view();
}

auto cache::resolve_ttl(std::optional<expiry> ttl) const -> expiry {
    if (!ttl) {
        return opts_.ttl;
    }
    if (ttl->is_negative()) {
        throw_error(errc::invalid_argument, "ttl is negative");
    }
    return *ttl;
}

auto cache::deadline_for(call_options const& o) const -> deadline {
    return deadline::after(timeout_for(o));
}

void cache::add_plugin(std::shared_ptr<plugin> p) {
    if (!p) {
        throw_error(errc::invalid_argument, "add_plugin: plugin is null");
    }
    std::lock_guard lock(plugins_->adding);
    auto longer = std::make_unique<std::vector<std::shared_ptr<plugin>>>(*plugins_->lists.back());
    longer->push_back(std::move(p));
    plugins_->lists.push_back(std::move(longer));
    plugins_->current.store(plugins_->lists.back().get(), std::memory_order_release);
}

void cache::report(memo_event const& event) const noexcept {
    for (auto const& p : *plugins_->current.load(std::memory_order_acquire)) {
        p->on_memo(event);
    }
}

void cache::scope::begin() noexcept {
    start_ = detail::op_clock::now();
    op_start const event{op_, key_, count_};
    for (auto const& p : *plugins_) {
        p->before(event);
    }
}

void cache::scope::end() noexcept {
    op_result const event{op_, key_, count_,
                           detail::op_clock::between(start_, detail::op_clock::now()), hits_,
                           error_};
    for (auto const& p : *plugins_) {
        p->after(event);
    }
}

void cache::scope::fail(std::exception_ptr const& e) noexcept {
    if (plugins_ == nullptr) {
        return;
    }
    try {
        std::rethrow_exception(e);
    } catch (boost::system::system_error const& se) {
        error_ = se.code();
    } catch (...) {
        error_ = make_error_code(errc::backend_error);
    }
}

auto cache::remove(std::string key, call_options o) & -> task<std::size_t> {
    auto full = take_key(key, o);
    scope s(*this, op::remove, full, 1);
    try {
        auto k = full;
        co_return co_await guarded(backend_->remove(std::move(k), deadline_for(o)), o, full);
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

auto cache::exists(std::string key, call_options o) & -> task<bool> {
    auto full = take_key(key, o);
    scope s(*this, op::exists, full, 1);
    try {
        auto k = full;
        bool found = co_await guarded(backend_->exists(std::move(k), deadline_for(o)), o, full);
        s.hits(found ? 1 : 0);
        co_return found;
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

auto cache::increment(std::string key, std::int64_t delta, call_options o) &
    -> task<std::int64_t> {
    auto full = take_key(key, o);
    scope s(*this, op::increment, full, 1);
    try {
        auto k = full;
        co_return co_await guarded(backend_->increment(std::move(k), delta, deadline_for(o)), o,
                                   full);
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

auto cache::expire(std::string key, expiry ttl, call_options o) & -> task<bool> {
    auto full = take_key(key, o);
    scope s(*this, op::expire, full, 1);
    try {
        if (ttl.is_negative()) {
            throw_error(errc::invalid_argument, fmt::format("expire '{}': ttl is negative", full));
        }
        auto k = full;
        co_return co_await guarded(backend_->expire(std::move(k), ttl, deadline_for(o)), o, full);
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

auto cache::ttl(std::string key, call_options o) & -> task<std::optional<expiry>> {
    auto full = take_key(key, o);
    scope s(*this, op::ttl, full, 1);
    try {
        auto k = full;
        co_return co_await guarded(backend_->ttl(std::move(k), deadline_for(o)), o, full);
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

auto cache::clear(call_options o) & -> task<std::size_t> {
    std::string ns = o.ns ? *o.ns : opts_.ns;
    scope s(*this, op::clear, ns, 0);
    try {
        if (ns.empty()) {
            throw_error(errc::invalid_argument,
                        "clear() needs a namespace; clear_all() removes every key");
        }
        // The backend finds a namespace's keys by its own layout ("ns:" on Redis). Keys from a
        // custom key_builder may not follow it, so clearing could miss them or remove keys of
        // another namespace: refused rather than guessed.
        if (opts_.key_builder) {
            throw_error(errc::not_supported,
                        fmt::format("clear('{}'): this cache has a custom key_builder, whose keys "
                                    "the backend cannot list; remove them by key, or use "
                                    "clear_all()",
                                    ns));
        }
        auto n = ns;
        co_return co_await guarded(backend_->clear(std::move(n), deadline_for(o)), o, ns);
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

auto cache::clear_all(call_options o) & -> task<void> {
    scope s(*this, op::clear_all, {}, 0);
    try {
        co_await guarded(backend_->clear_all(deadline_for(o)), o, "clear_all");
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

auto cache::raw(std::vector<std::string> argv, call_options o) & -> task<raw_reply> {
    std::string first = argv.empty() ? std::string{} : argv.front();
    scope s(*this, op::raw, first, argv.size());
    try {
        if (argv.empty()) {
            throw_error(errc::invalid_argument, "raw: empty command");
        }
        co_return co_await guarded(backend_->raw(std::move(argv), deadline_for(o)), o, first);
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

auto cache::close() & -> task<void> {
    scope s(*this, op::close, {}, 0);
    try {
        co_await backend_->close();
    } catch (...) {
        s.fail(std::current_exception());
        throw;
    }
}

}  // namespace asiocache
