// SPDX-License-Identifier: MIT
// Memcached backend throughput and latency against raw synchronous libmemcached, in one run.
//
// 16-byte keys, 100-byte values, one local memcached (tests/support/local_server: 127.0.0.1,
// a free port, `-t 2`). Baselines: one libmemcached handle on one connection, text and binary,
// called in a loop on the benchmark thread. The backend runs `concurrency` coroutines on one
// io_context (the benchmark thread) over its default pool of 4 workers. Each op's latency is
// recorded; p50/p99 are reported as counters (microseconds), throughput as items_per_second.
//
//   memcached_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include "asiocache/backends/memcached.hpp"
#include "local_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <libmemcached/memcached.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr int key_count = 1000;
constexpr int ops_per_iteration = 2048;  // per benchmark iteration, over all coroutines

auto server() -> asiocache::test::local_server* {
    static auto s = asiocache::test::local_server::memcached();
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

// Per-op latencies, reported as p50/p99 counters in microseconds.
class latencies {
public:
    latencies() { us_.reserve(1 << 20); }
    void add(steady::duration d) {
        us_.push_back(std::chrono::duration<double, std::micro>(d).count());
    }
    void report(benchmark::State& state) {
        if (us_.empty()) {
            return;
        }
        auto at = [&](double q) {
            auto i = static_cast<std::size_t>(q * static_cast<double>(us_.size() - 1));
            std::nth_element(us_.begin(), us_.begin() + static_cast<std::ptrdiff_t>(i), us_.end());
            return us_[i];
        };
        state.counters["p50_us"] = at(0.50);
        state.counters["p99_us"] = at(0.99);
    }

private:
    std::vector<double> us_;
};

struct raw_handle {
    explicit raw_handle(bool binary) : mc(memcached_create(nullptr)) {
        memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, binary ? 1 : 0);
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

// --- Baseline: synchronous libmemcached, one connection -----------------------------------------

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

void raw_op(benchmark::State& state, op_kind kind, bool binary) {
    if (!have_server(state)) {
        return;
    }
    raw_handle h(binary);
    preload(h.mc);
    latencies lat;
    int first = 0;
    for (auto _ : state) {
        if (!raw_block(h.mc, kind, first, ops_per_iteration, lat)) {
            state.SkipWithError("raw operation failed");
        }
        first += ops_per_iteration;
    }
    state.SetItemsProcessed(state.iterations() * ops_per_iteration);
    lat.report(state);
}
void raw_get(benchmark::State& state, bool binary) { raw_op(state, op_kind::get, binary); }
void raw_set(benchmark::State& state, bool binary) { raw_op(state, op_kind::set, binary); }

// --- The backend: `concurrency` coroutines on one io_context --------------------------------------

// ASIOCACHE_BENCH_SPIN_US and ASIOCACHE_BENCH_THREADS set the backend's worker_spin and
// threads (default: the backend's defaults, 0 and 4).
auto env_int(char const* name, int fallback) -> int {
    char const* v = std::getenv(name);
    return v != nullptr ? std::atoi(v) : fallback;
}

struct backend_bench {
    explicit backend_bench(bool binary) {
        asiocache::backends::memcached_options o;
        o.servers = {{server()->host(), server()->port()}};
        o.binary_protocol = binary;
        o.worker_spin = std::chrono::microseconds(env_int("ASIOCACHE_BENCH_SPIN_US", 0));
        o.threads = static_cast<std::size_t>(env_int("ASIOCACHE_BENCH_THREADS", 4));
        backend = asiocache::backends::make_memcached_backend(io.get_executor(), o);
        raw_handle h(binary);
        preload(h.mc);
    }

    // Runs `make(i)` awaitables from `concurrency` coroutines until `ops` are done.
    template <class Op>
    void drive(int concurrency, int ops, latencies& lat, Op op) {
        int next = 0;
        int running = concurrency;
        std::exception_ptr failure;
        auto worker = [&]() -> asiocache::task<void> {
            while (next < ops) {
                auto i = next++;
                auto t0 = steady::now();
                co_await op(i);
                lat.add(steady::now() - t0);
            }
        };
        for (int c = 0; c < concurrency; ++c) {
            asio::co_spawn(io, worker(), [&](std::exception_ptr e) {
                if (e) {
                    failure = e;
                }
                --running;
            });
        }
        io.restart();
        io.run();
        if (failure) {
            std::rethrow_exception(failure);
        }
    }

    asio::io_context io;
    std::shared_ptr<asiocache::backend> backend;
};

// get or set through the backend at concurrency state.range(0).
void backend_op(benchmark::State& state, op_kind kind, bool binary) {
    if (!have_server(state)) {
        return;
    }
    backend_bench b(binary);
    auto concurrency = static_cast<int>(state.range(0));
    latencies lat;
    int base = 0;
    for (auto _ : state) {
        b.drive(concurrency, ops_per_iteration, lat, [&](int i) -> asiocache::task<void> {
            auto dl = asiocache::deadline::after(5s);
            if (kind == op_kind::get) {
                co_await b.backend->get(key_for(base + i), dl);
            } else {
                co_await b.backend->set(key_for(base + i), value, {}, dl);
            }
        });
        base += ops_per_iteration;
    }
    state.SetItemsProcessed(state.iterations() * ops_per_iteration);
    lat.report(state);
}
void backend_get(benchmark::State& state, bool binary) { backend_op(state, op_kind::get, binary); }

// Raw and backend blocks of 256 ops taken in turn, so that both meet the same machine load (the
// reference machine is shared and noisy); reports both rates and their ratio.
void paired_op(benchmark::State& state, op_kind kind, bool binary) {
    if (!have_server(state)) {
        return;
    }
    constexpr int block = 256;
    raw_handle h(binary);
    preload(h.mc);
    backend_bench b(binary);
    auto concurrency = static_cast<int>(state.range(0));
    latencies raw_lat;
    latencies backend_lat;
    double raw_s = 0;
    double backend_s = 0;
    int first = 0;
    for (auto _ : state) {
        auto t0 = steady::now();
        if (!raw_block(h.mc, kind, first, block, raw_lat)) {
            state.SkipWithError("raw operation failed");
        }
        auto t1 = steady::now();
        b.drive(concurrency, block, backend_lat, [&](int i) -> asiocache::task<void> {
            auto dl = asiocache::deadline::after(5s);
            if (kind == op_kind::get) {
                co_await b.backend->get(key_for(first + i), dl);
            } else {
                co_await b.backend->set(key_for(first + i), value, {}, dl);
            }
        });
        auto t2 = steady::now();
        raw_s += std::chrono::duration<double>(t1 - t0).count();
        backend_s += std::chrono::duration<double>(t2 - t1).count();
        first += block;
    }
    auto ops = static_cast<double>(state.iterations()) * block;
    state.counters["raw_ops_s"] = ops / raw_s;
    state.counters["backend_ops_s"] = ops / backend_s;
    state.counters["ratio"] = raw_s / backend_s;
    backend_lat.report(state);
}
void paired_get(benchmark::State& state, bool binary) { paired_op(state, op_kind::get, binary); }
void paired_set(benchmark::State& state, bool binary) { paired_op(state, op_kind::set, binary); }
void backend_set(benchmark::State& state, bool binary) { backend_op(state, op_kind::set, binary); }

// --- multi_get of 100 keys in one round trip vs 100 single gets ------------------------------------

auto hundred_keys(int round) -> std::vector<std::string> {
    std::vector<std::string> keys;
    for (int i = 0; i < 100; ++i) {
        keys.push_back(key_for(round * 100 + i));
    }
    return keys;
}

// 20 rounds of 100 keys per iteration: one multi_get per round, or 100 single gets.
void backend_hundred_keys(benchmark::State& state, bool one_multi_get) {
    if (!have_server(state)) {
        return;
    }
    backend_bench b(false);
    latencies lat;  // per multi_get, or per single get
    int round = 0;
    for (auto _ : state) {
        if (one_multi_get) {
            b.drive(1, 20, lat, [&](int) {
                return b.backend->multi_get(hundred_keys(round++), asiocache::deadline::after(5s));
            });
        } else {
            b.drive(1, 20 * 100, lat, [&](int i) {
                return b.backend->get(key_for(round * 100 + i), asiocache::deadline::after(5s));
            });
            round += 20;
        }
    }
    state.SetItemsProcessed(state.iterations() * 20 * 100);  // keys
    lat.report(state);
}
void backend_multi_get_100(benchmark::State& state) { backend_hundred_keys(state, true); }
void backend_single_get_100(benchmark::State& state) { backend_hundred_keys(state, false); }

void raw_mget_100(benchmark::State& state) {
    if (!have_server(state)) {
        return;
    }
    raw_handle h(false);
    preload(h.mc);
    latencies lat;
    int round = 0;
    for (auto _ : state) {
        for (int n = 0; n < 20; ++n) {
            auto keys = hundred_keys(round++);
            std::vector<char const*> ptrs;
            std::vector<std::size_t> lens;
            for (auto const& k : keys) {
                ptrs.push_back(k.data());
                lens.push_back(k.size());
            }
            auto t0 = steady::now();
            memcached_mget(h.mc, ptrs.data(), lens.data(), ptrs.size());
            memcached_return_t rc{};
            int hits = 0;
            while (auto* r = memcached_fetch_result(h.mc, nullptr, &rc)) {
                ++hits;
                memcached_result_free(r);
            }
            lat.add(steady::now() - t0);
            if (hits != 100) {
                state.SkipWithError("raw mget missed");
            }
        }
    }
    state.SetItemsProcessed(state.iterations() * 20 * 100);
    lat.report(state);
}

BENCHMARK_CAPTURE(raw_get, text, false)->UseRealTime();
BENCHMARK_CAPTURE(raw_get, binary, true)->UseRealTime();
BENCHMARK_CAPTURE(backend_get, text, false)->Arg(1)->Arg(8)->Arg(64)->UseRealTime();
BENCHMARK_CAPTURE(backend_get, binary, true)->Arg(1)->Arg(8)->Arg(64)->UseRealTime();
BENCHMARK_CAPTURE(raw_set, text, false)->UseRealTime();
BENCHMARK_CAPTURE(raw_set, binary, true)->UseRealTime();
BENCHMARK_CAPTURE(backend_set, text, false)->Arg(1)->Arg(8)->Arg(64)->UseRealTime();
BENCHMARK_CAPTURE(backend_set, binary, true)->Arg(1)->Arg(8)->Arg(64)->UseRealTime();
BENCHMARK_CAPTURE(paired_get, text, false)->Arg(1)->Arg(8)->Arg(64)->UseRealTime();
BENCHMARK_CAPTURE(paired_get, binary, true)->Arg(1)->Arg(8)->Arg(64)->UseRealTime();
BENCHMARK_CAPTURE(paired_set, text, false)->Arg(1)->Arg(8)->Arg(64)->UseRealTime();
BENCHMARK_CAPTURE(paired_set, binary, true)->Arg(1)->Arg(8)->Arg(64)->UseRealTime();
BENCHMARK(raw_mget_100)->UseRealTime();
BENCHMARK(backend_multi_get_100)->UseRealTime();
BENCHMARK(backend_single_get_100)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
