// SPDX-License-Identifier: MIT
// Hot paths under every cache operation: the serializers (encode and decode of a typical
// value) and key building (the facade's namespace join, the memoized call's argument key).
//
//   serializers_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// The structured value is a thread of five chat messages (about 600 bytes as JSON), the shape
// the project's demo caches; the byte serializers get a 100-byte string.
//
// The JSON typed path (`*_typed/0`) is measured against the document path (`*_typed/1`) on the
// same values in the same run: the same thread as a described struct, and a 100-byte string.
// The document path is forced by a user serializer that forwards to the built-in JSON one.
#include "asiocache/backends/memory.hpp"
#include "asiocache/cache.hpp"
#include "asiocache/key.hpp"
#include "asiocache/serializer.hpp"
#include "asiocache/serializers.hpp"

#include <benchmark/benchmark.h>
#include <boost/describe/class.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace {

struct message {
    std::string user;
    std::string ts;
    std::string text;
    int reply_count = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(message, user, ts, text, reply_count)

auto thread_value() -> std::vector<message> {
    std::vector<message> v;
    for (int i = 0; i < 5; ++i) {
        v.push_back({.user = "U0" + std::to_string(1000 + i),
                     .ts = "1700000000.00000" + std::to_string(i),
                     .text = std::string(80, static_cast<char>('a' + i)),
                     .reply_count = i});
    }
    return v;
}

/// The same message, described for the typed JSON path instead of nlohmann's hooks.
struct described_message {
    std::string user;
    std::string ts;
    std::string text;
    int reply_count = 0;
};
BOOST_DESCRIBE_STRUCT(described_message, (), (user, ts, text, reply_count))

auto described_thread() -> std::vector<described_message> {
    std::vector<described_message> v;
    for (auto const& m : thread_value()) {
        v.push_back({m.user, m.ts, m.text, m.reply_count});
    }
    return v;
}

/// The built-in JSON serializer behind a user serializer: the same bytes through a
/// `nlohmann::json` document, as every value took before the typed path.
class json_document final : public asiocache::serializer {
public:
    auto name() const noexcept -> std::string_view override { return "json-document"; }
    auto kind() const noexcept -> asiocache::serializer_kind override {
        return asiocache::serializer_kind::structured;
    }
    auto dump(nlohmann::json const& doc) const -> std::string override {
        return asiocache::serializers::json()->dump(doc);
    }
    auto parse(std::string_view bytes) const -> nlohmann::json override {
        return asiocache::serializers::json()->parse(bytes);
    }
};

/// 0: the built-in JSON serializer (typed path); 1: the document path on the same bytes.
auto json_path(benchmark::State& state) -> std::shared_ptr<asiocache::serializer const> {
    if (state.range(0) == 0) {
        state.SetLabel("json typed");
        return asiocache::serializers::json();
    }
    state.SetLabel("json document");
    return std::make_shared<json_document const>();
}

template <class T>
void encode_typed(benchmark::State& state, T const& v) {
    auto const s = json_path(state);
    for (auto _ : state) {
        auto bytes = asiocache::encode_value(*s, v, "k");
        benchmark::DoNotOptimize(bytes);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(asiocache::encode_value(*s, v, "k").size()));
}

template <class T>
void decode_typed(benchmark::State& state, T const& v) {
    auto const s = json_path(state);
    auto const bytes = asiocache::encode_value(*s, v, "k");
    for (auto _ : state) {
        auto back = asiocache::decode_value<T>(*s, bytes, "k");
        benchmark::DoNotOptimize(back);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(bytes.size()));
}

void encode_thread_typed(benchmark::State& state) { encode_typed(state, described_thread()); }
void decode_thread_typed(benchmark::State& state) { decode_typed(state, described_thread()); }
void encode_text_typed(benchmark::State& state) { encode_typed(state, std::string(100, 't')); }
void decode_text_typed(benchmark::State& state) { decode_typed(state, std::string(100, 't')); }

/// Serializer by index: 0 json, 1 msgpack, 2 cbor.
auto structured(benchmark::State& state) -> std::shared_ptr<asiocache::serializer const> {
    static char const* const names[] = {"json", "msgpack", "cbor"};
    auto const* name = names[state.range(0)];
    state.SetLabel(name);
    return asiocache::serializers::by_name(name);
}

void encode_structured(benchmark::State& state) {
    auto const s = structured(state);
    auto const v = thread_value();
    for (auto _ : state) {
        auto bytes = asiocache::encode_value(*s, v, "k");
        benchmark::DoNotOptimize(bytes);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(asiocache::encode_value(*s, v, "k").size()));
}

void decode_structured(benchmark::State& state) {
    auto const s = structured(state);
    auto const bytes = asiocache::encode_value(*s, thread_value(), "k");
    for (auto _ : state) {
        auto v = asiocache::decode_value<std::vector<message>>(*s, bytes, "k");
        benchmark::DoNotOptimize(v);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(bytes.size()));
}

/// A 100-byte string through the bytes (0) or string (1) serializer: a copy each way.
void roundtrip_string(benchmark::State& state) {
    auto const s = state.range(0) == 0 ? asiocache::serializers::bytes()
                                       : asiocache::serializers::string();
    state.SetLabel(std::string(s->name()));
    std::string const v(100, 'v');
    for (auto _ : state) {
        auto bytes = asiocache::encode_value(*s, v, "k");
        auto back = asiocache::decode_value<std::string>(*s, bytes, "k");
        benchmark::DoNotOptimize(back);
    }
}

/// The facade's key: namespace joined to a 16-byte key (memory backend: "ns:key").
void build_key(benchmark::State& state) {
    asiocache::cache c{asiocache::backends::make_memory_backend(), {.ns = "replies"}};
    std::string const key = "key:000000001234";
    for (auto _ : state) {
        auto k = c.build_key(key);
        benchmark::DoNotOptimize(k);
    }
}

/// A memoized call's key from its arguments (channel, ts), formatted and escaped.
void memo_args_key(benchmark::State& state) {
    std::string const channel = "C024BE91L";
    std::string const ts = "1700000000.000001";
    for (auto _ : state) {
        auto k = asiocache::format_key_args(channel, ts);
        benchmark::DoNotOptimize(k);
    }
}

BENCHMARK(encode_structured)->DenseRange(0, 2);
BENCHMARK(decode_structured)->DenseRange(0, 2);
BENCHMARK(encode_thread_typed)->DenseRange(0, 1);
BENCHMARK(decode_thread_typed)->DenseRange(0, 1);
BENCHMARK(encode_text_typed)->DenseRange(0, 1);
BENCHMARK(decode_text_typed)->DenseRange(0, 1);
BENCHMARK(roundtrip_string)->DenseRange(0, 1);
BENCHMARK(build_key);
BENCHMARK(memo_args_key);

}  // namespace

BENCHMARK_MAIN();
