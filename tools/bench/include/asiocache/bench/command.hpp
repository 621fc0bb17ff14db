// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/bench/bench.hpp"

#include <CLI/CLI.hpp>

namespace asiocache::bench {

/**
 * Adds the `bench` subcommand to a CLI11 application and returns it:
 * @code
 * asiocache::bench::add_bench_command(app, [](std::string const& url, auto ex) {
 *     return std::make_shared<asiocache::cache>(asiocache::make_cache(url, ex));
 * });
 * @endcode
 * `asiocache bench URL [URL...] [options]` runs the workload against each URL in turn and
 * prints them side by side (or JSON with `--json`); `--sweep`, `--baseline` and `--report DIR`
 * add concurrency levels, raw-client baselines and charts. `--help` lists every option.
 *
 * The command exits (through `CLI::RuntimeError`) with 2 when a URL could not run at all, and
 * with 1 on invalid options; failed operations are reported, not fatal.
 */
auto add_bench_command(CLI::App& app, bench_cache_factory factory) -> CLI::App*;

/// Adds the bench options and the callback to `cmd` itself: for a program whose only job is
/// benchmarking (`asiocache-bench`). `add_bench_command` calls it on a new subcommand.
void configure_bench_command(CLI::App& cmd, bench_cache_factory factory);

/// Parses a duration: `250ms`, `5s`, `2m`, or a bare number of seconds (`1.5`). Errors:
/// `std::invalid_argument`.
auto parse_duration_arg(std::string const& text) -> std::chrono::milliseconds;

}  // namespace asiocache::bench
