// SPDX-License-Identifier: MIT
#include "asiocache/bench/histogram.hpp"
#include "asiocache/bench/random.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <vector>

namespace {

using asiocache::bench::histogram;
using asiocache::bench::rng;
using asiocache::bench::zipf_distribution;

/// The exact order statistic the histogram approximates: rank ceil(q * n), at least 1.
auto exact_at(std::vector<std::uint64_t> const& sorted, double q) -> std::uint64_t {
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

TEST(histogram_test, slots_cover_every_value_and_are_ordered) {
    rng r(7);
    for (int i = 0; i < 100000; ++i) {
        auto const v = r() >> r.below(64);
        auto const slot = histogram::slot_of(v);
        ASSERT_LT(slot, histogram::slot_count);
        ASSERT_LE(histogram::lowest_of(slot), v);
        ASSERT_GE(histogram::highest_of(slot), v);
        // Each slot is at most 1/128 of its values wide.
        ASSERT_LE(static_cast<double>(histogram::highest_of(slot) - histogram::lowest_of(slot)),
                  histogram::max_relative_error * static_cast<double>(histogram::lowest_of(slot)));
    }
    for (std::size_t s = 1; s < histogram::slot_count; ++s) {
        ASSERT_EQ(histogram::lowest_of(s), histogram::highest_of(s - 1) + 1) << s;
    }
    EXPECT_EQ(histogram::highest_of(histogram::slot_count - 1), ~std::uint64_t{0});
    EXPECT_EQ(histogram::slot_of(~std::uint64_t{0}), histogram::slot_count - 1);
}

TEST(histogram_test, small_values_are_exact) {
    histogram h;
    for (std::uint64_t v = 1; v <= 100; ++v) {
        h.record(v);
    }
    EXPECT_EQ(h.count(), 100u);
    EXPECT_EQ(h.min(), 1u);
    EXPECT_EQ(h.max(), 100u);
    EXPECT_EQ(h.value_at(0.5), 50u);
    EXPECT_EQ(h.value_at(0.9), 90u);
    EXPECT_EQ(h.value_at(0.99), 99u);
    EXPECT_EQ(h.value_at(1.0), 100u);
    EXPECT_EQ(h.value_at(0.0), 1u);
    EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(histogram_test, percentiles_are_within_the_relative_error_bound) {
    // Latency-like values over six decades (100 ns .. 100 ms), log-uniform.
    rng r(42);
    histogram h;
    std::vector<std::uint64_t> values;
    for (int i = 0; i < 200000; ++i) {
        auto const v = static_cast<std::uint64_t>(100.0 * std::pow(10.0, 6.0 * r.unit()));
        values.push_back(v);
        h.record(v);
    }
    std::sort(values.begin(), values.end());
    for (double q : {0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999}) {
        auto const exact = exact_at(values, q);
        auto const got = h.value_at(q);
        EXPECT_GE(got, exact) << q;  // never under-reports
        EXPECT_LE(static_cast<double>(got - exact),
                  histogram::max_relative_error * static_cast<double>(exact))
            << "q=" << q << " exact=" << exact << " got=" << got;
    }
    EXPECT_EQ(h.value_at(1.0), values.back());
    EXPECT_EQ(h.min(), values.front());
    EXPECT_EQ(h.max(), values.back());
}

TEST(histogram_test, merging_equals_recording_everything_in_one) {
    rng r(3);
    histogram a;
    histogram b;
    histogram all;
    for (int i = 0; i < 50000; ++i) {
        auto const v = 1000 + r.below(1'000'000);
        (i % 3 == 0 ? a : b).record(v);
        all.record(v);
    }
    b.record(7);  // a new minimum on one side only
    all.record(7);
    a.merge(b);
    EXPECT_EQ(a.count(), all.count());
    EXPECT_EQ(a.min(), 7u);
    EXPECT_EQ(a.max(), all.max());
    EXPECT_DOUBLE_EQ(a.mean(), all.mean());
    for (double q : {0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0}) {
        EXPECT_EQ(a.value_at(q), all.value_at(q)) << q;
    }
    a.reset();
    EXPECT_EQ(a.count(), 0u);
    EXPECT_EQ(a.value_at(0.5), 0u);
    EXPECT_EQ(a.max(), 0u);
}

TEST(zipf_test, frequencies_follow_zipfs_law) {
    constexpr std::uint64_t n = 100;
    constexpr int samples = 200000;
    for (double s : {0.99, 1.0, 1.5}) {
        zipf_distribution z(n, s);
        rng r(11);
        std::vector<int> counts(n, 0);
        for (int i = 0; i < samples; ++i) {
            auto const k = z(r);
            ASSERT_LT(k, n);
            ++counts[k];
        }
        double norm = 0;
        for (std::uint64_t k = 1; k <= n; ++k) {
            norm += std::pow(static_cast<double>(k), -s);
        }
        double total_variation = 0;
        for (std::uint64_t k = 0; k < n; ++k) {
            double const expected = std::pow(static_cast<double>(k + 1), -s) / norm;
            double const got = counts[k] / static_cast<double>(samples);
            total_variation += std::abs(got - expected) / 2;
            if (k < 5) {
                EXPECT_NEAR(got, expected, expected * 0.05) << "s=" << s << " rank " << k;
            }
        }
        EXPECT_LT(total_variation, 0.01) << "s=" << s;
        // The hottest key is about 2^s times as frequent as the second.
        EXPECT_NEAR(static_cast<double>(counts[0]) / counts[1], std::pow(2.0, s), 0.1) << s;
    }
}

TEST(zipf_test, is_repeatable_and_covers_a_large_key_space) {
    zipf_distribution z(10'000'000, 0.99);
    rng a(5);
    rng b(5);
    std::uint64_t largest = 0;
    for (int i = 0; i < 100000; ++i) {
        auto const x = z(a);
        ASSERT_EQ(x, z(b));
        ASSERT_LT(x, 10'000'000u);
        largest = std::max(largest, x);
    }
    EXPECT_GT(largest, 1'000'000u);  // the tail is reached
    zipf_distribution one(1, 0.99);
    EXPECT_EQ(one(a), 0u);
}

TEST(rng_test, below_is_uniform_enough) {
    rng r(1);
    std::map<std::uint64_t, int> counts;
    for (int i = 0; i < 100000; ++i) {
        ++counts[r.below(10)];
    }
    ASSERT_EQ(counts.size(), 10u);
    for (auto const& [k, c] : counts) {
        EXPECT_NEAR(c, 10000, 500) << k;
    }
}

}  // namespace
