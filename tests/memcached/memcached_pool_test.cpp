// SPDX-License-Identifier: MIT
// The memcached backend over several real servers (127.0.0.1, started by the test) and against
// fake servers that misbehave:
// - placement: libmemcached clients with the same server list (weighted ketama) find the keys
//   asiocache wrote, on the server libmemcached picks, and asiocache finds theirs;
// - a dead server fails only its own keys, fast, and recovers when it comes back; multi_get and
//   multi_set across it fail partially (partial_failure, and partial_values<T> from the cache);
// - a stalled (SIGSTOPped) server's requests end at their deadlines while the other server's
//   keep their latency; nothing is misattributed when it resumes;
// - a server without the meta protocol gives not_supported; hostile replies give
//   protocol_error, never a value, and the client reconnects;
// - ttl() on every server, and connections_per_server.
#include "asiocache/asiocache.hpp"
#include "asiocache/backends/memcached.hpp"
#include "fault_server.hpp"
#include "local_server.hpp"
#include "meta_fake.hpp"
#include "run_coro.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>
#include <libmemcached/memcached.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using asiocache::backend;
using asiocache::cache;
using asiocache::deadline;
using asiocache::errc;
using asiocache::expiry;
using asiocache::partial_failure;
using asiocache::partial_values;
using asiocache::backends::make_memcached_backend;
using asiocache::backends::memcached_options;
using asiocache::test::chaos_proxy;
using asiocache::test::fault_server;
using asiocache::test::local_server;
using asiocache::test::meta_command;
using asiocache::test::reply_plan;
using asiocache::test::run;
using asiocache::test::run_error;
using clock_type = std::chrono::steady_clock;

auto soon() -> deadline { return deadline::after(5s); }

auto since(clock_type::time_point start) -> std::chrono::milliseconds {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - start);
}

/// A libmemcached client as C, C++ and pylibmc users have it: weighted ketama, text protocol,
/// the servers added in order. `owner(key)` is the server libmemcached picks.
class raw_client {
public:
    explicit raw_client(std::vector<std::uint16_t> const& ports) : mc_(memcached_create(nullptr)) {
        if (mc_ == nullptr) {
            throw std::bad_alloc();
        }
        memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
        memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, 1000);
        memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, 1000);
        for (auto port : ports) {
            if (memcached_server_add(mc_, "127.0.0.1", port) != MEMCACHED_SUCCESS) {
                throw std::runtime_error("raw_client: cannot add a server");
            }
        }
    }
    raw_client(raw_client const&) = delete;
    auto operator=(raw_client const&) -> raw_client& = delete;
    ~raw_client() { memcached_free(mc_); }

    [[nodiscard]] auto owner(std::string const& key) const -> std::size_t {
        return memcached_generate_hash(mc_, key.data(), key.size());
    }
    auto get(std::string const& key) -> std::optional<std::string> {
        std::size_t len = 0;
        std::uint32_t flags = 0;
        memcached_return_t rc{};
        char* v = memcached_get(mc_, key.data(), key.size(), &len, &flags, &rc);
        if (v != nullptr) {
            std::string out(v, len);
            std::free(v);  // NOLINT: libmemcached allocates with malloc
            return out;
        }
        if (rc == MEMCACHED_NOTFOUND) {
            return std::nullopt;
        }
        throw std::runtime_error("raw_client get '" + key + "': " + memcached_strerror(mc_, rc));
    }
    void set(std::string const& key, std::string const& value) {
        auto rc = memcached_set(mc_, key.data(), key.size(), value.data(), value.size(), 0, 0);
        if (rc != MEMCACHED_SUCCESS) {
            throw std::runtime_error("raw_client set '" + key + "': " +
                                     memcached_strerror(mc_, rc));
        }
    }

private:
    memcached_st* mc_;
};

/// `n` memcached servers, a backend over all of them (in order), a libmemcached client over
/// the same list, and one libmemcached client per server to ask each directly.
struct pool {
    std::vector<local_server> servers;
    std::shared_ptr<backend> all;
    std::unique_ptr<raw_client> raw;
    std::vector<std::unique_ptr<raw_client>> direct;

    static auto start(asio::io_context& io, std::size_t n, memcached_options o = {})
        -> std::optional<pool> {
        pool p;
        std::vector<std::uint16_t> ports;
        for (std::size_t i = 0; i < n; ++i) {
            auto s = local_server::memcached();
            if (!s) {
                return std::nullopt;
            }
            ports.push_back(s->port());
            p.servers.push_back(std::move(*s));
        }
        o.servers.clear();
        for (auto const& s : p.servers) {
            o.servers.push_back({s.host(), s.port()});
            p.direct.push_back(std::make_unique<raw_client>(std::vector{s.port()}));
        }
        p.all = make_memcached_backend(io.get_executor(), o);
        p.raw = std::make_unique<raw_client>(ports);
        return p;
    }

    /// The servers that hold `key`, asked one by one.
    auto holders(std::string const& key) -> std::vector<std::size_t> {
        std::vector<std::size_t> out;
        for (std::size_t i = 0; i < direct.size(); ++i) {
            if (direct[i]->get(key)) {
                out.push_back(i);
            }
        }
        return out;
    }
};

#define START_POOL(var, io, n)                         \
    auto var = pool::start(io, n);                     \
    if (!(var)) {                                      \
        ASIOCACHE_SKIP_OR_FAIL("memcached not found"); \
    }

auto key_list(std::string const& prefix, int n) -> std::vector<std::string> {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
        out.push_back(prefix + std::to_string(i));
    }
    return out;
}

/// The first key `prefix<i>` that libmemcached places on server `s`.
auto key_on(raw_client const& raw, std::size_t s, std::string const& prefix) -> std::string {
    for (int i = 0; i < 10000; ++i) {
        auto key = prefix + std::to_string(i);
        if (raw.owner(key) == s) {
            return key;
        }
    }
    throw std::runtime_error("no key for server " + std::to_string(s));
}

// --- Placement ----------------------------------------------------------------------------------

TEST(memcached_pool_test, keys_are_placed_where_libmemcached_looks_for_them) {
    asio::io_context io;
    START_POOL(p, io, 3);
    auto keys = key_list("place:", 200);
    // Half with set, half with one multi_set (batches are split by the same placement).
    std::vector<std::pair<std::string, std::string>> batch;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        auto value = "v" + std::to_string(i);
        if (i % 2 == 0) {
            run(io, p->all->set(keys[i], value, {}, soon()));
        } else {
            batch.emplace_back(keys[i], value);
        }
    }
    run(io, p->all->multi_set(batch, {}, soon()));

    std::vector<int> per_server(3);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        auto const& key = keys[i];
        auto const expected = "v" + std::to_string(i);
        EXPECT_EQ(p->raw->get(key), expected) << key << ": libmemcached does not find it";
        auto owner = p->raw->owner(key);
        ASSERT_LT(owner, 3U);
        auto holders = p->holders(key);
        EXPECT_EQ(holders, std::vector<std::size_t>{owner})
            << key << " is not (only) on server " << owner << ", the one libmemcached picks";
        ++per_server[owner];
    }
    for (std::size_t s = 0; s < 3; ++s) {
        EXPECT_GE(per_server[s], 20) << "server " << s << " holds " << per_server[s]
                                     << " of 200 keys: the keyspace is not spread";
    }
}

TEST(memcached_pool_test, keys_written_by_libmemcached_are_read_by_asiocache) {
    asio::io_context io;
    START_POOL(p, io, 3);
    auto keys = key_list("raw:", 200);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        p->raw->set(keys[i], "w" + std::to_string(i));
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
        EXPECT_EQ(run(io, p->all->get(keys[i], soon())), "w" + std::to_string(i)) << keys[i];
    }
    // One multi_get over every server, with misses in between, keeps the order.
    std::vector<std::string> asked;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        asked.push_back(keys[i]);
        if (i % 10 == 0) {
            asked.push_back("raw:absent" + std::to_string(i));
        }
    }
    auto got = run(io, p->all->multi_get(asked, soon()));
    ASSERT_EQ(got.size(), asked.size());
    for (std::size_t i = 0; i < asked.size(); ++i) {
        if (asked[i].starts_with("raw:absent")) {
            EXPECT_EQ(got[i], std::nullopt) << asked[i];
        } else {
            EXPECT_EQ(got[i], "w" + asked[i].substr(4)) << asked[i];
        }
    }
}

// --- A dead server -------------------------------------------------------------------------------

constexpr std::size_t dead = 2;  // of 4

TEST(memcached_pool_test, a_dead_server_fails_only_its_keys_fast_then_recovers) {
    asio::io_context io;
    START_POOL(p, io, 4);
    auto keys = key_list("dead:", 400);
    for (auto const& k : keys) {
        run(io, p->all->set(k, "v:" + k, {}, soon()));
    }
    std::size_t owned = 0;
    for (auto const& k : keys) {
        owned += p->raw->owner(k) == dead ? 1 : 0;
    }
    ASSERT_GT(owned, 0U);

    p->servers[dead].stop();
    std::size_t failures = 0;
    std::optional<clock_type::time_point> first_failure;
    std::chrono::milliseconds slowest_failure{0};
    for (auto const& k : keys) {
        auto const on_dead = p->raw->owner(k) == dead;
        auto const start = clock_type::now();
        try {
            auto v = run(io, p->all->get(k, deadline::after(2s)), 5s);
            EXPECT_FALSE(on_dead) << k << " answered from a stopped server";
            EXPECT_EQ(v, "v:" + k);
        } catch (boost::system::system_error const& e) {
            EXPECT_TRUE(on_dead) << k << " failed on a live server: " << e.what();
            EXPECT_EQ(e.code(), errc::backend_unavailable) << k << ": " << e.what();
            ++failures;
            if (first_failure) {
                slowest_failure = std::max(slowest_failure, since(start));
            } else {
                first_failure = clock_type::now();
                EXPECT_LT(since(start), 1s) << "the first failure was slow";
            }
        }
    }
    EXPECT_LT(slowest_failure, 200ms) << "the dead server's keys do not fail fast";
    auto const share = static_cast<double>(owned) / static_cast<double>(keys.size());
    auto const error_share = static_cast<double>(failures) / static_cast<double>(keys.size());
    EXPECT_NEAR(error_share, share, 0.03);

    // Writes too: a live key is stored, a dead one fails at once.
    for (auto const& k : keys) {
        auto const start = clock_type::now();
        auto code = run_error(io, p->all->set(k, "w:" + k, {}, deadline::after(2s)), 5s);
        if (p->raw->owner(k) == dead) {
            EXPECT_EQ(code, errc::backend_unavailable) << k;
            EXPECT_LT(since(start), 200ms) << k;
        } else {
            EXPECT_FALSE(code) << k << ": " << code.message();
        }
    }

    // Back on the same port (empty, as a restarted memcached is): its keys work again within
    // a few seconds, and no key moved meanwhile.
    p->servers[dead].start();
    std::string probe;
    for (auto const& k : keys) {
        if (p->raw->owner(k) == dead) {
            probe = k;
            break;
        }
    }
    auto const back_by = clock_type::now() + 3s;
    bool back = false;
    while (!back && clock_type::now() < back_by) {
        back = !run_error(io, p->all->set(probe, "again", {}, deadline::after(500ms)));
        if (!back) {
            std::this_thread::sleep_for(20ms);
        }
    }
    ASSERT_TRUE(back) << "the restarted server's keys did not recover within 3 s";
    EXPECT_EQ(run(io, p->all->get(probe, soon())), "again");
    for (auto const& k : keys) {
        if (p->raw->owner(k) == dead) {
            std::optional<std::string> want;
            if (k == probe) {
                want = "again";
            }
            EXPECT_EQ(run(io, p->all->get(k, soon())), want) << k;
        } else {
            EXPECT_EQ(run(io, p->all->get(k, soon())), "w:" + k) << k;
        }
    }
}

// Keys spread over the pool, every third one stored (the rest are misses), and their owners.
struct batch_fixture {
    std::vector<std::string> keys;
    std::vector<std::optional<std::string>> stored;
    std::vector<std::size_t> dead_indices;
};

auto prepare_batch(asio::io_context& io, pool& p, std::string const& prefix, int n)
    -> batch_fixture {
    batch_fixture f;
    f.keys = key_list(prefix, n);
    for (std::size_t i = 0; i < f.keys.size(); ++i) {
        if (i % 3 != 2) {
            f.stored.emplace_back("v" + std::to_string(i));
            run(io, p.all->set(f.keys[i], *f.stored.back(), {}, soon()));
        } else {
            f.stored.emplace_back(std::nullopt);
        }
        if (p.raw->owner(f.keys[i]) == dead) {
            f.dead_indices.push_back(i);
        }
    }
    return f;
}

auto indices_of(std::vector<asiocache::item_failure> const& failed) -> std::vector<std::size_t> {
    std::vector<std::size_t> out;
    for (auto const& f : failed) {
        out.push_back(f.index);
    }
    return out;
}

TEST(memcached_pool_test, multi_get_across_a_dead_server_fails_partially) {
    asio::io_context io;
    START_POOL(p, io, 4);
    auto f = prepare_batch(io, *p, "mg:", 60);
    ASSERT_FALSE(f.dead_indices.empty());
    ASSERT_LT(f.dead_indices.size(), f.keys.size());
    p->servers[dead].stop();

    // What the live servers hold, in order; the dead server's slots empty.
    auto expected = f.stored;
    for (auto i : f.dead_indices) {
        expected[i] = std::nullopt;
    }

    // The backend: partial_failure with the values read and every failed key.
    try {
        (void)run(io, p->all->multi_get(f.keys, deadline::after(2s)), 5s);
        ADD_FAILURE() << "multi_get across a dead server succeeded";
    } catch (partial_failure const& e) {
        EXPECT_EQ(e.code(), errc::backend_unavailable) << e.what();
        EXPECT_EQ(e.values(), expected);
        EXPECT_EQ(indices_of(e.failed()), f.dead_indices);
        for (auto const& item : e.failed()) {
            EXPECT_EQ(item.code, errc::backend_unavailable);
            EXPECT_FALSE(item.detail.empty());
        }
    } catch (boost::system::system_error const& e) {
        ADD_FAILURE() << "a plain system_error, not partial_failure: " << e.what();
    }

    // The cache: partial_values<std::string>, decoded.
    cache c{p->all, {.serializer = asiocache::serializers::string()}};
    try {
        (void)run(io, c.multi_get<std::string>(f.keys, {.timeout = 2s}), 5s);
        ADD_FAILURE() << "cache multi_get across a dead server succeeded";
    } catch (partial_values<std::string> const& e) {
        EXPECT_EQ(e.typed_values(), expected);
        EXPECT_EQ(e.values(), expected);
        EXPECT_EQ(indices_of(e.failed()), f.dead_indices);
        EXPECT_EQ(e.code(), errc::backend_unavailable);
    } catch (boost::system::system_error const& e) {
        ADD_FAILURE() << "not partial_values<std::string>: " << e.what();
    }

    // Only the dead server's keys: a plain error, the first server's.
    std::vector<std::string> only_dead;
    for (auto i : f.dead_indices) {
        only_dead.push_back(f.keys[i]);
    }
    try {
        (void)run(io, p->all->multi_get(only_dead, deadline::after(2s)), 5s);
        ADD_FAILURE() << "multi_get of a dead server's keys succeeded";
    } catch (partial_failure const& e) {
        ADD_FAILURE() << "partial_failure when nothing succeeded: " << e.what();
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::backend_unavailable) << e.what();
    }
}

TEST(memcached_pool_test, multi_get_when_every_server_is_down_throws_the_first_error) {
    asio::io_context io;
    START_POOL(p, io, 2);
    auto keys = key_list("down:", 20);
    p->servers[0].stop();
    p->servers[1].stop();
    auto const start = clock_type::now();
    try {
        (void)run(io, p->all->multi_get(keys, deadline::after(2s)), 5s);
        ADD_FAILURE() << "multi_get with every server down succeeded";
    } catch (partial_failure const& e) {
        ADD_FAILURE() << "partial_failure when nothing succeeded: " << e.what();
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::backend_unavailable) << e.what();
    }
    EXPECT_LT(since(start), 1s);
}

// multi_set over 4 servers, one of them stopped. `warm`: each server was written to before,
// so the backend knows every item size limit; else the dead one was never reached at all.
void multi_set_across_a_dead_server(bool warm) {
    asio::io_context io;
    START_POOL(p, io, 4);
    if (warm) {
        for (std::size_t s = 0; s < 4; ++s) {
            run(io, p->all->set(key_on(*p->raw, s, "warm:"), "v", {}, soon()));
        }
    }
    auto keys = key_list("ms:", 60);
    std::vector<std::pair<std::string, std::string>> items;
    std::vector<std::size_t> dead_indices;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        items.emplace_back(keys[i], "n" + std::to_string(i));
        if (p->raw->owner(keys[i]) == dead) {
            dead_indices.push_back(i);
        }
    }
    ASSERT_FALSE(dead_indices.empty());
    p->servers[dead].stop();

    try {
        run(io, p->all->multi_set(items, {}, deadline::after(2s)), 5s);
        ADD_FAILURE() << "multi_set across a dead server succeeded";
    } catch (partial_failure const& e) {
        EXPECT_EQ(e.code(), errc::backend_unavailable) << e.what();
        EXPECT_EQ(indices_of(e.failed()), dead_indices);
        EXPECT_TRUE(e.values().empty());
    } catch (boost::system::system_error const& e) {
        ADD_FAILURE() << "a plain system_error, not partial_failure: " << e.what();
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (p->raw->owner(keys[i]) != dead) {
            EXPECT_EQ(p->direct[p->raw->owner(keys[i])]->get(keys[i]), items[i].second)
                << keys[i] << " was not stored";
        }
    }

    // Through the cache the same failure comes out.
    cache c{p->all, {.serializer = asiocache::serializers::string()}};
    std::vector<std::pair<std::string, std::string>> again;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        again.emplace_back(keys[i], "c" + std::to_string(i));
    }
    try {
        run(io, c.multi_set(again, std::nullopt, {.timeout = 2s}), 5s);
        ADD_FAILURE() << "cache multi_set across a dead server succeeded";
    } catch (partial_failure const& e) {
        EXPECT_EQ(indices_of(e.failed()), dead_indices);
    } catch (boost::system::system_error const& e) {
        ADD_FAILURE() << "a plain system_error, not partial_failure: " << e.what();
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (p->raw->owner(keys[i]) != dead) {
            EXPECT_EQ(run(io, c.get<std::string>(keys[i])), again[i].second) << keys[i];
        }
    }
}

TEST(memcached_pool_test, multi_set_across_a_dead_server_stores_the_live_items) {
    multi_set_across_a_dead_server(true);
}

TEST(memcached_pool_test, multi_set_stores_the_live_items_when_the_dead_server_was_never_reached) {
    // The item size limits are not known yet (item_size_max = 0: each server is asked before
    // its first write): the dead server's items fail, the others are still stored.
    multi_set_across_a_dead_server(false);
}

// --- A stalled server ----------------------------------------------------------------------------

/// The state letter ('S', 'R', 'T' for stopped...) and the parent of process `pid`, from
/// /proc/<pid>/stat; state 0 if there is no such process.
auto proc_stat(pid_t pid) -> std::pair<char, pid_t> {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    auto close = line.rfind(')');
    if (close == std::string::npos) {
        return {0, -1};
    }
    char state = 0;
    pid_t ppid = -1;
    std::istringstream fields(line.substr(close + 1));
    fields >> state >> ppid;
    return {state, ppid};
}

/// The pid server `index` of `b` reports in its `stats`: the process that really serves that
/// port, whoever started it.
auto reported_pid(asio::io_context& io, backend& b, std::size_t index) -> pid_t {
    auto stats = run(io, b.raw({"stats"}, soon()));
    auto const& pairs = stats.elements.at(index).elements;
    for (std::size_t i = 1; i + 1 < pairs.size(); i += 2) {
        if (pairs[i].str == "pid") {
            return static_cast<pid_t>(std::stol(pairs[i + 1].str));
        }
    }
    return -1;
}

/// SIGSTOPs a process, and SIGCONTs it when resumed or destroyed, whatever the test did.
class stopped_process {
public:
    explicit stopped_process(pid_t pid) : pid_(pid) { ::kill(pid_, SIGSTOP); }
    stopped_process(stopped_process const&) = delete;
    auto operator=(stopped_process const&) -> stopped_process& = delete;
    ~stopped_process() { resume(); }
    void resume() {
        if (pid_ > 0) {
            ::kill(pid_, SIGCONT);
            pid_ = -1;
        }
    }

private:
    pid_t pid_;
};

struct timed {
    std::optional<std::string> value;
    boost::system::error_code error;
    std::chrono::milliseconds took{0};
    bool done = false;
};

TEST(memcached_pool_test, a_stalled_server_times_out_its_own_keys_only) {
    asio::io_context io;
    START_POOL(p, io, 2);
    constexpr std::size_t stalled = 1;
    auto keys = key_list("stall:", 60);
    std::vector<std::string> healthy_keys;
    std::vector<std::string> stalled_keys;
    for (auto const& k : keys) {
        run(io, p->all->set(k, "v:" + k, {}, soon()));
        (p->raw->owner(k) == stalled ? stalled_keys : healthy_keys).push_back(k);
    }
    ASSERT_GE(stalled_keys.size(), 5U);
    ASSERT_GE(healthy_keys.size(), 5U);
    auto const pid = reported_pid(io, *p->all, stalled);
    ASSERT_GT(pid, 0) << "the server reports no pid";
    // Only ever stop our own server: one started by another test process on the same port
    // (local_server's port race) is not this test's to stop.
    ASSERT_EQ(proc_stat(pid).second, ::getpid())
        << "the server on " << p->servers[stalled].address() << " is not this test's";

    stopped_process stop(pid);
    for (int i = 0; i < 100 && proc_stat(pid).first != 'T'; ++i) {
        std::this_thread::sleep_for(1ms);
    }
    ASSERT_EQ(proc_stat(pid).first, 'T') << "SIGSTOP did not stop memcached " << pid;
    constexpr auto limit = 300ms;
    std::vector<std::chrono::milliseconds> healthy_latencies;
    for (int round = 0; round < 3; ++round) {
        // Gets to the stalled server, all pending at once...
        std::vector<std::shared_ptr<timed>> waiting;
        for (std::size_t i = 0; i < 5; ++i) {
            auto t = std::make_shared<timed>();
            waiting.push_back(t);
            auto const start = clock_type::now();
            asio::co_spawn(io, p->all->get(stalled_keys[i], deadline::after(limit)),
                           [t, start](std::exception_ptr e, std::optional<std::string> v) {
                               t->took = since(start);
                               t->done = true;
                               if (!e) {
                                   t->value = std::move(v);
                                   return;
                               }
                               try {
                                   std::rethrow_exception(e);
                               } catch (boost::system::system_error const& se) {
                                   t->error = se.code();
                               } catch (...) {
                                   t->error = make_error_code(errc::backend_error);
                               }
                           });
        }
        // ...while the healthy server's keys are read one after another, unaffected.
        for (auto const& k : healthy_keys) {
            auto const start = clock_type::now();
            EXPECT_EQ(run(io, p->all->get(k, deadline::after(limit)), 3s), "v:" + k) << k;
            healthy_latencies.push_back(since(start));
        }
        auto const end = clock_type::now() + 3s;
        io.restart();
        auto all_done = [&] {
            return std::all_of(waiting.begin(), waiting.end(),
                               [](auto const& t) { return t->done; });
        };
        while (clock_type::now() < end && !all_done()) {
            io.run_one_for(20ms);
        }
        for (auto const& t : waiting) {
            ASSERT_TRUE(t->done) << "a get to the stalled server did not end within 3 s";
            EXPECT_EQ(t->error, errc::timeout) << (t->value ? "a value from a stopped server" : "");
            EXPECT_GE(t->took, limit - 10ms) << "ended before its deadline";
            EXPECT_LT(t->took, limit + 500ms) << "ended long after its deadline";
        }
    }
    std::sort(healthy_latencies.begin(), healthy_latencies.end());
    EXPECT_LT(healthy_latencies[healthy_latencies.size() / 2], 50ms) << "median";
    EXPECT_LT(healthy_latencies.back(), 250ms) << "slowest";

    // Resumed, the server answers the requests that timed out: those late replies are
    // discarded, and every key reads back its own value.
    stop.resume();
    auto const back_by = clock_type::now() + 3s;
    bool back = false;
    while (!back && clock_type::now() < back_by) {
        try {
            back = run(io, p->all->get(stalled_keys[0], deadline::after(500ms)), 3s) ==
                   "v:" + stalled_keys[0];
        } catch (boost::system::system_error const&) {
            std::this_thread::sleep_for(20ms);
        }
    }
    ASSERT_TRUE(back) << "the resumed server's keys did not recover within 3 s";
    for (auto const& k : keys) {
        EXPECT_EQ(run(io, p->all->get(k, soon())), "v:" + k) << k;
    }
}

// --- Fake servers: no meta protocol, hostile replies ---------------------------------------------

auto options_on(std::initializer_list<std::uint16_t> ports) -> memcached_options {
    memcached_options o;
    o.servers.clear();
    for (auto port : ports) {
        o.servers.push_back({"127.0.0.1", port});
    }
    o.item_size_max = 1024 * 1024;  // nothing to ask a fake server
    o.reconnect_min = 10ms;
    o.reconnect_max = 100ms;
    return o;
}

// What a server without the meta protocol (memcached before 1.6, or a proxy that only knows
// the classic commands) answers to every line.
auto classic_only() -> asiocache::test::server_script {
    return {.respond = asiocache::test::meta_responder(
                [](meta_command const&) { return reply_plan{.bytes = "ERROR\r\n"}; })};
}

TEST(memcached_pool_test, a_server_without_the_meta_protocol_gives_not_supported) {
    fault_server server(classic_only());
    asio::io_context io;
    auto b = make_memcached_backend(io.get_executor(), options_on({server.port()}));
    auto expect_not_supported = [&](char const* op, auto t) {
        auto const start = clock_type::now();
        try {
            run(io, std::move(t), 3s);
            ADD_FAILURE() << op << " succeeded";
        } catch (boost::system::system_error const& e) {
            EXPECT_EQ(e.code(), errc::not_supported) << op << ": " << e.what();
            EXPECT_NE(std::string(e.what()).find("meta protocol"), std::string::npos)
                << op << ": " << e.what();
        }
        EXPECT_LT(since(start), 1s) << op;
    };
    auto const dl = [] { return deadline::after(2s); };
    expect_not_supported("get", b->get("k", dl()));
    expect_not_supported("set", b->set("k", "v", {}, dl()));
    expect_not_supported("multi_get", b->multi_get({"a", "b"}, dl()));
    expect_not_supported("multi_set", b->multi_set({{"a", "1"}, {"b", "2"}}, {}, dl()));
    expect_not_supported("increment", b->increment("n", 1, dl()));
    expect_not_supported("remove", b->remove("k", dl()));
    expect_not_supported("ttl", b->ttl("k", dl()));
    // Still the same after a few backoff rounds: every attempt is refused the same way.
    std::this_thread::sleep_for(300ms);
    expect_not_supported("get after backoff", b->get("k", dl()));
    EXPECT_GE(server.connections(), 1U);
}

TEST(memcached_pool_test, a_pool_with_one_server_without_the_meta_protocol_fails_only_its_keys) {
    auto real = local_server::memcached();
    if (!real) {
        ASIOCACHE_SKIP_OR_FAIL("memcached not found");
    }
    fault_server old(classic_only());
    asio::io_context io;
    auto b = make_memcached_backend(io.get_executor(), options_on({real->port(), old.port()}));
    raw_client placement({real->port(), old.port()});
    auto keys = key_list("mixed:", 40);
    std::vector<std::size_t> on_old;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        auto code = run_error(io, b->set(keys[i], "v", {}, deadline::after(2s)), 3s);
        if (placement.owner(keys[i]) == 1) {
            on_old.push_back(i);
            EXPECT_EQ(code, errc::not_supported) << keys[i];
        } else {
            EXPECT_FALSE(code) << keys[i] << ": " << code.message();
        }
    }
    ASSERT_FALSE(on_old.empty());
    ASSERT_LT(on_old.size(), keys.size());
    try {
        (void)run(io, b->multi_get(keys, deadline::after(2s)), 3s);
        ADD_FAILURE() << "multi_get across a server without the meta protocol succeeded";
    } catch (partial_failure const& e) {
        EXPECT_EQ(indices_of(e.failed()), on_old);
        for (auto const& item : e.failed()) {
            EXPECT_EQ(item.code, errc::not_supported);
        }
        for (std::size_t i = 0; i < keys.size(); ++i) {
            auto const old_key = std::find(on_old.begin(), on_old.end(), i) != on_old.end();
            EXPECT_EQ(e.values()[i], old_key ? std::nullopt : std::optional<std::string>("v"))
                << keys[i];
        }
    } catch (boost::system::system_error const& e) {
        ADD_FAILURE() << "a plain system_error, not partial_failure: " << e.what();
    }
}

/// Gets until one returns `want` or `limit` passes; a value other than `want` is recorded.
auto recovers(asio::io_context& io, backend& b, std::string const& want,
              std::vector<std::string>& wrong, std::chrono::milliseconds limit = 3s) -> bool {
    auto const end = clock_type::now() + limit;
    while (clock_type::now() < end) {
        try {
            auto v = run(io, b.get("k", deadline::after(500ms)), 2s);
            if (v == want) {
                return true;
            }
            if (v) {
                wrong.push_back(*v);
            }
        } catch (boost::system::system_error const&) {
        }
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

/// A fake memcached whose every `mg` hit holds "ok".
auto healed() -> asiocache::test::server_script {
    return asiocache::test::meta_server([](meta_command const& c) -> std::optional<reply_plan> {
        if (c.name == "mg") {
            return reply_plan{.bytes = "VA 2" + c.returned_flags(2) + "\r\nok\r\n"};
        }
        return std::nullopt;
    });
}

struct hostile_case {
    char const* name;
    std::string bytes;  // the answer to every `mg`
    bool close_after = false;
    errc expected;
};

auto repeat(std::string_view s, std::size_t n) -> std::string {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += s;
    }
    return out;
}

auto hostile_cases() -> std::vector<hostile_case> {
    return {
        {"garbage_line", "hello world\r\n", false, errc::protocol_error},
        {"binary_garbage", std::string("\x00\xff\xfe\r\n", 5), false, errc::protocol_error},
        {"huge_value_header", "VA 999999999999\r\n", false, errc::protocol_error},
        {"huge_value_header_then_bytes", "VA 999999999999\r\n" + std::string(200 * 1024, 'x'),
         false, errc::protocol_error},
        {"value_size_past_uint64", "VA 99999999999999999999999\r\n", false,
         errc::protocol_error},
        {"value_size_not_a_number", "VA x1\r\n", false, errc::protocol_error},
        {"negative_value_size", "VA -5\r\n", false, errc::protocol_error},
        {"line_without_end", std::string(8 * 1024, 'x'), false, errc::protocol_error},
        {"value_not_followed_by_crlf", "VA 2\r\nokXX\r\n", false, errc::protocol_error},
        {"noop_where_a_value_belongs", "MN\r\n", false, errc::protocol_error},
        {"stat_where_a_value_belongs", "STAT pid 1\r\n", false, errc::protocol_error},
        {"stored_where_a_value_belongs", "HD\r\n", false, errc::protocol_error},
        {"a_stream_of_replies", repeat("EX\r\n", 100000), false, errc::protocol_error},
        {"close_in_the_middle_of_a_value", "VA 10\r\nabc", true, errc::backend_unavailable},
        {"close_before_any_reply", "", true, errc::backend_unavailable},
    };
}

class memcached_hostile : public ::testing::TestWithParam<hostile_case> {};

TEST_P(memcached_hostile, fails_cleanly_then_reconnects_when_the_server_heals) {
    auto const& c = GetParam();
    fault_server server(asiocache::test::meta_server(
        [&c](meta_command const& m) -> std::optional<reply_plan> {
            if (m.name == "mg") {
                return reply_plan{.bytes = c.bytes, .close_after = c.close_after};
            }
            return std::nullopt;
        }));
    asio::io_context io;
    auto b = make_memcached_backend(io.get_executor(), options_on({server.port()}));
    auto const start = clock_type::now();
    try {
        auto v = run(io, b->get("k", deadline::after(500ms)), 3s);
        ADD_FAILURE() << c.name << ": produced " << (v ? "the value '" + *v + "'" : "a miss");
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), c.expected) << c.name << ": " << e.what();
    }
    EXPECT_LT(since(start), 500ms) << c.name << ": waited for the deadline";

    server.set_script(healed());
    server.drop_connections();
    std::vector<std::string> wrong;
    EXPECT_TRUE(recovers(io, *b, "ok", wrong)) << c.name;
    EXPECT_TRUE(wrong.empty()) << c.name << ": read '" << wrong.front() << "'";
    EXPECT_GE(server.connections(), 2U) << c.name << ": never reconnected";
}

INSTANTIATE_TEST_SUITE_P(replies, memcached_hostile, ::testing::ValuesIn(hostile_cases()),
                         [](auto const& p) { return std::string(p.param.name); });

TEST(memcached_pool_test, a_reply_right_after_the_handshake_is_never_taken_as_an_answer) {
    // The server answers the handshake's mn with MN and, unasked, a value: that value belongs
    // to no request, and must not become the answer to the next one.
    fault_server server(asiocache::test::meta_server(
        [first = true](meta_command const& m) mutable -> std::optional<reply_plan> {
            if (m.name == "mn" && first) {
                first = false;
                return reply_plan{.bytes = "MN\r\nVA 5\r\nWRONG\r\n"};
            }
            return std::nullopt;  // mg: EN
        }));
    asio::io_context io;
    auto b = make_memcached_backend(io.get_executor(), options_on({server.port()}));
    try {
        auto v = run(io, b->get("k", deadline::after(1s)), 3s);
        EXPECT_NE(v, std::optional<std::string>("WRONG"))
            << "an unsolicited reply was taken as the answer";
        ADD_FAILURE() << "a get on a connection out of step succeeded ("
                      << (v ? "'" + *v + "'" : "a miss") << ")";
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::protocol_error) << e.what();
    }
    server.set_script(healed());
    server.drop_connections();
    std::vector<std::string> wrong;
    EXPECT_TRUE(recovers(io, *b, "ok", wrong));
    EXPECT_TRUE(wrong.empty()) << "read '" << wrong.front() << "'";
}

TEST(memcached_pool_test, a_reply_with_no_request_drops_the_connection) {
    // The first mg is answered (a miss), followed by a value nobody asked for. The connection
    // is out of step: it is replaced, and the next get is answered by the new one.
    fault_server server(asiocache::test::meta_server(
        [first = true](meta_command const& m) mutable -> std::optional<reply_plan> {
            if (m.name == "mg" && first) {
                first = false;
                return reply_plan{.bytes = "EN\r\nVA 5\r\nWRONG\r\n"};
            }
            return std::nullopt;
        }));
    asio::io_context io;
    auto b = make_memcached_backend(io.get_executor(), options_on({server.port()}));
    EXPECT_EQ(run(io, b->get("k", soon()), 3s), std::nullopt);
    server.set_script(healed());
    // Let the client read the unsolicited reply while nothing is in flight.
    auto const settle = clock_type::now() + 200ms;
    io.restart();
    while (clock_type::now() < settle) {
        io.run_one_for(10ms);
    }
    std::vector<std::string> wrong;
    EXPECT_TRUE(recovers(io, *b, "ok", wrong));
    EXPECT_TRUE(wrong.empty()) << "read '" << wrong.front() << "'";
    EXPECT_EQ(server.connections(), 2U) << "the connection out of step was not replaced";
}

TEST(memcached_pool_test, a_multi_get_hit_for_a_key_never_asked_is_a_protocol_error) {
    // A batch is one classic `get a b`: a VALUE naming a key that was not asked for is refused,
    // never stored in some slot.
    fault_server server(asiocache::test::meta_server(
        [](meta_command const& m) -> std::optional<reply_plan> {
            if (m.name == "get") {
                return reply_plan{.bytes = "VALUE zz 0 5\r\nWRONG\r\nEND\r\n"};
            }
            return std::nullopt;
        }));
    asio::io_context io;
    auto b = make_memcached_backend(io.get_executor(), options_on({server.port()}));
    try {
        (void)run(io, b->multi_get({"a", "b"}, deadline::after(1s)), 3s);
        ADD_FAILURE() << "a multi_get with a foreign hit succeeded";
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::protocol_error) << e.what();
    }
}

TEST(memcached_pool_test, a_multi_get_answered_out_of_order_still_fills_the_right_slots) {
    // memcached answers a classic get in the order asked; a proxy merging several servers'
    // answers may not. Every VALUE still lands in the slots of its own key (duplicates too),
    // and a key with no VALUE is a miss.
    std::mutex mutex;  // the fake server answers on its own thread
    std::string asked;
    fault_server server(asiocache::test::meta_server(
        [&](meta_command const& m) -> std::optional<reply_plan> {
            if (m.name == "get") {
                std::lock_guard lock(mutex);
                asked = m.line;
                return reply_plan{.bytes = "VALUE c 0 2\r\nvc\r\nVALUE a 0 2\r\nva\r\n"
                                           "VALUE a 0 2\r\nva\r\nEND\r\n"};
            }
            return std::nullopt;
        }));
    asio::io_context io;
    auto b = make_memcached_backend(io.get_executor(), options_on({server.port()}));
    auto got = run(io, b->multi_get({"a", "b", "c", "a"}, deadline::after(1s)), 3s);
    {
        std::lock_guard lock(mutex);
        EXPECT_EQ(asked, "get a b c a");
    }
    ASSERT_EQ(got.size(), 4U);
    EXPECT_EQ(got[0], std::optional<std::string>("va"));
    EXPECT_EQ(got[1], std::nullopt);
    EXPECT_EQ(got[2], std::optional<std::string>("vc"));
    EXPECT_EQ(got[3], std::optional<std::string>("va"));
}

// --- ttl() and connections -----------------------------------------------------------------------

TEST(memcached_pool_test, ttl_on_every_server) {
    asio::io_context io;
    START_POOL(p, io, 3);
    for (std::size_t s = 0; s < 3; ++s) {
        auto const ten = key_on(*p->raw, s, "ttl10:");
        auto const never = key_on(*p->raw, s, "ttlnever:");
        auto const missing = key_on(*p->raw, s, "ttlmissing:");
        run(io, p->all->set(ten, "v", 10s, soon()));
        run(io, p->all->set(never, "v", expiry::never(), soon()));
        auto t = run(io, p->all->ttl(ten, soon()));
        ASSERT_TRUE(t.has_value()) << ten;
        ASSERT_FALSE(t->is_never()) << ten;
        EXPECT_GE(t->duration(), 9s) << ten;
        EXPECT_LE(t->duration(), 10s) << ten;
        EXPECT_EQ(run(io, p->all->ttl(never, soon())), expiry::never()) << never;
        EXPECT_EQ(run(io, p->all->ttl(missing, soon())), std::nullopt) << missing;
        EXPECT_EQ(p->holders(ten), std::vector<std::size_t>{s});
    }
    // The facade reports the same.
    cache c{p->all, {.ns = "app", .serializer = asiocache::serializers::string()}};
    run(io, c.set("t", std::string("v"), 10s));
    auto t = run(io, c.ttl("t"));
    ASSERT_TRUE(t.has_value());
    EXPECT_GE(t->duration(), 9s);
    EXPECT_LE(t->duration(), 10s);
    EXPECT_EQ(run(io, c.ttl("absent")), std::nullopt);
}

TEST(memcached_pool_test, each_server_gets_connections_per_server_connections) {
    auto server = local_server::memcached();
    if (!server) {
        ASIOCACHE_SKIP_OR_FAIL("memcached not found");
    }
    chaos_proxy proxy(server->port());
    asio::io_context io;
    memcached_options o;
    o.servers = {{"127.0.0.1", proxy.port()}};
    o.connections_per_server = 3;
    auto b = make_memcached_backend(io.get_executor(), o);
    auto keys = key_list("conn:", 60);
    for (auto const& k : keys) {
        run(io, b->set(k, "v:" + k, {}, soon()));
    }
    for (int i = 0; i < 6; ++i) {  // batches take the connections in turn
        auto got = run(io, b->multi_get(keys, soon()));
        for (std::size_t j = 0; j < keys.size(); ++j) {
            EXPECT_EQ(got[j], "v:" + keys[j]);
        }
    }
    EXPECT_EQ(proxy.connections(), 3U);
}

}  // namespace
