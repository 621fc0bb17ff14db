// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/bench/histogram.hpp"
#include "asiocache/cache.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

/// The load generator behind `asiocache bench`: drives a cache (or a raw client, as a baseline)
/// with a configurable workload and reports throughput, latency percentiles, hit ratio, errors
/// and client CPU time.
namespace asiocache::bench {

/// Builds the cache under test for one URL, on the executor of the first worker thread. The
/// cache is shared by every worker thread, so it must be safe to use from several threads.
/// The registry's `make_cache(url, executor)` fits here. Errors: throw (the URL is then
/// reported as failed, with the exception's message, and the other URLs still run).
using bench_cache_factory =
    std::function<std::shared_ptr<asiocache::cache>(std::string const& url,
                                                   boost::asio::any_io_executor ex)>;

/// The kinds of operation a workload mixes.
enum class op_kind : std::uint8_t {
    get,        ///< `cache.get<std::string>(key)`.
    set,        ///< `cache.set(key, value)` with a value of `value_size_min..max` bytes.
    multi_get,  ///< `cache.multi_get<std::string>(keys)` of `multi_get_keys` keys.
    increment,  ///< `cache.increment(counter_key, 1)` on a key space of its own.
    /// A call of a function memoized with `asiocache::cached`, keyed on one workload key; its
    /// upstream returns a value of `value_size_min` bytes. A hit is a call that did not run
    /// the upstream (served by the cache, or by another caller's call of the same key).
    memo,
    custom,     ///< `bench_options::custom` (e.g. a memoized call), if given.
    noop,       ///< Nothing: measures the load generator's own cost per operation.
};
inline constexpr std::size_t op_kind_count = 7;
/// "get", "set", "multi_get", "increment", "memo", "custom", "noop".
auto op_name(op_kind k) -> char const*;

/// Relative weights of the operation kinds; only their ratios matter. Default: 90% get,
/// 10% set.
struct op_mix {
    unsigned get = 90;        ///< Weight of `op_kind::get`. Default 90.
    unsigned set = 10;        ///< Weight of `op_kind::set`. Default 10.
    unsigned multi_get = 0;   ///< Weight of `op_kind::multi_get`. Default 0.
    unsigned increment = 0;   ///< Weight of `op_kind::increment`. Default 0.
    unsigned memo = 0;        ///< Weight of `op_kind::memo`. Default 0.
    unsigned custom = 0;      ///< Weight of `op_kind::custom`. Default 0.
    unsigned noop = 0;        ///< Weight of `op_kind::noop`. Default 0.

    [[nodiscard]] auto weight(op_kind k) const noexcept -> unsigned;
    [[nodiscard]] auto total() const noexcept -> unsigned;
};

/// Parses "get=80,set=15,multi_get=5" (kinds not named get weight 0). Errors:
/// `std::invalid_argument` naming the bad entry.
auto parse_op_mix(std::string const& text) -> op_mix;
/// The inverse of `parse_op_mix`, listing the non-zero weights.
auto to_string(op_mix const& m) -> std::string;

/// How keys are drawn from the key space.
enum class key_distribution {
    uniform,  ///< Every key equally likely.
    zipfian,  ///< Zipf's law with `bench_options::zipf_exponent`: a few hot keys.
};

/// A user operation for the `custom` share of the mix, such as a memoized call through
/// `asiocache::cached` on `c`. It gets one key of the workload and completes with true for a
/// hit (served from the cache) and false for a miss; failures throw as cache operations do.
using custom_op = std::function<task<bool>(asiocache::cache& c, std::string key)>;

/// A workload. Built with designated initializers: `{.concurrency = 64, .duration = 5s}`.
struct bench_options {
    /// Operations in flight at once: coroutines, spread evenly over the threads. Default 64.
    std::size_t concurrency = 64;
    /// Worker threads, each running its own `io_context`; they share one cache per URL.
    /// Default 1.
    std::size_t threads = 1;
    /// The operation mix. Default: 90% get, 10% set.
    op_mix mix{};
    /// Keys per `multi_get`. Default 10.
    std::size_t multi_get_keys = 10;
    /// Distinct keys (and, separately, distinct counters for `increment`). Default 10'000.
    std::uint64_t key_count = 10'000;
    /// Length of each key in bytes ("key:" and a zero-padded index; longer if the index needs
    /// it). Default 16.
    std::size_t key_size = 16;
    /// How keys are drawn. Default uniform.
    key_distribution distribution = key_distribution::uniform;
    /// Zipf exponent for `key_distribution::zipfian`; must be > 0. Default 0.99 (YCSB's).
    double zipf_exponent = 0.99;
    /// Smallest value written by `set`, in bytes. Default 100.
    std::size_t value_size_min = 100;
    /// Largest value written by `set`, in bytes; sizes are uniform in [min, max]. Default 100.
    std::size_t value_size_max = 100;
    /// Serializer name ("bytes", "string", "json", "msgpack", "cbor") replacing the cache's
    /// own. Default empty: the cache's (the URL's `serializer=`, else JSON).
    std::string serializer;
    /// Length of the measured run; ignored when `operations` is set. Default 5 s.
    std::chrono::milliseconds duration{5000};
    /// Measured operations over all coroutines; 0 (default) runs for `duration` instead.
    std::uint64_t operations = 0;
    /// Unmeasured run before the measurement, with the same workload. Default 1 s.
    std::chrono::milliseconds warmup{1000};
    /// Writes every key once before the warm-up, so that gets hit. Default true.
    bool prefill = true;
    /// Per-operation timeout; empty (default) keeps the cache's own (5 s unless configured).
    std::optional<std::chrono::milliseconds> timeout;
    /// Seed of every random choice (keys, operations, value sizes, value bytes). Default 1.
    std::uint64_t seed = 1;
    /// Prints a progress line on stderr when it is a terminal and the run lasts over 3 s.
    /// Default true.
    bool progress = true;
    /// The `custom` operation; required when `mix.custom` is non-zero.
    custom_op custom;
};

/// Throws `std::invalid_argument` when the options cannot run (zero concurrency, an empty mix,
/// a custom weight without a custom op, min > max value size, ...).
void validate(bench_options const& o);

/// Latency percentiles of one set of operations, in nanoseconds.
struct latency_summary {
    std::uint64_t count = 0;
    double mean = 0;
    std::uint64_t p50 = 0;
    std::uint64_t p90 = 0;
    std::uint64_t p99 = 0;
    std::uint64_t p999 = 0;
    std::uint64_t max = 0;
};
auto summarize(histogram const& h) -> latency_summary;

/// What one run measured.
struct bench_result {
    /// The URL run (passwords as given: do not put secrets in bench URLs you publish).
    std::string url;
    /// What was measured: "asiocache", or the baseline ("std::unordered_map+mutex",
    /// "raw hiredis pipelined", "raw hiredis cluster", "raw libmemcached sync").
    std::string target;
    /// False when the run could not start (the factory threw, the baseline could not connect);
    /// `error` then says why and the figures are zero.
    bool ok = true;
    std::string error;
    /// Concurrency and threads actually used (a baseline may use fewer; see `note`).
    std::size_t concurrency = 0;
    std::size_t threads = 0;
    /// How the target ran, for a baseline ("pipeline depth 64 per connection").
    std::string note;

    std::uint64_t operations = 0;  ///< Measured operations, failed ones included.
    std::uint64_t errors = 0;      ///< Measured operations that failed.
    double seconds = 0;            ///< Length of the measured window.
    double throughput = 0;         ///< operations / seconds.
    latency_summary latency;       ///< Every measured operation.
    /// Per kind, for kinds in the mix: operations, errors and latency.
    std::map<std::string, latency_summary> latency_by_op;
    std::map<std::string, std::uint64_t> errors_by_op;
    /// Errors by kind: the `asiocache::errc` name ("timeout", "backend_unavailable", ...),
    /// or "other" for exceptions outside the category.
    std::map<std::string, std::uint64_t> errors_by_kind;
    /// The first error message seen, to tell what went wrong.
    std::string first_error;
    std::uint64_t hits = 0;    ///< Keys found by get and multi_get (and custom hits).
    std::uint64_t misses = 0;  ///< Keys not found.
    /// hits / (hits + misses); 0 when there were no reads.
    [[nodiscard]] auto hit_ratio() const noexcept -> double {
        auto const n = hits + misses;
        return n == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(n);
    }
    /// Client CPU time of the whole process during the measured window (getrusage).
    double cpu_user_seconds = 0;
    double cpu_system_seconds = 0;
    /// Client CPU time per operation, in microseconds.
    [[nodiscard]] auto cpu_per_op_us() const noexcept -> double {
        return operations == 0
                   ? 0.0
                   : (cpu_user_seconds + cpu_system_seconds) * 1e6 / static_cast<double>(operations);
    }
};

/**
 * Runs the workload `o` against the cache that `factory` builds for `url`, and measures it.
 *
 * Keys are prefilled (`o.prefill`), then every coroutine runs the mix during the warm-up and
 * the measurement. Timing costs one clock read per operation; each thread records into its own
 * histograms, merged at the end. Operations that fail are counted and timed, and the run goes
 * on. Blocks the calling thread, which prints the progress line if asked.
 *
 * Errors: `std::invalid_argument` for invalid options. Failures of the factory, of the prefill
 * or of operations are reported in the result, not thrown.
 */
auto run_bench(bench_cache_factory const& factory, std::string const& url,
               bench_options const& o) -> bench_result;

/// Where the raw-client baselines connect. Empty fields are taken from the URL.
struct baseline_options {
    /// "host:port" of the Redis server for the raw hiredis baseline; for a `redis-cluster://`
    /// URL, "host:port[,host:port...]", the seeds to read the slots from. Default: the URL's.
    std::string redis;
    /// "host:port[,host:port...]" for the raw libmemcached baseline. Default: the URL's.
    std::string memcached;
};

/**
 * Runs the same workload on the raw client that corresponds to `url`'s scheme, for the
 * "framework at X% of the raw client" figure:
 * - `memory://`: a `std::unordered_map<std::string, std::string>` behind one mutex, driven by
 *   the same coroutines as the cache;
 * - `redis://`: raw hiredis, one connection per thread, pipelined as a multiplexed connection
 *   is: `concurrency / threads` commands appended, then their replies read;
 * - `redis-cluster://`: the same, with one connection per master and thread: a raw client
 *   that already knows the slots. CLUSTER SLOTS is read once from the first seed that answers
 *   it, and each command goes to the master of its key's slot (`redis_cluster_key_slot`); a
 *   multi_get is a GET per key, since an MGET must not span slots. Redirections are not
 *   followed (they count as errors). Needs the Redis backend in the build;
 * - `memcached://`: raw libmemcached, synchronous, one handle (one connection per server) per
 *   thread, as the memcached backend's workers use it.
 * `custom` operations are skipped by the baselines (they count as no-ops).
 * A scheme with no baseline gives a result with `ok = false`.
 */
auto run_baseline(std::string const& url, bench_options const& o, baseline_options const& b = {})
    -> bench_result;

/// The `asiocache::errc` name of an error code's value ("timeout"), or "other".
auto error_kind(boost::system::error_code const& ec) -> std::string;

}  // namespace asiocache::bench
