// SPDX-License-Identifier: MIT
#pragma once

// Pieces shared by the cache engine and the raw-client baselines: the workload's data, the
// per-worker random stream, the per-thread recorder and the measurement window.

#include "asiocache/bench/bench.hpp"
#include "asiocache/bench/histogram.hpp"
#include "asiocache/bench/random.hpp"

#include <boost/system/error_code.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace asiocache::bench::detail {

using clock = std::chrono::steady_clock;

/// Read-only data every worker shares: key strings built once, so that drawing a key costs a
/// random number and a copy, and a pool of value bytes.
struct workload {
    explicit workload(bench_options const& o);

    std::vector<std::string> keys;      ///< "key:000…N", `key_size` bytes.
    std::vector<std::string> counters;  ///< "ctr:000…N", for `increment`.
    std::string value_pool;             ///< `value_size_max` printable bytes.
    std::array<unsigned, op_kind_count> thresholds{};  ///< Cumulative weights of the mix.
    unsigned total_weight = 0;
};

/// One worker's random choices. Each worker has its own stream, seeded from the run's seed and
/// its index, so a run is repeatable and workers do not share state.
class stream {
public:
    stream(bench_options const& o, workload const& w, std::uint64_t index);

    auto next_op() noexcept -> op_kind {
        auto const x = static_cast<unsigned>(rng_.below(w_->total_weight));
        std::size_t i = 0;
        while (x >= w_->thresholds[i]) {
            ++i;
        }
        return static_cast<op_kind>(i);
    }
    auto next_index() noexcept -> std::uint64_t {
        return zipf_ ? (*zipf_)(rng_) : rng_.below(w_->keys.size());
    }
    auto next_key() noexcept -> std::string const& { return w_->keys[next_index()]; }
    auto next_counter() noexcept -> std::string const& { return w_->counters[next_index()]; }
    /// A view of `value_pool` of a size drawn from [min, max].
    auto next_value() noexcept -> std::string_view {
        auto const n = min_ == max_ ? min_ : min_ + rng_.below(max_ - min_ + 1);
        return {w_->value_pool.data(), n};
    }

private:
    workload const* w_;
    rng rng_;
    std::optional<zipf_distribution> zipf_;
    std::uint64_t min_;
    std::uint64_t max_;
};

/// Indexes of `errors_by_code`: 0 is "other", then each `asiocache::errc` value.
inline constexpr std::size_t error_slots = 32;

/// What one thread measured. Only its own thread writes it (no atomics on the hot path but the
/// progress counter, which is a relaxed store with a single writer).
struct alignas(64) recorder {
    std::array<histogram, op_kind_count> latency;
    std::array<std::uint64_t, op_kind_count> errors{};
    std::array<std::uint64_t, error_slots> errors_by_code{};
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::string first_error;
    clock::time_point last_end{};
    std::atomic<std::uint64_t> progress{0};

    void count_op() noexcept {
        progress.store(progress.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    /// Counts the failure in flight (call from a catch block).
    void fail(op_kind k, std::exception_ptr const& e);
    void fail(op_kind k, boost::system::error_code const& ec, std::string_view what);
};

/// The run's time line. Operations that start at or after `measure_start` are measured. With
/// `quota` 0 the run stops at `end`; otherwise each worker stops after its quota of measured
/// operations (`quota_for`).
struct window {
    clock::time_point start;
    clock::time_point measure_start;
    clock::time_point end;
    std::uint64_t operations = 0;
    std::size_t workers = 1;

    window(bench_options const& o, std::size_t worker_count);
    [[nodiscard]] auto by_count() const noexcept -> bool { return operations != 0; }
    /// Worker `i`'s share of `operations`; the shares add up to it exactly.
    [[nodiscard]] auto quota_for(std::size_t i) const noexcept -> std::uint64_t {
        return operations / workers + (i < operations % workers ? 1 : 0);
    }
    /// True while worker with `done` measured operations out of `quota` should go on.
    [[nodiscard]] auto keep_going(clock::time_point now, std::uint64_t done,
                                  std::uint64_t quota) const noexcept -> bool {
        return by_count() ? (now < measure_start || done < quota) : now < end;
    }
};

/// Process CPU time, in seconds.
struct cpu_times {
    double user = 0;
    double system = 0;
};
/// Polls until `finished()` holds, printing a progress line on a terminal when asked, and
/// returns the process CPU time spent over the measured window.
auto supervise(std::string const& label, window const& w, bench_options const& o,
               std::vector<recorder> const& recorders, std::function<bool()> const& finished)
    -> cpu_times;

/// Merges the recorders into `r`.
void collect(bench_result& r, window const& w, std::vector<recorder> const& recorders,
             cpu_times cpu, op_mix const& mix);

auto now_cpu() -> cpu_times;

}  // namespace asiocache::bench::detail
