// SPDX-License-Identifier: MIT
#pragma once
// Paired measurement of two in-process paths: blocks of operations on each side, alternately,
// each block timed on its own. A slow phase of a shared machine hits both blocks of a pair
// alike, where the unpaired medians of two benchmarks can each land in a different phase; the
// figures reported are medians over the blocks and over the pairs.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace asiocache::bench {

inline auto median(std::vector<double> v) -> double {
    if (v.empty()) {
        return 0.0;
    }
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
}

/// The nanoseconds per operation of each block of the two sides, pair by pair: `start()`,
/// the first side's block, `first_done(n)`, `start()`, the second side's, `second_done(n)`.
class paired_blocks {
public:
    void start() noexcept { begin_ = std::chrono::steady_clock::now(); }
    void first_done(std::size_t ops) { first_ns_.push_back(since_start(ops)); }
    void second_done(std::size_t ops) { second_ns_.push_back(since_start(ops)); }

    /// Sets counters `<first>_ns` and `<second>_ns` (the medians of the blocks) and `ratio`
    /// (the median over the pairs of the second side's time over the first's).
    void report_ratio(benchmark::State& state, std::string const& first,
                      std::string const& second) const {
        report(state, first, second, "ratio", [](double a, double b) { return b / a; });
    }

    /// As `report_ratio`, with `cost_ns` instead: the median of the second side's time less
    /// the first's.
    void report_cost(benchmark::State& state, std::string const& first,
                     std::string const& second) const {
        report(state, first, second, "cost_ns", [](double a, double b) { return b - a; });
    }

private:
    auto since_start(std::size_t ops) const -> double {
        std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - begin_;
        return took.count() / static_cast<double>(ops);
    }

    template <class F>
    void report(benchmark::State& state, std::string const& first, std::string const& second,
                std::string const& name, F per_pair) const {
        std::size_t const pairs = std::min(first_ns_.size(), second_ns_.size());
        std::vector<double> each(pairs);
        for (std::size_t p = 0; p < pairs; ++p) {
            each[p] = per_pair(first_ns_[p], second_ns_[p]);
        }
        state.counters[first + "_ns"] = median(first_ns_);
        state.counters[second + "_ns"] = median(second_ns_);
        state.counters[name] = median(std::move(each));
    }

    std::chrono::steady_clock::time_point begin_{};
    std::vector<double> first_ns_;
    std::vector<double> second_ns_;
};

}  // namespace asiocache::bench
