// SPDX-License-Identifier: MIT
// What the facade over the memory backend costs next to the simplest thing that could work: a
// mutex-guarded std::unordered_map<std::string, std::string> that copies the value out
// (DESIGN.md section 8: a facade get hit within 2x of it; 2 threads at 1.7x the throughput of 1).
//
// 10k keys of 16 bytes, values of 100 bytes, every lookup a hit. Each benchmark thread owns an
// io_context and runs its whole measuring loop inside one coroutine, so a single co_spawn covers
// all iterations and the per-operation cost is the facade's, not the spawn's.
//
// Run: memory_vs_unordered_map --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// Compare `items_per_second` medians: ratios are what matter on a shared machine.
#include "asiocache/asiocache.hpp"
#include "asiocache/backends/memory.hpp"
#include "paired.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

constexpr std::size_t key_count = 10'000;
constexpr std::size_t value_size = 100;

auto keys() -> std::vector<std::string> const& {
    static auto const out = [] {
        std::vector<std::string> k;
        k.reserve(key_count);
        for (std::size_t i = 0; i < key_count; ++i) {
            k.push_back(fmt::format("key:{:012d}", i));  // 16 bytes: past the SSO buffer
        }
        return k;
    }();
    return out;
}

auto value() -> std::string const& {
    static std::string const v(value_size, 'v');
    return v;
}

// Each thread walks the keys from its own offset, so two threads do not touch the same key in
// lockstep.
auto start_index(benchmark::State const& state) -> std::size_t {
    return static_cast<std::size_t>(state.thread_index()) * (key_count / 2 + 7);
}

// --- baseline: one mutex, one unordered_map ---------------------------------------------------

struct locked_map {
    std::mutex mutex;
    std::unordered_map<std::string, std::string> map;
};

auto baseline() -> locked_map& {
    static locked_map* m = [] {
        auto* out = new locked_map;  // never destroyed: benchmark threads may outlive statics
        for (auto const& k : keys()) {
            out->map.emplace(k, value());
        }
        return out;
    }();
    return *m;
}

void map_get(benchmark::State& state) {
    auto& m = baseline();
    auto const& k = keys();
    std::size_t i = start_index(state);
    for (auto _ : state) {
        std::string out;
        {
            std::lock_guard lock(m.mutex);
            auto it = m.map.find(k[i % key_count]);
            if (it != m.map.end()) {
                out = it->second;
            }
        }
        benchmark::DoNotOptimize(out);
        ++i;
    }
    state.SetItemsProcessed(state.iterations());
}

void map_set(benchmark::State& state) {
    auto& m = baseline();
    auto const& k = keys();
    std::size_t i = start_index(state);
    for (auto _ : state) {
        std::string v = value();  // the facade's set takes its value by copy too
        {
            std::lock_guard lock(m.mutex);
            m.map.insert_or_assign(k[i % key_count], std::move(v));
        }
        ++i;
    }
    state.SetItemsProcessed(state.iterations());
}

// --- the facade over the memory backend -------------------------------------------------------

auto filled_cache(std::shared_ptr<asiocache::serializer const> s,
                  asiocache::backends::memory_options o = {}) -> asiocache::cache {
    asiocache::cache c{asiocache::backends::make_memory_backend(std::move(o)),
                       {.serializer = std::move(s)}};
    boost::asio::io_context io;
    auto fill = [](asiocache::cache target) -> asiocache::task<void> {
        for (auto const& k : keys()) {
            co_await target.set(k, value());
        }
    };
    boost::asio::co_spawn(io, fill(c), boost::asio::detached);
    io.run();
    return c;
}

auto bytes_cache() -> asiocache::cache& {
    static auto* c = new asiocache::cache(filled_cache(asiocache::serializers::bytes()));
    return *c;
}

// Bounded (so every hit also moves its entry to the front of the LRU list), never full.
auto bounded_cache() -> asiocache::cache& {
    static auto* c = new asiocache::cache(
        filled_cache(asiocache::serializers::bytes(), {.max_entries = 2 * key_count}));
    return *c;
}

auto json_cache() -> asiocache::cache& {
    static auto* c = new asiocache::cache(filled_cache(asiocache::serializers::json()));
    return *c;
}

// The same store behind a cache that carries the metrics plugin (issue: its cost per get).
auto metrics_cache() -> asiocache::cache& {
    static auto* figures = new asiocache::metrics::collector();
    static auto* c = [] {
        // A cache of its own over the same store: copies would share the plugin.
        auto& base = bytes_cache();
        auto* copy = new asiocache::cache(base.backend(), base.options());
        figures->watch(*copy, "bench");
        return copy;
    }();
    return *c;
}

// The same with the timing plugin (aiocache's TimingPlugin), for comparison.
auto timing_cache() -> asiocache::cache& {
    static auto* c = [] {
        auto& base = bytes_cache();
        auto* copy = new asiocache::cache(base.backend(), base.options());
        copy->add_plugin<asiocache::plugins::timing>();
        return copy;
    }();
    return *c;
}

// Runs `loop` (the whole measuring loop, as one coroutine) on this thread's own io_context.
void run_loop(benchmark::State& state, asiocache::task<void> loop) {
    boost::asio::io_context io;
    boost::asio::co_spawn(io, std::move(loop), boost::asio::detached);
    io.run();
    state.SetItemsProcessed(state.iterations());
}

auto get_loop(benchmark::State* state, asiocache::cache* c) -> asiocache::task<void> {
    auto const& k = keys();
    std::size_t i = start_index(*state);
    for (auto _ : *state) {
        auto v = co_await c->get<std::string>(k[i % key_count]);
        benchmark::DoNotOptimize(v);
        ++i;
    }
}

auto set_loop(benchmark::State* state, asiocache::cache* c) -> asiocache::task<void> {
    auto const& k = keys();
    std::size_t i = start_index(*state);
    for (auto _ : *state) {
        co_await c->set(k[i % key_count], value());
        ++i;
    }
}

void cache_get_bytes(benchmark::State& state) {
    run_loop(state, get_loop(&state, &bytes_cache()));
}

void cache_get_bytes_metrics(benchmark::State& state) {
    run_loop(state, get_loop(&state, &metrics_cache()));
}

void cache_get_bytes_timing(benchmark::State& state) {
    run_loop(state, get_loop(&state, &timing_cache()));
}

void cache_get_bytes_lru(benchmark::State& state) {
    run_loop(state, get_loop(&state, &bounded_cache()));
}

void cache_get_json(benchmark::State& state) { run_loop(state, get_loop(&state, &json_cache())); }

void cache_set_bytes(benchmark::State& state) {
    run_loop(state, set_loop(&state, &bytes_cache()));
}

// The facade get against the map lookup, paired (paired.hpp): blocks of 256 map lookups and
// 256 facade gets of the same keys, alternately. The counters are the medians of the per-get
// figures and of the per-pair ratios, which a slow phase of the machine cannot tilt, where the
// unpaired medians of `map_get` and `cache_get_bytes` can each land in a different phase.
void facade_get_paired(benchmark::State& state) {
    constexpr std::size_t block = 256;
    asiocache::bench::paired_blocks pairs;
    auto loop = [&]() -> asiocache::task<void> {
        auto const& k = keys();
        auto& m = baseline();
        auto& c = bytes_cache();
        std::size_t i = start_index(state);
        for (auto _ : state) {
            auto const first = i;
            pairs.start();
            for (std::size_t n = 0; n < block; ++n, ++i) {
                std::string out;
                {
                    std::lock_guard lock(m.mutex);
                    auto it = m.map.find(k[i % key_count]);
                    if (it != m.map.end()) {
                        out = it->second;
                    }
                }
                benchmark::DoNotOptimize(out);
            }
            pairs.first_done(block);
            i = first;  // the same keys, in the same order
            pairs.start();
            for (std::size_t n = 0; n < block; ++n, ++i) {
                auto v = co_await c.get<std::string>(k[i % key_count]);
                benchmark::DoNotOptimize(v);
            }
            pairs.second_done(block);
        }
    };
    run_loop(state, loop());
    pairs.report_ratio(state, "map", "facade");
    state.SetItemsProcessed(state.iterations() * 2 * static_cast<std::int64_t>(block));
}

// The metrics plugin's cost per get, paired (paired.hpp): blocks of 256 gets without the
// plugin and 256 with it, alternately, on the same store. The counters are the medians of the
// per-get figures and of the per-pair differences.
void metrics_plugin_cost(benchmark::State& state) {
    constexpr std::size_t block = 256;
    asiocache::bench::paired_blocks pairs;
    auto loop = [&]() -> asiocache::task<void> {
        auto const& k = keys();
        auto& plain = bytes_cache();
        auto& watched = metrics_cache();
        std::size_t i = start_index(state);
        for (auto _ : state) {
            for (auto* c : {&plain, &watched}) {
                pairs.start();
                for (std::size_t n = 0; n < block; ++n) {
                    auto v = co_await c->get<std::string>(k[i % key_count]);
                    benchmark::DoNotOptimize(v);
                    ++i;
                }
                if (c == &plain) {
                    pairs.first_done(block);
                } else {
                    pairs.second_done(block);
                }
            }
        }
    };
    run_loop(state, loop());
    pairs.report_cost(state, "plain", "metrics");
    state.SetItemsProcessed(state.iterations() * 2 * static_cast<std::int64_t>(block));
}

// The backend's synchronous fast path alone, without the facade (for locating the cost).
void backend_try_get(benchmark::State& state) {
    auto& b = *bytes_cache().backend();
    auto const& k = keys();
    std::size_t i = start_index(state);
    for (auto _ : state) {
        auto v = b.try_get(k[i % key_count]);
        benchmark::DoNotOptimize(v);
        ++i;
    }
    state.SetItemsProcessed(state.iterations());
}

// Heap bytes per entry beyond the key and value themselves: 100k entries set through the
// facade into a fresh store, measured with glibc's mallinfo2 (in-use heap) before and after.
// Compare with Redis's `MEMORY USAGE` of the same key and value (run_all.sh records it).
void memory_entry_bytes(benchmark::State& state) {
    constexpr std::size_t entries = 100'000;
    double overhead = 0;
    double charged = 0;
    double map_overhead = 0;
    for (auto _ : state) {
        auto store = asiocache::backends::make_memory_backend();
        auto c = std::make_unique<asiocache::cache>(
            store, asiocache::cache_options{.serializer = asiocache::serializers::bytes()});
        std::vector<std::string> ks;
        ks.reserve(entries);
        for (std::size_t i = 0; i < entries; ++i) {
            ks.push_back(fmt::format("key:{:012d}", i));
        }
        auto const payload = static_cast<double>(ks.front().size() + value_size);
        auto const before = mallinfo2().uordblks;
        boost::asio::io_context io;
        boost::asio::co_spawn(
            io,
            [&]() -> asiocache::task<void> {
                for (auto const& k : ks) {
                    co_await c->set(k, value());
                }
            },
            boost::asio::detached);
        io.run();
        auto const after = mallinfo2().uordblks;
        overhead = static_cast<double>(after - before) / entries - payload;
        charged = static_cast<double>(store->stats().bytes) / entries - payload;
        benchmark::DoNotOptimize(c);

        // The baseline's own cost per entry: the same keys and values in the map.
        auto const map_before = mallinfo2().uordblks;
        auto m = std::make_unique<std::unordered_map<std::string, std::string>>();
        for (auto const& k : ks) {
            m->emplace(k, value());
        }
        map_overhead = static_cast<double>(mallinfo2().uordblks - map_before) / entries - payload;
        benchmark::DoNotOptimize(m);
    }
    state.counters["overhead_bytes"] = overhead;
    state.counters["charged_bytes"] = charged;
    state.counters["map_overhead_bytes"] = map_overhead;
}

}  // namespace

BENCHMARK(memory_entry_bytes)->Iterations(1);
BENCHMARK(map_get)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(cache_get_bytes)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(facade_get_paired)->Iterations(4000)->UseRealTime();
BENCHMARK(backend_try_get)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(cache_get_bytes_metrics)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(cache_get_bytes_timing)->Threads(1)->UseRealTime();
BENCHMARK(metrics_plugin_cost)->Iterations(2000)->UseRealTime();
BENCHMARK(cache_get_bytes_lru)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(cache_get_json)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(map_set)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(cache_set_bytes)->Threads(1)->Threads(2)->UseRealTime();

BENCHMARK_MAIN();
