// SPDX-License-Identifier: MIT
#include "asiocache/backends/memory.hpp"

#include "asiocache/errors.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <charconv>
#include <functional>
#include <limits>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace asiocache::backends {
namespace {

using time_point = clock::time_point;
constexpr auto never_expires = time_point::max();
constexpr auto unbounded = std::numeric_limits<std::size_t>::max();

/// A key with its hash computed once: the shard is picked from it and the shard's table looks
/// it up with the same value (heterogeneous lookup), so a get hashes and copies the key never
/// more than once.
struct lookup_key {
    std::string_view key;
    std::size_t hash;
};

auto hash_of(std::string_view key) noexcept -> std::size_t {
    return std::hash<std::string_view>{}(key);
}

struct key_hash {
    using is_transparent = void;
    // Not noexcept on purpose: libstdc++ then stores each node's hash, so a lookup compares
    // hashes before bytes, and neither rehashing nor a bucket walk hashes a string again.
    auto operator()(std::string const& k) const -> std::size_t { return hash_of(k); }
    auto operator()(lookup_key const& k) const noexcept -> std::size_t { return k.hash; }
};

struct key_equal {
    using is_transparent = void;
    auto operator()(std::string const& a, std::string const& b) const noexcept -> bool {
        return a == b;
    }
    auto operator()(lookup_key const& a, std::string const& b) const noexcept -> bool {
        return a.key == b;
    }
    auto operator()(std::string const& a, lookup_key const& b) const noexcept -> bool {
        return a == b.key;
    }
};

/// A link of an intrusive circular list; a lone hook points at itself. `Tag` lets one entry
/// sit in several lists.
template <class Tag>
struct hook {
    hook* prev = this;
    hook* next = this;

    hook() = default;
    hook(hook const&) = delete;
    auto operator=(hook const&) -> hook& = delete;
    ~hook() = default;

    [[nodiscard]] auto linked() const noexcept -> bool { return next != this; }
    void unlink() noexcept {
        prev->next = next;
        next->prev = prev;
        prev = next = this;
    }
    void insert_before(hook* pos) noexcept {
        prev = pos->prev;
        next = pos;
        pos->prev->next = this;
        pos->prev = this;
    }
};

struct lru_tag {};
struct ttl_tag {};
using lru_hook = hook<lru_tag>;
using ttl_hook = hook<ttl_tag>;

/// One stored value. It lives in its table node, whose address never changes, so the LRU and
/// expiry lists link entries directly.
struct entry : lru_hook, ttl_hook {
    std::string value;
    object_ptr object;  ///< Set when the entry keeps an object (`serializer=none`); `value` is then empty.
    time_point expires_at = never_expires;
    std::uint64_t version = 0;
    std::string const* key = nullptr;  ///< The node's own key, to erase it from a list walk.

    [[nodiscard]] auto expires() const noexcept -> bool { return expires_at != never_expires; }
    /// The bytes charged for what the entry holds, beyond its key.
    [[nodiscard]] auto payload() const noexcept -> std::size_t {
        return value.size() + (object ? object->bytes() : 0);
    }
};

auto as_entry(lru_hook* h) noexcept -> entry* { return static_cast<entry*>(h); }
auto as_entry(ttl_hook* h) noexcept -> entry* { return static_cast<entry*>(h); }

using table = std::unordered_map<std::string, entry, key_hash, key_equal>;

// Node: next pointer + cached hash + key + entry; plus one bucket pointer and malloc's header.
static_assert(sizeof(void*) + sizeof(std::size_t) + sizeof(table::value_type) + 2 * sizeof(void*) <=
                  memory_entry_overhead,
              "memory_entry_overhead understates the per-entry cost");

auto charge(std::size_t key_size, std::size_t value_size) noexcept -> std::size_t {
    return key_size + value_size + memory_entry_overhead;
}

/// `now + ttl`, saturated: the clock counts nanoseconds in 64 bits, so a TTL past about 292
/// years would overflow (undefined behaviour, in practice an entry stored already expired).
/// It ends just before `never_expires` instead, so `ttl()` still reports a finite TTL.
auto expiry_time(time_point now, std::chrono::milliseconds ttl) noexcept -> time_point {
    auto const room = std::chrono::duration_cast<std::chrono::milliseconds>(never_expires - now);
    if (ttl >= room) {
        return never_expires - time_point::duration(1);
    }
    return now + ttl;
}

/// Reads the clock at most once per operation, and only when an entry has a TTL.
class lazy_now {
public:
    explicit lazy_now(time_source const& ts) noexcept : ts_(ts) {}
    auto operator()() noexcept -> time_point {
        if (!now_) {
            now_ = ts_.now();
        }
        return *now_;
    }

private:
    time_source const& ts_;
    std::optional<time_point> now_;
};

/// One partition: a table, its LRU and expiry lists, its bounds and counters, all guarded by
/// `mutex`. Aligned so that two shards' hot fields never share a cache line.
struct alignas(64) shard {
    std::mutex mutex;
    table map;
    lru_hook lru;  ///< Most recently used first.
    ttl_hook expiring;  ///< Entries with a TTL, in sweep order.
    std::size_t ttl_count = 0;
    std::size_t max_entries = unbounded;
    std::size_t max_bytes = unbounded;
    /// False when nothing is ever evicted: the LRU list is then left empty, so a hit writes to
    /// no node but its own (moving an entry touches two neighbours' cache lines).
    bool track_lru = false;
    std::size_t bytes = 0;
    std::uint64_t next_version = 0;
    std::size_t writes_since_sweep = 0;
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t evictions = 0;
    std::uint64_t expirations = 0;

    // Every member function below runs with `mutex` held.

    void erase(table::iterator it) noexcept {
        entry& e = it->second;
        e.lru_hook::unlink();
        if (e.ttl_hook::linked()) {
            e.ttl_hook::unlink();
            --ttl_count;
        }
        bytes -= charge(it->first.size(), e.payload());
        map.erase(it);
    }

    void erase(entry& e) noexcept { erase(map.find(lookup_key{*e.key, hash_of(*e.key)})); }

    /// The live entry under `k`, or nullptr; an expired one is reclaimed on the way.
    auto find_live(lookup_key k, lazy_now& now) noexcept -> entry* {
        auto it = map.find(k);
        if (it == map.end()) {
            return nullptr;
        }
        entry& e = it->second;
        if (e.expires() && e.expires_at <= now()) {
            erase(it);
            ++expirations;
            return nullptr;
        }
        return &e;
    }

    void touch(entry& e) noexcept {
        if (track_lru && lru.next != &e) {
            e.lru_hook::unlink();
            e.lru_hook::insert_before(lru.next);
        }
    }

    void set_ttl(entry& e, expiry ttl, lazy_now& now) noexcept {
        if (ttl.is_never()) {
            e.expires_at = never_expires;
            if (e.ttl_hook::linked()) {
                e.ttl_hook::unlink();
                --ttl_count;
            }
            return;
        }
        e.expires_at = expiry_time(now(), ttl.duration());
        if (!e.ttl_hook::linked()) {
            e.ttl_hook::insert_before(&expiring);
            ++ttl_count;
        }
    }

    void check_size(std::string_view key, std::size_t value_size) const {
        if (max_bytes != unbounded && charge(key.size(), value_size) > max_bytes) {
            throw_error(errc::value_too_large,
                        fmt::format("memory: '{}' needs {} bytes, over the per-shard budget of {}",
                                    key, charge(key.size(), value_size), max_bytes));
        }
    }

    /// Replaces the value of a live entry.
    /// Replaces what a live entry holds: bytes, or an object (then `value` is empty).
    void assign(entry& e, std::size_t key_size, std::string&& value,
                object_ptr&& object = nullptr) noexcept {
        bytes -= charge(key_size, e.payload());
        e.value = std::move(value);
        e.object = std::move(object);
        bytes += charge(key_size, e.payload());
        e.version = ++next_version;
    }

    /// Inserts an entry known to be absent.
    auto insert(std::string&& key, std::string&& value, object_ptr&& object = nullptr) -> entry& {
        auto [it, inserted] = map.try_emplace(std::move(key));
        entry& e = it->second;
        e.key = &it->first;
        e.value = std::move(value);
        e.object = std::move(object);
        e.version = ++next_version;
        if (track_lru) {
            e.lru_hook::insert_before(lru.next);
        }
        bytes += charge(it->first.size(), e.payload());
        return e;
    }

    /// Stores `value` (or `object`) under `k` (key bytes in `key`), replacing any entry and
    /// its TTL.
    auto store(lookup_key k, std::string&& key, std::string&& value, expiry ttl, lazy_now& now,
               object_ptr&& object = nullptr) -> entry& {
        entry* e = find_live(k, now);
        if (e != nullptr) {
            assign(*e, k.key.size(), std::move(value), std::move(object));
            touch(*e);
        } else {
            e = &insert(std::move(key), std::move(value), std::move(object));
        }
        set_ttl(*e, ttl, now);
        return *e;
    }

    /// Evicts least recently used entries, never `keep`, until the bounds hold; then runs the
    /// write-driven sweep when it is due.
    void after_write(entry const* keep, lazy_now& now, std::size_t sweep_every,
                     std::size_t sweep_batch) noexcept {
        while ((map.size() > max_entries || bytes > max_bytes) && lru.prev != &lru) {
            entry* victim = as_entry(lru.prev);
            if (victim == keep) {
                break;
            }
            if (victim->expires() && victim->expires_at <= now()) {
                ++expirations;
            } else {
                ++evictions;
            }
            erase(*victim);
        }
        if (sweep_every != 0 && ++writes_since_sweep >= sweep_every) {
            writes_since_sweep = 0;
            sweep(sweep_batch, now);
        }
    }

    struct sweep_result {
        std::size_t examined = 0;
        std::size_t reclaimed = 0;
    };

    /// Examines up to `budget` entries with a TTL, oldest-examined first, and reclaims the
    /// expired ones; the others go to the back of the list, so repeated sweeps cover them all.
    auto sweep(std::size_t budget, lazy_now& now) noexcept -> sweep_result {
        sweep_result r;
        std::size_t const limit = std::min(budget, ttl_count);
        while (r.examined < limit) {
            entry* e = as_entry(expiring.next);
            ++r.examined;
            if (e->expires_at <= now()) {
                erase(*e);
                ++expirations;
                ++r.reclaimed;
            } else {
                e->ttl_hook::unlink();
                e->ttl_hook::insert_before(&expiring);
            }
        }
        return r;
    }

    void clear() noexcept {
        map.clear();
        lru.prev = lru.next = &lru;
        expiring.prev = expiring.next = &expiring;
        ttl_count = 0;
        bytes = 0;
    }
};

/// A byte operation met an entry that keeps an object.
[[noreturn]] void throw_holds_object(std::string_view op, std::string_view key) {
    throw_error(errc::serialization_failed,
                fmt::format("memory: {} '{}': the key holds an object (kept by a cache with "
                            "serializer=none), which has no bytes",
                            op, key));
}

/// True when the entry holds `expected`: as bytes, or as a string object (a lease token
/// written by a cache that keeps objects).
auto holds(entry const& e, std::string const& expected) -> bool {
    if (!e.object) {
        return e.value == expected;
    }
    return e.object->type() == typeid(std::string) &&
           static_cast<detail::held<std::string> const&>(*e.object).value == expected;
}

auto parse_int(std::string_view text) -> std::optional<std::int64_t> {
    std::int64_t v = 0;
    auto const* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, v);
    if (text.empty() || ec != std::errc{} || p != end) {
        return std::nullopt;
    }
    return v;
}

/// Splits `total` as evenly as possible; `0` (no bound) stays unbounded.
auto share(std::size_t total, std::size_t index, std::size_t parts) -> std::size_t {
    if (total == 0) {
        return unbounded;
    }
    return total / parts + (index < total % parts ? 1 : 0);
}

}  // namespace

struct memory_backend::impl {
    memory_options opts;
    std::shared_ptr<time_source const> clock;
    std::size_t shard_count = 1;
    std::size_t mask = 0;
    std::unique_ptr<shard[]> shards;
    std::atomic<std::size_t> sweep_cursor{0};  ///< Where the next `sweep()` starts.
    backend_traits traits{.name = "memory",
                          .namespace_separator = ":",
                          .enforces_deadlines = true,
                          .supports_ttl = true,
                          .supports_clear_namespace = true,
                          .ttl_granularity = std::chrono::milliseconds(1),
                          .max_key_size = 0,
                          .plain_keys = true};

    explicit impl(memory_options o) : opts(std::move(o)) {
        if (opts.shards == 0 || !std::has_single_bit(opts.shards)) {
            throw_error(errc::invalid_argument,
                        fmt::format("memory: shards must be a power of two, not {}", opts.shards));
        }
        clock = opts.time_source ? opts.time_source : steady_time_source();
        shard_count = opts.shards;
        if (opts.max_entries != 0) {
            shard_count = std::min(shard_count, std::bit_floor(opts.max_entries));
        }
        mask = shard_count - 1;
        shards = std::make_unique<shard[]>(shard_count);
        for (std::size_t i = 0; i < shard_count; ++i) {
            shards[i].max_entries = share(opts.max_entries, i, shard_count);
            shards[i].max_bytes = share(opts.max_bytes, i, shard_count);
            shards[i].track_lru = opts.max_entries != 0 || opts.max_bytes != 0;
        }
    }

    auto locate(std::string_view key) const noexcept -> std::pair<shard*, lookup_key> {
        std::size_t const h = hash_of(key);
        return {&shards[(h ^ (h >> 32)) & mask], lookup_key{key, h}};
    }

    void after_write(shard& s, entry const* keep, lazy_now& now) const noexcept {
        s.after_write(keep, now, opts.sweep_every, opts.sweep_batch);
    }

    /// The get path: one hash, one lock, one copy of the value.
    void lookup(std::string_view key, std::optional<std::string>& out) {
        auto [s, k] = locate(key);
        lazy_now now(*clock);
        std::lock_guard lock(s->mutex);
        entry* e = s->find_live(k, now);
        if (e == nullptr) {
            ++s->misses;
            return;
        }
        if (e->object) {
            throw_holds_object("get", key);
        }
        ++s->hits;
        s->touch(*e);
        out.emplace(e->value);
    }

    void set(std::string&& key, std::string&& value, expiry ttl) {
        auto [s, k] = locate(key);
        s->check_size(key, value.size());
        lazy_now now(*clock);
        std::lock_guard lock(s->mutex);
        entry& e = s->store(k, std::move(key), std::move(value), ttl, now);
        after_write(*s, &e, now);
    }

    template <class F>
    auto with_live(std::string_view key, F&& f) {
        auto [s, k] = locate(key);
        lazy_now now(*clock);
        std::lock_guard lock(s->mutex);
        return std::forward<F>(f)(*s, k, s->find_live(k, now), now);
    }
};

memory_backend::memory_backend(memory_options opts)
    : impl_(std::make_unique<impl>(std::move(opts))) {}

memory_backend::~memory_backend() = default;

auto memory_backend::traits() const noexcept -> backend_traits const& { return impl_->traits; }

auto memory_backend::shard_count() const noexcept -> std::size_t { return impl_->shard_count; }

auto memory_backend::try_get(std::string const& key)
    -> std::optional<std::optional<std::string>> {
    std::optional<std::optional<std::string>> out{std::in_place};
    impl_->lookup(key, *out);
    return out;
}

auto memory_backend::get(std::string key, deadline /*dl*/) -> task<std::optional<std::string>> {
    std::optional<std::string> out;
    impl_->lookup(key, out);
    co_return out;
}

auto memory_backend::multi_get(std::vector<std::string> keys, deadline /*dl*/)
    -> task<std::vector<std::optional<std::string>>> {
    std::vector<std::optional<std::string>> out(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        impl_->lookup(keys[i], out[i]);
    }
    co_return out;
}

auto memory_backend::set(std::string key, std::string value, expiry ttl, deadline /*dl*/)
    -> task<void> {
    impl_->set(std::move(key), std::move(value), ttl);
    co_return;
}

auto memory_backend::multi_set(std::vector<std::pair<std::string, std::string>> items,
                               expiry ttl, deadline /*dl*/) -> task<void> {
    // Size checks first, so an oversized item fails the batch before anything is stored.
    for (auto const& [k, v] : items) {
        impl_->locate(k).first->check_size(k, v.size());
    }
    for (auto& [k, v] : items) {
        impl_->set(std::move(k), std::move(v), ttl);
    }
    co_return;
}

auto memory_backend::add(std::string key, std::string value, expiry ttl, deadline /*dl*/)
    -> task<void> {
    auto [s, k] = impl_->locate(key);
    s->check_size(key, value.size());
    lazy_now now(*impl_->clock);
    {
        std::lock_guard lock(s->mutex);
        if (s->find_live(k, now) == nullptr) {
            entry& e = s->insert(std::move(key), std::move(value));
            s->set_ttl(e, ttl, now);
            impl_->after_write(*s, &e, now);
            co_return;
        }
    }
    throw_error(errc::key_exists, fmt::format("memory: add '{}': key exists", key));
}

auto memory_backend::remove(std::string key, deadline /*dl*/) -> task<std::size_t> {
    co_return impl_->with_live(key, [](shard& s, lookup_key, entry* e, lazy_now&) -> std::size_t {
        if (e == nullptr) {
            return 0;
        }
        s.erase(*e);
        return 1;
    });
}

auto memory_backend::exists(std::string key, deadline /*dl*/) -> task<bool> {
    co_return impl_->with_live(
        key, [](shard&, lookup_key, entry* e, lazy_now&) { return e != nullptr; });
}

auto memory_backend::increment(std::string key, std::int64_t delta, deadline /*dl*/)
    -> task<std::int64_t> {
    enum class outcome { ok, not_a_number, overflow };
    std::int64_t result = 0;
    auto bump = [&](shard& s, lookup_key, entry* e, lazy_now& now) -> outcome {
        if (e == nullptr) {
            result = delta;
            entry& created = s.insert(std::string(key), fmt::format("{}", delta));
            impl_->after_write(s, &created, now);
            return outcome::ok;
        }
        auto current = e->object ? std::nullopt : parse_int(e->value);
        if (!current) {
            return outcome::not_a_number;
        }
        if (__builtin_add_overflow(*current, delta, &result)) {
            return outcome::overflow;
        }
        s.assign(*e, key.size(), fmt::format("{}", result));
        s.touch(*e);
        impl_->after_write(s, e, now);
        return outcome::ok;
    };
    auto const r = impl_->with_live(key, bump);
    if (r == outcome::not_a_number) {
        throw_error(errc::not_a_number,
                    fmt::format("memory: increment '{}': value is not a 64-bit integer", key));
    }
    if (r == outcome::overflow) {
        throw_error(errc::invalid_argument,
                    fmt::format("memory: increment '{}' by {} would overflow", key, delta));
    }
    co_return result;
}

auto memory_backend::expire(std::string key, expiry ttl, deadline /*dl*/) -> task<bool> {
    co_return impl_->with_live(key, [ttl](shard& s, lookup_key, entry* e, lazy_now& now) {
        if (e == nullptr) {
            return false;
        }
        s.set_ttl(*e, ttl, now);
        return true;
    });
}

auto memory_backend::ttl(std::string key, deadline /*dl*/) -> task<std::optional<expiry>> {
    co_return impl_->with_live(
        key, [](shard&, lookup_key, entry* e, lazy_now& now) -> std::optional<expiry> {
            if (e == nullptr) {
                return std::nullopt;
            }
            if (!e->expires()) {
                return expiry::never();
            }
            return expiry(e->expires_at - now());
        });
}

auto memory_backend::clear(std::string ns, deadline /*dl*/) -> task<std::size_t> {
    std::string prefix = ns;
    prefix += impl_->traits.namespace_separator;
    std::size_t removed = 0;
    lazy_now now(*impl_->clock);
    for (std::size_t i = 0; i < impl_->shard_count; ++i) {
        shard& s = impl_->shards[i];
        std::lock_guard lock(s.mutex);
        for (auto it = s.map.begin(); it != s.map.end();) {
            auto next = std::next(it);
            if (it->first.starts_with(prefix)) {
                entry const& e = it->second;
                if (e.expires() && e.expires_at <= now()) {
                    ++s.expirations;
                } else {
                    ++removed;
                }
                s.erase(it);
            }
            it = next;
        }
    }
    co_return removed;
}

auto memory_backend::clear_all(deadline /*dl*/) -> task<void> {
    for (std::size_t i = 0; i < impl_->shard_count; ++i) {
        shard& s = impl_->shards[i];
        std::lock_guard lock(s.mutex);
        s.clear();
    }
    co_return;
}

auto memory_backend::gets(std::string key, deadline /*dl*/)
    -> task<std::optional<versioned_bytes>> {
    co_return impl_->with_live(
        key, [](shard& s, lookup_key, entry* e, lazy_now&) -> std::optional<versioned_bytes> {
            if (e == nullptr) {
                ++s.misses;
                return std::nullopt;
            }
            if (e->object) {
                throw_holds_object("gets", *e->key);
            }
            ++s.hits;
            s.touch(*e);
            return versioned_bytes{e->value, e->version};
        });
}

auto memory_backend::cas(std::string key, std::string value, std::uint64_t token, expiry ttl,
                         deadline /*dl*/) -> task<bool> {
    auto [s, k] = impl_->locate(key);
    s->check_size(key, value.size());
    lazy_now now(*impl_->clock);
    std::lock_guard lock(s->mutex);
    entry* e = s->find_live(k, now);
    if (e == nullptr || e->version != token) {
        co_return false;
    }
    s->assign(*e, key.size(), std::move(value));
    s->touch(*e);
    s->set_ttl(*e, ttl, now);
    impl_->after_write(*s, e, now);
    co_return true;
}

auto memory_backend::remove_if_equal(std::string key, std::string expected, deadline /*dl*/)
    -> task<bool> {
    co_return impl_->with_live(key, [&expected](shard& s, lookup_key, entry* e, lazy_now&) {
        if (e == nullptr || !holds(*e, expected)) {
            return false;
        }
        s.erase(*e);
        return true;
    });
}

auto memory_backend::expire_if_equal(std::string key, std::string expected, expiry ttl,
                                     deadline /*dl*/) -> task<bool> {
    co_return impl_->with_live(key, [&expected, ttl](shard& s, lookup_key, entry* e,
                                                     lazy_now& now) {
        if (e == nullptr || !holds(*e, expected)) {
            return false;
        }
        s.set_ttl(*e, ttl, now);
        return true;
    });
}

auto memory_backend::close() -> task<void> { co_return; }

auto memory_backend::objects() noexcept -> object_store* { return this; }

auto memory_backend::layered() const noexcept -> bool { return false; }

auto memory_backend::lookup(std::string const& key) -> object_lookup {
    object_lookup out;
    impl_->with_live(key, [&out](shard& s, lookup_key, entry* e, lazy_now&) {
        if (e == nullptr) {
            ++s.misses;
            return;
        }
        ++s.hits;
        s.touch(*e);
        out.version = e->version;
        if (e->object) {
            out.what = object_lookup::state::object;
            out.object = e->object;
        } else {
            out.what = object_lookup::state::bytes;
            out.bytes = e->value;
        }
    });
    return out;
}

auto memory_backend::put(std::string key, object_ptr obj, std::string /*bytes*/, expiry ttl,
                         put_mode mode, std::uint64_t token, deadline /*dl*/) -> task<bool> {
    co_return put_now(std::move(key), std::move(obj), ttl, mode, token);
}

auto memory_backend::put_now(std::string key, object_ptr obj, expiry ttl, put_mode mode,
                             std::uint64_t token) -> bool {
    if (!obj) {
        throw_error(errc::invalid_argument, "memory: put of a null object");
    }
    auto [s, k] = impl_->locate(key);
    s->check_size(key, obj->bytes());
    lazy_now now(*impl_->clock);
    std::lock_guard lock(s->mutex);
    entry* e = s->find_live(k, now);
    switch (mode) {
        case put_mode::replace:
            break;
        case put_mode::if_absent:
            if (e != nullptr) {
                return false;
            }
            break;
        case put_mode::if_version:
            if (e == nullptr || e->version != token) {
                return false;
            }
            break;
    }
    if (e != nullptr) {
        s->assign(*e, k.key.size(), std::string{}, std::move(obj));
        s->touch(*e);
    } else {
        e = &s->insert(std::move(key), std::string{}, std::move(obj));
    }
    s->set_ttl(*e, ttl, now);
    impl_->after_write(*s, e, now);
    return true;
}

auto memory_backend::forget(std::string const& key) -> bool {
    return impl_->with_live(key, [](shard& s, lookup_key, entry* e, lazy_now&) {
        if (e == nullptr) {
            return false;
        }
        s.erase(*e);
        return true;
    });
}

void memory_backend::forget_all() noexcept {
    for (std::size_t i = 0; i < impl_->shard_count; ++i) {
        shard& s = impl_->shards[i];
        std::lock_guard lock(s.mutex);
        s.clear();
    }
}

auto memory_backend::sweep(std::size_t max_examined) -> std::size_t {
    std::size_t reclaimed = 0;
    std::size_t left = max_examined;
    std::size_t const per_shard = std::max<std::size_t>(1, max_examined / impl_->shard_count);
    lazy_now now(*impl_->clock);
    std::size_t const first = impl_->sweep_cursor.fetch_add(1, std::memory_order_relaxed);
    for (std::size_t i = 0; i < impl_->shard_count && left > 0; ++i) {
        shard& s = impl_->shards[(first + i) & impl_->mask];
        std::lock_guard lock(s.mutex);
        auto r = s.sweep(std::min(left, per_shard), now);
        left -= r.examined;
        reclaimed += r.reclaimed;
    }
    return reclaimed;
}

auto memory_backend::stats() const -> memory_stats {
    memory_stats out;
    for (std::size_t i = 0; i < impl_->shard_count; ++i) {
        shard& s = impl_->shards[i];
        std::lock_guard lock(s.mutex);
        out.hits += s.hits;
        out.misses += s.misses;
        out.evictions += s.evictions;
        out.expirations += s.expirations;
        out.entries += s.map.size();
        out.bytes += s.bytes;
    }
    return out;
}

auto sweep_periodically(std::weak_ptr<memory_backend> b, std::chrono::milliseconds interval,
                        std::size_t batch) -> task<void> {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    for (;;) {
        timer.expires_after(interval);
        co_await timer.async_wait(boost::asio::use_awaitable);
        auto alive = b.lock();
        if (!alive) {
            co_return;
        }
        alive->sweep(batch);
    }
}

auto make_memory_backend(memory_options opts) -> std::shared_ptr<memory_backend> {
    return std::make_shared<memory_backend>(std::move(opts));
}

auto memory_backend_from_config(boost::asio::any_io_executor /*ex*/, backend_config cfg)
    -> std::shared_ptr<backend> {
    if (!cfg.endpoints.empty() || !cfg.path.empty() || cfg.db || cfg.username || cfg.password) {
        throw_error(errc::invalid_config,
                    fmt::format("{}: a memory cache takes no host, path, database or credentials",
                                cfg.redacted()));
    }
    memory_options opts;
    if (auto v = cfg.take_size("max_entries")) {
        opts.max_entries = static_cast<std::size_t>(*v);
    }
    if (auto v = cfg.take_size("max_bytes")) {
        opts.max_bytes = static_cast<std::size_t>(*v);
    }
    if (auto v = cfg.take_size("shards")) {
        if (*v == 0 || !std::has_single_bit(*v)) {
            throw_error(errc::invalid_config,
                        fmt::format("parameter 'shards': '{}' is not a power of two", *v));
        }
        opts.shards = static_cast<std::size_t>(*v);
    }
    cfg.reject_unknown();
    return make_memory_backend(std::move(opts));
}

}  // namespace asiocache::backends
