// SPDX-License-Identifier: MIT
// write_report: the JSON, the Markdown summary and the gnuplot charts.

#include "asiocache/bench/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace asiocache::bench {
namespace {

namespace fs = std::filesystem;

void write_file(fs::path const& p, std::string const& text) {
    std::ofstream out(p, std::ios::binary);
    out << text;
    if (!out) {
        throw std::runtime_error(fmt::format("cannot write {}", p.string()));
    }
}

auto have(char const* tool) -> bool {
    return std::system(fmt::format("command -v {} >/dev/null 2>&1", tool).c_str()) == 0;
}

/// Escapes text for a gnuplot string in enhanced mode. In a single-quoted string a backslash
/// is literal, so `\_` reaches the enhanced-text parser as an escaped `_`; in a double-quoted
/// string the backslash itself must be doubled.
auto gp_text(std::string const& s, bool double_quoted) -> std::string {
    std::string out;
    for (char c : s) {
        if (c == '\'' && !double_quoted) {
            out += "''";
        } else if (c == '"' && double_quoted) {
            out += "\\\"";
        } else if (c == '_' || c == '^' || c == '@' || c == '&' || c == '{' || c == '}') {
            out += double_quoted ? "\\\\" : "\\";
            out += c;
        } else {
            out += c;
        }
    }
    return out;
}
auto gp_label(std::string const& s) -> std::string { return gp_text(s, false); }

auto workload_line(bench_options const& o) -> std::string {
    auto const values = o.value_size_min == o.value_size_max
                            ? fmt::format("{} B", o.value_size_min)
                            : fmt::format("{}-{} B", o.value_size_min, o.value_size_max);
    return fmt::format("mix {}, {} keys ({}), values {}, {} thread(s)", to_string(o.mix),
                       o.key_count,
                       o.distribution == key_distribution::uniform ? "uniform" : "zipfian",
                       values, o.threads);
}

constexpr char const* preamble =
    "set encoding utf8\n"
    "set terminal svg size {},{} dynamic enhanced font 'DejaVu Sans,13' background rgb 'white'\n"
    "set output '{}'\n"
    "set grid xtics ytics mytics lc rgb '#dddddd'\n"
    "set border lc rgb '#555555'\n";

/// Series colours: one per URL; the URL's baseline shares it, dashed.
constexpr char const* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                   "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

auto colour(std::size_t u) -> char const* {
    return colours[u % (sizeof colours / sizeof colours[0])];
}

auto series_label(bench_report const& r, std::size_t u, bool baseline) -> std::string {
    auto const url = display_url(r.urls[u]);
    if (!baseline) {
        return gp_label(url + "  asiocache");
    }
    std::string target = "baseline";
    for (auto const& p : r.points[u]) {
        if (p.baseline && p.baseline->ok) {
            target = p.baseline->target;
        }
    }
    return gp_label(url + "  " + target);
}

auto throughput_script(bench_report const& r) -> std::string {
    std::string s = fmt::format(preamble, 960, 600, "throughput.svg");
    auto lo = r.sweep.front();
    auto hi = r.sweep.front();
    std::string xtics;
    for (auto c : r.sweep) {
        lo = std::min(lo, c);
        hi = std::max(hi, c);
        xtics += fmt::format("{}{}", xtics.empty() ? "" : ", ", c);
    }
    s += fmt::format(
        "set title \"Throughput against concurrency (higher is better; solid: asiocache, dashed: "
        "raw client)\\n{{/*0.75 {}}}\"\n",
        gp_text(workload_line(r.options), true));
    s += "set xlabel 'concurrency: operations in flight (log scale)'\n"
         "set ylabel 'throughput: operations per second (log scale)'\n"
         "set logscale xy\n"
         "set format y '%.0s%c'\n"
         "set bmargin 8\n"
         "set key at screen 0.02, screen 0.02 left bottom vertical Left reverse maxrows 3 "
         "noopaque font ',11'\n";
    s += fmt::format("set xtics ({})\n", xtics);
    s += fmt::format("set xrange [{}:{}]\n", static_cast<double>(lo) / 1.5,
                     static_cast<double>(hi) * 1.5);
    std::vector<std::string> plots;
    for (std::size_t u = 0; u < r.urls.size(); ++u) {
        std::string data;
        std::string base;
        for (auto const& p : r.points[u]) {
            if (p.result.ok && p.result.throughput > 0) {
                data += fmt::format("{} {}\n", p.concurrency, p.result.throughput);
            }
            if (p.baseline && p.baseline->ok && p.baseline->throughput > 0) {
                base += fmt::format("{} {}\n", p.concurrency, p.baseline->throughput);
            }
        }
        if (!data.empty()) {
            s += fmt::format("$t{} << EOD\n{}EOD\n", u, data);
            plots.push_back(fmt::format(
                "$t{} using 1:2 with linespoints lw 2.5 pt 7 ps 1.2 lc rgb '{}' title '{}'", u,
                colour(u), series_label(r, u, false)));
        }
        if (!base.empty()) {
            s += fmt::format("$b{} << EOD\n{}EOD\n", u, base);
            plots.push_back(fmt::format(
                "$b{} using 1:2 with linespoints lw 2 dt 2 pt 6 ps 1.2 lc rgb '{}' title '{}'", u,
                colour(u), series_label(r, u, true)));
        }
    }
    if (plots.empty()) {
        return {};
    }
    s += "plot ";
    for (std::size_t i = 0; i < plots.size(); ++i) {
        s += (i == 0 ? "" : ", \\\n     ") + plots[i];
    }
    s += "\n";
    return s;
}

auto latency_script(bench_report const& r) -> std::string {
    auto const panels = r.sweep.size();
    std::string s = fmt::format(preamble, std::max<std::size_t>(560, 420 * panels), 640,
                                "latency.svg");
    s += fmt::format(
        "set multiplot layout 1,{} title \"Latency percentiles per backend (lower is better; "
        "solid: asiocache, dashed: raw client)\\n{{/*0.75 {}}}\"\n",
        panels, gp_text(workload_line(r.options), true));
    // One y range for every panel, in whole decades, so that panels compare at a glance.
    double lo = 1e300;
    double hi = 0;
    auto widen = [&](latency_summary const& l) {
        if (l.count == 0) {
            return;
        }
        lo = std::min(lo, std::max(1.0, static_cast<double>(l.p50)) / 1e3);
        hi = std::max(hi, static_cast<double>(l.max) / 1e3);
    };
    for (auto const& row : r.points) {
        for (auto const& p : row) {
            if (p.result.ok) {
                widen(p.result.latency);
            }
            if (p.baseline && p.baseline->ok) {
                widen(p.baseline->latency);
            }
        }
    }
    if (hi > 0) {
        s += fmt::format("set yrange [{}:{}]\n", std::pow(10.0, std::floor(std::log10(lo))),
                         std::pow(10.0, std::ceil(std::log10(hi))));
    }
    s += "set logscale y\n"
         "set ytics ('10 ns' 0.01, '100 ns' 0.1, '1 µs' 1, '10 µs' 10, '100 µs' 100, "
         "'1 ms' 1000, '10 ms' 10000, '100 ms' 100000, '1 s' 1e6, '10 s' 1e7)\n"
         "set xtics ('p50' 0, 'p90' 1, 'p99' 2, 'p99.9' 3, 'max' 4)\n"
         "set xrange [-0.3:4.3]\n"
         "set xlabel 'percentile'\n"
         "set ylabel 'latency (log scale)'\n"
         "set bmargin 9\n";
    bool any = false;
    for (std::size_t c = 0; c < panels; ++c) {
        std::vector<std::string> plots;
        auto block = [&](std::string const& name, latency_summary const& l) {
            s += fmt::format("${} << EOD\n0 {}\n1 {}\n2 {}\n3 {}\n4 {}\nEOD\n", name,
                             static_cast<double>(l.p50) / 1e3, static_cast<double>(l.p90) / 1e3,
                             static_cast<double>(l.p99) / 1e3, static_cast<double>(l.p999) / 1e3,
                             static_cast<double>(l.max) / 1e3);
        };
        for (std::size_t u = 0; u < r.urls.size(); ++u) {
            auto const& p = r.points[u][c];
            if (p.result.ok && p.result.operations > 0) {
                auto const name = fmt::format("l{}_{}", c, u);
                block(name, p.result.latency);
                plots.push_back(fmt::format(
                    "${} using 1:2 with linespoints lw 2.5 pt 7 lc rgb '{}' title '{}'", name,
                    colour(u), series_label(r, u, false)));
            }
            if (p.baseline && p.baseline->ok && p.baseline->operations > 0) {
                auto const name = fmt::format("lb{}_{}", c, u);
                block(name, p.baseline->latency);
                plots.push_back(fmt::format(
                    "${} using 1:2 with linespoints lw 2 dt 2 pt 6 lc rgb '{}' title '{}'", name,
                    colour(u), series_label(r, u, true)));
            }
        }
        s += fmt::format("set title 'concurrency {}'\n", r.sweep[c]);
        // The legend goes under the first panel only: colours are the same in every panel.
        s += c == 0 ? "set key at screen 0.02, screen 0.02 left bottom vertical Left reverse "
                      "maxrows 4 noopaque font ',11'\n"
                    : "unset key\n";
        if (plots.empty()) {
            s += "set label 1 'no data' at graph 0.5, graph 0.5 center\nplot NaN notitle\n"
                 "unset label 1\n";
            continue;
        }
        any = true;
        s += "plot ";
        for (std::size_t i = 0; i < plots.size(); ++i) {
            s += (i == 0 ? "" : ", \\\n     ") + plots[i];
        }
        s += "\n";
    }
    s += "unset multiplot\n";
    return any ? s : std::string{};
}

}  // namespace

auto write_report(bench_report const& r, std::filesystem::path const& dir)
    -> std::vector<std::string> {
    std::vector<std::string> notes;
    fs::create_directories(dir);
    write_file(dir / "report.json", to_json(r).dump(2) + "\n");
    notes.push_back((dir / "report.json").string());

    auto const gnuplot = have("gnuplot");
    auto const rsvg = have("rsvg-convert");
    std::vector<std::string> images;
    for (auto const& [name, script] : {std::pair{std::string("throughput"), throughput_script(r)},
                                       std::pair{std::string("latency"), latency_script(r)}}) {
        if (script.empty()) {
            continue;
        }
        write_file(dir / (name + ".gp"), script);
        if (!gnuplot) {
            continue;
        }
        auto const cmd = fmt::format("cd '{}' && gnuplot '{}.gp'", dir.string(), name);
        if (std::system(cmd.c_str()) != 0) {
            notes.push_back(fmt::format("gnuplot failed on {}.gp", name));
            continue;
        }
        notes.push_back((dir / (name + ".svg")).string());
        if (rsvg) {
            auto const png = fmt::format("cd '{}' && rsvg-convert -z 1.5 -b white -o '{}.png' '{}.svg'",
                                         dir.string(), name, name);
            if (std::system(png.c_str()) == 0) {
                notes.push_back((dir / (name + ".png")).string());
                images.push_back(name + ".png");
                continue;
            }
            notes.push_back(fmt::format("rsvg-convert failed on {}.svg", name));
        }
        images.push_back(name + ".svg");
    }
    if (!gnuplot) {
        notes.push_back("gnuplot not found: charts skipped (apt-get install gnuplot-nox)");
    } else if (!rsvg) {
        notes.push_back("rsvg-convert not found: SVG charts only (apt-get install librsvg2-bin)");
    }
    auto md = summary_markdown(r);
    for (auto const& img : images) {
        md += fmt::format("![{}]({})\n\n", img.substr(0, img.find('.')), img);
    }
    write_file(dir / "summary.md", md);
    notes.push_back((dir / "summary.md").string());
    return notes;
}

}  // namespace asiocache::bench
