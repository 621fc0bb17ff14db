// SPDX-License-Identifier: MIT
#include "asiocache/backends/memcached.hpp"

#include "asiocache/errors.hpp"
#include "memcached_keys.hpp"
#include "memcached_pool.hpp"

#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <type_traits>
#include <unordered_map>
#include <variant>

namespace asiocache::backends {
namespace {

namespace asio = boost::asio;
using detail::memcached_handle;
using detail::worker_pool;
using done = std::monostate;  // the result of operations that return nothing

constexpr std::uint16_t default_port = 11211;
constexpr std::size_t default_item_size_max = 1024 * 1024;
// Bytes of item header that count against the item size limit besides key and value
// (memcached's item struct, CAS, flags, "\r\n"), rounded up generously: a value that might not
// fit is refused here, because memcached drops the old value when it refuses a too-large `set`.
constexpr std::size_t item_overhead = 128;
// Any expiration past 30 days is read as a Unix time, so this one is in the past: a store with it
// leaves an item that is already expired (used for compare-and-delete).
constexpr time_t already_expired = 60 * 60 * 24 * 30 + 1;

struct free_deleter {
    void operator()(char* p) const noexcept { std::free(p); }  // NOLINT: libmemcached mallocs
};
struct result_deleter {
    void operator()(memcached_result_st* r) const noexcept { memcached_result_free(r); }
};

auto errc_for(memcached_return_t rc, std::string_view message) -> errc {
    switch (rc) {
        case MEMCACHED_TIMEOUT: return errc::timeout;
        case MEMCACHED_CONNECTION_FAILURE:
        case MEMCACHED_HOST_LOOKUP_FAILURE:
        case MEMCACHED_WRITE_FAILURE:
        case MEMCACHED_READ_FAILURE:
        case MEMCACHED_UNKNOWN_READ_FAILURE:
        case MEMCACHED_ERRNO:
        case MEMCACHED_SERVER_MARKED_DEAD:
        case MEMCACHED_SERVER_TEMPORARILY_DISABLED:
        case MEMCACHED_NO_SERVERS:
        case MEMCACHED_SOME_ERRORS: return errc::backend_unavailable;
        case MEMCACHED_PROTOCOL_ERROR:
        case MEMCACHED_PARTIAL_READ:
        case MEMCACHED_UNKNOWN_STAT_KEY: return errc::protocol_error;
        case MEMCACHED_E2BIG: return errc::value_too_large;
        case MEMCACHED_BAD_KEY_PROVIDED:
        case MEMCACHED_KEY_TOO_BIG: return errc::invalid_key;
        case MEMCACHED_NOT_SUPPORTED: return errc::not_supported;
        case MEMCACHED_SERVER_ERROR:
            return message.find("too large") != std::string_view::npos ? errc::value_too_large
                                                                       : errc::backend_error;
        case MEMCACHED_CLIENT_ERROR:
            return message.find("non-numeric") != std::string_view::npos ? errc::not_a_number
                                                                         : errc::backend_error;
        default: return errc::backend_error;
    }
}

[[noreturn]] void fail_rc(memcached_st* mc, memcached_return_t rc, std::string_view what,
                          std::string_view key) {
    char const* last = memcached_last_error_message(mc);
    std::string_view message = last != nullptr ? last : memcached_strerror(mc, rc);
    auto code = errc_for(rc, message);
    // A fetch can end with a generic code while the handle's last error says what happened (a
    // connection reset mid multi-get ends as a plain failure): the more specific one wins, so
    // a lost connection is `backend_unavailable`, as for a single get.
    if (code == errc::backend_error) {
        auto const last_rc = memcached_last_error(mc);
        if (last_rc != rc && last_rc != MEMCACHED_SUCCESS) {
            code = errc_for(last_rc, message);
        }
    }
    throw_error(code, fmt::format("memcached {} '{}': {}", what, key, message));
}

void check_deadline(deadline dl, std::string_view what, std::string_view key) {
    if (dl.expired()) {
        throw_error(errc::timeout, fmt::format("memcached {} '{}': deadline passed", what, key));
    }
}

auto unix_now() -> std::int64_t {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

auto expiration(expiry ttl) -> time_t {
    return static_cast<time_t>(memcached_expiration(ttl, unix_now()));
}

// A counter as memcached and the serializers write it: an optional '-', digits, and the
// trailing spaces memcached leaves after a `decr` shortens a value in place.
auto parse_counter(std::string_view v) -> std::optional<std::int64_t> {
    while (!v.empty() && v.back() == ' ') {
        v.remove_suffix(1);
    }
    std::int64_t out = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (v.empty() || ec != std::errc{} || end != v.data() + v.size()) {
        return std::nullopt;
    }
    return out;
}

auto to_text(std::int64_t v) -> std::string { return std::to_string(v); }

// --- Blocking primitives, run on a worker with its own handle --------------------------------

auto get_one(memcached_st* mc, std::string const& key) -> std::optional<std::string> {
    std::size_t len = 0;
    std::uint32_t flags = 0;
    memcached_return_t rc{};
    std::unique_ptr<char, free_deleter> value(
        memcached_get(mc, key.data(), key.size(), &len, &flags, &rc));
    if (rc == MEMCACHED_SUCCESS) {
        return value ? std::string(value.get(), len) : std::string();
    }
    if (rc == MEMCACHED_NOTFOUND) {
        return std::nullopt;
    }
    fail_rc(mc, rc, "get", key);
}

// Sends one multi-get and calls `sink(key, value, cas)` per hit. Drains every reply even when a
// server failed, so the handle stays usable, then throws for that failure.
template <class Sink>
void fetch_many(memcached_st* mc, std::vector<char const*> const& keys,
                std::vector<std::size_t> const& lens, std::string_view what, Sink&& sink) {
    auto sent = memcached_mget(mc, keys.data(), lens.data(), keys.size());
    if (sent != MEMCACHED_SUCCESS && sent != MEMCACHED_SOME_ERRORS) {
        fail_rc(mc, sent, what, std::string_view(keys.front(), lens.front()));
    }
    // libmemcached's mget skips a server it cannot connect to, which would turn its keys into
    // misses: a server owning a key but awaiting no reply was not reached.
    std::string unreached;
    if (memcached_server_count(mc) > 1) {
        for (std::size_t i = 0; i < keys.size() && unreached.empty(); ++i) {
            memcached_return_t ignored{};
            auto const* server = memcached_server_by_key(mc, keys[i], lens[i], &ignored);
            if (server != nullptr && memcached_server_response_count(server) == 0) {
                unreached = fmt::format("{}:{}", memcached_server_name(server),
                                        memcached_server_port(server));
            }
        }
    }
    // On the stack: memcached_fetch_result frees a heap result itself when the fetch ends.
    memcached_result_st storage{};
    std::unique_ptr<memcached_result_st, result_deleter> result(
        memcached_result_create(mc, &storage));
    if (!result) {
        throw std::bad_alloc();
    }
    memcached_return_t rc{};
    while (memcached_fetch_result(mc, result.get(), &rc) != nullptr) {
        sink(std::string_view(memcached_result_key_value(result.get()),
                              memcached_result_key_length(result.get())),
             std::string_view(memcached_result_value(result.get()),
                              memcached_result_length(result.get())),
             memcached_result_cas(result.get()));
    }
    if (rc != MEMCACHED_END && rc != MEMCACHED_NOTFOUND && rc != MEMCACHED_SUCCESS) {
        fail_rc(mc, rc, what, std::string_view(keys.front(), lens.front()));
    }
    if (sent == MEMCACHED_SOME_ERRORS) {
        fail_rc(mc, sent, what, std::string_view(keys.front(), lens.front()));
    }
    if (!unreached.empty()) {
        throw_error(errc::backend_unavailable,
                    fmt::format("memcached {}: server {} is unreachable", what, unreached));
    }
}

auto gets_one(memcached_st* mc, std::string const& key) -> std::optional<versioned_bytes> {
    std::optional<versioned_bytes> out;
    std::vector<char const*> keys{key.data()};
    std::vector<std::size_t> lens{key.size()};
    fetch_many(mc, keys, lens, "gets", [&](std::string_view, std::string_view v, std::uint64_t c) {
        out = versioned_bytes{std::string(v), c};
    });
    return out;
}

// One multi-get for `keys` (checked, stored form): one result per key, in order, duplicates
// included.
auto get_values(memcached_st* mc, std::vector<std::string_view> const& keys)
    -> std::vector<std::optional<std::string>> {
    std::unordered_map<std::string_view, std::size_t> first;
    first.reserve(keys.size());
    std::vector<char const*> ptrs;
    std::vector<std::size_t> lens;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (first.emplace(keys[i], i).second) {
            ptrs.push_back(keys[i].data());
            lens.push_back(keys[i].size());
        }
    }
    std::vector<std::optional<std::string>> out(keys.size());
    fetch_many(mc, ptrs, lens, "multi_get",
               [&](std::string_view k, std::string_view v, std::uint64_t) {
                   if (auto it = first.find(k); it != first.end()) {
                       out[it->second].emplace(v);
                   }
               });
    for (std::size_t i = 0; i < keys.size(); ++i) {
        auto f = first.find(keys[i])->second;
        if (f != i) {
            out[i] = out[f];
        }
    }
    return out;
}

// A get of a key already in stored form. Gets queued together are served by one multi-get
// (`worker_pool` batches them): under concurrency that is one round trip for many callers.
struct plain_get {
    std::string key;

    auto operator()(memcached_st* mc) const -> std::optional<std::string> {
        return get_one(mc, key);
    }
    auto fetch(memcached_st* mc, std::vector<std::string const*> const& keys) const
        -> std::vector<std::optional<std::string>> {
        std::vector<std::string_view> views;
        views.reserve(keys.size());
        for (auto const* k : keys) {
            views.emplace_back(*k);
        }
        return get_values(mc, views);
    }
};
static_assert(detail::batchable_get<plain_get>);

enum class store_op { set, add, cas };

auto store(memcached_st* mc, store_op op, std::string const& key, std::string_view value,
           time_t exptime, std::uint64_t token = 0) -> memcached_return_t {
    switch (op) {
        case store_op::set:
            return memcached_set(mc, key.data(), key.size(), value.data(), value.size(), exptime,
                                 0);
        case store_op::add:
            return memcached_add(mc, key.data(), key.size(), value.data(), value.size(), exptime,
                                 0);
        case store_op::cas:
            return memcached_cas(mc, key.data(), key.size(), value.data(), value.size(), exptime,
                                 0, token);
    }
    return MEMCACHED_INVALID_ARGUMENTS;
}

auto is_not_stored(memcached_return_t rc) -> bool {
    return rc == MEMCACHED_NOTSTORED || rc == MEMCACHED_DATA_EXISTS;
}

// --- Handles ---------------------------------------------------------------------------------

void set_behavior(memcached_st* mc, memcached_behavior_t b, std::uint64_t v, char const* name) {
    if (auto rc = memcached_behavior_set(mc, b, v); rc != MEMCACHED_SUCCESS) {
        throw_error(errc::invalid_config, fmt::format("memcached: cannot set {}: {}", name,
                                                      memcached_strerror(mc, rc)));
    }
}

auto make_handles(memcached_options const& o) -> std::vector<memcached_handle> {
    if (o.servers.empty()) {
        throw_error(errc::invalid_config, "memcached: no servers");
    }
    if (o.threads == 0 || o.max_queue == 0) {
        throw_error(errc::invalid_config, "memcached: threads and max_queue must be positive");
    }
    memcached_handle master(memcached_create(nullptr));
    if (!master) {
        throw std::bad_alloc();
    }
    auto* mc = master.get();
    // Distribution first: adding servers then only rebuilds the continuum.
    set_behavior(mc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1, "ketama");
    set_behavior(mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, o.binary_protocol ? 1 : 0, "binary");
    set_behavior(mc, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1, "cas");
    set_behavior(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1, "tcp_nodelay");
    set_behavior(mc, MEMCACHED_BEHAVIOR_REMOVE_FAILED_SERVERS, 0, "auto eject");
    set_behavior(mc, MEMCACHED_BEHAVIOR_SERVER_FAILURE_LIMIT, 1, "failure limit");
    auto retry_s = std::chrono::ceil<std::chrono::seconds>(o.retry_timeout).count();
    set_behavior(mc, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT,
                 static_cast<std::uint64_t>(std::max<std::int64_t>(retry_s, 1)), "retry_timeout");
    auto io_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(o.io_timeout.count(), 1));
    set_behavior(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, io_ms, "io_timeout");
    set_behavior(mc, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, io_ms * 1000, "io_timeout");
    set_behavior(mc, MEMCACHED_BEHAVIOR_SND_TIMEOUT, io_ms * 1000, "io_timeout");
    set_behavior(mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT,
                 static_cast<std::uint64_t>(std::max<std::int64_t>(o.connect_timeout.count(), 1)),
                 "connect_timeout");
    for (auto const& s : o.servers) {
        auto port = s.port == 0 ? default_port : s.port;
        if (s.host.empty()) {
            throw_error(errc::invalid_config, "memcached: empty server host");
        }
        if (auto rc = memcached_server_add(mc, s.host.c_str(), port); rc != MEMCACHED_SUCCESS) {
            throw_error(errc::invalid_config,
                        fmt::format("memcached: cannot add server {}:{}: {}", s.host, port,
                                    memcached_strerror(mc, rc)));
        }
    }
    std::vector<memcached_handle> handles;
    for (std::size_t i = 0; i < o.threads; ++i) {
        handles.emplace_back(memcached_clone(nullptr, mc));
        if (!handles.back()) {
            throw std::bad_alloc();
        }
    }
    return handles;
}

// --- The backend -----------------------------------------------------------------------------

class memcached_backend final : public backend {
public:
    memcached_backend(asio::any_io_executor ex, memcached_options opts)
        : ex_(std::move(ex)), opts_(std::move(opts)) {
        traits_.name = "memcached";
        traits_.namespace_separator = "";
        traits_.enforces_deadlines = true;
        traits_.supports_ttl = false;
        traits_.supports_clear_namespace = opts_.namespace_generations;
        traits_.ttl_granularity = std::chrono::seconds(1);
        traits_.max_key_size = detail::max_key_size;
        item_limit_.store(opts_.item_size_max, std::memory_order_relaxed);
        pool_ = std::make_unique<worker_pool>(
            make_handles(opts_), detail::pool_limits{.max_queue = opts_.max_queue,
                                                     .connect_timeout = opts_.connect_timeout,
                                                     .io_timeout = opts_.io_timeout,
                                                     .spin = opts_.worker_spin});
    }

    [[nodiscard]] auto traits() const noexcept -> backend_traits const& override {
        return traits_;
    }

    [[nodiscard]] auto build_key(std::string_view ns, std::string_view key) const
        -> std::string override {
        return detail::build_key(ns, key, opts_.namespace_generations);
    }

    auto get(std::string key, deadline dl) -> task<std::optional<std::string>> override {
        if (!detail::split_namespaced(key)) {
            detail::check_plain_key(key, opts_.namespace_generations);
            plain_get work{std::move(key)};  // a named local: see the g++ 12 notes
            co_return co_await run<std::optional<std::string>>(dl, std::move(work));
        }
        auto work = [this, key = std::move(key), dl](memcached_st* mc) mutable {
            auto k = resolve(mc, std::move(key), dl);
            return get_one(mc, k);
        };
        co_return co_await run<std::optional<std::string>>(dl, std::move(work));
    }

    auto multi_get(std::vector<std::string> keys, deadline dl)
        -> task<std::vector<std::optional<std::string>>> override {
        if (keys.empty()) {
            co_return std::vector<std::optional<std::string>>{};
        }
        auto work = [this, keys = std::move(keys), dl](memcached_st* mc) mutable {
            return get_many(mc, std::move(keys), dl);
        };
        co_return co_await run<std::vector<std::optional<std::string>>>(dl, std::move(work));
    }

    auto set(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> override {
        return write_one(store_op::set, std::move(key), std::move(value), ttl, dl);
    }

    auto multi_set(std::vector<std::pair<std::string, std::string>> items, expiry ttl,
                   deadline dl) -> task<void> override {
        auto exptime = expiration(ttl);
        auto work = [this, items = std::move(items), exptime, dl](memcached_st* mc) mutable {
            // Every key and size is checked before the first write, so a bad item stores none.
            std::vector<std::string> keys;
            keys.reserve(items.size());
            generation_cache known;
            for (auto& [k, v] : items) {
                keys.push_back(resolve(mc, std::move(k), dl, &known));
                check_size(mc, keys.back(), v);
            }
            for (std::size_t i = 0; i < items.size(); ++i) {
                check_deadline(dl, "multi_set", keys[i]);
                write(mc, store_op::set, keys[i], items[i].second, exptime);
            }
            return done{};
        };
        co_await run<done>(dl, std::move(work));
    }

    auto add(std::string key, std::string value, expiry ttl, deadline dl) -> task<void> override {
        return write_one(store_op::add, std::move(key), std::move(value), ttl, dl);
    }

    auto remove(std::string key, deadline dl) -> task<std::size_t> override {
        auto work = [this, key = std::move(key), dl](memcached_st* mc) mutable -> std::size_t {
            auto k = resolve(mc, std::move(key), dl);
            auto rc = memcached_delete(mc, k.data(), k.size(), 0);
            if (rc == MEMCACHED_SUCCESS || rc == MEMCACHED_NOTFOUND) {
                return rc == MEMCACHED_SUCCESS ? 1 : 0;
            }
            fail_rc(mc, rc, "delete", k);
        };
        co_return co_await run<std::size_t>(dl, std::move(work));
    }

    auto exists(std::string key, deadline dl) -> task<bool> override {
        auto work = [this, key = std::move(key), dl](memcached_st* mc) mutable {
            auto k = resolve(mc, std::move(key), dl);
            auto rc = memcached_exist(mc, k.data(), k.size());
            if (rc == MEMCACHED_SUCCESS || rc == MEMCACHED_NOTFOUND) {
                return rc == MEMCACHED_SUCCESS;
            }
            fail_rc(mc, rc, "exists", k);
        };
        co_return co_await run<bool>(dl, std::move(work));
    }

    auto increment(std::string key, std::int64_t delta, deadline dl)
        -> task<std::int64_t> override {
        auto work = [this, key = std::move(key), delta, dl](memcached_st* mc) mutable {
            auto k = resolve(mc, std::move(key), dl);
            return add_to_counter(mc, k, delta, dl);
        };
        co_return co_await run<std::int64_t>(dl, std::move(work));
    }

    auto expire(std::string key, expiry ttl, deadline dl) -> task<bool> override {
        auto exptime = expiration(ttl);
        auto work = [this, key = std::move(key), exptime, dl](memcached_st* mc) mutable {
            auto k = resolve(mc, std::move(key), dl);
            auto rc = memcached_touch(mc, k.data(), k.size(), exptime);
            if (rc == MEMCACHED_SUCCESS || rc == MEMCACHED_NOTFOUND) {
                return rc == MEMCACHED_SUCCESS;
            }
            fail_rc(mc, rc, "touch", k);
        };
        co_return co_await run<bool>(dl, std::move(work));
    }

    auto ttl(std::string key, deadline /*dl*/) -> task<std::optional<expiry>> override {
        throw_error(errc::not_supported,
                    fmt::format("memcached ttl '{}': memcached does not report the remaining "
                                "time to live through libmemcached",
                                key));
        co_return std::nullopt;
    }

    auto clear(std::string ns, deadline dl) -> task<std::size_t> override {
        if (!opts_.namespace_generations) {
            throw_error(errc::not_supported,
                        fmt::format("memcached clear '{}': memcached cannot list a namespace's "
                                    "keys; enable namespace_generations (nothing was flushed)",
                                    ns));
        }
        if (ns.empty()) {
            throw_error(errc::invalid_argument, "memcached clear: empty namespace");
        }
        auto work = [this, ns = std::move(ns), dl](memcached_st* mc) -> std::size_t {
            auto key = build_key(ns, "");
            auto split = detail::split_namespaced(key);
            bump_generation(mc, split->ns, dl);
            return 0;  // memcached cannot count the keys left behind
        };
        co_return co_await run<std::size_t>(dl, std::move(work));
    }

    auto clear_all(deadline dl) -> task<void> override {
        auto work = [](memcached_st* mc) {
            if (auto rc = memcached_flush(mc, 0); rc != MEMCACHED_SUCCESS) {
                fail_rc(mc, rc, "flush_all", "");
            }
            return done{};
        };
        co_await run<done>(dl, std::move(work));
    }

    auto gets(std::string key, deadline dl) -> task<std::optional<versioned_bytes>> override {
        auto work = [this, key = std::move(key), dl](memcached_st* mc) mutable {
            auto k = resolve(mc, std::move(key), dl);
            return gets_one(mc, k);
        };
        co_return co_await run<std::optional<versioned_bytes>>(dl, std::move(work));
    }

    auto cas(std::string key, std::string value, std::uint64_t token, expiry ttl, deadline dl)
        -> task<bool> override {
        auto exptime = expiration(ttl);
        auto work = [this, key = std::move(key), value = std::move(value), token, exptime,
                     dl](memcached_st* mc) mutable {
            auto k = resolve(mc, std::move(key), dl);
            return write(mc, store_op::cas, k, value, exptime, token);
        };
        co_return co_await run<bool>(dl, std::move(work));
    }

    auto remove_if_equal(std::string key, std::string expected, deadline dl)
        -> task<bool> override {
        auto work = [this, key = std::move(key), expected = std::move(expected),
                     dl](memcached_st* mc) mutable {
            auto k = resolve(mc, std::move(key), dl);
            // gets, compare, then a CAS-guarded store that leaves the item already expired:
            // memcached's `delete` takes no CAS token, but this is just as atomic.
            for (;;) {
                check_deadline(dl, "remove_if_equal", k);
                auto current = gets_one(mc, k);
                if (!current || current->value != expected) {
                    return false;
                }
                auto rc = store(mc, store_op::cas, k, "", already_expired, current->token);
                if (rc == MEMCACHED_SUCCESS) {
                    return true;
                }
                if (rc != MEMCACHED_DATA_EXISTS && rc != MEMCACHED_NOTFOUND) {
                    fail_rc(mc, rc, "remove_if_equal", k);
                }
            }
        };
        co_return co_await run<bool>(dl, std::move(work));
    }

    auto raw(std::vector<std::string> argv, deadline dl) -> task<raw_reply> override {
        auto const& cmd = argv.front();
        if (!((cmd == "stats" && argv.size() <= 2) || (cmd == "version" && argv.size() == 1) ||
              (cmd == "flush_all" && argv.size() == 1))) {
            throw_error(errc::not_supported,
                        fmt::format("memcached raw '{}': only 'stats [group]', 'version' and "
                                    "'flush_all' pass through libmemcached",
                                    cmd));
        }
        auto work = [argv = std::move(argv)](memcached_st* mc) { return run_raw(mc, argv); };
        co_return co_await run<raw_reply>(dl, std::move(work));
    }

    auto close() -> task<void> override {
        pool_->reset_connections();
        co_return;
    }

private:
    auto write_one(store_op op, std::string key, std::string value, expiry ttl, deadline dl)
        -> task<void> {
        auto exptime = expiration(ttl);
        auto work = [this, op, key = std::move(key), value = std::move(value), exptime,
                     dl](memcached_st* mc) mutable {
            auto k = resolve(mc, std::move(key), dl);
            write(mc, op, k, value, exptime);
            return done{};
        };
        co_await run<done>(dl, std::move(work));
    }

    template <class T, class Fn>
    auto run(deadline dl, Fn fn) -> task<T> {
        return pool_->async_run<T>(dl, std::move(fn), ex_, asio::use_awaitable);
    }

    // The key as stored: checked as it is, or, for a namespaced key in generation mode, laid
    // out with the namespace's current generation (one more round trip).
    // `known` remembers generations within one batch (multi_get, multi_set).
    using generation_cache = std::unordered_map<std::string, std::string>;
    auto resolve(memcached_st* mc, std::string built, deadline dl,
                 generation_cache* known = nullptr) const -> std::string {
        auto split = detail::split_namespaced(built);
        if (!split) {
            detail::check_plain_key(built, opts_.namespace_generations);
            return built;
        }
        if (!opts_.namespace_generations) {
            throw_error(errc::invalid_key, "memcached: a generation-form key reached a backend "
                                           "without namespace_generations");
        }
        if (known == nullptr) {
            return detail::generation_key_for(*split, generation(mc, split->ns, dl));
        }
        auto it = known->find(std::string(split->ns));
        if (it == known->end()) {
            it = known->emplace(std::string(split->ns), generation(mc, split->ns, dl)).first;
        }
        return detail::generation_key_for(*split, it->second);
    }

    // The namespace's current generation, created on first use.
    auto generation(memcached_st* mc, std::string_view ns, deadline dl) const -> std::string {
        auto counter = detail::generation_counter_key(ns);
        for (;;) {
            check_deadline(dl, "generation", counter);
            if (auto v = get_one(mc, counter)) {
                auto trimmed = std::string_view(*v);
                while (!trimmed.empty() && trimmed.back() == ' ') {
                    trimmed.remove_suffix(1);
                }
                if (trimmed.empty() || trimmed.size() > detail::max_generation_digits ||
                    !std::all_of(trimmed.begin(), trimmed.end(),
                                 [](char c) { return c >= '0' && c <= '9'; })) {
                    throw_error(errc::backend_error,
                                fmt::format("memcached: generation key '{}' holds '{}', not a "
                                            "number",
                                            counter, *v));
                }
                return std::string(trimmed);
            }
            auto initial = first_generation();
            auto rc = store(mc, store_op::add, counter, initial, 0);
            if (rc == MEMCACHED_SUCCESS) {
                return initial;
            }
            if (!is_not_stored(rc)) {
                fail_rc(mc, rc, "add", counter);
            }
        }
    }

    void bump_generation(memcached_st* mc, std::string_view ns, deadline dl) const {
        auto counter = detail::generation_counter_key(ns);
        for (;;) {
            check_deadline(dl, "clear", counter);
            std::uint64_t value = 0;
            auto rc = memcached_increment_by_key(mc, counter.data(), counter.size(),
                                                 counter.data(), counter.size(), 1, &value);
            if (rc == MEMCACHED_SUCCESS) {
                return;
            }
            if (rc != MEMCACHED_NOTFOUND) {
                fail_rc(mc, rc, "clear", counter);
            }
            // No generation yet: a fresh one differs from every earlier one.
            rc = store(mc, store_op::add, counter, first_generation(), 0);
            if (rc == MEMCACHED_SUCCESS) {
                return;
            }
            if (!is_not_stored(rc)) {
                fail_rc(mc, rc, "clear", counter);
            }
        }
    }

    // Microseconds since the epoch: larger than any generation a namespace had before its
    // counter was evicted, unless it was cleared a million times a second.
    static auto first_generation() -> std::string {
        return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
    }

    auto get_many(memcached_st* mc, std::vector<std::string> built, deadline dl) const
        -> std::vector<std::optional<std::string>> {
        std::vector<std::string> keys;
        keys.reserve(built.size());
        generation_cache known;
        for (auto& b : built) {
            keys.push_back(resolve(mc, std::move(b), dl, &known));
        }
        return get_values(mc, std::vector<std::string_view>(keys.begin(), keys.end()));
    }

    // The server's item size limit: configured, or asked once with `stats settings`.
    auto item_limit(memcached_st* mc) -> std::size_t {
        if (auto known = item_limit_.load(std::memory_order_relaxed); known != 0) {
            return known;
        }
        std::size_t smallest = 0;
        auto collect = [](memcached_instance_st const*, char const* key, std::size_t key_len,
                          char const* value, std::size_t value_len,
                          void* ctx) -> memcached_return_t {
            if (std::string_view(key, key_len) == "item_size_max") {
                std::size_t v = 0;
                std::from_chars(value, value + value_len, v);
                auto& s = *static_cast<std::size_t*>(ctx);
                if (v != 0 && (s == 0 || v < s)) {
                    s = v;
                }
            }
            return MEMCACHED_SUCCESS;
        };
        memcached_stat_execute(mc, "settings", collect, &smallest);
        if (smallest == 0) {
            return default_item_size_max;  // ask again next time
        }
        item_limit_.store(smallest, std::memory_order_relaxed);
        return smallest;
    }

    void check_size(memcached_st* mc, std::string const& key, std::string_view value) {
        auto limit = item_limit(mc);
        if (value.size() + key.size() + item_overhead > limit) {
            throw_error(errc::value_too_large,
                        fmt::format("memcached set '{}': a value of {} bytes does not fit the "
                                    "server's item size limit of {} bytes",
                                    key, value.size(), limit));
        }
    }

    // A checked set/add/cas; for cas, false when the token no longer matches or the key left.
    auto write(memcached_st* mc, store_op op, std::string const& key, std::string_view value,
               time_t exptime, std::uint64_t token = 0) -> bool {
        check_size(mc, key, value);
        auto rc = store(mc, op, key, value, exptime, token);
        if (rc == MEMCACHED_SUCCESS) {
            return true;
        }
        if (op == store_op::add && is_not_stored(rc)) {
            throw_error(errc::key_exists, fmt::format("memcached add '{}': key exists", key));
        }
        if (op == store_op::cas && (rc == MEMCACHED_DATA_EXISTS || rc == MEMCACHED_NOTFOUND)) {
            return false;
        }
        fail_rc(mc, rc, op == store_op::set ? "set" : op == store_op::add ? "add" : "cas", key);
    }

    // incr when it is exact (a non-negative delta on a non-negative counter), else a gets/cas
    // loop; a missing key is created with `add`, retried if another writer wins the race.
    auto add_to_counter(memcached_st* mc, std::string const& key, std::int64_t delta,
                        deadline dl) -> std::int64_t {
        constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        for (;;) {
            check_deadline(dl, "increment", key);
            if (delta >= 0) {
                std::uint64_t value = 0;
                auto offset = static_cast<std::uint64_t>(delta);
                auto rc = memcached_increment_by_key(mc, key.data(), key.size(), key.data(),
                                                     key.size(), offset, &value);
                if (rc == MEMCACHED_SUCCESS) {
                    if (value < offset || value > max) {
                        overflowed(mc, key, offset, value);
                    }
                    return static_cast<std::int64_t>(value);
                }
                if (rc == MEMCACHED_NOTFOUND) {
                    if (create_counter(mc, key, delta)) {
                        return delta;
                    }
                    continue;
                }
                // Non-numeric (a negative counter, or not a number at all): the text protocol
                // says CLIENT_ERROR; libmemcached reports the binary protocol's DELTA_BADVAL
                // as an unknown read failure (and reconnects). gets/cas then tells them apart,
                // and fails clearly if the connection really broke.
                if (rc != MEMCACHED_CLIENT_ERROR &&
                    !(rc == MEMCACHED_UNKNOWN_READ_FAILURE && opts_.binary_protocol)) {
                    fail_rc(mc, rc, "incr", key);
                }
            }
            if (auto result = cas_add(mc, key, delta)) {
                return *result;
            }
        }
    }

    auto create_counter(memcached_st* mc, std::string const& key, std::int64_t delta) -> bool {
        auto rc = store(mc, store_op::add, key, to_text(delta), 0);
        if (rc == MEMCACHED_SUCCESS) {
            return true;
        }
        if (!is_not_stored(rc)) {
            fail_rc(mc, rc, "increment", key);
        }
        return false;  // created meanwhile by another writer
    }

    // One gets/cas attempt; nullopt when another writer got in between.
    auto cas_add(memcached_st* mc, std::string const& key, std::int64_t delta)
        -> std::optional<std::int64_t> {
        auto current = gets_one(mc, key);
        if (!current) {
            return create_counter(mc, key, delta) ? std::optional(delta) : std::nullopt;
        }
        auto old = parse_counter(current->value);
        if (!old) {
            throw_error(errc::not_a_number,
                        fmt::format("memcached increment '{}': the value is not a 64-bit "
                                    "integer",
                                    key));
        }
        std::int64_t result = 0;
        if (__builtin_add_overflow(*old, delta, &result)) {
            throw_error(errc::invalid_argument,
                        fmt::format("memcached increment '{}': {} + {} overflows a 64-bit "
                                    "integer; the value is unchanged",
                                    key, *old, delta));
        }
        // memcached cannot keep an item's expiry across a store, so this write makes the
        // counter persistent (documented).
        auto rc = store(mc, store_op::cas, key, to_text(result), 0, current->token);
        if (rc == MEMCACHED_SUCCESS) {
            return result;
        }
        if (rc != MEMCACHED_DATA_EXISTS && rc != MEMCACHED_NOTFOUND) {
            fail_rc(mc, rc, "increment", key);
        }
        return std::nullopt;
    }

    // incr went past INT64_MAX (or wrapped past 2^64): undo it where that is exact, and fail.
    [[noreturn]] static void overflowed(memcached_st* mc, std::string const& key,
                                        std::uint64_t offset, std::uint64_t value) {
        if (value >= offset) {
            std::uint64_t restored = 0;
            memcached_decrement_by_key(mc, key.data(), key.size(), key.data(), key.size(), offset,
                                       &restored);
            throw_error(errc::invalid_argument,
                        fmt::format("memcached increment '{}': the result overflows a 64-bit "
                                    "integer; the value was restored",
                                    key));
        }
        throw_error(errc::not_a_number,
                    fmt::format("memcached increment '{}': the stored value is beyond the "
                                "64-bit integer range; memcached wrapped it to {}",
                                key, value));
    }

    static auto run_raw(memcached_st* mc, std::vector<std::string> const& argv) -> raw_reply {
        auto const& cmd = argv.front();
        if (cmd == "flush_all") {
            if (auto rc = memcached_flush(mc, 0); rc != MEMCACHED_SUCCESS) {
                fail_rc(mc, rc, "flush_all", "");
            }
            return raw_reply{.type = raw_reply::kind::status, .str = "OK"};
        }
        // One array per server: its "host:port", then the stats as key, value, key, value...
        // ("version" keeps only the version).
        struct collected {
            std::vector<raw_reply> servers;
            std::string last;
            bool version_only = false;
        } ctx;
        ctx.version_only = cmd == "version";
        auto sink = [](memcached_instance_st const* server, char const* key, std::size_t key_len,
                       char const* value, std::size_t value_len,
                       void* p) -> memcached_return_t {
            auto& c = *static_cast<collected*>(p);
            auto name = fmt::format("{}:{}", memcached_server_name(server),
                                    memcached_server_port(server));
            if (c.servers.empty() || c.last != name) {
                raw_reply entry{.type = raw_reply::kind::array};
                entry.elements.push_back({.type = raw_reply::kind::string, .str = name});
                c.servers.push_back(std::move(entry));
                c.last = name;
            }
            auto k = std::string_view(key, key_len);
            if (c.version_only && k != "version") {
                return MEMCACHED_SUCCESS;
            }
            auto& elems = c.servers.back().elements;
            if (!c.version_only) {
                elems.push_back({.type = raw_reply::kind::string, .str = std::string(k)});
            }
            elems.push_back(
                {.type = raw_reply::kind::string, .str = std::string(value, value_len)});
            return MEMCACHED_SUCCESS;
        };
        char const* group = argv.size() == 2 ? argv[1].c_str() : nullptr;
        auto rc = memcached_stat_execute(mc, group, sink, &ctx);
        if (rc != MEMCACHED_SUCCESS) {
            fail_rc(mc, rc, "stats", group != nullptr ? group : "");
        }
        return raw_reply{.type = raw_reply::kind::array, .elements = std::move(ctx.servers)};
    }

    asio::any_io_executor ex_;
    memcached_options opts_;
    backend_traits traits_;
    std::atomic<std::size_t> item_limit_{0};
    std::unique_ptr<worker_pool> pool_;  // last: its threads stop before the rest goes
};

}  // namespace

auto make_memcached_backend(asio::any_io_executor ex, memcached_options opts)
    -> std::shared_ptr<backend> {
    return std::make_shared<memcached_backend>(std::move(ex), std::move(opts));
}

auto memcached_backend_from_config(asio::any_io_executor ex, backend_config config)
    -> std::shared_ptr<backend> {
    memcached_options o;
    if (!config.endpoints.empty()) {
        o.servers = config.endpoints;
    }
    if (config.username || config.password) {
        throw_error(errc::invalid_config, "memcached: SASL authentication is not supported");
    }
    if (!config.path.empty() || config.db) {
        throw_error(errc::invalid_config, "memcached: URL path not supported: " +
                                              config.redacted());
    }
    auto threads = config.take_size("threads");
    if (auto pool = config.take_size("pool_size")) {
        if (threads && *threads != *pool) {
            throw_error(errc::invalid_config, "memcached: threads and pool_size disagree");
        }
        threads = pool;
    }
    auto take = [](auto& field, auto value) {
        if (value) {
            field = static_cast<std::remove_reference_t<decltype(field)>>(*value);
        }
    };
    take(o.binary_protocol, config.take_bool("binary"));
    take(o.threads, threads);
    take(o.max_queue, config.take_size("max_queue"));
    take(o.connect_timeout, config.take_duration("connect_timeout"));
    take(o.io_timeout, config.take_duration("io_timeout"));
    take(o.retry_timeout, config.take_duration("retry_timeout"));
    take(o.namespace_generations, config.take_bool("namespace_generations"));
    take(o.item_size_max, config.take_size("item_size_max"));
    if (auto us = config.take_size("worker_spin_us")) {
        o.worker_spin = std::chrono::microseconds(static_cast<std::int64_t>(*us));
    }
    config.reject_unknown();
    return make_memcached_backend(std::move(ex), std::move(o));
}

}  // namespace asiocache::backends
