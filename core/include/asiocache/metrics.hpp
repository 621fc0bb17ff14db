// SPDX-License-Identifier: MIT
#pragma once

/// Metrics that monitoring systems read: a plugin that counts a cache's operations, hits,
/// errors and latencies, the memoization layer's figures, and their export as Prometheus text
/// (exposition format 0.0.4) or through a visitor that feeds any other system (OpenTelemetry:
/// see examples/otel_adapter.cpp).

#include "asiocache/cache.hpp"
#include "asiocache/errors.hpp"
#include "asiocache/memo.hpp"
#include "asiocache/plugin.hpp"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace asiocache::metrics {

/// Upper bounds of the latency histogram's buckets, in nanoseconds (Prometheus `le`, in
/// seconds: 1e-06 ... 10). Fixed, so that the hot path is a search in a constant table and
/// series from every process aggregate. From 1 us (a memory hit) to 10 s (past any timeout).
inline constexpr std::array<std::uint64_t, 22> latency_bounds_ns = {
    1'000,         2'500,         5'000,         10'000,        25'000,         50'000,
    100'000,       250'000,       500'000,       1'000'000,     2'500'000,      5'000'000,
    10'000'000,    25'000'000,    50'000'000,    100'000'000,   250'000'000,    500'000'000,
    1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};

/// Buckets per histogram: one per bound, and the last for everything above (`+Inf`).
inline constexpr std::size_t latency_buckets = latency_bounds_ns.size() + 1;

/// Error kinds per operation: 0 is an error of another category, 1 .. errc_count - 1 the
/// `errc` values, and the last a cancellation by the caller (`operation_aborted`).
inline constexpr std::size_t error_kinds = errc_count + 1;

/// The label value of error kind `k`: "other", an `errc` name, or "cancelled".
auto error_kind_name(std::size_t k) noexcept -> std::string_view;
/// The error kind of `ec`.
auto error_kind_of(boost::system::error_code const& ec) noexcept -> std::size_t;

/// What one operation kind of one cache did, read at one instant.
struct op_snapshot {
    std::array<std::uint64_t, latency_buckets> buckets{};  ///< Per bucket, not cumulative.
    std::uint64_t sum_ns = 0;                              ///< Sum of the wall times.
    std::array<std::uint64_t, error_kinds> errors{};      ///< Failed ones, by kind.

    /// Operations completed, failed ones included.
    [[nodiscard]] auto count() const noexcept -> std::uint64_t;
    [[nodiscard]] auto error_count() const noexcept -> std::uint64_t;
};

/// A cache's figures, read at one instant (each counter exact on its own).
struct cache_snapshot {
    std::array<op_snapshot, op_count> ops{};
    std::uint64_t hits = 0;    ///< Keys found by `get` and `multi_get` calls that completed.
    std::uint64_t misses = 0;  ///< Keys those calls did not find.
};

/// The metrics plugin for one cache. Per operation kind: a count, errors by kind and a latency
/// histogram; for reads, the keys looked up and found. `after` costs two or three relaxed
/// atomic additions and a walk along a 22-entry table (one step for a memory hit); the figures
/// are readable from any thread at any time. Add it with `collector::watch`, which labels it, or on its own and read
/// `snapshot()`.
class cache_metrics final : public plugin {
public:
    /// `cache_label` names the cache in the series (an alias, or a URL: a password in it is
    /// replaced by `***`); `backend` is the backend's name.
    cache_metrics(std::string_view cache_label, std::string_view backend);

    void after(op_result const& event) noexcept override;

    [[nodiscard]] auto snapshot() const noexcept -> cache_snapshot;
    [[nodiscard]] auto label() const noexcept -> std::string const& { return label_; }
    [[nodiscard]] auto backend_name() const noexcept -> std::string const& { return backend_; }

    /// The bucket of a wall time of `ns` nanoseconds.
    static auto bucket_of(std::uint64_t ns) noexcept -> std::size_t;

private:
    struct alignas(64) cell {
        std::array<std::atomic<std::uint64_t>, latency_buckets> buckets{};
        std::atomic<std::uint64_t> sum_ns{0};
        std::array<std::atomic<std::uint64_t>, error_kinds> errors{};
    };
    std::string label_;
    std::string backend_;
    std::array<cell, op_count> cells_{};
    alignas(64) std::atomic<std::uint64_t> hits_{0};
    std::atomic<std::uint64_t> misses_{0};
};

/// The type of a metric family, as the exposition formats name them.
enum class metric_type { counter, gauge, histogram };

/// One label of a sample.
struct label {
    std::string_view name;
    std::string_view value;
};

/// Receives a collector's figures, family by family: `family` first, then that family's
/// samples. Implement it to feed a monitoring system other than Prometheus.
class visitor {
public:
    virtual ~visitor() = default;
    /// A new family: `name` (for counters, ending in `_total`), its type and its help text.
    virtual void family(std::string_view name, metric_type type, std::string_view help) = 0;
    /// A counter or gauge sample of the current family.
    virtual void value(std::span<label const> labels, double v) = 0;
    /// A histogram sample of the current family: the bucket upper bounds in seconds, the count
    /// per bucket (not cumulative; one more than `upper_bounds`, the last for `+Inf`) and the
    /// sum of the observations in seconds.
    virtual void histogram(std::span<label const> labels, std::span<double const> upper_bounds,
                           std::span<std::uint64_t const> bucket_counts, double sum) = 0;
};

/// The metrics of several caches and memoized functions, exported together.
///
/// @code
/// asiocache::metrics::collector metrics;
/// metrics.watch(replies_cache, "replies");              // adds the plugin, labels cache="replies"
/// auto fetch = asiocache::cached(replies_cache, fetch_replies, {.key_prefix = "replies"});
/// metrics.watch_memo(fetch, "fetch_replies");
/// ...
/// std::string text = metrics.prometheus();             // serve it as text/plain; version=0.0.4
/// @endcode
///
/// Thread safety: every member may be called from several threads at once. Watch a cache
/// before it is shared between threads (plugins are added then); the export reads atomics and
/// never blocks the caches' operations.
class collector {
public:
    /// Adds a `cache_metrics` plugin to `c`, labelled `cache_label` (an alias or the URL; a
    /// password is redacted), and exports it. Returns the plugin, for reading it directly.
    auto watch(cache& c, std::string_view cache_label) -> cache_metrics&;
    /// Exports a plugin added by the caller.
    void watch(std::shared_ptr<cache_metrics const> m);

    /// Exports the counters of a memoized function (`cached` or `multi_cached`), labelled
    /// `function`. The collector keeps a copy, which shares the function's counters.
    template <class Memo>
    void watch_memo(Memo const& memo, std::string_view function) {
        add_memo(std::string(function), [memo] { return memo.stats(); });
    }
    /// The same, from any source of `memo_stats`.
    void add_memo(std::string function, std::function<memo_stats()> read);

    /// Every figure, in the Prometheus text exposition format 0.0.4. Serve it with
    /// `Content-Type: text/plain; version=0.0.4; charset=utf-8` (`content_type`).
    [[nodiscard]] auto prometheus() const -> std::string;
    /// Every figure, family by family.
    void visit(visitor& v) const;

    static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

private:
    struct memo_entry {
        std::string function;
        std::function<memo_stats()> read;
    };
    mutable std::mutex mutex_;
    std::vector<std::shared_ptr<cache_metrics const>> caches_;
    std::vector<memo_entry> memos_;
};

/// Writes the figures it visits as Prometheus text (format 0.0.4) into `out`.
class prometheus_writer final : public visitor {
public:
    explicit prometheus_writer(std::string& out) : out_(out) {}
    void family(std::string_view name, metric_type type, std::string_view help) override;
    void value(std::span<label const> labels, double v) override;
    void histogram(std::span<label const> labels, std::span<double const> upper_bounds,
                   std::span<std::uint64_t const> bucket_counts, double sum) override;

private:
    void sample(std::string_view suffix, std::span<label const> labels, label const* extra,
                double v);
    std::string& out_;
    std::string name_;
};

}  // namespace asiocache::metrics
