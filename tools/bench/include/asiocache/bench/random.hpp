// SPDX-License-Identifier: MIT
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

/// Random numbers for the load generator: small, fast, seeded, and allocation-free per draw.
namespace asiocache::bench {

/// xoshiro256** (Blackman and Vigna): 32 bytes of state, a few cycles per draw, seeded through
/// splitmix64 so that nearby seeds give unrelated streams. A UniformRandomBitGenerator.
class rng {
public:
    using result_type = std::uint64_t;

    explicit rng(std::uint64_t seed) noexcept {
        for (auto& s : s_) {
            seed += 0x9e3779b97f4a7c15ULL;
            auto z = seed;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            s = z ^ (z >> 31);
        }
    }

    static constexpr auto min() noexcept -> result_type { return 0; }
    static constexpr auto max() noexcept -> result_type {
        return std::numeric_limits<result_type>::max();
    }

    auto operator()() noexcept -> result_type {
        auto const result = rotl(s_[1] * 5, 7) * 9;
        auto const t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    /// A uniform integer in [0, n), by Lemire's multiply-shift (bias below 2^-64 * n).
    auto below(std::uint64_t n) noexcept -> std::uint64_t {
        __extension__ using u128 = unsigned __int128;  // g++ and clang: one 64x64->128 multiply
        return static_cast<std::uint64_t>((static_cast<u128>((*this)()) * n) >> 64);
    }
    /// A uniform double in [0, 1).
    auto unit() noexcept -> double {
        return static_cast<double>((*this)() >> 11) * 0x1.0p-53;
    }

private:
    static constexpr auto rotl(std::uint64_t x, int k) noexcept -> std::uint64_t {
        return (x << k) | (x >> (64 - k));
    }
    std::uint64_t s_[4]{};
};

/// Zipf's law over ranks 0..n-1: P(rank k) is proportional to 1 / (k + 1)^exponent.
///
/// Rejection-inversion sampling (Hörmann and Derflinger, 1996): constant expected time (about
/// 1.1 draws per sample), no table, so any key count costs the same 48 bytes and nothing is
/// allocated per sample. Rank 0 is the hottest key.
class zipf_distribution {
public:
    /// `n` >= 1 ranks; `exponent` > 0 (YCSB uses 0.99).
    zipf_distribution(std::uint64_t n, double exponent)
        : n_(static_cast<double>(n)), s_(exponent) {
        h_integral_x1_ = h_integral(1.5) - 1.0;
        h_integral_n_ = h_integral(n_ + 0.5);
        squeeze_ = 2.0 - h_integral_inverse(h_integral(2.5) - h(2.0));
    }

    auto operator()(rng& r) const noexcept -> std::uint64_t {
        for (;;) {
            double const u = h_integral_n_ + r.unit() * (h_integral_x1_ - h_integral_n_);
            double const x = h_integral_inverse(u);
            double k = std::floor(x + 0.5);
            if (k < 1.0) {
                k = 1.0;
            } else if (k > n_) {
                k = n_;
            }
            if (k - x <= squeeze_ || u >= h_integral(k + 0.5) - h(k)) {
                return static_cast<std::uint64_t>(k) - 1;
            }
        }
    }

    [[nodiscard]] auto exponent() const noexcept -> double { return s_; }

private:
    // H(x), an antiderivative of h(x) = x^-s, written so that s == 1 needs no special case.
    [[nodiscard]] auto h_integral(double x) const noexcept -> double {
        double const log_x = std::log(x);
        return helper2((1.0 - s_) * log_x) * log_x;
    }
    [[nodiscard]] auto h(double x) const noexcept -> double { return std::exp(-s_ * std::log(x)); }
    [[nodiscard]] auto h_integral_inverse(double x) const noexcept -> double {
        double t = x * (1.0 - s_);
        if (t < -1.0) {
            t = -1.0;  // rounding can step just past the domain
        }
        return std::exp(helper1(t) * x);
    }
    // log1p(x) / x and expm1(x) / x, with their limits at 0.
    static auto helper1(double x) noexcept -> double {
        return std::abs(x) > 1e-8 ? std::log1p(x) / x : 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
    }
    static auto helper2(double x) noexcept -> double {
        return std::abs(x) > 1e-8 ? std::expm1(x) / x
                                  : 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
    }

    double n_;
    double s_;
    double h_integral_x1_ = 0;
    double h_integral_n_ = 0;
    double squeeze_ = 0;
};

}  // namespace asiocache::bench
