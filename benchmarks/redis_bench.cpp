// SPDX-License-Identifier: MIT
// Redis backend throughput and latency on one connection, against raw hiredis in the same
// run: synchronous (one command per round trip) and pipelined at depth 16. 16-byte keys,
// 100-byte values. run_all.sh starts the server, adds redis-benchmark's figures
// and prints the ratios; this binary needs ASIOCACHE_BENCH_REDIS=host:port.
//
// Counters: items_per_second (ops/s), p50_us and p99_us (per-operation latency; per batch of
// 16 for the pipelined baseline), batch (requests per socket write, asiocache only).
#include "asiocache/backends/redis.hpp"

#include "asiocache/asiocache.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using sclock = std::chrono::steady_clock;

constexpr std::size_t key_count = 1000;
constexpr std::size_t value_size = 100;
enum op_kind : std::int64_t { get_op = 0, set_op = 1 };

struct server_address {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
};

auto server() -> server_address const& {
    static server_address const addr = [] {
        char const* env = std::getenv("ASIOCACHE_BENCH_REDIS");
        if (env == nullptr) {
            throw std::runtime_error(
                "set ASIOCACHE_BENCH_REDIS=host:port (see run_all.sh)");
        }
        std::string s(env);
        auto colon = s.rfind(':');
        return server_address{s.substr(0, colon),
                              static_cast<std::uint16_t>(std::stoi(s.substr(colon + 1)))};
    }();
    return addr;
}

/// "bench:key:000042": 16 bytes, like redis-benchmark's "key:__rand_int__".
auto key_for(std::size_t i) -> std::string { return fmt::format("bench:key:{:06}", i % key_count); }
auto value() -> std::string const& {
    static std::string const v(value_size, 'x');
    return v;
}

/// Latency samples in microseconds; p50 and p99 go to the benchmark's counters.
class latencies {
public:
    void add(sclock::duration d) {
        samples_.push_back(std::chrono::duration<double, std::micro>(d).count());
    }
    void report(benchmark::State& state) {
        if (samples_.empty()) {
            return;
        }
        std::sort(samples_.begin(), samples_.end());
        auto at = [&](double q) {
            return samples_[std::min(
                samples_.size() - 1,
                static_cast<std::size_t>(q * static_cast<double>(samples_.size())))];
        };
        state.counters["p50_us"] = at(0.50);
        state.counters["p99_us"] = at(0.99);
    }

private:
    std::vector<double> samples_;
};

// ---------------------------------------------------------------------------------------------
// Baselines: raw hiredis, blocking.

struct hiredis_context {
    redisContext* ctx;
    hiredis_context() : ctx(redisConnect(server().host.c_str(), server().port)) {
        if (ctx == nullptr || ctx->err != 0) {
            throw std::runtime_error("hiredis: cannot connect");
        }
    }
    ~hiredis_context() { redisFree(ctx); }
    hiredis_context(hiredis_context const&) = delete;
    auto operator=(hiredis_context const&) -> hiredis_context& = delete;

    void append(op_kind k, std::string const& key) const {
        if (k == get_op) {
            std::array<char const*, 2> argv{"GET", key.data()};
            std::array<std::size_t, 2> lens{3, key.size()};
            redisAppendCommandArgv(ctx, 2, argv.data(), lens.data());
        } else {
            std::array<char const*, 3> argv{"SET", key.data(), value().data()};
            std::array<std::size_t, 3> lens{3, key.size(), value().size()};
            redisAppendCommandArgv(ctx, 3, argv.data(), lens.data());
        }
    }
    void reply() const {
        void* r = nullptr;
        if (redisGetReply(ctx, &r) != REDIS_OK || r == nullptr) {
            throw std::runtime_error("hiredis: no reply");
        }
        freeReplyObject(r);
    }
};

void bm_hiredis_sync(benchmark::State& state) {
    auto kind = static_cast<op_kind>(state.range(0));
    hiredis_context c;
    latencies lat;
    std::size_t i = 0;
    for (auto _ : state) {
        auto key = key_for(i++);
        auto t0 = sclock::now();
        c.append(kind, key);
        c.reply();
        lat.add(sclock::now() - t0);
    }
    state.SetItemsProcessed(state.iterations());
    lat.report(state);
}

void bm_hiredis_pipelined16(benchmark::State& state) {
    auto kind = static_cast<op_kind>(state.range(0));
    constexpr int depth = 16;
    hiredis_context c;
    latencies lat;
    std::size_t i = 0;
    for (auto _ : state) {
        auto t0 = sclock::now();
        for (int d = 0; d < depth; ++d) {
            c.append(kind, key_for(i++));
        }
        for (int d = 0; d < depth; ++d) {
            c.reply();
        }
        lat.add(sclock::now() - t0);
    }
    state.SetItemsProcessed(state.iterations() * depth);
    lat.report(state);
}

// ---------------------------------------------------------------------------------------------
// asiocache: `concurrency` coroutines on one io_context share one pipelined connection.

auto worker(std::shared_ptr<asiocache::backend> b, op_kind kind, std::size_t first, std::size_t n,
            latencies* lat, std::size_t* running) -> asiocache::task<void> {
    for (std::size_t i = 0; i < n; ++i) {
        auto key = key_for(first + i);
        auto t0 = sclock::now();
        auto dl = asiocache::deadline::after(std::chrono::seconds(5));
        if (kind == get_op) {
            auto v = co_await b->get(std::move(key), dl);
            benchmark::DoNotOptimize(v);
        } else {
            co_await b->set(std::move(key), value(), asiocache::expiry::never(), dl);
        }
        lat->add(sclock::now() - t0);
    }
    --*running;
}

/// The same through the cache facade (namespace, bytes serializer, plugins off).
auto facade_worker(asiocache::cache c, op_kind kind, std::size_t first, std::size_t n,
                   latencies* lat, std::size_t* running) -> asiocache::task<void> {
    for (std::size_t i = 0; i < n; ++i) {
        auto key = fmt::format("key:{:06}", (first + i) % key_count);  // + "bench:" = 16 bytes
        auto t0 = sclock::now();
        if (kind == get_op) {
            auto v = co_await c.get<std::string>(std::move(key));
            benchmark::DoNotOptimize(v);
        } else {
            co_await c.set(std::move(key), value());
        }
        lat->add(sclock::now() - t0);
    }
    --*running;
}

void run_until_done(asio::io_context& io, std::size_t const& running) {
    io.restart();
    while (running > 0) {
        io.run_one();
    }
}

template <bool Facade>
void bm_asiocache(benchmark::State& state) {
    auto kind = static_cast<op_kind>(state.range(0));
    auto concurrency = static_cast<std::size_t>(state.range(1));
    asio::io_context io;
    auto b = asiocache::backends::make_redis_backend(
        io.get_executor(), {.host = server().host, .port = server().port, .pool_size = 1});
    asiocache::cache facade{b, {.ns = "bench", .serializer = asiocache::serializers::bytes()}};
    // Every key exists, so GET returns 100 bytes as with the baselines.
    {
        std::vector<std::pair<std::string, std::string>> items;
        for (std::size_t i = 0; i < key_count; ++i) {
            items.emplace_back(key_for(i), value());
        }
        std::size_t running = 1;
        auto load = [](std::shared_ptr<asiocache::backend> be,
                       std::vector<std::pair<std::string, std::string>> it,
                       std::size_t* r) -> asiocache::task<void> {
            co_await be->multi_set(std::move(it), asiocache::expiry::never(),
                                   asiocache::deadline::never());
            --*r;
        };
        asio::co_spawn(io, load(b, std::move(items), &running), asio::detached);
        run_until_done(io, running);
    }
    // Each iteration is one wave of `per_wave` operations over `concurrency` coroutines.
    std::size_t const per_coroutine = std::max<std::size_t>(1, 4096 / concurrency);
    latencies lat;
    auto before = *asiocache::backends::redis_statistics(*b);
    std::size_t base = 0;
    for (auto _ : state) {
        std::size_t running = concurrency;
        for (std::size_t c = 0; c < concurrency; ++c) {
            if constexpr (Facade) {
                asio::co_spawn(io, facade_worker(facade, kind, base, per_coroutine, &lat, &running),
                               asio::detached);
            } else {
                asio::co_spawn(io, worker(b, kind, base, per_coroutine, &lat, &running),
                               asio::detached);
            }
            base += per_coroutine;
        }
        run_until_done(io, running);
    }
    auto after = *asiocache::backends::redis_statistics(*b);
    state.SetItemsProcessed(
        static_cast<std::int64_t>(state.iterations() * concurrency * per_coroutine));
    lat.report(state);
    if (after.writes > before.writes) {
        state.counters["batch"] = static_cast<double>(after.requests - before.requests) /
                                  static_cast<double>(after.writes - before.writes);
    }
}

}  // namespace

BENCHMARK(bm_hiredis_sync)->ArgName("set")->Arg(get_op)->Arg(set_op)->UseRealTime();
BENCHMARK(bm_hiredis_pipelined16)->ArgName("set")->Arg(get_op)->Arg(set_op)->UseRealTime();
BENCHMARK_TEMPLATE(bm_asiocache, false)
    ->ArgNames({"set", "c"})
    ->ArgsProduct({{get_op, set_op}, {1, 64, 512}})
    ->UseRealTime();
BENCHMARK_TEMPLATE(bm_asiocache, true)
    ->Name("bm_asiocache_facade")
    ->ArgNames({"set", "c"})
    ->ArgsProduct({{get_op, set_op}, {64}})
    ->UseRealTime();

BENCHMARK_MAIN();
