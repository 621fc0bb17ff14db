// SPDX-License-Identifier: MIT
#include "asiocache/bench/report.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <ostream>

namespace asiocache::bench {

auto bench_point::ratio() const -> std::optional<double> {
    if (!result.ok || !baseline || !baseline->ok || baseline->throughput <= 0) {
        return std::nullopt;
    }
    return result.throughput / baseline->throughput;
}

auto bench_report::any_failed() const -> bool {
    for (auto const& row : points) {
        for (auto const& p : row) {
            if (!p.result.ok) {
                return true;
            }
        }
    }
    return false;
}

auto run_suite(bench_cache_factory const& factory, std::vector<std::string> const& urls,
               bench_options const& o, suite_options const& s) -> bench_report {
    bench_report r;
    r.options = o;
    r.urls = urls;
    r.sweep = s.sweep.empty() ? std::vector<std::size_t>{o.concurrency} : s.sweep;
    r.points.resize(urls.size());
    for (auto const c : r.sweep) {
        auto run = o;
        run.concurrency = c;
        run.threads = std::min(o.threads, c);
        for (std::size_t u = 0; u < urls.size(); ++u) {
            bench_point p;
            p.concurrency = c;
            p.result = run_bench(factory, urls[u], run);
            // The baseline runs even when the cache could not (a backend not built): the raw
            // client's figures still stand on their own.
            if (s.baseline) {
                p.baseline = run_baseline(urls[u], run, s.baselines);
            }
            r.points[u].push_back(std::move(p));
        }
    }
    return r;
}

auto display_url(std::string const& url) -> std::string {
    auto const sep = url.find("://");
    if (sep == std::string::npos) {
        return url;
    }
    auto const end = url.find_first_of("/?", sep + 3);
    auto const at = url.rfind('@', end == std::string::npos ? url.size() : end);
    if (at == std::string::npos || at < sep + 3) {
        return url;
    }
    return url.substr(0, sep + 3) + "***" + url.substr(at);
}

namespace {

auto latency_json(latency_summary const& l) -> nlohmann::json {
    return {{"count", l.count}, {"mean", l.mean}, {"p50", l.p50},   {"p90", l.p90},
            {"p99", l.p99},     {"p999", l.p999}, {"max", l.max}};
}

auto fmt_ns(double ns) -> std::string {
    if (ns < 1e3) {
        return fmt::format("{:.0f} ns", ns);
    }
    if (ns < 1e6) {
        return fmt::format("{:.2f} us", ns / 1e3);
    }
    if (ns < 1e9) {
        return fmt::format("{:.2f} ms", ns / 1e6);
    }
    return fmt::format("{:.2f} s", ns / 1e9);
}

auto fmt_rate(double r) -> std::string {
    if (r >= 1e6) {
        return fmt::format("{:.2f} M/s", r / 1e6);
    }
    if (r >= 1e3) {
        return fmt::format("{:.1f} k/s", r / 1e3);
    }
    return fmt::format("{:.0f} /s", r);
}

auto distribution_text(bench_options const& o) -> std::string {
    return o.distribution == key_distribution::uniform
               ? std::string("uniform")
               : fmt::format("zipfian (s={})", o.zipf_exponent);
}

auto value_text(bench_options const& o) -> std::string {
    return o.value_size_min == o.value_size_max
               ? fmt::format("{} B", o.value_size_min)
               : fmt::format("{}-{} B", o.value_size_min, o.value_size_max);
}

auto errors_text(bench_result const& r) -> std::string {
    if (r.errors == 0) {
        return "0";
    }
    std::string out = fmt::format("{}", r.errors);
    std::string kinds;
    for (auto const& [k, n] : r.errors_by_kind) {
        kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", k, n);
    }
    return out + " (" + kinds + ")";
}

/// One column of the side-by-side table.
struct column {
    std::string head;
    bench_result const* r;
    std::optional<double> ratio;
};

}  // namespace

auto to_json(bench_result const& r) -> nlohmann::json {
    nlohmann::json j{{"url", display_url(r.url)},
                     {"target", r.target},
                     {"ok", r.ok},
                     {"concurrency", r.concurrency},
                     {"threads", r.threads}};
    if (!r.ok) {
        j["error"] = r.error;
        return j;
    }
    if (!r.note.empty()) {
        j["note"] = r.note;
    }
    nlohmann::json by_op = nlohmann::json::object();
    for (auto const& [name, l] : r.latency_by_op) {
        auto e = latency_json(l);
        e["errors"] = r.errors_by_op.count(name) != 0 ? r.errors_by_op.at(name) : 0;
        by_op[name] = std::move(e);
    }
    j["operations"] = r.operations;
    j["errors"] = r.errors;
    j["errors_by_kind"] = r.errors_by_kind;
    if (!r.first_error.empty()) {
        j["first_error"] = r.first_error;
    }
    j["seconds"] = r.seconds;
    j["throughput"] = r.throughput;
    j["latency_ns"] = latency_json(r.latency);
    j["by_op"] = std::move(by_op);
    j["hits"] = r.hits;
    j["misses"] = r.misses;
    j["hit_ratio"] = r.hit_ratio();
    j["cpu_user_seconds"] = r.cpu_user_seconds;
    j["cpu_system_seconds"] = r.cpu_system_seconds;
    j["cpu_per_op_us"] = r.cpu_per_op_us();
    return j;
}

auto to_json(bench_report const& r) -> nlohmann::json {
    auto const& o = r.options;
    nlohmann::json workload{
        {"threads", o.threads},
        {"mix", to_string(o.mix)},
        {"multi_get_keys", o.multi_get_keys},
        {"key_count", o.key_count},
        {"key_size", o.key_size},
        {"distribution", o.distribution == key_distribution::uniform ? "uniform" : "zipfian"},
        {"zipf_exponent", o.zipf_exponent},
        {"value_size_min", o.value_size_min},
        {"value_size_max", o.value_size_max},
        {"serializer", o.serializer.empty() ? "(the cache's)" : o.serializer},
        {"duration_ms", o.operations == 0 ? o.duration.count() : 0},
        {"operations", o.operations},
        {"warmup_ms", o.warmup.count()},
        {"prefill", o.prefill},
        {"seed", o.seed}};
    if (o.timeout) {
        workload["timeout_ms"] = o.timeout->count();
    }
    nlohmann::json results = nlohmann::json::array();
    for (std::size_t u = 0; u < r.urls.size(); ++u) {
        for (auto const& p : r.points[u]) {
            nlohmann::json e{{"url", display_url(r.urls[u])},
                             {"concurrency", p.concurrency},
                             {"asiocache", to_json(p.result)}};
            e["baseline"] = p.baseline ? to_json(*p.baseline) : nlohmann::json(nullptr);
            auto const ratio = p.ratio();
            e["ratio_to_baseline"] = ratio ? nlohmann::json(*ratio) : nlohmann::json(nullptr);
            results.push_back(std::move(e));
        }
    }
    return {{"workload", std::move(workload)},
            {"sweep", r.sweep},
            {"urls", [&] {
                 std::vector<std::string> v;
                 for (auto const& u : r.urls) {
                     v.push_back(display_url(u));
                 }
                 return v;
             }()},
            {"results", std::move(results)}};
}

void print_table(std::ostream& out, bench_report const& r) {
    auto const& o = r.options;
    auto const run = o.operations != 0
                         ? fmt::format("{} ops", o.operations)
                         : fmt::format("{} ms", o.duration.count());
    fmt::print(out,
               "workload: mix {}, {} keys of {} B ({}), values {}, {} thread(s), {} after {} ms "
               "warm-up, seed {}\n",
               to_string(o.mix), o.key_count, o.key_size, distribution_text(o), value_text(o),
               o.threads, run, o.warmup.count(), o.seed);
    for (std::size_t u = 0; u < r.urls.size(); ++u) {
        fmt::print(out, "  #{}  {}\n", u + 1, display_url(r.urls[u]));
    }
    constexpr int label_w = 20;
    constexpr int col_w = 26;
    for (std::size_t c = 0; c < r.sweep.size(); ++c) {
        std::vector<column> cols;
        for (std::size_t u = 0; u < r.urls.size(); ++u) {
            auto const& p = r.points[u][c];
            cols.push_back({fmt::format("#{} asiocache", u + 1), &p.result, p.ratio()});
            if (p.baseline) {
                cols.push_back({fmt::format("#{} {}", u + 1, p.baseline->target),
                                &*p.baseline, std::nullopt});
            }
        }
        fmt::print(out, "\nconcurrency {}\n", r.sweep[c]);
        auto row = [&](std::string_view label, auto cell) {
            std::string line = fmt::format("  {:<{}}", label, label_w);
            for (auto const& col : cols) {
                std::string text = col.r->ok ? cell(col) : std::string("-");
                if (text.size() > col_w - 2) {
                    text = text.substr(0, col_w - 3) + "~";
                }
                line += fmt::format("{:>{}}", text, col_w);
            }
            fmt::print(out, "{}\n", line);
        };
        std::string head = fmt::format("  {:<{}}", "", label_w);
        for (auto const& col : cols) {
            auto h = col.head.size() > col_w - 2 ? col.head.substr(0, col_w - 3) + "~" : col.head;
            head += fmt::format("{:>{}}", h, col_w);
        }
        fmt::print(out, "{}\n", head);
        row("throughput", [](column const& k) { return fmt_rate(k.r->throughput); });
        row("vs raw client", [](column const& k) {
            return k.ratio ? fmt::format("{:.1f}%", *k.ratio * 100) : std::string();
        });
        row("operations", [](column const& k) { return fmt::format("{}", k.r->operations); });
        row("latency p50", [](column const& k) { return fmt_ns(static_cast<double>(k.r->latency.p50)); });
        row("latency p90", [](column const& k) { return fmt_ns(static_cast<double>(k.r->latency.p90)); });
        row("latency p99", [](column const& k) { return fmt_ns(static_cast<double>(k.r->latency.p99)); });
        row("latency p99.9", [](column const& k) { return fmt_ns(static_cast<double>(k.r->latency.p999)); });
        row("latency max", [](column const& k) { return fmt_ns(static_cast<double>(k.r->latency.max)); });
        row("hit ratio", [](column const& k) {
            return k.r->hits + k.r->misses == 0 ? std::string("n/a")
                                                : fmt::format("{:.1f}%", k.r->hit_ratio() * 100);
        });
        row("errors", [](column const& k) { return errors_text(*k.r); });
        row("client CPU / op", [](column const& k) { return fmt_ns(k.r->cpu_per_op_us() * 1e3); });
        for (auto const& col : cols) {
            if (!col.r->ok) {
                fmt::print(out, "  {}: did not run: {}\n", col.head, col.r->error);
            } else if (!col.r->first_error.empty()) {
                fmt::print(out, "  {}: first error: {}\n", col.head, col.r->first_error);
            }
            if (col.r->ok && !col.r->note.empty()) {
                fmt::print(out, "  {}: {}\n", col.head, col.r->note);
            }
        }
    }
}

auto summary_markdown(bench_report const& r) -> std::string {
    auto const& o = r.options;
    std::string md;
    auto run = o.operations != 0 ? fmt::format("{} operations", o.operations)
                                 : fmt::format("{} ms", o.duration.count());
    md += fmt::format(
        "Workload: mix `{}`, {} keys of {} B ({}), values {}, serializer {}, {} thread(s), "
        "{} per point after {} ms warm-up, seed {}.\n\n",
        to_string(o.mix), o.key_count, o.key_size, distribution_text(o), value_text(o),
        o.serializer.empty() ? std::string("of the URL (JSON by default)") : o.serializer,
        o.threads, run, o.warmup.count(), o.seed);
    for (std::size_t c = 0; c < r.sweep.size(); ++c) {
        md += fmt::format("### Concurrency {}\n\n", r.sweep[c]);
        md += "| URL | client | throughput | vs raw | p50 | p99 | p99.9 | max | hit ratio | errors "
              "| client CPU/op |\n";
        md += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
        for (std::size_t u = 0; u < r.urls.size(); ++u) {
            auto const& p = r.points[u][c];
            auto line = [&](bench_result const& x, std::optional<double> ratio) {
                if (!x.ok) {
                    md += fmt::format("| `{}` | {} | did not run: {} ||||||||\n",
                                      display_url(r.urls[u]), x.target, x.error);
                    return;
                }
                md += fmt::format(
                    "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                    display_url(r.urls[u]), x.target, fmt_rate(x.throughput),
                    ratio ? fmt::format("{:.0f}%", *ratio * 100) : std::string(),
                    fmt_ns(static_cast<double>(x.latency.p50)),
                    fmt_ns(static_cast<double>(x.latency.p99)),
                    fmt_ns(static_cast<double>(x.latency.p999)),
                    fmt_ns(static_cast<double>(x.latency.max)),
                    x.hits + x.misses == 0 ? std::string("n/a")
                                           : fmt::format("{:.1f}%", x.hit_ratio() * 100),
                    errors_text(x), fmt_ns(x.cpu_per_op_us() * 1e3));
            };
            line(p.result, p.ratio());
            if (p.baseline) {
                line(*p.baseline, std::nullopt);
            }
        }
        md += "\n";
    }
    return md;
}

}  // namespace asiocache::bench
