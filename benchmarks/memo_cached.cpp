// SPDX-License-Identifier: MIT
// A memoized call on a warm key, memory backend, one thread, against a direct facade `get` of
// the same key in the same run (the targets: >= 1M calls/s, <= 1.5x the get).
//
//   memo_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Each benchmark runs its loop inside one coroutine, so what is timed is the awaited
// operation, not a co_spawn per iteration. The value is a 100-byte string, stored through the
// string serializer (/json:0: decoding is a copy, so the figures show the layers' own cost)
// or the JSON serializer (/json:1: the default, where parsing dominates both paths).
#include "asiocache/asiocache.hpp"
#include "asiocache/backends/memory.hpp"
#include "paired.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using asiocache::task;

auto value_for(std::string const& channel, std::string const& ts) -> std::string {
    auto v = channel + "/" + ts + ":";
    v.resize(100, 'x');
    return v;
}

auto fetch(std::string channel, std::string ts) -> task<std::string> {
    co_return value_for(channel, ts);
}

/// A memory-backed cache with the serializer the benchmark's argument picks.
auto make_cache(benchmark::State const& state) -> asiocache::cache {
    auto serializer = state.range(0) == 0 ? asiocache::serializers::string()
                                          : asiocache::serializers::json();
    return asiocache::cache{asiocache::backends::make_memory_backend(),
                            {.ns = "bench", .serializer = serializer}};
}

/// Runs `body` once in a coroutine on a fresh io_context, to completion.
template <class Body>
void run_loop(Body body) {
    asio::io_context io;
    asio::co_spawn(io, body(), asio::detached);
    io.run();
}

void facade_get(benchmark::State& state) {
    auto cache = make_cache(state);
    run_loop([&]() -> task<void> {
        co_await cache.set("replies:C024:1700000000.000001",
                           value_for("C024", "1700000000.000001"), 60s);
        std::string key = "replies:C024:1700000000.000001";
        for (auto _ : state) {
            auto v = co_await cache.get<std::string>(key);
            benchmark::DoNotOptimize(v);
        }
    });
    state.SetItemsProcessed(state.iterations());
}

void memoized_call(benchmark::State& state) {
    auto cache = make_cache(state);
    auto memo = asiocache::cached(cache, fetch, {.key_prefix = "replies", .ttl = 60s});
    run_loop([&]() -> task<void> {
        std::string channel = "C024";
        std::string ts = "1700000000.000001";
        co_await memo(channel, ts);  // warm the key
        for (auto _ : state) {
            auto v = co_await memo(channel, ts);
            benchmark::DoNotOptimize(v);
        }
        if (memo.stats().upstream_calls != 1) {
            state.SkipWithError("the key was not warm");
        }
    });
    state.SetItemsProcessed(state.iterations());
}

/// The memoized call against the facade get, paired (paired.hpp): blocks of 256 gets of the
/// key and 256 memoized calls that read it, alternately. The counters are the medians of the
/// per-call figures and of the per-pair ratios, which a slow phase of the machine cannot tilt.
void memo_vs_get_paired(benchmark::State& state) {
    constexpr std::size_t block = 256;
    auto cache = make_cache(state);
    auto memo = asiocache::cached(cache, fetch, {.key_prefix = "replies", .ttl = 60s});
    asiocache::bench::paired_blocks pairs;
    run_loop([&]() -> task<void> {
        std::string channel = "C024";
        std::string ts = "1700000000.000001";
        co_await memo(channel, ts);  // warm the key
        std::string key = memo.key(channel, ts);
        for (auto _ : state) {
            pairs.start();
            for (std::size_t n = 0; n < block; ++n) {
                auto v = co_await cache.get<std::string>(key);
                benchmark::DoNotOptimize(v);
            }
            pairs.first_done(block);
            pairs.start();
            for (std::size_t n = 0; n < block; ++n) {
                auto v = co_await memo(channel, ts);
                benchmark::DoNotOptimize(v);
            }
            pairs.second_done(block);
        }
        if (memo.stats().upstream_calls != 1) {
            state.SkipWithError("the key was not warm");
        }
    });
    pairs.report_ratio(state, "get", "memo");
    state.SetItemsProcessed(state.iterations() * 2 * static_cast<std::int64_t>(block));
}

/// The key builder's cost, paired (paired.hpp): blocks of 256 memoized calls keyed by the
/// default builder and 256 keyed by `key_from_args<0, 1>()`, the builder the README's Slack
/// example uses to leave out its client, on the same arguments (the same key part).
void key_from_args_paired(benchmark::State& state) {
    constexpr std::size_t block = 256;
    auto cache = make_cache(state);
    auto by_default = asiocache::cached(cache, fetch, {.key_prefix = "d", .ttl = 60s});
    auto by_position = asiocache::cached(
        cache, fetch,
        {.key_prefix = "p", .key_builder = asiocache::key_from_args<0, 1>(), .ttl = 60s});
    asiocache::bench::paired_blocks pairs;
    run_loop([&]() -> task<void> {
        std::string channel = "C024";
        std::string ts = "1700000000.000001";
        co_await by_default(channel, ts);
        co_await by_position(channel, ts);
        for (auto _ : state) {
            pairs.start();
            for (std::size_t n = 0; n < block; ++n) {
                auto v = co_await by_default(channel, ts);
                benchmark::DoNotOptimize(v);
            }
            pairs.first_done(block);
            pairs.start();
            for (std::size_t n = 0; n < block; ++n) {
                auto v = co_await by_position(channel, ts);
                benchmark::DoNotOptimize(v);
            }
            pairs.second_done(block);
        }
        if (by_default.stats().upstream_calls != 1 || by_position.stats().upstream_calls != 1) {
            state.SkipWithError("the keys were not warm");
        }
    });
    pairs.report_ratio(state, "default_key", "key_from_args");
    state.SetItemsProcessed(state.iterations() * 2 * static_cast<std::int64_t>(block));
}

/// The same, with the plugins a production cache would carry.
void memoized_call_with_plugins(benchmark::State& state) {
    auto cache = make_cache(state);
    cache.add_plugin<asiocache::plugins::hit_miss>();
    cache.add_plugin<asiocache::plugins::timing>();
    auto memo = asiocache::cached(cache, fetch, {.key_prefix = "replies", .ttl = 60s});
    run_loop([&]() -> task<void> {
        std::string channel = "C024";
        std::string ts = "1700000000.000001";
        co_await memo(channel, ts);
        for (auto _ : state) {
            auto v = co_await memo(channel, ts);
            benchmark::DoNotOptimize(v);
        }
    });
    state.SetItemsProcessed(state.iterations());
}

/// The same call through `memo_fn`, the type-erased holder (one virtual call more).
void memo_fn_call(benchmark::State& state) {
    auto cache = make_cache(state);
    asiocache::memo_fn<std::string(std::string, std::string)> memo =
        asiocache::cached(cache, fetch, {.key_prefix = "replies", .ttl = 60s});
    run_loop([&]() -> task<void> {
        std::string channel = "C024";
        std::string ts = "1700000000.000001";
        co_await memo(channel, ts);
        for (auto _ : state) {
            auto v = co_await memo(channel, ts);
            benchmark::DoNotOptimize(v);
        }
        if (memo.stats().upstream_calls != 1) {
            state.SkipWithError("the key was not warm");
        }
    });
    state.SetItemsProcessed(state.iterations());
}

BENCHMARK(facade_get)->ArgName("json")->Arg(0)->Arg(1);
BENCHMARK(memo_fn_call)->ArgName("json")->Arg(0)->Arg(1);
BENCHMARK(memoized_call)->ArgName("json")->Arg(0)->Arg(1);
BENCHMARK(memoized_call_with_plugins)->ArgName("json")->Arg(0)->Arg(1);
BENCHMARK(memo_vs_get_paired)->ArgName("json")->Arg(0)->Arg(1)->Iterations(2000)->UseRealTime();
BENCHMARK(key_from_args_paired)->ArgName("json")->Arg(0)->Iterations(2000)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
