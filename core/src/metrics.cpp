// SPDX-License-Identifier: MIT
#include "asiocache/metrics.hpp"

#include "asiocache/url.hpp"

#include <boost/asio/error.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace asiocache::metrics {

namespace {

constexpr auto relaxed = std::memory_order_relaxed;

constexpr std::size_t other_kind = 0;
constexpr std::size_t cancelled_kind = error_kinds - 1;

// The bounds in seconds, as `le` labels and for visitors.
auto const& bounds_seconds() {
    static auto const bounds = [] {
        std::array<double, latency_bounds_ns.size()> s{};
        for (std::size_t i = 0; i < s.size(); ++i) {
            s[i] = static_cast<double>(latency_bounds_ns[i]) / 1e9;
        }
        return s;
    }();
    return bounds;
}

auto is_lookup(op o) noexcept -> bool { return o == op::get || o == op::multi_get; }

}  // namespace

auto error_kind_name(std::size_t k) noexcept -> std::string_view {
    if (k == cancelled_kind) {
        return "cancelled";
    }
    if (k == other_kind || k >= error_kinds) {
        return "other";
    }
    return to_string(static_cast<errc>(k));
}

auto error_kind_of(boost::system::error_code const& ec) noexcept -> std::size_t {
    if (ec.category() == cache_category() && ec.value() > 0 &&
        static_cast<std::size_t>(ec.value()) < errc_count) {
        return static_cast<std::size_t>(ec.value());
    }
    if (ec == boost::asio::error::operation_aborted) {
        return cancelled_kind;
    }
    return other_kind;
}

auto op_snapshot::count() const noexcept -> std::uint64_t {
    std::uint64_t n = 0;
    for (auto b : buckets) {
        n += b;
    }
    return n;
}

auto op_snapshot::error_count() const noexcept -> std::uint64_t {
    std::uint64_t n = 0;
    for (auto e : errors) {
        n += e;
    }
    return n;
}

cache_metrics::cache_metrics(std::string_view cache_label, std::string_view backend)
    : label_(redact_url_text(cache_label)), backend_(backend) {}

auto cache_metrics::bucket_of(std::uint64_t ns) noexcept -> std::size_t {
    // Most operations fall in the first buckets: a short linear walk beats a binary search.
    std::size_t b = 0;
    while (b < latency_bounds_ns.size() && ns > latency_bounds_ns[b]) {
        ++b;
    }
    return b;
}

void cache_metrics::after(op_result const& e) noexcept {
    auto& c = cells_[static_cast<std::size_t>(e.operation)];
    auto const ns = static_cast<std::uint64_t>(e.took.count() < 0 ? 0 : e.took.count());
    c.buckets[bucket_of(ns)].fetch_add(1, relaxed);
    c.sum_ns.fetch_add(ns, relaxed);
    if (e.error) {
        c.errors[error_kind_of(e.error)].fetch_add(1, relaxed);
        return;
    }
    if (is_lookup(e.operation)) {
        // Hits and misses counted apart, each only ever growing: a scrape in the middle of an
        // operation's accounting can never see a counter go down.
        if (e.hits != 0) {
            hits_.fetch_add(e.hits, relaxed);
        }
        if (e.key_count > e.hits) {
            misses_.fetch_add(e.key_count - e.hits, relaxed);
        }
    }
}

auto cache_metrics::snapshot() const noexcept -> cache_snapshot {
    cache_snapshot s;
    for (std::size_t o = 0; o < op_count; ++o) {
        auto const& c = cells_[o];
        auto& out = s.ops[o];
        for (std::size_t b = 0; b < latency_buckets; ++b) {
            out.buckets[b] = c.buckets[b].load(relaxed);
        }
        out.sum_ns = c.sum_ns.load(relaxed);
        for (std::size_t k = 0; k < error_kinds; ++k) {
            out.errors[k] = c.errors[k].load(relaxed);
        }
    }
    s.hits = hits_.load(relaxed);
    s.misses = misses_.load(relaxed);
    return s;
}

auto collector::watch(cache& c, std::string_view cache_label) -> cache_metrics& {
    auto m = std::make_shared<cache_metrics>(cache_label, c.backend()->traits().name);
    watch(std::shared_ptr<cache_metrics const>(m));  // refuses a label already watched
    c.add_plugin(m);
    return *m;
}

void collector::watch(std::shared_ptr<cache_metrics const> m) {
    if (!m) {
        throw_error(errc::invalid_argument, "metrics: watch of a null plugin");
    }
    std::lock_guard lock(mutex_);
    for (auto const& w : caches_) {
        if (w->label() == m->label() && w->backend_name() == m->backend_name()) {
            // Prometheus drops series that repeat: two caches must not share their labels.
            throw_error(errc::invalid_argument,
                        fmt::format("metrics: a {} cache labelled '{}' is already watched",
                                    m->backend_name(), m->label()));
        }
    }
    caches_.push_back(std::move(m));
}

void collector::add_memo(std::string function, std::function<memo_stats()> read) {
    if (!read) {
        throw_error(errc::invalid_argument, "metrics: add_memo without a reader");
    }
    std::lock_guard lock(mutex_);
    for (auto const& m : memos_) {
        if (m.function == function) {
            throw_error(errc::invalid_argument,
                        fmt::format("metrics: a memoized function named '{}' is already watched",
                                    function));
        }
    }
    memos_.push_back({std::move(function), std::move(read)});
}

void collector::visit(visitor& v) const {
    struct watched {
        std::string const* label;
        std::string const* backend;
        cache_snapshot figures;
    };
    std::vector<watched> caches;
    std::vector<std::pair<std::string, memo_stats>> memos;
    {
        std::lock_guard lock(mutex_);
        caches.reserve(caches_.size());
        for (auto const& m : caches_) {
            caches.push_back({&m->label(), &m->backend_name(), m->snapshot()});
        }
        for (auto const& m : memos_) {
            memos.emplace_back(m.function, m.read());
        }
        // The plugins stay alive: the collector never drops one, and `caches` only borrows
        // their labels until the end of this call.
    }

    auto op_labels = [](watched const& w, op o) {
        return std::array<label, 3>{
            {{"cache", *w.label}, {"backend", *w.backend}, {"op", to_string(o)}}};
    };

    v.family("asiocache_operations_total", metric_type::counter,
             "Cache operations completed, failed ones included.");
    for (auto const& w : caches) {
        for (std::size_t o = 0; o < op_count; ++o) {
            if (auto n = w.figures.ops[o].count(); n != 0) {
                auto l = op_labels(w, static_cast<op>(o));
                v.value(l, static_cast<double>(n));
            }
        }
    }

    v.family("asiocache_operation_errors_total", metric_type::counter,
             "Cache operations that failed, by error kind (an asiocache errc name, cancelled, "
             "or other).");
    for (auto const& w : caches) {
        for (std::size_t o = 0; o < op_count; ++o) {
            auto const& f = w.figures.ops[o];
            for (std::size_t k = 0; k < error_kinds; ++k) {
                if (f.errors[k] != 0) {
                    auto l = op_labels(w, static_cast<op>(o));
                    std::array<label, 4> with{l[0], l[1], l[2], {"error", error_kind_name(k)}};
                    v.value(with, static_cast<double>(f.errors[k]));
                }
            }
        }
    }

    v.family("asiocache_lookups_total", metric_type::counter,
             "Keys read by get and multi_get that completed, by result.");
    for (auto const& w : caches) {
        std::array<label, 3> hit{{{"cache", *w.label}, {"backend", *w.backend}, {"result", "hit"}}};
        v.value(hit, static_cast<double>(w.figures.hits));
        std::array<label, 3> miss{
            {{"cache", *w.label}, {"backend", *w.backend}, {"result", "miss"}}};
        v.value(miss, static_cast<double>(w.figures.misses));
    }

    v.family("asiocache_operation_duration_seconds", metric_type::histogram,
             "Wall time of cache operations, from start to completion or failure.");
    for (auto const& w : caches) {
        for (std::size_t o = 0; o < op_count; ++o) {
            auto const& f = w.figures.ops[o];
            if (f.count() != 0) {
                auto l = op_labels(w, static_cast<op>(o));
                v.histogram(l, bounds_seconds(), f.buckets, static_cast<double>(f.sum_ns) / 1e9);
            }
        }
    }

    struct memo_family {
        std::string_view name;
        std::string_view help;
        std::uint64_t memo_stats::*field;  // null: calls, hits + misses
    };
    static constexpr std::array<memo_family, 15> memo_families{{
        {"asiocache_memo_calls_total",
         "Calls of a memoized function (keys asked, for multi_cached).", nullptr},
        {"asiocache_memo_hits_total", "Results served from the cache (keys, for multi_cached).",
         &memo_stats::hits},
        {"asiocache_memo_misses_total", "Results not found in the cache (keys, for multi_cached).",
         &memo_stats::misses},
        {"asiocache_memo_upstream_calls_total", "Times the memoized function itself ran.",
         &memo_stats::upstream_calls},
        {"asiocache_memo_shared_flights_total",
         "Calls that joined a computation already in flight in this process.",
         &memo_stats::shared},
        {"asiocache_memo_lease_waits_total",
         "Computations that waited for another holder's lease.", &memo_stats::lease_waits},
        {"asiocache_memo_lease_renewals_total",
         "Times the lease of a computation still running was extended.",
         &memo_stats::lease_renewals},
        {"asiocache_memo_lease_wakeups_total",
         "Lease waits ended by a wake-up from the holder rather than by a poll.",
         &memo_stats::lease_wakeups},
        {"asiocache_memo_cache_errors_total", "Cache operations of the memoized function that failed.",
         &memo_stats::cache_errors},
        {"asiocache_memo_fail_open_total",
         "Cache failures the memoized call survived (fail-open).", &memo_stats::fail_opens},
        {"asiocache_memo_unrequested_keys_total",
         "Keys a multi_cached function returned unasked (dropped).",
         &memo_stats::unrequested_keys},
        {"asiocache_memo_call_timeouts_total",
         "Computations failed by the call timeout (the function was too slow).",
         &memo_stats::call_timeouts},
        {"asiocache_memo_fail_safe_total",
         "Calls served the last good value because the function failed (fail-safe).",
         &memo_stats::fail_safe},
        {"asiocache_memo_background_refreshes_total",
         "Background refreshes that called the function (stale-while-revalidate).",
         &memo_stats::background_refreshes},
        {"asiocache_memo_refresh_failures_total",
         "Background refreshes whose function failed (the stored value was kept).",
         &memo_stats::refresh_failures},
    }};
    for (auto const& f : memo_families) {
        v.family(f.name, metric_type::counter, f.help);
        for (auto const& [function, s] : memos) {
            std::array<label, 1> l{{{"function", function}}};
            auto n = f.field == nullptr ? s.hits + s.misses : s.*(f.field);
            v.value(l, static_cast<double>(n));
        }
    }
}

auto collector::prometheus() const -> std::string {
    std::string out;
    out.reserve(4096);
    prometheus_writer w(out);
    visit(w);
    return out;
}

// --- Prometheus text format 0.0.4 -------------------------------------------------------------

namespace {

void append_escaped(std::string& out, std::string_view s, bool quote_too) {
    for (char c : s) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '"':
                if (quote_too) {
                    out += "\\\"";
                } else {
                    out += c;
                }
                break;
            default: out += c;
        }
    }
}

// Label names are fixed by this file; a value is any text.
void append_labels(std::string& out, std::span<label const> labels, label const* extra) {
    if (labels.empty() && extra == nullptr) {
        return;
    }
    out += '{';
    bool first = true;
    auto one = [&](label const& l) {
        if (!first) {
            out += ',';
        }
        first = false;
        out += l.name;
        out += "=\"";
        append_escaped(out, l.value, true);
        out += '"';
    };
    for (auto const& l : labels) {
        one(l);
    }
    if (extra != nullptr) {
        one(*extra);
    }
    out += '}';
}

void append_number(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
    } else if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
    } else {
        // Shortest exact form; integers print without a fraction.
        fmt::format_to(std::back_inserter(out), "{}", v);
    }
}

}  // namespace

void prometheus_writer::family(std::string_view name, metric_type type, std::string_view help) {
    name_ = name;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    append_escaped(out_, help, false);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += type == metric_type::counter ? " counter\n"
            : type == metric_type::gauge ? " gauge\n"
                                         : " histogram\n";
}

void prometheus_writer::sample(std::string_view suffix, std::span<label const> labels,
                               label const* extra, double v) {
    out_ += name_;
    out_ += suffix;
    append_labels(out_, labels, extra);
    out_ += ' ';
    append_number(out_, v);
    out_ += '\n';
}

void prometheus_writer::value(std::span<label const> labels, double v) {
    sample({}, labels, nullptr, v);
}

void prometheus_writer::histogram(std::span<label const> labels,
                                  std::span<double const> upper_bounds,
                                  std::span<std::uint64_t const> bucket_counts, double sum) {
    std::uint64_t cumulative = 0;
    std::string le;
    for (std::size_t b = 0; b < bucket_counts.size(); ++b) {
        cumulative += bucket_counts[b];
        le.clear();
        if (b < upper_bounds.size()) {
            append_number(le, upper_bounds[b]);
        } else {
            le = "+Inf";
        }
        label const extra{"le", le};
        sample("_bucket", labels, &extra, static_cast<double>(cumulative));
    }
    sample("_sum", labels, nullptr, sum);
    sample("_count", labels, nullptr, static_cast<double>(cumulative));
}

}  // namespace asiocache::metrics
