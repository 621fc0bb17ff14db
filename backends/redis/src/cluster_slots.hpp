// SPDX-License-Identifier: MIT
#pragma once
// Redis Cluster's key space, without I/O: key slots, the topology a node reports, and the
// redirections it answers with. Internal; unit-tested from hand-built replies.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "asiocache/types.hpp"

namespace asiocache::backends::cluster {

inline constexpr std::uint16_t slot_count = 16384;

/// The slot of `key`: CRC16 (XMODEM) of the key, or of its hash tag, modulo 16384. The tag is
/// what lies between the first `{` and the first `}` after it, when that is not empty.
auto key_slot(std::string_view key) noexcept -> std::uint16_t;

/// One range of slots and the nodes that serve it ("host:port"), the master first.
struct slot_range {
    std::uint16_t first = 0;
    std::uint16_t last = 0;
    std::string master;
    std::vector<std::string> replicas;
};

/// The ranges of a CLUSTER SLOTS reply. Throws `errc::protocol_error` for a reply of another
/// shape. A node announced with an empty host (its own address unknown to itself) is reached
/// at `asked_host`, the host the reply came from, as the Redis documentation prescribes.
auto parse_cluster_slots(raw_reply const& r, std::string_view asked_host)
    -> std::vector<slot_range>;

/// A redirection or a transient refusal answered in place of a reply.
struct redirect {
    enum class kind { moved, ask, try_again, cluster_down };
    kind what = kind::moved;
    std::uint16_t slot = 0;  ///< moved and ask only
    std::string address;     ///< moved and ask: "host:port"
};

/// The redirection an error reply's text stands for, if it is one. `MOVED 3999 127.0.0.1:6381`,
/// `ASK 3999 127.0.0.1:6381`, `TRYAGAIN ...`, `CLUSTERDOWN ...`. An address with an empty host
/// (`MOVED 3999 :6381`) means the node that answered.
auto parse_redirect(std::string_view error) -> std::optional<redirect>;

/// "host:port" split at the last colon; nullopt for a malformed one. IPv6 hosts come without
/// brackets, as Redis announces them.
auto split_address(std::string_view address) -> std::optional<std::pair<std::string, std::uint16_t>>;

}  // namespace asiocache::backends::cluster
