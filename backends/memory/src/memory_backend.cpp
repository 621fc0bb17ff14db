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
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

namespace asiocache::backends {
namespace {

using time_point = clock::time_point;
constexpr auto never_expires = time_point::max();
constexpr auto unbounded = std::numeric_limits<std::size_t>::max();

/// A key with its hash computed once: the shard is picked from it and the shard's table looks
/// it up with the same value, so an operation hashes its key once.
struct lookup_key {
    std::string_view key;
    std::size_t hash;
};

auto hash_of(std::string_view key) noexcept -> std::size_t {
    return std::hash<std::string_view>{}(key);
}

/// A link of an intrusive circular list; a lone link points at itself.
struct list_link {
    list_link* prev = this;
    list_link* next = this;

    list_link() = default;
    list_link(list_link const&) = delete;
    auto operator=(list_link const&) -> list_link& = delete;
    ~list_link() = default;

    [[nodiscard]] auto linked() const noexcept -> bool { return next != this; }
    void unlink() noexcept {
        prev->next = next;
        next->prev = prev;
        prev = next = this;
    }
    void insert_before(list_link* pos) noexcept {
        prev = pos->prev;
        next = pos;
        pos->prev->next = this;
        pos->prev = this;
    }
};

/// One stored value in a single allocation: this header, then the key's bytes, then the
/// value's bytes, or (when the entry keeps an object) an `object_ptr` at the next aligned
/// offset. One block per entry keeps its cost near the header's 68 bytes (a node of a
/// standard unordered_map with string key and value takes three blocks and about 185 bytes
/// beyond them), and a lookup finds the key's bytes beside the hash it compares first.
struct entry {
    list_link lru;  ///< The LRU list (bounded stores only); first, so its address is the entry's.
    list_link ttl;  ///< The expiry list, while the entry has a TTL.
    entry* chain = nullptr;  ///< The next entry of the same bucket.
    time_point expires_at = never_expires;
    std::uint64_t version = 0;
    std::uint32_t hash = 0;      ///< The low 32 bits of the key's hash.
    std::uint32_t key_size = 0;
    std::uint32_t tail = 0;      ///< The value's size, or `object_tag`.
    char data[4];                ///< Where the key's bytes start; they run on past the struct.

    static constexpr std::uint32_t object_tag = 0xffff'ffffU;

    entry() = default;
    entry(entry const&) = delete;
    auto operator=(entry const&) -> entry& = delete;
    ~entry() = default;

    [[nodiscard]] auto base() const noexcept -> char const* {
        return reinterpret_cast<char const*>(this);
    }
    [[nodiscard]] auto base() noexcept -> char* { return reinterpret_cast<char*>(this); }
    [[nodiscard]] auto key() const noexcept -> std::string_view;
    [[nodiscard]] auto holds_object() const noexcept -> bool { return tail == object_tag; }
    /// The bytes held; empty when the entry keeps an object.
    [[nodiscard]] auto value() const noexcept -> std::string_view;
    /// The object kept; only when `holds_object()`.
    [[nodiscard]] auto object() const noexcept -> object_ptr const&;
    [[nodiscard]] auto expires() const noexcept -> bool { return expires_at != never_expires; }
};

static_assert(std::is_standard_layout_v<entry>, "entry's layout must be standard");
static_assert(offsetof(entry, data) == memory_entry_header,
              "memory_entry_header must match the entry's header");
static_assert(sizeof(object_ptr) == 2 * sizeof(void*) && alignof(object_ptr) == alignof(void*),
              "memory_object_charge must match the object pointer's layout");

/// Where an entry's object pointer sits after a key of `key_size` bytes.
constexpr auto object_offset(std::size_t key_size) noexcept -> std::size_t {
    constexpr std::size_t align = alignof(object_ptr);
    return (memory_entry_header + key_size + align - 1) / align * align;
}

auto entry::key() const noexcept -> std::string_view {
    return {base() + memory_entry_header, key_size};
}

auto entry::value() const noexcept -> std::string_view {
    return {base() + memory_entry_header + key_size, holds_object() ? 0 : tail};
}

auto entry::object() const noexcept -> object_ptr const& {
    return *std::launder(reinterpret_cast<object_ptr const*>(base() + object_offset(key_size)));
}

auto as_entry(list_link* l) noexcept -> entry* { return reinterpret_cast<entry*>(l); }
auto ttl_entry(list_link* l) noexcept -> entry* {
    return reinterpret_cast<entry*>(reinterpret_cast<char*>(l) - offsetof(entry, ttl));
}

/// The size of the block of an entry with a key of `key_size` bytes and a value of
/// `value_size` bytes, or an object.
auto block_size(std::size_t key_size, std::size_t value_size, bool object) noexcept
    -> std::size_t {
    std::size_t const n = object ? object_offset(key_size) + sizeof(object_ptr)
                                 : memory_entry_header + key_size + value_size;
    return std::max(n, sizeof(entry));
}

/// What an entry is charged: its block as the allocator rounds it and one bucket slot, plus
/// the estimated size of the object it keeps, if it keeps one (`value_size` then).
auto charge_for(std::size_t key_size, std::size_t value_size, bool object) noexcept
    -> std::size_t {
    return object ? memory_object_charge(key_size, value_size)
                  : memory_entry_charge(key_size, value_size);
}

auto charge(entry const& e) noexcept -> std::size_t {
    return e.holds_object() ? charge_for(e.key_size, e.object()->bytes(), true)
                            : charge_for(e.key_size, e.tail, false);
}

/// A new entry, linked nowhere, holding `key` and `value`, or `key` and `object` when set.
auto make_entry(std::uint32_t hash, std::string_view key, std::string_view value,
                object_ptr&& object) -> entry* {
    bool const keeps_object = object != nullptr;
    void* block = ::operator new(block_size(key.size(), value.size(), keeps_object));
    auto* e = ::new (block) entry;
    e->hash = hash;
    e->key_size = static_cast<std::uint32_t>(key.size());
    std::memcpy(e->base() + memory_entry_header, key.data(), key.size());
    if (keeps_object) {
        e->tail = entry::object_tag;
        ::new (e->base() + object_offset(key.size())) object_ptr(std::move(object));
    } else {
        e->tail = static_cast<std::uint32_t>(value.size());
        std::memcpy(e->base() + memory_entry_header + key.size(), value.data(), value.size());
    }
    return e;
}

void destroy(entry* e) noexcept {
    if (e->holds_object()) {
        std::launder(reinterpret_cast<object_ptr*>(e->base() + object_offset(e->key_size)))
            ->~object_ptr();
    }
    e->~entry();
    ::operator delete(static_cast<void*>(e));
}

/// A chained hash table of entries it owns: power-of-two buckets, doubled when the entries
/// outnumber them.
class table {
public:
    table() = default;
    table(table const&) = delete;
    auto operator=(table const&) -> table& = delete;
    ~table() { clear(); }

    [[nodiscard]] auto size() const noexcept -> std::size_t { return size_; }

    [[nodiscard]] auto find(lookup_key k) const noexcept -> entry* {
        if (size_ == 0) {
            return nullptr;
        }
        auto const h = static_cast<std::uint32_t>(k.hash);
        for (entry* e = buckets_[h & mask_]; e != nullptr; e = e->chain) {
            if (e->hash == h && e->key() == k.key) {
                return e;
            }
        }
        return nullptr;
    }

    /// Makes room for one more entry, so that `link` cannot fail.
    void reserve_one() {
        if (size_ >= bucket_count_) {
            grow();
        }
    }

    /// Adds `e`, whose key is absent; `reserve_one` first.
    void link(entry* e) noexcept {
        entry*& head = buckets_[e->hash & mask_];
        e->chain = head;
        head = e;
        ++size_;
    }

    /// Takes `e` out (it stays alive).
    void unlink(entry* e) noexcept {
        *slot_of(e) = e->chain;
        e->chain = nullptr;
        --size_;
    }

    /// Puts `fresh` in the place of `old`, which has the same key and stays alive.
    void replace(entry* old, entry* fresh) noexcept {
        fresh->chain = old->chain;
        *slot_of(old) = fresh;
        old->chain = nullptr;
    }

    /// Calls `f(e)` for every entry; `f` may take out and destroy the entry it is given.
    template <class F>
    void for_each(F&& f) {
        for (std::size_t b = 0; b < bucket_count_; ++b) {
            for (entry* e = buckets_[b]; e != nullptr;) {
                entry* next = e->chain;
                f(e);
                e = next;
            }
        }
    }

    /// Takes every entry out onto the front of the list `out` (chained by `entry::chain`) and
    /// returns the buckets.
    void take_all(entry*& out) noexcept {
        for (std::size_t b = 0; b < bucket_count_; ++b) {
            for (entry* e = buckets_[b]; e != nullptr;) {
                entry* next = e->chain;
                e->chain = out;
                out = e;
                e = next;
            }
        }
        buckets_.reset();
        bucket_count_ = mask_ = size_ = 0;
    }

    /// Destroys every entry and returns the buckets.
    void clear() noexcept {
        for (std::size_t b = 0; b < bucket_count_; ++b) {
            for (entry* e = buckets_[b]; e != nullptr;) {
                entry* next = e->chain;
                destroy(e);
                e = next;
            }
        }
        buckets_.reset();
        bucket_count_ = mask_ = size_ = 0;
    }

private:
    auto slot_of(entry const* e) noexcept -> entry** {
        entry** p = &buckets_[e->hash & mask_];
        while (*p != e) {
            p = &(*p)->chain;
        }
        return p;
    }

    void grow() {
        std::size_t const n = bucket_count_ == 0 ? 16 : bucket_count_ * 2;
        auto fresh = std::make_unique<entry*[]>(n);
        for (std::size_t b = 0; b < bucket_count_; ++b) {
            for (entry* e = buckets_[b]; e != nullptr;) {
                entry* next = e->chain;
                entry*& head = fresh[e->hash & (n - 1)];
                e->chain = head;
                head = e;
                e = next;
            }
        }
        buckets_ = std::move(fresh);
        bucket_count_ = n;
        mask_ = n - 1;
    }

    std::unique_ptr<entry*[]> buckets_;
    std::size_t bucket_count_ = 0;
    std::size_t mask_ = 0;
    std::size_t size_ = 0;
};

/// The largest key or value this store keeps: lengths are held in 32 bits.
constexpr std::size_t max_item_size = std::numeric_limits<std::uint32_t>::max() - 1;

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
    list_link lru;  ///< Most recently used first.
    list_link expiring;  ///< Entries with a TTL, in sweep order.
    std::size_t ttl_count = 0;
    std::size_t max_entries = unbounded;
    std::size_t max_bytes = unbounded;
    /// False when nothing is ever evicted: the LRU list is then left empty, so a hit writes to
    /// no entry but its own (moving an entry touches two neighbours' cache lines).
    bool track_lru = false;
    std::size_t bytes = 0;
    std::uint64_t next_version = 0;
    std::size_t writes_since_sweep = 0;
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t evictions = 0;
    std::uint64_t expirations = 0;
    /// Entries taken out under `mutex` and not yet destroyed, chained by `entry::chain`.
    entry* retired = nullptr;

    // Every member function below runs with `mutex` held, by a `shard_lock`.

    void erase(entry* e) noexcept {
        e->lru.unlink();
        if (e->ttl.linked()) {
            e->ttl.unlink();
            --ttl_count;
        }
        bytes -= charge(*e);
        map.unlink(e);
        retire(e);
    }

    /// Hands `e`, linked nowhere now, to the `shard_lock` that holds `mutex`, which destroys
    /// it once the mutex is released: a kept object's destructor is the user's code, which
    /// may be slow or use this store again.
    void retire(entry* e) noexcept {
        e->chain = retired;
        retired = e;
    }

    /// The live entry under `k`, or nullptr; an expired one is reclaimed on the way.
    auto find_live(lookup_key k, lazy_now& now) noexcept -> entry* {
        entry* e = map.find(k);
        if (e == nullptr) {
            return nullptr;
        }
        if (e->expires() && e->expires_at <= now()) {
            erase(e);
            ++expirations;
            return nullptr;
        }
        return e;
    }

    void touch(entry& e) noexcept {
        if (track_lru && lru.next != &e.lru) {
            e.lru.unlink();
            e.lru.insert_before(lru.next);
        }
    }

    void set_ttl(entry& e, expiry ttl, lazy_now& now) noexcept {
        if (ttl.is_never()) {
            e.expires_at = never_expires;
            if (e.ttl.linked()) {
                e.ttl.unlink();
                --ttl_count;
            }
            return;
        }
        e.expires_at = expiry_time(now(), ttl.duration());
        if (!e.ttl.linked()) {
            e.ttl.insert_before(&expiring);
            ++ttl_count;
        }
    }

    /// Refuses what this shard could not hold: a key or byte value over `max_item_size`, or an
    /// entry charged more than the whole budget. `value_size` is an object's estimated size
    /// when `object`.
    void check_size(std::string_view key, std::size_t value_size, bool object = false) const {
        check_key_size(key);
        if (!object && value_size > max_item_size) {
            throw_error(errc::value_too_large,
                        fmt::format("memory: '{}': a value takes at most {} bytes, not {}",
                                    key, max_item_size, value_size));
        }
        auto const need = charge_for(key.size(), value_size, object);
        if (max_bytes != unbounded && need > max_bytes) {
            throw_error(errc::value_too_large,
                        fmt::format("memory: '{}' needs {} bytes, over the per-shard budget of {}",
                                    key, need, max_bytes));
        }
    }

    static void check_key_size(std::string_view key) {
        if (key.size() > max_item_size) {
            throw_error(errc::value_too_large,
                        fmt::format("memory: a key takes at most {} bytes, not {} ('{}...')",
                                    max_item_size, key.size(), key.substr(0, 64)));
        }
    }

    /// Replaces what a live entry holds: bytes, or an object when `object` is set. Returns
    /// the entry, which moves to a new block unless the new bytes are as long as the old.
    auto assign(entry* e, std::string_view value, object_ptr&& object = nullptr) -> entry* {
        if (object == nullptr && !e->holds_object() && e->tail == value.size()) {
            std::memcpy(e->base() + memory_entry_header + e->key_size, value.data(),
                        value.size());
        } else {
            entry* fresh = make_entry(e->hash, e->key(), value, std::move(object));
            fresh->expires_at = e->expires_at;
            if (e->lru.linked()) {
                fresh->lru.insert_before(&e->lru);
                e->lru.unlink();
            }
            if (e->ttl.linked()) {
                fresh->ttl.insert_before(&e->ttl);
                e->ttl.unlink();
            }
            map.replace(e, fresh);
            bytes -= charge(*e);
            bytes += charge(*fresh);
            retire(e);
            e = fresh;
        }
        e->version = ++next_version;
        return e;
    }

    /// Inserts an entry known to be absent.
    auto insert(lookup_key k, std::string_view value, object_ptr&& object = nullptr)
        -> entry* {
        map.reserve_one();
        entry* e = make_entry(static_cast<std::uint32_t>(k.hash), k.key, value, std::move(object));
        map.link(e);
        e->version = ++next_version;
        if (track_lru) {
            e->lru.insert_before(lru.next);
        }
        bytes += charge(*e);
        return e;
    }

    /// Stores `value` (or `object`) under `k`, replacing any entry and its TTL.
    auto store(lookup_key k, std::string_view value, expiry ttl, lazy_now& now,
               object_ptr&& object = nullptr) -> entry* {
        entry* e = find_live(k, now);
        if (e != nullptr) {
            e = assign(e, value, std::move(object));
            touch(*e);
        } else {
            e = insert(k, value, std::move(object));
        }
        set_ttl(*e, ttl, now);
        return e;
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
            erase(victim);
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
            entry* e = ttl_entry(expiring.next);
            ++r.examined;
            if (e->expires_at <= now()) {
                erase(e);
                ++expirations;
                ++r.reclaimed;
            } else {
                e->ttl.unlink();
                e->ttl.insert_before(&expiring);
            }
        }
        return r;
    }

    void clear() noexcept {
        map.take_all(retired);
        lru.prev = lru.next = &lru;
        expiring.prev = expiring.next = &expiring;
        ttl_count = 0;
        bytes = 0;
    }
};

/// Holds a shard's mutex; on release, destroys the entries the shard retired meanwhile, with
/// the mutex released. A kept object's destructor then runs outside the lock, so a heavy one
/// does not hold up the shard and one that uses the store again does not deadlock.
class shard_lock {
public:
    explicit shard_lock(shard& s) : s_(s) { s_.mutex.lock(); }
    shard_lock(shard_lock const&) = delete;
    auto operator=(shard_lock const&) -> shard_lock& = delete;
    ~shard_lock() {
        entry* dead = s_.retired;
        if (dead != nullptr) {
            s_.retired = nullptr;
        }
        s_.mutex.unlock();
        while (dead != nullptr) {
            entry* next = dead->chain;
            destroy(dead);
            dead = next;
        }
    }

private:
    shard& s_;
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
    if (!e.holds_object()) {
        return e.value() == expected;
    }
    auto const& object = *e.object();
    return object.type() == typeid(std::string) &&
           static_cast<asiocache::detail::held<std::string> const&>(object).value == expected;
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
                          .plain_keys = true,
                          .immediate = true};

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
        shard_lock lock(*s);
        entry* e = s->find_live(k, now);
        if (e == nullptr) {
            ++s->misses;
            return;
        }
        if (e->holds_object()) {
            throw_holds_object("get", key);
        }
        ++s->hits;
        s->touch(*e);
        out.emplace(e->value());
    }

    void set(std::string&& key, std::string&& value, expiry ttl) {
        auto [s, k] = locate(key);
        s->check_size(key, value.size());
        lazy_now now(*clock);
        shard_lock lock(*s);
        entry* e = s->store(k, value, ttl, now);
        after_write(*s, e, now);
    }

    template <class F>
    auto with_live(std::string_view key, F&& f) {
        auto [s, k] = locate(key);
        lazy_now now(*clock);
        shard_lock lock(*s);
        return std::forward<F>(f)(*s, k, s->find_live(k, now), now);
    }
};

memory_backend::memory_backend(memory_options opts)
    : impl_(std::make_unique<impl>(std::move(opts))) {}

memory_backend::~memory_backend() = default;

auto memory_backend::traits() const noexcept -> backend_traits const& { return impl_->traits; }

auto memory_backend::shard_count() const noexcept -> std::size_t { return impl_->shard_count; }

auto memory_backend::try_get(std::string_view key)
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
        shard_lock lock(*s);
        if (s->find_live(k, now) == nullptr) {
            entry* e = s->insert(k, value);
            s->set_ttl(*e, ttl, now);
            impl_->after_write(*s, e, now);
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
        s.erase(e);
        return 1;
    });
}

auto memory_backend::exists(std::string key, deadline /*dl*/) -> task<bool> {
    co_return impl_->with_live(
        key, [](shard&, lookup_key, entry* e, lazy_now&) { return e != nullptr; });
}

auto memory_backend::increment(std::string key, std::int64_t delta, deadline /*dl*/)
    -> task<std::int64_t> {
    shard::check_key_size(key);
    enum class outcome { ok, not_a_number, overflow };
    std::int64_t result = 0;
    auto bump = [&](shard& s, lookup_key k, entry* e, lazy_now& now) -> outcome {
        if (e == nullptr) {
            result = delta;
            entry* created = s.insert(k, fmt::format("{}", delta));
            impl_->after_write(s, created, now);
            return outcome::ok;
        }
        auto current = e->holds_object() ? std::nullopt : parse_int(e->value());
        if (!current) {
            return outcome::not_a_number;
        }
        if (__builtin_add_overflow(*current, delta, &result)) {
            return outcome::overflow;
        }
        e = s.assign(e, fmt::format("{}", result));
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
        shard_lock lock(s);
        s.map.for_each([&](entry* e) {
            if (e->key().starts_with(prefix)) {
                if (e->expires() && e->expires_at <= now()) {
                    ++s.expirations;
                } else {
                    ++removed;
                }
                s.erase(e);
            }
        });
    }
    co_return removed;
}

auto memory_backend::clear_all(deadline /*dl*/) -> task<void> {
    for (std::size_t i = 0; i < impl_->shard_count; ++i) {
        shard& s = impl_->shards[i];
        shard_lock lock(s);
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
            if (e->holds_object()) {
                throw_holds_object("gets", e->key());
            }
            ++s.hits;
            s.touch(*e);
            return versioned_bytes{std::string(e->value()), e->version};
        });
}

auto memory_backend::cas(std::string key, std::string value, std::uint64_t token, expiry ttl,
                         deadline /*dl*/) -> task<bool> {
    auto [s, k] = impl_->locate(key);
    s->check_size(key, value.size());
    lazy_now now(*impl_->clock);
    shard_lock lock(*s);
    entry* e = s->find_live(k, now);
    if (e == nullptr || e->version != token) {
        co_return false;
    }
    e = s->assign(e, value);
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
        s.erase(e);
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

auto memory_backend::lookup(std::string_view key) -> object_lookup {
    object_lookup out;
    impl_->with_live(key, [&out](shard& s, lookup_key, entry* e, lazy_now&) {
        if (e == nullptr) {
            ++s.misses;
            return;
        }
        ++s.hits;
        s.touch(*e);
        out.version = e->version;
        if (e->holds_object()) {
            out.what = object_lookup::state::object;
            out.object = e->object();
        } else {
            out.what = object_lookup::state::bytes;
            out.bytes = std::string(e->value());
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
    s->check_size(key, obj->bytes(), true);
    lazy_now now(*impl_->clock);
    shard_lock lock(*s);
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
        e = s->assign(e, {}, std::move(obj));
        s->touch(*e);
    } else {
        e = s->insert(k, {}, std::move(obj));
    }
    s->set_ttl(*e, ttl, now);
    impl_->after_write(*s, e, now);
    return true;
}

auto memory_backend::forget(std::string_view key) -> bool {
    return impl_->with_live(key, [](shard& s, lookup_key, entry* e, lazy_now&) {
        if (e == nullptr) {
            return false;
        }
        s.erase(e);
        return true;
    });
}

void memory_backend::forget_all() noexcept {
    for (std::size_t i = 0; i < impl_->shard_count; ++i) {
        shard& s = impl_->shards[i];
        shard_lock lock(s);
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
        shard_lock lock(s);
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
        shard_lock lock(s);
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
