// SPDX-License-Identifier: MIT
#pragma once

/// The envelope `cached` stores its results in when a resilience policy is on (fail-safe,
/// stale-while-revalidate, eager refresh): the value with its logical and soft expiries.
///
/// It goes through the cache's typed `get<T>`/`set<T>` like any value type, so that a cache
/// that keeps objects (`serializer=none`) keeps the `memo_envelope<R>` object itself, and a
/// cache that stores bytes stores a fixed 20-byte header followed by the serializer's bytes of
/// the value (docs/wire-format.md, "Memoization envelope"):
///
/// | offset | size | content                                                           |
/// |--------|------|-------------------------------------------------------------------|
/// | 0      | 3    | magic `AC 6D 65` (`0xAC`, then `me`)                              |
/// | 3      | 1    | version, 1                                                        |
/// | 4      | 8    | logical expiry: Unix time in ms, signed big-endian; 0 = never     |
/// | 12     | 8    | soft expiry: Unix time in ms, signed big-endian; 0 = none         |
/// | 20     | rest | the value, exactly as the cache's serializer writes it            |
///
/// Plain `cached` (no policy) stores no envelope: its bytes stay the serializer's alone.
///
/// The encoding hooks in through overloads of `encode_value` and `decode_value` in namespace
/// `asiocache`, found by argument-dependent lookup from the facade's calls (the envelope's
/// `encode_value` is more specialized than the generic one; its `decode_value` is more
/// constrained). They must be declared before any use of `cache::get<memo_envelope<R>>`, which
/// including this header guarantees.

#include "asiocache/errors.hpp"
#include "asiocache/serializer.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace asiocache {

/// A memoized result with its expiries, as `cached` stores it under a resilience policy.
template <class R>
struct memo_envelope {
    using value_type = R;
    /// The result.
    R value;
    /// When the value stops being fresh: Unix time in milliseconds (wall clock, shared between
    /// processes); 0 means never. Past it, the value is only served by fail-safe.
    std::int64_t expires_ms = 0;
    /// When a background refresh is due: Unix time in milliseconds; 0 means none.
    std::int64_t soft_ms = 0;
};

template <class T>
inline constexpr bool is_memo_envelope_v = false;
template <class R>
inline constexpr bool is_memo_envelope_v<memo_envelope<R>> = true;

namespace detail {

/// Size of the envelope's header, before the value's bytes.
inline constexpr std::size_t envelope_header_size = 20;

/// The expiries read from an envelope's header.
struct envelope_times {
    std::int64_t expires_ms = 0;
    std::int64_t soft_ms = 0;
};

/// The 20-byte header for these expiries.
auto envelope_header(std::int64_t expires_ms, std::int64_t soft_ms) -> std::string;
/// Reads the header of `bytes`, stored under `key`. Bytes too short, with another magic or
/// version, or with negative times fail with `errc::serialization_failed` naming the key.
auto parse_envelope_header(std::string_view bytes, std::string_view key) -> envelope_times;

/// Now, on the wall clock, in Unix milliseconds: the time base of envelope expiries.
inline auto unix_ms_now() noexcept -> std::int64_t {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace detail

/// The bytes of an envelope: its header, then the serializer's bytes of the value.
template <class R>
auto encode_value(serializer const& s, memo_envelope<R> const& e, std::string_view key)
    -> std::string {
    auto out = detail::envelope_header(e.expires_ms, e.soft_ms);
    out += encode_value(s, e.value, key);
    return out;
}

/// Reads an envelope's bytes; a corrupt or foreign header, or value bytes the serializer
/// rejects, fail with `errc::serialization_failed` naming the key.
template <class T>
    requires is_memo_envelope_v<T>
auto decode_value(serializer const& s, std::string_view bytes, std::string_view key) -> T {
    auto times = detail::parse_envelope_header(bytes, key);
    return T{decode_value<typename T::value_type>(s, bytes.substr(detail::envelope_header_size),
                                                  key),
             times.expires_ms, times.soft_ms};
}

}  // namespace asiocache
