// SPDX-License-Identifier: MIT
// The memcached backend (Asio meta-protocol client) against raw synchronous libmemcached, in one
// run, and the backend on pools of servers with one stalled or dead.
//
// 16-byte keys, 100-byte values. The throughput benchmarks use one local memcached
// (tests/support/local_server: 127.0.0.1, a free port, `-t 1` so that both sides meet the same
// server thread, memcached's other defaults). Baseline: one libmemcached handle, text protocol,
// one connection, called synchronously on the benchmark thread. The backend runs `concurrency`
// coroutines on one io_context (the benchmark thread) over its default single pipelined
// connection. Knobs for experiments: ASIOCACHE_BENCH_CONNECTIONS sets
// `connections_per_server`; ASIOCACHE_BENCH_MEMCACHED_ARGS adds server arguments (e.g.
// "-R 200", memcached's requests per connection per event, default 20).
//
// Every comparison is paired: blocks of raw and backend operations alternate inside one
// benchmark, so that both meet the same machine load (the reference machine is shared and
// noisy), and the counters give both sides and their ratio:
// - `paired_get/c`, `paired_set/c`: raw_ops_s, backend_ops_s, ratio (backend throughput over
//   raw), raw_p50_us/raw_p99_us and p50_us/p99_us (per operation), p50_ratio (backend p50 over
//   raw p50);
// - `paired_multi_get_100`: one `memcached_mget` of 100 keys against one backend `multi_get`;
//   raw_keys_s, backend_keys_s, ratio;
// - `paired_multi_set_100`: 100 raw `memcached_set` one after another, one backend `multi_set`
//   of the same 100 items, and 100 backend `set`s one after another; ratio (multi_set over raw
//   sets) and ratio_backend_sets (multi_set over the backend's sets).
//
// Pool benchmarks start their own memcached processes (local_server, `-t 1`) and are
// bounded in time (one iteration each, a few seconds at most):
// - `multi_set_round_trips`: a multi_set of 100 items over 2 servers, each server reached
//   through a relay that counts round trips (client bursts that follow a server reply);
//   round_trips_per_server is the largest count per multi_set over the two relays.
// - `pool_stalled_server`: 2 servers; 8 coroutines get keys the healthy server owns while it
//   is alone (the other server running and idle) and, in alternate 300 ms phases (6 pairs),
//   while the other server is SIGSTOPped and 8 more coroutines get its keys with a 200 ms
//   deadline (SIGCONTed at the end of each such phase, whatever happens). ratio is the healthy gets' throughput during the stall over alone,
//   p99_ratio their p99 during the stall over alone.
// - `pool_dead_server`: 4 servers, one SIGKILLed; every key is read; error_share (the failed
//   gets' share) against key_share (the dead server's share of the keys, from libmemcached's
//   memcached_generate_hash on a weighted-ketama handle with the same server list, which is the
//   backend's placement); live_key_errors and dead_key_hits must be 0.
//
//   memcached_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include "asiocache/backends/memcached.hpp"
#include "asiocache/errors.hpp"
#include "local_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <libmemcached/memcached.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using asiocache::errc;

constexpr int key_count = 1000;

// Extra arguments for the memcached processes, from ASIOCACHE_BENCH_MEMCACHED_ARGS (split at
// spaces), for experiments such as `-R 200`.
auto extra_server_args() -> std::vector<std::string> {
    std::vector<std::string> out;
    if (char const* v = std::getenv("ASIOCACHE_BENCH_MEMCACHED_ARGS")) {
        std::string_view rest(v);
        while (!rest.empty()) {
            auto const sp = rest.find(' ');
            if (sp != 0) {
                out.emplace_back(rest.substr(0, sp));
            }
            rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
        }
    }
    return out;
}

// One worker thread (the later -t wins over local_server's -t 2): each side uses one
// connection, which memcached serves on one thread anyway, and so both sides meet the same
// server thread rather than whichever of two the kernel placed better.
auto start_server() -> std::optional<asiocache::test::local_server> {
    std::vector<std::string> args{"-t", "1"};
    for (auto& a : extra_server_args()) {
        args.push_back(std::move(a));
    }
    return asiocache::test::local_server::memcached(std::move(args));
}

auto server() -> asiocache::test::local_server* {
    static auto s = start_server();
    return s ? &*s : nullptr;
}

auto have_server(benchmark::State& state) -> bool {
    if (server() == nullptr) {
        state.SkipWithError("memcached not found");
        return false;
    }
    return true;
}

auto key_for(int i) -> std::string { return fmt::format("bench:key:{:06d}", i % key_count); }
auto const value = std::string(100, 'v');

auto seconds(steady::duration d) -> double { return std::chrono::duration<double>(d).count(); }

auto env_size(char const* name, std::size_t fallback) -> std::size_t {
    char const* v = std::getenv(name);
    return v != nullptr && std::atoi(v) > 0 ? static_cast<std::size_t>(std::atoi(v)) : fallback;
}

// Per-op latencies in microseconds.
class latencies {
public:
    latencies() { us_.reserve(1 << 16); }
    void add(steady::duration d) {
        us_.push_back(std::chrono::duration<double, std::micro>(d).count());
    }
    [[nodiscard]] auto empty() const -> bool { return us_.empty(); }
    auto at(double q) -> double {
        if (us_.empty()) {
            return 0;
        }
        auto i = static_cast<std::size_t>(q * static_cast<double>(us_.size() - 1));
        std::nth_element(us_.begin(), us_.begin() + static_cast<std::ptrdiff_t>(i), us_.end());
        return us_[i];
    }
    // `<prefix>p50_us` and `<prefix>p99_us`.
    void report(benchmark::State& state, std::string const& prefix = "") {
        if (us_.empty()) {
            return;
        }
        state.counters[prefix + "p50_us"] = at(0.50);
        state.counters[prefix + "p99_us"] = at(0.99);
    }

private:
    std::vector<double> us_;
};

// --- Baseline: synchronous libmemcached, text protocol, one connection ---------------------

struct raw_handle {
    raw_handle() : mc(memcached_create(nullptr)) {
        memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
        memcached_server_add(mc, server()->host().c_str(), server()->port());
    }
    raw_handle(raw_handle const&) = delete;
    auto operator=(raw_handle const&) -> raw_handle& = delete;
    ~raw_handle() { memcached_free(mc); }
    memcached_st* mc;
};

void preload(memcached_st* mc) {
    for (int i = 0; i < key_count; ++i) {
        auto k = key_for(i);
        memcached_set(mc, k.data(), k.size(), value.data(), value.size(), 0, 0);
    }
}

enum class op_kind { get, set };

// `n` gets or sets of keys `first`, `first + 1`, ...; false if one missed or failed.
auto raw_block(memcached_st* mc, op_kind kind, int first, int n, latencies& lat) -> bool {
    bool ok = true;
    for (int i = first; i < first + n; ++i) {
        auto k = key_for(i);
        auto t0 = steady::now();
        if (kind == op_kind::get) {
            std::size_t len = 0;
            std::uint32_t flags = 0;
            memcached_return_t rc{};
            char* v = memcached_get(mc, k.data(), k.size(), &len, &flags, &rc);
            ok = ok && v != nullptr && len == value.size();
            std::free(v);  // NOLINT: libmemcached mallocs
        } else {
            ok = ok && memcached_set(mc, k.data(), k.size(), value.data(), value.size(), 0, 0) ==
                           MEMCACHED_SUCCESS;
        }
        lat.add(steady::now() - t0);
    }
    return ok;
}

// --- The backend: coroutines on one io_context ----------------------------------------------

struct backend_bench {
    explicit backend_bench(std::vector<asiocache::endpoint> servers = {},
                           asiocache::backends::memcached_options o = {}) {
        if (servers.empty()) {
            servers = {{server()->host(), server()->port()}};
        }
        o.servers = std::move(servers);
        o.connections_per_server =
            env_size("ASIOCACHE_BENCH_CONNECTIONS", o.connections_per_server);
        backend = asiocache::backends::make_memcached_backend(io.get_executor(), o);
    }
    backend_bench(backend_bench const&) = delete;
    auto operator=(backend_bench const&) -> backend_bench& = delete;
    ~backend_bench() {
        backend.reset();  // shuts the connections down
        io.restart();
        io.run_for(100ms);
    }

    // Runs `spawn(i)` for i in [0, n) as coroutines and the io_context until all of them are
    // done (the connections keep it busy forever, so it is stopped then). Rethrows the first
    // failure.
    template <class Make>
    void run_coroutines(int n, Make make) {
        int running = n;
        std::exception_ptr failure;
        for (int c = 0; c < n; ++c) {
            asio::co_spawn(io, make(c), [&](std::exception_ptr e) {
                if (e && !failure) {
                    failure = e;
                }
                if (--running == 0) {
                    io.stop();
                }
            });
        }
        io.restart();
        io.run();
        if (failure) {
            std::rethrow_exception(failure);
        }
    }

    // Runs `op(i)` awaitables for i in [0, ops) from `concurrency` coroutines.
    template <class Op>
    void drive(int concurrency, int ops, latencies& lat, Op op) {
        int next = 0;
        run_coroutines(concurrency, [&](int) -> asiocache::task<void> {
            while (next < ops) {
                auto i = next++;
                auto t0 = steady::now();
                co_await op(i);
                lat.add(steady::now() - t0);
            }
        });
    }

    asio::io_context io;
    std::shared_ptr<asiocache::backend> backend;
};

auto five_seconds() { return asiocache::deadline::after(5s); }

// --- get and set: raw and backend blocks in turn ---------------------------------------------

// Raw blocks of 256 operations and backend blocks of max(256, 32 * concurrency) operations
// (about as long as the raw block once the backend pipelines), taken in turn.
void paired_op(benchmark::State& state, op_kind kind) {
    if (!have_server(state)) {
        return;
    }
    constexpr int raw_ops = 256;
    auto const concurrency = static_cast<int>(state.range(0));
    auto const backend_ops = std::max(256, 32 * concurrency);
    raw_handle h;
    preload(h.mc);
    backend_bench b;
    latencies raw_lat;
    latencies backend_lat;
    double raw_s = 0;
    double backend_s = 0;
    double raw_done = 0;
    double backend_done = 0;
    int first = 0;
    for (auto _ : state) {
        try {
            auto t0 = steady::now();
            if (!raw_block(h.mc, kind, first, raw_ops, raw_lat)) {
                state.SkipWithError("raw operation failed");
                break;
            }
            auto t1 = steady::now();
            bool missed = false;
            b.drive(concurrency, backend_ops, backend_lat, [&](int i) -> asiocache::task<void> {
                if (kind == op_kind::get) {
                    auto v = co_await b.backend->get(key_for(first + i), five_seconds());
                    missed = missed || !v || v->size() != value.size();
                } else {
                    co_await b.backend->set(key_for(first + i), value, {}, five_seconds());
                }
            });
            auto t2 = steady::now();
            if (missed) {
                state.SkipWithError("backend get missed");
                break;
            }
            raw_s += seconds(t1 - t0);
            backend_s += seconds(t2 - t1);
            raw_done += raw_ops;
            backend_done += backend_ops;
            first += backend_ops;
        } catch (std::exception const& e) {
            state.SkipWithError(e.what());
            break;
        }
    }
    if (raw_s == 0 || backend_s == 0) {
        return;
    }
    state.counters["raw_ops_s"] = raw_done / raw_s;
    state.counters["backend_ops_s"] = backend_done / backend_s;
    state.counters["ratio"] = (backend_done / backend_s) / (raw_done / raw_s);
    raw_lat.report(state, "raw_");
    backend_lat.report(state);
    state.counters["p50_ratio"] = backend_lat.at(0.5) / raw_lat.at(0.5);
}
void paired_get(benchmark::State& state) { paired_op(state, op_kind::get); }
void paired_set(benchmark::State& state) { paired_op(state, op_kind::set); }

// --- multi_get and multi_set of 100 keys -----------------------------------------------------

auto hundred_keys(int round) -> std::vector<std::string> {
    std::vector<std::string> keys;
    keys.reserve(100);
    for (int i = 0; i < 100; ++i) {
        keys.push_back(key_for(round * 100 + i));
    }
    return keys;
}

auto hundred_items(int round) -> std::vector<std::pair<std::string, std::string>> {
    std::vector<std::pair<std::string, std::string>> items;
    items.reserve(100);
    for (auto& k : hundred_keys(round)) {
        items.emplace_back(std::move(k), value);
    }
    return items;
}

constexpr int key_rounds = key_count / 100;

// One raw mget of 100 keys (all hits); false if one missed.
auto raw_mget(memcached_st* mc, std::vector<char const*> const& ptrs,
              std::vector<std::size_t> const& lens) -> bool {
    if (memcached_mget(mc, ptrs.data(), lens.data(), ptrs.size()) != MEMCACHED_SUCCESS) {
        return false;
    }
    memcached_return_t rc{};
    std::size_t hits = 0;
    while (auto* r = memcached_fetch_result(mc, nullptr, &rc)) {
        hits += memcached_result_length(r) == value.size() ? 1 : 0;
        memcached_result_free(r);
    }
    return hits == ptrs.size();
}

// Blocks of 8 raw mgets and 8 backend multi_gets of 100 keys, in turn.
void paired_multi_get_100(benchmark::State& state) {
    if (!have_server(state)) {
        return;
    }
    constexpr int per_block = 8;
    raw_handle h;
    preload(h.mc);
    backend_bench b;
    std::vector<std::vector<std::string>> keys;
    std::vector<std::vector<char const*>> ptrs(key_rounds);
    std::vector<std::vector<std::size_t>> lens(key_rounds);
    for (int r = 0; r < key_rounds; ++r) {
        keys.push_back(hundred_keys(r));
        for (auto const& k : keys.back()) {
            ptrs[r].push_back(k.data());
            lens[r].push_back(k.size());
        }
    }
    latencies raw_lat;
    latencies backend_lat;
    double raw_s = 0;
    double backend_s = 0;
    double blocks = 0;
    int round = 0;
    for (auto _ : state) {
        try {
            auto t0 = steady::now();
            for (int n = 0; n < per_block; ++n) {
                auto r = (round + n) % key_rounds;
                auto s0 = steady::now();
                if (!raw_mget(h.mc, ptrs[r], lens[r])) {
                    state.SkipWithError("raw mget missed");
                    break;
                }
                raw_lat.add(steady::now() - s0);
            }
            auto t1 = steady::now();
            bool missed = false;
            b.drive(1, per_block, backend_lat, [&](int n) -> asiocache::task<void> {
                auto r = (round + n) % key_rounds;
                auto vs = co_await b.backend->multi_get(keys[r], five_seconds());
                missed = missed || std::any_of(vs.begin(), vs.end(), [](auto const& v) {
                             return !v || v->size() != value.size();
                         });
            });
            auto t2 = steady::now();
            if (missed) {
                state.SkipWithError("backend multi_get missed");
                break;
            }
            raw_s += seconds(t1 - t0);
            backend_s += seconds(t2 - t1);
            blocks += 1;
            round += per_block;
        } catch (std::exception const& e) {
            state.SkipWithError(e.what());
            break;
        }
    }
    if (raw_s == 0 || backend_s == 0) {
        return;
    }
    auto const keys_done = blocks * per_block * 100;
    state.counters["raw_keys_s"] = keys_done / raw_s;
    state.counters["backend_keys_s"] = keys_done / backend_s;
    state.counters["ratio"] = raw_s / backend_s;
    raw_lat.report(state, "raw_");
    backend_lat.report(state);
}

// Blocks of: 100 raw sets one after another; 4 backend multi_sets of 100 items; 100 backend
// sets one after another (one coroutine).
void paired_multi_set_100(benchmark::State& state) {
    if (!have_server(state)) {
        return;
    }
    constexpr int multi_per_block = 4;
    raw_handle h;
    backend_bench b;
    latencies raw_lat;
    latencies multi_lat;
    latencies single_lat;
    double raw_s = 0;
    double multi_s = 0;
    double single_s = 0;
    double blocks = 0;
    int round = 0;
    for (auto _ : state) {
        try {
            auto t0 = steady::now();
            if (!raw_block(h.mc, op_kind::set, round * 100, 100, raw_lat)) {
                state.SkipWithError("raw set failed");
                break;
            }
            auto t1 = steady::now();
            b.drive(1, multi_per_block, multi_lat, [&](int n) {
                return b.backend->multi_set(hundred_items((round + n) % key_rounds), {},
                                            five_seconds());
            });
            auto t2 = steady::now();
            b.drive(1, 100, single_lat, [&](int i) {
                return b.backend->set(key_for(round * 100 + i), value, {}, five_seconds());
            });
            auto t3 = steady::now();
            raw_s += seconds(t1 - t0);
            multi_s += seconds(t2 - t1);
            single_s += seconds(t3 - t2);
            blocks += 1;
            ++round;
        } catch (std::exception const& e) {
            state.SkipWithError(e.what());
            break;
        }
    }
    if (raw_s == 0 || multi_s == 0 || single_s == 0) {
        return;
    }
    state.counters["raw_items_s"] = blocks * 100 / raw_s;
    state.counters["backend_items_s"] = blocks * multi_per_block * 100 / multi_s;
    state.counters["backend_single_items_s"] = blocks * 100 / single_s;
    state.counters["ratio"] = (blocks * multi_per_block * 100 / multi_s) / (blocks * 100 / raw_s);
    state.counters["ratio_backend_sets"] =
        (blocks * multi_per_block * 100 / multi_s) / (blocks * 100 / single_s);
    multi_lat.report(state);  // per multi_set of 100 items
}

// --- Pools of servers started here ------------------------------------------------------------

using server_list = std::vector<asiocache::test::local_server>;

// `count` servers of this process, started on first use (nullptr when memcached is missing):
// the throughput benchmarks' server settings, free 127.0.0.1 ports, each dies with this
// process.
auto pool(std::size_t count) -> server_list* {
    static server_list two;
    static server_list four;
    auto& p = count == 2 ? two : four;
    while (p.size() < count) {
        auto s = start_server();
        if (!s) {
            return nullptr;
        }
        p.push_back(std::move(*s));
    }
    for (auto& s : p) {
        s.start();  // a server killed by an earlier repetition comes back
    }
    return &p;
}

auto endpoints_of(server_list const& p) -> std::vector<asiocache::endpoint> {
    std::vector<asiocache::endpoint> out;
    for (auto const& s : p) {
        out.push_back({s.host(), s.port()});
    }
    return out;
}

// The owner of a key as libmemcached decides it: weighted ketama over the same server list.
class ketama {
public:
    explicit ketama(std::vector<asiocache::endpoint> const& servers)
        : mc_(memcached_create(nullptr)) {
        memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
        for (auto const& s : servers) {
            memcached_server_add(mc_, s.host.c_str(), s.port);
        }
    }
    ketama(ketama const&) = delete;
    auto operator=(ketama const&) -> ketama& = delete;
    ~ketama() { memcached_free(mc_); }
    [[nodiscard]] auto owner(std::string const& key) const -> std::size_t {
        return memcached_generate_hash(mc_, key.data(), key.size());
    }

private:
    memcached_st* mc_;
};

// Keys `pool:key:NNNNNN` owned by each server, `per_server` of each.
auto keys_by_owner(ketama const& k, std::size_t servers, std::size_t per_server)
    -> std::vector<std::vector<std::string>> {
    std::vector<std::vector<std::string>> out(servers);
    for (int i = 0;; ++i) {
        auto key = fmt::format("pool:key:{:06d}", i);
        auto o = k.owner(key);
        if (o < servers && out[o].size() < per_server) {
            out[o].push_back(std::move(key));
        }
        if (std::all_of(out.begin(), out.end(), [&](auto const& v) {
                return v.size() == per_server;
            })) {
            return out;
        }
    }
}

// A TCP relay to one server that counts round trips: bursts of client bytes that follow
// server bytes (or start the connection). One client connection at a time.
class relay {
public:
    explicit relay(std::uint16_t upstream) : upstream_(upstream) {
        listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        auto addr = loopback(0);
        socklen_t len = sizeof addr;
        if (listen_ < 0 || ::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(listen_, 4) != 0 ||
            ::getsockname(listen_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            throw std::runtime_error("relay: cannot listen");
        }
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    relay(relay const&) = delete;
    auto operator=(relay const&) -> relay& = delete;
    ~relay() {
        stop_ = true;
        thread_.join();
        ::close(listen_);
    }
    [[nodiscard]] auto port() const -> std::uint16_t { return port_; }
    [[nodiscard]] auto round_trips() const -> std::uint64_t { return turns_.load(); }

private:
    static auto loopback(std::uint16_t port) -> sockaddr_in {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return addr;
    }
    static auto send_all(int fd, char const* p, std::size_t n) -> bool {
        while (n > 0) {
            auto w = ::send(fd, p, n, MSG_NOSIGNAL);
            if (w <= 0) {
                if (w < 0 && errno == EINTR) {
                    continue;
                }
                return false;
            }
            p += w;
            n -= static_cast<std::size_t>(w);
        }
        return true;
    }
    void run() {
        while (!stop_) {
            pollfd p{listen_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) {
                continue;
            }
            int client = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
            if (client < 0) {
                continue;
            }
            int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            auto addr = loopback(upstream_);
            int one = 1;
            ::setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (up >= 0 && ::connect(up, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
                serve(client, up);
            }
            if (up >= 0) {
                ::close(up);
            }
            ::close(client);
        }
    }
    void serve(int client, int up) {
        std::vector<char> buf(64 * 1024);
        bool client_spoke_last = false;
        while (!stop_) {
            std::array<pollfd, 2> fds{pollfd{client, POLLIN, 0}, pollfd{up, POLLIN, 0}};
            if (::poll(fds.data(), fds.size(), 50) <= 0) {
                continue;
            }
            if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
                auto n = ::recv(client, buf.data(), buf.size(), 0);
                if (n <= 0 || !send_all(up, buf.data(), static_cast<std::size_t>(n))) {
                    return;
                }
                if (!client_spoke_last) {
                    turns_.fetch_add(1);
                    client_spoke_last = true;
                }
            }
            if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
                auto n = ::recv(up, buf.data(), buf.size(), 0);
                if (n <= 0 || !send_all(client, buf.data(), static_cast<std::size_t>(n))) {
                    return;
                }
                client_spoke_last = false;
            }
        }
    }

    std::uint16_t upstream_;
    std::uint16_t port_ = 0;
    int listen_ = -1;
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> turns_{0};
    std::thread thread_;
};

auto no_health_checks() {
    asiocache::backends::memcached_options o;
    o.health_check_interval = 0ms;  // no probes in the relays' counts
    o.connections_per_server = 1;
    return o;
}

// A multi_set of 100 items over 2 servers, each behind a counting relay.
void multi_set_round_trips(benchmark::State& state) {
    auto* servers = pool(2);
    if (servers == nullptr) {
        state.SkipWithError("memcached not found");
        return;
    }
    relay r0((*servers)[0].port());
    relay r1((*servers)[1].port());
    std::vector<asiocache::endpoint> eps{{"127.0.0.1", r0.port()}, {"127.0.0.1", r1.port()}};
    ketama placement(eps);
    auto owned = keys_by_owner(placement, 2, 50);  // 50 keys on each server
    std::vector<std::pair<std::string, std::string>> items;
    for (auto const& keys : owned) {
        for (auto const& k : keys) {
            items.emplace_back(k, value);
        }
    }
    auto o = no_health_checks();
    o.connections_per_server = 1;
    backend_bench b(eps, o);
    latencies lat;
    try {
        // Connects, handshakes and reads each server's item size limit.
        b.drive(1, 1, lat, [&](int) { return b.backend->multi_set(items, {}, five_seconds()); });
    } catch (std::exception const& e) {
        state.SkipWithError(e.what());
        return;
    }
    latencies measured;
    auto const before0 = r0.round_trips();
    auto const before1 = r1.round_trips();
    double sets = 0;
    for (auto _ : state) {
        try {
            b.drive(1, 1, measured,
                    [&](int) { return b.backend->multi_set(items, {}, five_seconds()); });
        } catch (std::exception const& e) {
            state.SkipWithError(e.what());
            break;
        }
        sets += 1;
    }
    if (sets == 0) {
        return;
    }
    auto const rt0 = static_cast<double>(r0.round_trips() - before0) / sets;
    auto const rt1 = static_cast<double>(r1.round_trips() - before1) / sets;
    state.counters["round_trips_per_server"] = std::max(rt0, rt1);
    state.counters["multi_sets"] = sets;
    measured.report(state);
}

// Counts of a phase of gets.
struct phase_counts {
    double ops = 0;
    double seconds = 0;
    double errors = 0;
    double misses = 0;
};

// 8 coroutines get `keys` until `end`, with 1 s deadlines.
auto healthy_worker(backend_bench& b, std::vector<std::string> const& keys, std::size_t& next,
                    steady::time_point end, latencies& lat, phase_counts& counts,
                    steady::time_point& last) -> asiocache::task<void> {
    while (steady::now() < end) {
        auto const& k = keys[next++ % keys.size()];
        auto t0 = steady::now();
        try {
            auto v = co_await b.backend->get(k, asiocache::deadline::after(1s));
            if (!v) {
                counts.misses += 1;
            }
        } catch (std::exception const&) {
            counts.errors += 1;
        }
        auto t1 = steady::now();
        lat.add(t1 - t0);
        counts.ops += 1;
        last = std::max(last, t1);
    }
}

struct stalled_counts {
    double timeouts = 0;
    double other_errors = 0;
    double answered = 0;
};

// Gets of the stalled server's keys with a 200 ms deadline, until `end`.
auto stalled_worker(backend_bench& b, std::vector<std::string> const& keys, std::size_t& next,
                    steady::time_point end, stalled_counts& counts) -> asiocache::task<void> {
    while (steady::now() < end) {
        auto const& k = keys[next++ % keys.size()];
        try {
            (void)co_await b.backend->get(k, asiocache::deadline::after(200ms));
            counts.answered += 1;
        } catch (boost::system::system_error const& e) {
            if (e.code() == asiocache::make_error_code(errc::timeout)) {
                counts.timeouts += 1;
            } else {
                counts.other_errors += 1;
            }
        }
    }
}

// SIGSTOPs a server for the scope, and SIGCONTs it when the scope ends, whatever happens.
class stall_scope {
public:
    explicit stall_scope(asiocache::test::local_server& s) : s_(s) {
        if (!s_.pause()) {
            s_.resume();
            throw std::runtime_error("memcached did not stop on SIGSTOP");
        }
    }
    stall_scope(stall_scope const&) = delete;
    auto operator=(stall_scope const&) -> stall_scope& = delete;
    ~stall_scope() { s_.resume(); }

private:
    asiocache::test::local_server& s_;
};

// 2 servers; alternate phases of 300 ms: healthy-server gets alone, then the same with the
// other server SIGSTOPped and receiving gets with 200 ms deadlines. 6 pairs, about 4 s.
void pool_stalled_server(benchmark::State& state) {
    auto* servers = pool(2);
    if (servers == nullptr) {
        state.SkipWithError("memcached not found");
        return;
    }
    constexpr int healthy_concurrency = 8;
    constexpr int stalled_concurrency = 8;
    constexpr int pairs = 6;
    constexpr auto phase = 300ms;
    auto eps = endpoints_of(*servers);
    ketama placement(eps);
    auto owned = keys_by_owner(placement, 2, 500);
    auto const& healthy_keys = owned[0];
    auto const& stalled_keys = owned[1];
    auto& stalled_server = (*servers)[1];
    backend_bench b(eps);
    latencies lat;
    try {
        std::vector<std::pair<std::string, std::string>> items;
        for (auto const& keys : owned) {
            for (auto const& k : keys) {
                items.emplace_back(k, value);
            }
        }
        b.drive(1, 1, lat, [&](int) { return b.backend->multi_set(items, {}, five_seconds()); });
    } catch (std::exception const& e) {
        state.SkipWithError(e.what());
        return;
    }
    latencies alone_lat;
    latencies stalled_lat;
    phase_counts alone;
    phase_counts during;
    stalled_counts victims;
    std::size_t next_healthy = 0;
    std::size_t next_stalled = 0;
    for (auto _ : state) {
        for (int p = 0; p < pairs; ++p) {
            for (bool stall : {false, true}) {
                auto& counts = stall ? during : alone;
                auto& phase_lat = stall ? stalled_lat : alone_lat;
                std::optional<stall_scope> stalled;
                if (stall) {
                    stalled.emplace(stalled_server);
                }
                auto const start = steady::now();
                auto const end = start + phase;
                auto last = start;
                auto const workers = healthy_concurrency + (stall ? stalled_concurrency : 0);
                b.run_coroutines(workers, [&](int c) -> asiocache::task<void> {
                    if (c < healthy_concurrency) {
                        return healthy_worker(b, healthy_keys, next_healthy, end, phase_lat,
                                              counts, last);
                    }
                    return stalled_worker(b, stalled_keys, next_stalled, end, victims);
                });
                counts.seconds += seconds(last - start);
            }
        }
    }
    auto const alone_rate = alone.ops / alone.seconds;
    auto const stalled_rate = during.ops / during.seconds;
    state.counters["alone_ops_s"] = alone_rate;
    state.counters["stalled_ops_s"] = stalled_rate;
    state.counters["ratio"] = stalled_rate / alone_rate;
    auto const alone_p99 = alone_lat.at(0.99);
    auto const stalled_p99 = stalled_lat.at(0.99);
    state.counters["alone_p50_us"] = alone_lat.at(0.5);
    state.counters["alone_p99_us"] = alone_p99;
    state.counters["stalled_p50_us"] = stalled_lat.at(0.5);
    state.counters["stalled_p99_us"] = stalled_p99;
    state.counters["p99_ratio"] = stalled_p99 / alone_p99;
    state.counters["healthy_errors"] = alone.errors + during.errors + alone.misses + during.misses;
    state.counters["stalled_timeouts"] = victims.timeouts;
    state.counters["stalled_other_errors"] = victims.other_errors;
    state.counters["stalled_answered"] = victims.answered;
}

// 4 servers, one SIGKILLed; every key read 4 times at concurrency 16. The killed server is
// started again by the next repetition.
void pool_dead_server(benchmark::State& state) {
    auto* servers = pool(4);
    if (servers == nullptr) {
        state.SkipWithError("memcached not found");
        return;
    }
    constexpr std::size_t dead = 2;
    constexpr int keys = 4000;
    constexpr int passes = 4;
    auto eps = endpoints_of(*servers);
    ketama placement(eps);
    std::vector<std::string> all;
    std::vector<bool> on_dead;
    for (int i = 0; i < keys; ++i) {
        all.push_back(fmt::format("pool:key:{:06d}", i));
        on_dead.push_back(placement.owner(all.back()) == dead);
    }
    auto const key_share =
        static_cast<double>(std::count(on_dead.begin(), on_dead.end(), true)) / keys;
    backend_bench b(eps);
    latencies lat;
    try {
        b.drive(16, keys, lat, [&](int i) {
            return b.backend->set(all[static_cast<std::size_t>(i)], value, {}, five_seconds());
        });
    } catch (std::exception const& e) {
        state.SkipWithError(e.what());
        return;
    }
    (*servers)[dead].kill();
    double gets = 0;
    double errors = 0;
    double live_key_errors = 0;
    double dead_key_hits = 0;
    double unavailable = 0;
    latencies failed_lat;
    latencies live_lat;
    auto const t0 = steady::now();
    for (auto _ : state) {
        int next = 0;
        b.run_coroutines(16, [&](int) -> asiocache::task<void> {
            while (next < keys * passes) {
                auto i = static_cast<std::size_t>(next++ % keys);
                auto s0 = steady::now();
                bool failed = false;
                try {
                    auto v = co_await b.backend->get(all[i], asiocache::deadline::after(1s));
                    if (v && on_dead[i]) {
                        dead_key_hits += 1;
                    }
                } catch (boost::system::system_error const& e) {
                    failed = true;
                    errors += 1;
                    if (e.code() == asiocache::make_error_code(errc::backend_unavailable)) {
                        unavailable += 1;
                    }
                    if (!on_dead[i]) {
                        live_key_errors += 1;
                    }
                }
                (failed ? failed_lat : live_lat).add(steady::now() - s0);
                gets += 1;
            }
        });
    }
    auto const elapsed = seconds(steady::now() - t0);
    state.counters["key_share"] = key_share;
    state.counters["error_share"] = errors / gets;
    state.counters["error_share_ratio"] = (errors / gets) / key_share;
    state.counters["live_key_errors"] = live_key_errors;
    state.counters["dead_key_hits"] = dead_key_hits;
    state.counters["unavailable_share"] = errors > 0 ? unavailable / errors : 0;
    state.counters["gets_s"] = gets / elapsed;
    state.counters["failed_p99_us"] = failed_lat.at(0.99);
    state.counters["live_p99_us"] = live_lat.at(0.99);
}

BENCHMARK(paired_get)->Arg(1)->Arg(8)->Arg(64)->UseRealTime();
BENCHMARK(paired_set)->Arg(1)->Arg(8)->Arg(64)->UseRealTime();
BENCHMARK(paired_multi_get_100)->UseRealTime();
BENCHMARK(paired_multi_set_100)->UseRealTime();
BENCHMARK(multi_set_round_trips)->Iterations(50)->UseRealTime();
BENCHMARK(pool_stalled_server)->Iterations(1)->UseRealTime();
BENCHMARK(pool_dead_server)->Iterations(1)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
