// SPDX-License-Identifier: MIT
// Feeding OpenTelemetry from asiocache, without the OpenTelemetry SDK (Debian 12 packages none).
//
// Two points of contact, one per kind of OpenTelemetry instrument:
//  - synchronous instruments (Histogram, Counter) are fed per operation by a plugin: its
//    `after` hook sees every operation end, with its wall time, hits and error;
//  - asynchronous instruments (ObservableCounter) are fed from their callback by a
//    `metrics::visitor` over a `metrics::collector`, which reads the memoization layer's
//    counters (and every cache's figures) at collection time.
//
// `meter` below is the only part that changes with a real SDK: each of its two functions is
// one call of the OpenTelemetry C++ API, named in its comment. Here it prints what it would
// send, so that the example runs anywhere:
//
//   slack_otel_example            # runs a small workload and prints the data points
#include "asiocache/asiocache.hpp"
#include "asiocache/backends/memory.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using attributes = std::vector<std::pair<std::string_view, std::string_view>>;

/// Where data points go. With the SDK, hold a `nostd::shared_ptr<metrics::Meter>` and the
/// instruments it creates (`CreateDoubleHistogram`, `CreateUInt64Counter`,
/// `CreateInt64ObservableCounter`), and forward as commented.
class meter {
public:
    /// `histogram->Record(seconds, attrs, context::Context{})` on a Histogram<double> named
    /// `name`, unit "s".
    void record(std::string_view name, double seconds, attributes const& attrs) {
        fmt::print("histogram {} {:.9f} {}\n", name, seconds, text(attrs));
    }
    /// `counter->Add(n, attrs)` on a Counter<uint64_t>; or, from an ObservableCounter's
    /// callback, `observer->Observe(n, attrs)`.
    void add(std::string_view name, std::uint64_t n, attributes const& attrs) {
        fmt::print("counter   {} {} {}\n", name, n, text(attrs));
    }

private:
    static auto text(attributes const& attrs) -> std::string {
        std::string out;
        for (auto const& [k, v] : attrs) {
            out += fmt::format("{}={} ", k, v);
        }
        return out;
    }
};

/// The synchronous side: a plugin that records each operation as it ends. Cheap enough for a
/// hot cache as long as the meter's calls are (the SDK's are lock-free per attribute set).
class otel_plugin final : public asiocache::plugin {
public:
    otel_plugin(meter& m, std::string cache_name, std::string backend)
        : meter_(m), cache_(std::move(cache_name)), backend_(std::move(backend)) {}

    void after(asiocache::op_result const& e) noexcept override {
        attributes attrs{{"cache", cache_}, {"backend", backend_}, {"op", to_string(e.operation)}};
        std::string error;
        if (e.error) {
            error = std::string(asiocache::metrics::error_kind_name(
                asiocache::metrics::error_kind_of(e.error)));
            attrs.emplace_back("error", error);
        }
        meter_.record("asiocache.operation.duration",
                      std::chrono::duration<double>(e.took).count(), attrs);
        if (!e.error && (e.operation == asiocache::op::get || e.operation == asiocache::op::multi_get)) {
            meter_.add("asiocache.lookups", e.hits, {{"cache", cache_}, {"result", "hit"}});
            meter_.add("asiocache.lookups", e.key_count - e.hits,
                       {{"cache", cache_}, {"result", "miss"}});
        }
    }

private:
    meter& meter_;
    std::string cache_;
    std::string backend_;
};

/// The asynchronous side: from an ObservableCounter's callback, observe the counters a
/// collector reads. OpenTelemetry names counters without Prometheus's `_total`.
class otel_observer final : public asiocache::metrics::visitor {
public:
    explicit otel_observer(meter& m) : meter_(m) {}

    void family(std::string_view name, asiocache::metrics::metric_type type,
                std::string_view /*help*/) override {
        name_ = std::string(name);
        if (name_.ends_with("_total")) {
            name_.resize(name_.size() - 6);
        }
        // Namespaces with dots: asiocache_memo_hits -> asiocache.memo.hits.
        for (std::string_view ns : {"asiocache_memo_", "asiocache_"}) {
            if (name_.starts_with(ns)) {
                for (std::size_t i = 0; i < ns.size(); ++i) {
                    name_[i] = ns[i] == '_' ? '.' : ns[i];
                }
                break;
            }
        }
        counter_ = type == asiocache::metrics::metric_type::counter;
    }
    void value(std::span<asiocache::metrics::label const> labels, double v) override {
        if (!counter_) {
            return;
        }
        attributes attrs;
        for (auto const& l : labels) {
            attrs.emplace_back(l.name, l.value);
        }
        meter_.add(name_, static_cast<std::uint64_t>(v), attrs);
    }
    void histogram(std::span<asiocache::metrics::label const> /*labels*/,
                   std::span<double const> /*upper_bounds*/,
                   std::span<std::uint64_t const> /*bucket_counts*/, double /*sum*/) override {
        // Histograms reach OpenTelemetry per operation, through `otel_plugin`; the API has no
        // asynchronous histogram.
    }

private:
    meter& meter_;
    std::string name_;
    bool counter_ = false;
};

auto workload(asiocache::cache c,
              std::function<asiocache::task<std::string>(std::string)> replies)
    -> asiocache::task<void> {
    co_await c.set("greeting", std::string("hello"));
    co_await c.get<std::string>("greeting");
    co_await c.get<std::string>("missing");
    for (int i = 0; i < 3; ++i) {
        co_await replies("C1:1700000000.000100");
    }
}

}  // namespace

int main() {
    boost::asio::io_context io;
    meter m;
    asiocache::cache c{asiocache::backends::make_memory_backend(), {.ns = "demo"}};
    c.add_plugin<otel_plugin>(m, "demo", "memory");

    auto fetch = [](std::string thread) -> asiocache::task<std::string> {
        co_return "replies of " + thread;
    };
    auto replies = asiocache::cached(c, fetch, {.key_prefix = "replies"});
    asiocache::metrics::collector figures;
    figures.watch_memo(replies, "replies");

    boost::asio::co_spawn(
        io, workload(c, [replies](std::string t) { return replies(std::move(t)); }),
        boost::asio::detached);
    io.run();

    // What an ObservableCounter callback does at each collection.
    otel_observer observer(m);
    figures.visit(observer);
    // Three calls, one computed: the figures the callback observed.
    auto s = replies.stats();
    if (s.hits + s.misses != 3 || s.upstream_calls != 1) {
        fmt::print("unexpected figures: {} calls, {} upstream\n", s.hits + s.misses,
                   s.upstream_calls);
        return 1;
    }
    fmt::print("figures check out: 3 calls, 1 upstream call\n");
    return 0;
}
