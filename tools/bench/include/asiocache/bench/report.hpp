// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/bench/bench.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace asiocache::bench {

/// One URL at one concurrency: the cache's figures and, if asked, the raw client's.
struct bench_point {
    std::size_t concurrency = 0;
    bench_result result;
    std::optional<bench_result> baseline;
    /// result.throughput / baseline.throughput, when both ran.
    [[nodiscard]] auto ratio() const -> std::optional<double>;
};

/// Every URL over every concurrency level, under one workload.
struct bench_report {
    bench_options options;
    std::vector<std::string> urls;
    std::vector<std::size_t> sweep;
    /// points[u][c]: URL `urls[u]` at concurrency `sweep[c]`.
    std::vector<std::vector<bench_point>> points;
    /// True when any URL could not run at all (its factory or connection failed).
    [[nodiscard]] auto any_failed() const -> bool;
};

/// What `run_suite` runs beyond the workload.
struct suite_options {
    /// Concurrency levels; empty means just `bench_options::concurrency`.
    std::vector<std::size_t> sweep;
    /// Also run the raw-client baseline of each URL (`run_baseline`). Default false.
    bool baseline = false;
    baseline_options baselines;
};

/// Runs every URL one after another at each concurrency level (URLs inner, so that
/// each level's figures are taken close together), each followed by its baseline if asked.
/// A URL whose cache cannot be built is reported, and the others still run; its baseline
/// still runs too.
auto run_suite(bench_cache_factory const& factory, std::vector<std::string> const& urls,
               bench_options const& o, suite_options const& s) -> bench_report;

/// The report as JSON: the workload, then one entry per URL and concurrency level with the
/// cache's result, the baseline's and their throughput ratio. Latencies are in nanoseconds.
auto to_json(bench_report const& r) -> nlohmann::json;
auto to_json(bench_result const& r) -> nlohmann::json;

/// Prints the URLs side by side, one table per concurrency level.
void print_table(std::ostream& out, bench_report const& r);

/// A URL fit to print: the password (userinfo) replaced by `***`.
auto display_url(std::string const& url) -> std::string;

/// Writes `report.json`, `summary.md` and the charts (`throughput.svg`, `latency.svg`, and
/// their PNGs) into `dir`, creating it. Charts need `gnuplot` on the PATH, PNGs `rsvg-convert`;
/// without them the JSON and summary are still written. Returns the notes to show the user
/// (files written, tools missing).
auto write_report(bench_report const& r, std::filesystem::path const& dir)
    -> std::vector<std::string>;

/// The Markdown summary written by `write_report`: the workload, one table per concurrency
/// level, and the chart images.
auto summary_markdown(bench_report const& r) -> std::string;

}  // namespace asiocache::bench
