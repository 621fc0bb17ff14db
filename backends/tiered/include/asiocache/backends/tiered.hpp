// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/backend.hpp"
#include "asiocache/backend_config.hpp"
#include "asiocache/invalidation.hpp"
#include "asiocache/types.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

/// A near cache: decoded objects in process (L1) in front of any byte backend (L2).
namespace asiocache::backends {

using asiocache::invalidation_handler;
using asiocache::invalidation_source;

/// Settings of a tiered backend. Built with designated initializers.
struct tiered_options {
    /// Most objects L1 keeps; the least recently used go first. Default 10000; 0: unbounded.
    std::size_t l1_max_entries = 10'000;
    /// Most bytes L1 keeps, counting each object's estimated size (`object_size`) plus the
    /// memory backend's per-entry overhead. Default 0: unbounded.
    std::size_t l1_max_bytes = 0;
    /// The longest an object stays in L1, whatever its TTL in L2. It bounds how stale a value
    /// can be when an invalidation is lost or when there is no channel. Default 30 s; must be
    /// more than 0.
    std::chrono::milliseconds l1_ttl{30'000};
    /// Writes made elsewhere reach L1 through it. Without one (`nullptr`), L1 serves values up
    /// to `l1_ttl` old: the factory accepts that only when asked (`invalidation=none`).
    std::shared_ptr<invalidation_source> invalidation;
    /// The clock behind L1's TTLs. Default: the steady clock.
    std::shared_ptr<asiocache::time_source const> time_source;
};

/// Counters of a tiered backend, read while it runs.
struct tiered_stats {
    std::uint64_t l1_hits = 0;          ///< Reads L1 answered.
    std::uint64_t l1_misses = 0;        ///< Reads that went to L2 (L1 lacked the key, or was bypassed).
    std::uint64_t bypassed = 0;         ///< Of those, reads made while the channel was down.
    std::uint64_t fills = 0;            ///< Values read from L2 and kept in L1.
    std::uint64_t fills_refused = 0;    ///< Values not kept: an invalidation arrived during the read.
    std::uint64_t invalidated_keys = 0; ///< Keys the channel named.
    std::uint64_t flushes = 0;          ///< Whole-L1 drops: FLUSHDB, a lost channel, clear_all.
    std::uint64_t channel_losses = 0;   ///< Times the channel went down.
    bool channel_up = false;            ///< L1 in use now (always true without a channel).
    std::uint64_t publish_failures = 0; ///< Backplane messages that could not be sent.
    std::uint64_t l1_entries = 0;       ///< Objects in L1 now.
};

/// L1 objects in front of an L2 byte backend, with invalidation between processes.
///
/// - A read looks in L1; a miss reads L2 (the value and its remaining TTL, at once), decodes
///   it, and keeps the object for at most the remaining L2 TTL and `l1_ttl`, unless an
///   invalidation of that key arrived during the read (so a write racing the read cannot
///   leave the old value behind).
/// - A write goes to L2, then to L1. Every write drops the key from L1 before and after it
///   reaches L2.
/// - While the invalidation channel is down, L1 is empty and bypassed: reads go to L2 until
///   the channel is back. A lost message cannot keep a stale value longer than `l1_ttl`.
/// - Byte operations (`increment`, `expire`, `cas`, `clear`, `raw`, ...) go to L2 and drop
///   what they may change from L1 (`clear`, `clear_all` and `raw` drop all of it).
///
/// The facade uses L1 for every typed read and write of a tiered cache (its serializer is the
/// L2's format; L1 needs none). Safe to share between threads, as L2 is.
class tiered_backend;

/// Creates a tiered backend over `l2`. Errors: `invalid_argument` for a null L2, an L2 that
/// keeps objects itself, or `l1_ttl` of 0.
auto make_tiered_backend(std::shared_ptr<backend> l2, tiered_options opts)
    -> std::shared_ptr<backend>;

/// The counters of a backend made by `make_tiered_backend`; `nullopt` for any other.
auto tiered_statistics(backend const& b) -> std::optional<tiered_stats>;

/// The L2 of a tiered backend; `nullptr` for any other.
auto tiered_l2(backend const& b) -> std::shared_ptr<backend>;

/// Takes the tiered parameters out of a `tiered+...://` config: `l1_max_entries`,
/// `l1_max_bytes`, `l1_ttl` and `invalidation` (returned as given, or empty). The caller builds
/// L2 from what is left.
auto take_tiered_params(backend_config& cfg) -> std::pair<tiered_options, std::string>;

}  // namespace asiocache::backends
