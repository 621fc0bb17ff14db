// SPDX-License-Identifier: MIT
// The raw-client baselines: hiredis pipelined on one connection per thread, libmemcached
// synchronous on one handle per thread, and the unordered_map (in engine.cpp).

#include "engine_detail.hpp"

#include "asiocache/errors.hpp"

#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <libmemcached/memcached.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <thread>

namespace asiocache::bench {
namespace detail {

auto run_map_baseline(std::string const& url, bench_options const& o) -> bench_result;

namespace {

struct host_port {
    std::string host;
    std::uint16_t port = 0;
};

/// The part of a URL this file needs: hosts, credentials, the Redis db and a few parameters.
/// Deliberately minimal (no percent-decoding, no IPv6 literals): the registry parses URLs for
/// real, this only has to find the same server for the raw client.
struct url_parts {
    std::string scheme;
    std::vector<host_port> hosts;
    std::string password;
    int db = 0;
    bool binary = false;
};

auto parse_hosts(std::string_view list, std::uint16_t default_port) -> std::vector<host_port> {
    std::vector<host_port> out;
    while (!list.empty()) {
        auto const comma = list.find(',');
        auto item = list.substr(0, comma);
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        if (item.empty()) {
            continue;
        }
        host_port hp{std::string(item), default_port};
        if (auto colon = item.rfind(':'); colon != std::string_view::npos) {
            hp.host = std::string(item.substr(0, colon));
            auto const port = item.substr(colon + 1);
            unsigned p = 0;
            auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
            if (ec != std::errc{} || ptr != port.data() + port.size() || p == 0 || p > 65535) {
                throw std::invalid_argument(fmt::format("bad port in '{}'", item));
            }
            hp.port = static_cast<std::uint16_t>(p);
        }
        if (hp.host.empty()) {
            hp.host = "127.0.0.1";
        }
        out.push_back(std::move(hp));
    }
    return out;
}

auto parse_url_parts(std::string_view url, std::uint16_t default_port) -> url_parts {
    url_parts u;
    auto const sep = url.find("://");
    if (sep == std::string_view::npos) {
        throw std::invalid_argument(fmt::format("not a URL: '{}'", url));
    }
    u.scheme = std::string(url.substr(0, sep));
    auto rest = url.substr(sep + 3);
    auto const end = rest.find_first_of("/?");
    auto authority = rest.substr(0, end);
    auto tail = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    if (auto at = authority.rfind('@'); at != std::string_view::npos) {
        auto creds = authority.substr(0, at);
        auto colon = creds.find(':');
        u.password = std::string(colon == std::string_view::npos ? creds : creds.substr(colon + 1));
        authority = authority.substr(at + 1);
    }
    u.hosts = parse_hosts(authority, default_port);
    if (u.hosts.empty()) {
        u.hosts.push_back({"127.0.0.1", default_port});
    }
    if (tail.starts_with('/')) {
        auto const q = tail.find('?');
        auto const path = tail.substr(1, q == std::string_view::npos ? q : q - 1);
        std::from_chars(path.data(), path.data() + path.size(), u.db);
    }
    if (auto q = tail.find('?'); q != std::string_view::npos) {
        auto query = std::string(tail.substr(q + 1)) + "&";
        for (auto v : {"binary=true", "binary=1", "binary=yes", "binary=on"}) {
            if (query.find(std::string(v) + "&") != std::string::npos) {
                u.binary = true;
            }
        }
    }
    return u;
}

/// The URL's parts, with the hosts replaced by `override_hosts` when given.
auto baseline_target(std::string const& url, std::string const& override_hosts,
                     std::uint16_t default_port) -> url_parts {
    auto u = parse_url_parts(url, default_port);
    if (!override_hosts.empty()) {
        u.hosts = parse_hosts(override_hosts, default_port);
    }
    return u;
}

auto baseline_result(std::string const& url, char const* target, std::size_t threads,
                     std::size_t concurrency) -> bench_result {
    bench_result r;
    r.url = url;
    r.target = target;
    r.threads = threads;
    r.concurrency = concurrency;
    return r;
}

auto nanos(clock::duration d) -> std::uint64_t {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

/// Runs `body(thread_index, recorder, window)` on `n` threads and measures the run.
template <class Body>
void drive_threads(std::size_t n, bench_options const& o, bench_result& r, Body body) {
    std::vector<recorder> recs(n);
    std::atomic<std::size_t> remaining{n};
    window const win(o, n);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            body(i, recs[i], win);
            remaining.fetch_sub(1, std::memory_order_release);
        });
    }
    auto const cpu = supervise(r.url + " (baseline)", win, o, recs, [&remaining] {
        return remaining.load(std::memory_order_acquire) == 0;
    });
    for (auto& t : threads) {
        t.join();
    }
    collect(r, win, recs, cpu, o.mix);
}

// ---- hiredis ------------------------------------------------------------------------------

struct redis_free {
    void operator()(redisContext* c) const { redisFree(c); }
    void operator()(redisReply* r) const { freeReplyObject(r); }
};
using redis_ptr = std::unique_ptr<redisContext, redis_free>;
using reply_ptr = std::unique_ptr<redisReply, redis_free>;

/// Fills `argv`/`lens` (reused, so a pipelined loop does not allocate) from `args`.
void to_argv(std::vector<std::string_view> const& args, std::vector<char const*>& argv,
             std::vector<std::size_t>& lens) {
    argv.clear();
    lens.clear();
    for (auto a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
}

auto redis_command(redisContext* c, std::vector<std::string_view> const& args) -> reply_ptr {
    std::vector<char const*> argv;
    std::vector<std::size_t> lens;
    to_argv(args, argv, lens);
    return reply_ptr(static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

auto redis_connect(url_parts const& u) -> redis_ptr {
    auto const& hp = u.hosts.front();
    redis_ptr c(redisConnectWithTimeout(hp.host.c_str(), hp.port, timeval{2, 0}));
    if (!c || c->err != 0) {
        throw std::runtime_error(fmt::format("cannot connect to redis {}:{}: {}", hp.host,
                                             hp.port, c ? c->errstr : "out of memory"));
    }
    timeval io{5, 0};
    redisSetTimeout(c.get(), io);
    auto check = [&](reply_ptr rp, char const* what) {
        if (!rp || rp->type == REDIS_REPLY_ERROR) {
            throw std::runtime_error(fmt::format("redis {} failed: {}", what,
                                                 rp ? rp->str : c->errstr));
        }
    };
    if (!u.password.empty()) {
        check(redis_command(c.get(), {"AUTH", u.password}), "AUTH");
    }
    if (u.db != 0) {
        auto db = std::to_string(u.db);
        check(redis_command(c.get(), {"SELECT", db}), "SELECT");
    }
    return c;
}

void append(redisContext* c, std::vector<std::string_view> const& args,
            std::vector<char const*>& argv, std::vector<std::size_t>& lens) {
    to_argv(args, argv, lens);
    redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data());
}

auto run_redis_baseline(std::string const& url, bench_options const& o, baseline_options const& b)
    -> bench_result {
    auto r = baseline_result(url, "raw hiredis pipelined", o.threads, o.concurrency);
    auto const u = baseline_target(url, b.redis, 6379);
    workload const w(o);
    std::size_t const per_thread = std::max<std::size_t>(1, o.concurrency / o.threads);
    r.note = fmt::format("{} connection(s), {} commands appended then read per batch",
                         o.threads, per_thread);
    try {
        auto c = redis_connect(u);
        if (o.prefill) {
            auto const value = std::string_view(w.value_pool).substr(
                0, (o.value_size_min + o.value_size_max) / 2);
            std::vector<char const*> argv;
            std::vector<std::size_t> lens;
            for (std::size_t i = 0; i < w.keys.size(); i += 1000) {
                auto const n = std::min<std::size_t>(1000, w.keys.size() - i);
                for (std::size_t k = 0; k < n; ++k) {
                    append(c.get(), {"SET", w.keys[i + k], value}, argv, lens);
                }
                for (std::size_t k = 0; k < n; ++k) {
                    void* reply = nullptr;
                    if (redisGetReply(c.get(), &reply) != REDIS_OK) {
                        throw std::runtime_error(fmt::format("redis prefill: {}", c->errstr));
                    }
                    freeReplyObject(reply);
                }
            }
        }
    } catch (std::exception const& e) {
        r.ok = false;
        r.error = e.what();
        return r;
    }
    drive_threads(o.threads, o, r, [&](std::size_t i, recorder& rec, window const& win) {
        redis_ptr c;
        auto const depth = o.concurrency / o.threads + (i < o.concurrency % o.threads ? 1 : 0);
        stream s(o, w, i);
        std::vector<op_kind> kinds(depth);
        std::vector<std::string_view> args;
        std::vector<char const*> argv;
        std::vector<std::size_t> lens;
        auto const quota = win.quota_for(i);
        std::uint64_t done = 0;
        auto now = clock::now();
        while (win.keep_going(now, done, quota)) {
            if (!c) {
                try {
                    c = redis_connect(u);
                } catch (std::exception const& e) {
                    now = clock::now();
                    if (now >= win.measure_start) {
                        rec.latency[0].record(0);
                        rec.fail(op_kind::get, make_error_code(errc::backend_unavailable),
                                 e.what());
                        ++done;
                    }
                    std::this_thread::sleep_for(std::chrono::milliseconds(10));
                    continue;
                }
            }
            auto const batch_start = now;
            bool const measured = batch_start >= win.measure_start;
            auto n = depth;
            if (win.by_count() && measured) {
                n = static_cast<std::size_t>(std::min<std::uint64_t>(depth, quota - done));
            }
            for (std::size_t k = 0; k < n; ++k) {
                kinds[k] = s.next_op();
                switch (kinds[k]) {
                    case op_kind::get:
                    case op_kind::memo:  // a raw client reads the value it already holds
                        append(c.get(), {"GET", s.next_key()}, argv, lens);
                        break;
                    case op_kind::set: {
                        auto const& key = s.next_key();
                        append(c.get(), {"SET", key, s.next_value()}, argv, lens);
                        break;
                    }
                    case op_kind::multi_get:
                        args.assign({"MGET"});
                        for (std::size_t m = 0; m < o.multi_get_keys; ++m) {
                            args.emplace_back(s.next_key());
                        }
                        append(c.get(), args, argv, lens);
                        break;
                    case op_kind::increment:
                        append(c.get(), {"INCRBY", s.next_counter(), "1"}, argv, lens);
                        break;
                    case op_kind::custom:
                    case op_kind::noop:
                        break;
                }
            }
            for (std::size_t k = 0; k < n; ++k) {
                auto const kind = kinds[k];
                std::uint64_t hits = 0;
                std::uint64_t misses = 0;
                bool failed = false;
                std::string why;
                errc code = errc::backend_error;
                if (kind != op_kind::custom && kind != op_kind::noop) {
                    void* raw = nullptr;
                    if (!c || redisGetReply(c.get(), &raw) != REDIS_OK) {
                        failed = true;
                        code = errc::backend_unavailable;
                        why = c ? c->errstr : "connection lost";
                        c.reset();  // reconnect for the next batch; the rest of this one fails
                    } else {
                        reply_ptr rp(static_cast<redisReply*>(raw));
                        if (rp->type == REDIS_REPLY_ERROR) {
                            failed = true;
                            why = rp->str;
                        } else if (kind == op_kind::get || kind == op_kind::memo) {
                            (rp->type == REDIS_REPLY_NIL ? misses : hits) = 1;
                        } else if (kind == op_kind::multi_get) {
                            for (std::size_t e = 0; e < rp->elements; ++e) {
                                ++(rp->element[e]->type == REDIS_REPLY_NIL ? misses : hits);
                            }
                        }
                    }
                }
                now = clock::now();
                rec.count_op();
                if (measured) {
                    rec.latency[static_cast<std::size_t>(kind)].record(nanos(now - batch_start));
                    if (failed) {
                        rec.fail(kind, make_error_code(code), why);
                    }
                    rec.hits += hits;
                    rec.misses += misses;
                    ++done;
                }
            }
        }
        rec.last_end = now;
    });
    return r;
}

// ---- libmemcached -------------------------------------------------------------------------

struct memcached_deleter {
    void operator()(memcached_st* m) const { ::memcached_free(m); }
};
using memcached_ptr = std::unique_ptr<memcached_st, memcached_deleter>;

auto memcached_handle(url_parts const& u) -> memcached_ptr {
    memcached_ptr m(memcached_create(nullptr));
    if (!m) {
        throw std::runtime_error("memcached_create failed");
    }
    if (u.binary) {
        memcached_behavior_set(m.get(), MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
    }
    if (u.hosts.size() > 1) {
        memcached_behavior_set(m.get(), MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
    }
    for (auto const& hp : u.hosts) {
        memcached_server_add(m.get(), hp.host.c_str(), hp.port);
    }
    return m;
}

auto memcached_errc(memcached_return_t rc) -> errc {
    switch (rc) {
        case MEMCACHED_TIMEOUT:
            return errc::timeout;
        case MEMCACHED_CONNECTION_FAILURE:
        case MEMCACHED_CONNECTION_SOCKET_CREATE_FAILURE:
        case MEMCACHED_HOST_LOOKUP_FAILURE:
        case MEMCACHED_SERVER_MARKED_DEAD:
        case MEMCACHED_SERVER_TEMPORARILY_DISABLED:
        case MEMCACHED_NO_SERVERS:
        case MEMCACHED_ERRNO:
        case MEMCACHED_READ_FAILURE:
        case MEMCACHED_WRITE_FAILURE:
        case MEMCACHED_UNKNOWN_READ_FAILURE:
            return errc::backend_unavailable;
        default:
            return errc::backend_error;
    }
}

auto run_memcached_baseline(std::string const& url, bench_options const& o,
                            baseline_options const& b) -> bench_result {
    auto r = baseline_result(url, "raw libmemcached sync", o.threads, o.threads);
    auto const u = baseline_target(url, b.memcached, 11211);
    r.note = fmt::format("{} thread(s), each one blocking call at a time on its own handle{}",
                         o.threads, u.binary ? ", binary protocol" : "");
    workload const w(o);
    try {
        auto m = memcached_handle(u);
        auto const value = std::string_view(w.value_pool).substr(
            0, (o.value_size_min + o.value_size_max) / 2);
        auto const n = o.prefill ? w.keys.size() : 1;
        for (std::size_t i = 0; i < n; ++i) {
            auto const rc = memcached_set(m.get(), w.keys[i].data(), w.keys[i].size(),
                                          value.data(), value.size(), 0, 0);
            if (memcached_failed(rc)) {
                throw std::runtime_error(
                    fmt::format("memcached set failed: {}", memcached_strerror(m.get(), rc)));
            }
        }
    } catch (std::exception const& e) {
        r.ok = false;
        r.error = e.what();
        return r;
    }
    drive_threads(o.threads, o, r, [&](std::size_t i, recorder& rec, window const& win) {
        auto m = memcached_handle(u);
        stream s(o, w, i);
        std::vector<char const*> keys(o.multi_get_keys);
        std::vector<std::size_t> lens(o.multi_get_keys);
        auto const quota = win.quota_for(i);
        std::uint64_t done = 0;
        auto now = clock::now();
        while (win.keep_going(now, done, quota)) {
            auto const start = now;
            auto const kind = s.next_op();
            std::uint64_t hits = 0;
            std::uint64_t misses = 0;
            memcached_return_t rc = MEMCACHED_SUCCESS;
            switch (kind) {
                case op_kind::get:
                case op_kind::memo: {  // a raw client reads the value it already holds
                    auto const& key = s.next_key();
                    std::size_t len = 0;
                    std::uint32_t flags = 0;
                    char* v = memcached_get(m.get(), key.data(), key.size(), &len, &flags, &rc);
                    if (v != nullptr) {
                        hits = 1;
                        std::free(v);  // NOLINT: libmemcached allocates with malloc
                    } else if (rc == MEMCACHED_NOTFOUND) {
                        misses = 1;
                        rc = MEMCACHED_SUCCESS;
                    }
                    break;
                }
                case op_kind::set: {
                    auto const& key = s.next_key();
                    auto const v = s.next_value();
                    rc = memcached_set(m.get(), key.data(), key.size(), v.data(), v.size(), 0, 0);
                    break;
                }
                case op_kind::multi_get: {
                    for (std::size_t k = 0; k < keys.size(); ++k) {
                        auto const& key = s.next_key();
                        keys[k] = key.data();
                        lens[k] = key.size();
                    }
                    rc = memcached_mget(m.get(), keys.data(), lens.data(), keys.size());
                    if (!memcached_failed(rc)) {
                        memcached_return_t frc = MEMCACHED_SUCCESS;
                        while (memcached_result_st* res =
                                   memcached_fetch_result(m.get(), nullptr, &frc)) {
                            ++hits;
                            memcached_result_free(res);
                        }
                        if (frc != MEMCACHED_END && frc != MEMCACHED_NOTFOUND &&
                            memcached_failed(frc)) {
                            rc = frc;
                        }
                        misses = keys.size() - hits;
                    }
                    break;
                }
                case op_kind::increment: {
                    auto const& key = s.next_counter();
                    std::uint64_t value = 0;
                    rc = memcached_increment(m.get(), key.data(), key.size(), 1, &value);
                    if (rc == MEMCACHED_NOTFOUND) {
                        rc = memcached_add(m.get(), key.data(), key.size(), "1", 1, 0, 0);
                        if (rc == MEMCACHED_NOTSTORED || rc == MEMCACHED_DATA_EXISTS) {
                            rc = memcached_increment(m.get(), key.data(), key.size(), 1, &value);
                        }
                    }
                    break;
                }
                case op_kind::custom:
                case op_kind::noop:
                    break;
            }
            now = clock::now();
            rec.count_op();
            if (start >= win.measure_start) {
                rec.latency[static_cast<std::size_t>(kind)].record(nanos(now - start));
                if (memcached_failed(rc)) {
                    rec.fail(kind, make_error_code(memcached_errc(rc)),
                             memcached_strerror(m.get(), rc));
                }
                rec.hits += hits;
                rec.misses += misses;
                ++done;
            }
        }
        rec.last_end = now;
    });
    return r;
}

}  // namespace
}  // namespace detail

auto run_baseline(std::string const& url, bench_options const& o, baseline_options const& b)
    -> bench_result {
    validate(o);
    auto const scheme = url.substr(0, url.find("://"));
    try {
        if (scheme == "memory") {
            return detail::run_map_baseline(url, o);
        }
        if (scheme == "redis") {
            return detail::run_redis_baseline(url, o, b);
        }
        if (scheme == "memcached") {
            return detail::run_memcached_baseline(url, o, b);
        }
    } catch (std::invalid_argument const& e) {
        bench_result r;
        r.url = url;
        r.ok = false;
        r.error = e.what();
        return r;
    }
    bench_result r;
    r.url = url;
    r.target = "baseline";
    r.ok = false;
    r.error = fmt::format("no raw-client baseline for scheme '{}'", scheme);
    return r;
}

}  // namespace asiocache::bench
