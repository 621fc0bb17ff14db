// SPDX-License-Identifier: MIT
#include "asiocache/bench/command.hpp"

#include "asiocache/bench/report.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <cmath>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace asiocache::bench {

auto parse_duration_arg(std::string const& text) -> std::chrono::milliseconds {
    std::size_t used = 0;
    double v = 0;
    try {
        v = std::stod(text, &used);
    } catch (std::exception const&) {
        throw std::invalid_argument(fmt::format("bad duration '{}'", text));
    }
    auto const unit = text.substr(used);
    double ms = 0;
    if (unit.empty() || unit == "s") {
        ms = v * 1000;
    } else if (unit == "ms") {
        ms = v;
    } else if (unit == "m" || unit == "min") {
        ms = v * 60'000;
    } else {
        throw std::invalid_argument(fmt::format("bad duration unit in '{}' (ms, s, m)", text));
    }
    if (!(ms >= 0) || ms > 1e12) {
        throw std::invalid_argument(fmt::format("bad duration '{}'", text));
    }
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

namespace {

/// The parsed command line; owned by the callback, so it outlives parsing.
struct command_state {
    bench_cache_factory factory;
    std::vector<std::string> urls;
    bench_options o;
    std::string mix = "get=90,set=10";
    std::string distribution = "uniform";
    std::string value_size = "100";
    std::string duration = "5s";
    std::string warmup = "1s";
    std::string timeout;
    std::vector<std::size_t> sweep;
    bool no_prefill = false;
    bool no_progress = false;
    bool json = false;
    bool baseline = false;
    baseline_options baselines;
    std::string report_dir;
};

auto parse_sizes(std::string const& text) -> std::pair<std::size_t, std::size_t> {
    auto const dash = text.find_first_of("-:");
    try {
        if (dash == std::string::npos) {
            auto v = std::stoull(text);
            return {v, v};
        }
        return {std::stoull(text.substr(0, dash)), std::stoull(text.substr(dash + 1))};
    } catch (std::exception const&) {
        throw std::invalid_argument(fmt::format("bad value size '{}' (N or MIN-MAX)", text));
    }
}

void run(command_state& st) {
    auto o = st.o;
    try {
        o.mix = parse_op_mix(st.mix);
        if (st.distribution == "uniform") {
            o.distribution = key_distribution::uniform;
        } else if (st.distribution == "zipf" || st.distribution == "zipfian") {
            o.distribution = key_distribution::zipfian;
        } else {
            throw std::invalid_argument(
                fmt::format("unknown distribution '{}' (uniform, zipf)", st.distribution));
        }
        std::tie(o.value_size_min, o.value_size_max) = parse_sizes(st.value_size);
        o.duration = parse_duration_arg(st.duration);
        o.warmup = parse_duration_arg(st.warmup);
        if (!st.timeout.empty()) {
            o.timeout = parse_duration_arg(st.timeout);
        }
        o.prefill = !st.no_prefill;
        o.progress = !st.no_progress;
        if (o.mix.custom != 0 && !o.custom) {
            throw std::invalid_argument("the command line has no custom operation to run");
        }
        auto check = o;
        for (auto c : st.sweep) {
            check.concurrency = c;
            check.threads = std::min(o.threads, std::max<std::size_t>(c, 1));
            validate(check);
        }
        validate(o);
    } catch (std::invalid_argument const& e) {
        fmt::print(std::cerr, "asiocache bench: {}\n", e.what());
        throw CLI::RuntimeError(1);
    }
    suite_options s{.sweep = st.sweep, .baseline = st.baseline, .baselines = st.baselines};
    auto const report = run_suite(st.factory, st.urls, o, s);
    if (st.json) {
        fmt::print(std::cout, "{}\n", to_json(report).dump(2));
    } else {
        print_table(std::cout, report);
    }
    if (!st.report_dir.empty()) {
        try {
            for (auto const& note : write_report(report, st.report_dir)) {
                fmt::print(std::cerr, "report: {}\n", note);
            }
        } catch (std::exception const& e) {
            fmt::print(std::cerr, "asiocache bench: report: {}\n", e.what());
            throw CLI::RuntimeError(1);
        }
    }
    std::cout.flush();
    if (report.any_failed()) {
        throw CLI::RuntimeError(2);
    }
}

}  // namespace

void configure_bench_command(CLI::App& cmd, bench_cache_factory factory) {
    auto st = std::make_shared<command_state>();
    st->factory = std::move(factory);
    auto& o = st->o;
    cmd.add_option("urls", st->urls, "Cache URLs to measure one after another, e.g. memory:// "
                                      "redis://127.0.0.1:6379/0")
        ->required()
        ->expected(1, -1);
    cmd.add_option("-c,--concurrency", o.concurrency, "Operations in flight (coroutines)")
        ->capture_default_str();
    cmd.add_option("--sweep", st->sweep,
                   "Concurrency levels to run in turn, e.g. 1,64,512 (replaces --concurrency)")
        ->delimiter(',');
    cmd.add_option("-t,--threads", o.threads,
                   "Worker threads, each with its own io_context, sharing the cache")
        ->capture_default_str();
    cmd.add_option("-m,--mix", st->mix,
                   "Operation weights: get, set, multi_get, increment, memo (a call memoized "
                   "with cached()), noop (the generator's own cost)")
        ->capture_default_str();
    cmd.add_option("--multi-get-keys", o.multi_get_keys, "Keys per multi_get")
        ->capture_default_str();
    cmd.add_option("-k,--keys", o.key_count, "Distinct keys")->capture_default_str();
    cmd.add_option("--key-size", o.key_size, "Key length in bytes")->capture_default_str();
    cmd.add_option("--distribution", st->distribution, "Key distribution: uniform or zipf")
        ->capture_default_str();
    cmd.add_option("--zipf-exponent", o.zipf_exponent, "Zipf exponent (> 0)")
        ->capture_default_str();
    cmd.add_option("-s,--value-size", st->value_size, "Value size in bytes: N or MIN-MAX")
        ->capture_default_str();
    cmd.add_option("--serializer", o.serializer,
                   "Serializer replacing the URL's: bytes, string, json, msgpack, cbor");
    cmd.add_option("-d,--duration", st->duration, "Measured time per run (250ms, 5s, 1m)")
        ->capture_default_str();
    cmd.add_option("-n,--operations", o.operations,
                   "Measured operations per run, instead of --duration");
    cmd.add_option("-w,--warmup", st->warmup, "Unmeasured warm-up per run")
        ->capture_default_str();
    cmd.add_flag("--no-prefill", st->no_prefill, "Do not write every key before the run");
    cmd.add_option("--timeout", st->timeout, "Per-operation timeout (default: the cache's)");
    cmd.add_option("--seed", o.seed, "Seed of every random choice")->capture_default_str();
    cmd.add_flag("--json", st->json, "Print the results as JSON");
    cmd.add_flag("--no-progress", st->no_progress, "No progress line on the terminal");
    cmd.add_flag("-b,--baseline", st->baseline,
                 "Also run the raw client of each URL: unordered_map+mutex, hiredis (routed "
                 "by slot on redis-cluster://), libmemcached");
    cmd.add_option("--baseline-redis", st->baselines.redis,
                   "host:port for the hiredis baseline; for redis-cluster://, the seeds "
                   "host:port[,host:port] (default: the URL's)");
    cmd.add_option("--baseline-memcached", st->baselines.memcached,
                   "host:port[,host:port] for the libmemcached baseline (default: the URL's)");
    cmd.add_option("--report", st->report_dir,
                   "Write report.json, summary.md and charts (gnuplot) into this directory");
    cmd.callback([st] { run(*st); });
}

auto add_bench_command(CLI::App& app, bench_cache_factory factory) -> CLI::App* {
    auto* cmd = app.add_subcommand(
        "bench", "Measure caches under a workload: throughput, latency percentiles, hit ratio");
    configure_bench_command(*cmd, std::move(factory));
    return cmd;
}

}  // namespace asiocache::bench
