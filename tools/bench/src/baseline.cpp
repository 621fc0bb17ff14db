// SPDX-License-Identifier: MIT
// The raw-client baselines: hiredis pipelined on one connection per thread (per master and
// thread on a Redis Cluster, each key sent to its slot's master), libmemcached synchronous on
// one handle per thread, and the unordered_map (in engine.cpp).

#include "engine_detail.hpp"

#include "asiocache/errors.hpp"

#if defined(ASIOCACHE_BENCH_HAS_REDIS_CLUSTER)
#include "asiocache/backends/redis_cluster.hpp"
#endif

#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <libmemcached/memcached.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <memory>
#include <span>
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
    std::string username;  ///< For ACL users: AUTH username password.
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
        if (colon == std::string_view::npos) {
            u.password = std::string(creds);
        } else {
            u.username = std::string(creds.substr(0, colon));
            u.password = std::string(creds.substr(colon + 1));
        }
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

auto redis_command(redisContext* c, std::vector<std::string_view> const& args) -> reply_ptr {
    std::vector<char const*> argv;
    std::vector<std::size_t> lens;
    for (auto a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    return reply_ptr(static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

/// A connection to `hp`, authenticated and on the URL's database.
auto redis_connect(host_port const& hp, url_parts const& u) -> redis_ptr {
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
        check(u.username.empty() ? redis_command(c.get(), {"AUTH", u.password})
                                 : redis_command(c.get(), {"AUTH", u.username, u.password}),
              "AUTH");
    }
    if (u.db != 0) {
        auto db = std::to_string(u.db);
        check(redis_command(c.get(), {"SELECT", db}), "SELECT");
    }
    return c;
}

/// Where a raw client sends each key: the one server of a `redis://` URL, or the masters of a
/// Redis Cluster with the slots each one serves, as CLUSTER SLOTS said once at the start.
struct redis_layout {
    url_parts url;                     ///< Credentials and database.
    std::vector<host_port> servers;    ///< The server, or the cluster's masters.
    std::vector<std::uint16_t> owner;  ///< Per slot, an index into `servers`; empty: one server.
    host_port seed;                    ///< The node that answered CLUSTER SLOTS.

    [[nodiscard]] auto cluster() const noexcept -> bool { return !owner.empty(); }
    [[nodiscard]] auto server_of(std::string_view key) const noexcept -> std::size_t {
        if (!cluster()) {
            return 0;
        }
#if defined(ASIOCACHE_BENCH_HAS_REDIS_CLUSTER)
        return owner[backends::redis_cluster_key_slot(key)];
#else
        static_cast<void>(key);
        return 0;
#endif
    }
};

/// One thread's connections to a layout's servers, and the replies it awaits in the order the
/// commands were appended: commands are appended (hiredis buffers them), `flush` writes every
/// connection's buffer, then `receive` reads the replies one by one. A connection that fails
/// drops them all; the caller connects again before its next batch.
class redis_links {
public:
    explicit redis_links(redis_layout const& l) : l_(&l) {}

    [[nodiscard]] auto connected() const noexcept -> bool { return !conns_.empty(); }
    [[nodiscard]] auto error() const noexcept -> std::string const& { return error_; }

    /// Connects to every server; throws when one cannot be reached.
    void connect() {
        std::vector<redis_ptr> conns;
        for (auto const& hp : l_->servers) {
            conns.push_back(redis_connect(hp, l_->url));
        }
        conns_ = std::move(conns);
        begin();
    }

    /// Starts a batch: forgets the replies of the last one.
    void begin() {
        pending_.clear();
        next_ = 0;
    }

    /// Appends a command on `key` to the connection of the server that holds it.
    void send(std::string_view key, std::initializer_list<std::string_view> args) {
        append_to(l_->server_of(key), {args.begin(), args.size()});
    }

    /// Appends the reads of one multi_get (`mget`: "MGET" and the keys): the MGET itself on one
    /// server; on a cluster, where an MGET must not span slots, a GET per key to the key's
    /// master, as a cluster client sends them. Returns the number of replies to read.
    auto send_multi_get(std::span<std::string_view const> mget) -> std::size_t {
        if (!l_->cluster()) {
            append_to(0, mget);
            return 1;
        }
        for (auto key : mget.subspan(1)) {
            send(key, {"GET", key});
        }
        return mget.size() - 1;
    }

    /// Writes every connection's buffered commands; false (and everything dropped) when one
    /// fails.
    auto flush() -> bool {
        for (std::size_t i = 0; i < conns_.size(); ++i) {
            int done = 0;
            while (done == 0) {
                if (redisBufferWrite(conns_[i].get(), &done) != REDIS_OK) {
                    drop(i);
                    return false;
                }
            }
        }
        return true;
    }

    /// The next reply awaited, or null when its connection failed (or was dropped).
    auto receive() -> reply_ptr {
        auto const server = pending_[next_++];
        if (!connected()) {
            return nullptr;
        }
        void* raw = nullptr;
        if (redisGetReply(conns_[server].get(), &raw) != REDIS_OK) {
            drop(server);
            return nullptr;
        }
        return reply_ptr(static_cast<redisReply*>(raw));
    }

private:
    void append_to(std::size_t server, std::span<std::string_view const> args) {
        argv_.clear();
        lens_.clear();
        for (auto a : args) {
            argv_.push_back(a.data());
            lens_.push_back(a.size());
        }
        redisAppendCommandArgv(conns_[server].get(), static_cast<int>(argv_.size()),
                               argv_.data(), lens_.data());
        pending_.push_back(server);
    }

    void drop(std::size_t server) {
        auto const& hp = l_->servers[server];
        error_ = fmt::format("{}:{}: {}", hp.host, hp.port, conns_[server]->errstr);
        conns_.clear();
    }

    redis_layout const* l_;
    std::vector<redis_ptr> conns_;
    std::vector<std::size_t> pending_;  // the server of each reply awaited
    std::size_t next_ = 0;
    std::string error_ = "connection lost";
    std::vector<char const*> argv_;  // reused, so that a pipelined loop does not allocate
    std::vector<std::size_t> lens_;
};

/// Writes every key once, pipelined 1000 at a time; throws the first failure.
void redis_prefill(redis_layout const& l, workload const& w, bench_options const& o) {
    redis_links links(l);
    links.connect();
    auto const value =
        std::string_view(w.value_pool).substr(0, (o.value_size_min + o.value_size_max) / 2);
    for (std::size_t i = 0; i < w.keys.size(); i += 1000) {
        auto const n = std::min<std::size_t>(1000, w.keys.size() - i);
        links.begin();
        for (std::size_t k = 0; k < n; ++k) {
            links.send(w.keys[i + k], {"SET", w.keys[i + k], value});
        }
        links.flush();
        for (std::size_t k = 0; k < n; ++k) {
            auto rp = links.receive();
            if (!rp || rp->type == REDIS_REPLY_ERROR) {
                throw std::runtime_error(
                    fmt::format("redis prefill: {}", rp ? rp->str : links.error()));
            }
        }
    }
}

/// Appends the commands of one operation, drawing from `s` as the cache's workers do; returns
/// the number of replies it awaits.
auto append_op(redis_links& links, op_kind kind, stream& s, bench_options const& o,
               std::vector<std::string_view>& mget) -> std::size_t {
    switch (kind) {
        case op_kind::get:
        case op_kind::memo: {  // a raw client reads the value it already holds
            auto const& key = s.next_key();
            links.send(key, {"GET", key});
            return 1;
        }
        case op_kind::set: {
            auto const& key = s.next_key();
            links.send(key, {"SET", key, s.next_value()});
            return 1;
        }
        case op_kind::multi_get:
            mget.assign({"MGET"});
            for (std::size_t m = 0; m < o.multi_get_keys; ++m) {
                mget.emplace_back(s.next_key());
            }
            return links.send_multi_get(mget);
        case op_kind::increment: {
            auto const& key = s.next_counter();
            links.send(key, {"INCRBY", key, "1"});
            return 1;
        }
        case op_kind::custom:
        case op_kind::noop:
            break;
    }
    return 0;
}

/// What the replies of one operation said.
struct op_outcome {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    bool failed = false;
    errc code = errc::backend_error;
    std::string why;

    void fail(errc c, std::string_view what) {
        if (!failed) {
            failed = true;
            code = c;
            why = what;
        }
    }
    /// Counts the keys a read found (a value) or not (nil), an MGET's element by element.
    void count(redisReply const& rp) {
        if (rp.type == REDIS_REPLY_ARRAY) {
            for (std::size_t e = 0; e < rp.elements; ++e) {
                ++(rp.element[e]->type == REDIS_REPLY_NIL ? misses : hits);
            }
        } else {
            ++(rp.type == REDIS_REPLY_NIL ? misses : hits);
        }
    }
};

/// Raw hiredis over the layout `make_layout()` returns (it may throw: the result then says
/// why): every key prefilled, then each thread appends `concurrency / threads` operations'
/// commands to its connections, writes them, and reads the replies in order.
template <class MakeLayout>
auto run_hiredis_baseline(bench_result r, bench_options const& o, MakeLayout make_layout)
    -> bench_result {
    workload const w(o);
    std::size_t const per_thread = std::max<std::size_t>(1, o.concurrency / o.threads);
    redis_layout l;
    try {
        l = make_layout();
        if (o.prefill) {
            redis_prefill(l, w, o);
        }
    } catch (std::exception const& e) {
        r.ok = false;
        r.error = e.what();
        return r;
    }
    r.note = l.cluster()
                 ? fmt::format("{} thread(s), each with one connection per master ({} masters, "
                               "slots from CLUSTER SLOTS of {}:{}), {} commands appended then "
                               "read per batch",
                               o.threads, l.servers.size(), l.seed.host, l.seed.port, per_thread)
                 : fmt::format("{} connection(s), {} commands appended then read per batch",
                               o.threads, per_thread);
    drive_threads(o.threads, o, r, [&](std::size_t i, recorder& rec, window const& win) {
        redis_links links(l);
        auto const depth = o.concurrency / o.threads + (i < o.concurrency % o.threads ? 1 : 0);
        stream s(o, w, i);
        std::vector<op_kind> kinds(depth);
        std::vector<std::size_t> replies(depth);
        std::vector<std::string_view> mget;
        auto const quota = win.quota_for(i);
        std::uint64_t done = 0;
        auto now = clock::now();
        while (win.keep_going(now, done, quota)) {
            if (!links.connected()) {
                try {
                    links.connect();
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
            links.begin();
            for (std::size_t k = 0; k < n; ++k) {
                kinds[k] = s.next_op();
                replies[k] = append_op(links, kinds[k], s, o, mget);
            }
            links.flush();
            for (std::size_t k = 0; k < n; ++k) {
                auto const kind = kinds[k];
                op_outcome out;
                for (std::size_t m = 0; m < replies[k]; ++m) {
                    auto rp = links.receive();
                    if (!rp) {
                        // Connect again for the next batch; the rest of this one fails.
                        out.fail(errc::backend_unavailable, links.error());
                    } else if (rp->type == REDIS_REPLY_ERROR) {
                        out.fail(errc::backend_error, rp->str);
                    } else if (kind == op_kind::get || kind == op_kind::memo ||
                               kind == op_kind::multi_get) {
                        out.count(*rp);
                    }
                }
                now = clock::now();
                rec.count_op();
                if (measured) {
                    rec.latency[static_cast<std::size_t>(kind)].record(nanos(now - batch_start));
                    if (out.failed) {
                        rec.fail(kind, make_error_code(out.code), out.why);
                    }
                    rec.hits += out.hits;
                    rec.misses += out.misses;
                    ++done;
                }
            }
        }
        rec.last_end = now;
    });
    return r;
}

auto run_redis_baseline(std::string const& url, bench_options const& o, baseline_options const& b)
    -> bench_result {
    return run_hiredis_baseline(
        baseline_result(url, "raw hiredis pipelined", o.threads, o.concurrency), o, [&] {
            redis_layout l;
            l.url = baseline_target(url, b.redis, 6379);
            l.servers = {l.url.hosts.front()};
            return l;
        });
}

#if defined(ASIOCACHE_BENCH_HAS_REDIS_CLUSTER)
/// Fills `l` with the masters and the slots of one CLUSTER SLOTS reply from `seed`. Throws
/// for a reply of another shape, or one that leaves slots without a master.
void read_slots(redisReply const& rp, host_port const& seed, redis_layout& l) {
    constexpr std::uint16_t none = 0xffff;
    auto const bad = [&](std::string_view why) {
        throw std::runtime_error(
            fmt::format("{}:{} answered CLUSTER SLOTS with {}", seed.host, seed.port, why));
    };
    auto const is = [](redisReply const* e, int type) { return e != nullptr && e->type == type; };
    if (rp.type != REDIS_REPLY_ARRAY) {
        bad("a reply that is not an array");
    }
    l.servers.clear();
    l.owner.assign(16384, none);
    for (std::size_t i = 0; i < rp.elements; ++i) {
        auto const* e = rp.element[i];
        if (!is(e, REDIS_REPLY_ARRAY) || e->elements < 3 ||
            !is(e->element[0], REDIS_REPLY_INTEGER) || !is(e->element[1], REDIS_REPLY_INTEGER) ||
            !is(e->element[2], REDIS_REPLY_ARRAY) || e->element[2]->elements < 2 ||
            !is(e->element[2]->element[0], REDIS_REPLY_STRING) ||
            !is(e->element[2]->element[1], REDIS_REPLY_INTEGER)) {
            bad("an entry of an unexpected shape");
        }
        auto const first = e->element[0]->integer;
        auto const last = e->element[1]->integer;
        auto const* m = e->element[2];
        auto const port = m->element[1]->integer;
        if (first < 0 || last < first || last >= 16384 || port <= 0 || port > 65535) {
            bad("a slot range or port out of bounds");
        }
        // An empty host is the node that answered.
        host_port hp{std::string(m->element[0]->str, m->element[0]->len),
                     static_cast<std::uint16_t>(port)};
        if (hp.host.empty()) {
            hp.host = seed.host;
        }
        auto it = std::find_if(l.servers.begin(), l.servers.end(), [&](host_port const& s) {
            return s.host == hp.host && s.port == hp.port;
        });
        auto const index = static_cast<std::uint16_t>(it - l.servers.begin());
        if (it == l.servers.end()) {
            l.servers.push_back(std::move(hp));
        }
        std::fill(l.owner.begin() + first, l.owner.begin() + last + 1, index);
    }
    if (auto const orphans = std::count(l.owner.begin(), l.owner.end(), none); orphans != 0) {
        bad(fmt::format("{} of the 16384 slots without a master (the cluster is incomplete)",
                        orphans));
    }
    l.seed = seed;
}

/// The cluster's layout, read once with CLUSTER SLOTS from the first seed that answers it.
auto cluster_layout(url_parts const& u) -> redis_layout {
    if (u.db != 0) {
        throw std::invalid_argument("redis-cluster: a cluster has database 0 only");
    }
    redis_layout l;
    l.url = u;
    std::string why;
    for (auto const& seed : u.hosts) {
        try {
            auto c = redis_connect(seed, u);
            auto rp = redis_command(c.get(), {"CLUSTER", "SLOTS"});
            if (!rp || rp->type == REDIS_REPLY_ERROR) {
                throw std::runtime_error(fmt::format("{}:{} answered CLUSTER SLOTS with {}",
                                                     seed.host, seed.port,
                                                     rp ? rp->str : c->errstr));
            }
            read_slots(*rp, seed, l);
            return l;
        } catch (std::runtime_error const& e) {
            why += fmt::format("{}{}", why.empty() ? "" : "; ", e.what());
        }
    }
    throw std::runtime_error(fmt::format("cannot read the cluster's slots: {}", why));
}

auto run_redis_cluster_baseline(std::string const& url, bench_options const& o,
                                baseline_options const& b) -> bench_result {
    return run_hiredis_baseline(
        baseline_result(url, "raw hiredis cluster", o.threads, o.concurrency), o,
        [&] { return cluster_layout(baseline_target(url, b.redis, 6379)); });
}
#endif

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
#if defined(ASIOCACHE_BENCH_HAS_REDIS_CLUSTER)
        if (scheme == "redis-cluster") {
            return detail::run_redis_cluster_baseline(url, o, b);
        }
#endif
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
