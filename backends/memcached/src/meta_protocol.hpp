// SPDX-License-Identifier: MIT
#pragma once
// The memcached meta text protocol (memcached 1.6+), without I/O: request formatting for
// mg/ms/md/ma/mn and an incremental, bounded reply parser. Internal.
//
// Replies (protocol.txt, "Meta Commands"):
//   VA <size> <flags>*\r\n<data>\r\n    a value (mg with the v flag)
//   HD <flags>*\r\n                      success with no value
//   EN\r\n                               miss (mg)
//   NF <flags>*\r\n                      not found (md, ma, ms in some modes)
//   NS <flags>*\r\n                      not stored (ms add on an existing key, ...)
//   EX <flags>*\r\n                      exists: a CAS mismatch
//   MN\r\n                               the no-op's answer, which ends a quiet batch
//   CLIENT_ERROR <message>\r\n, SERVER_ERROR <message>\r\n, ERROR\r\n
// and the classic replies of the commands the backend also sends (stats, version, flush_all):
//   STAT <name> <value>\r\n ... END\r\n, VERSION <version>\r\n, OK\r\n
//   VALUE <key> <flags> <size>\r\n<data>\r\n ... END\r\n   (a multi-key `get`)
// Flags echo back as <letter><token>: `O<opaque>`, `t<ttl>`, `c<cas>`, `k<key>`, ...

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace asiocache::backends::meta {

/// One meta reply.
struct reply {
    enum class kind {
        value,         ///< VA: `data` holds the value.
        stored,        ///< HD
        miss,          ///< EN
        not_found,     ///< NF
        not_stored,    ///< NS
        exists,        ///< EX
        noop,          ///< MN
        client_error,  ///< CLIENT_ERROR: `data` holds the message.
        server_error,  ///< SERVER_ERROR: `data` holds the message.
        error,         ///< ERROR: the server does not know the command (no meta protocol).
        stat,          ///< STAT: `data` holds "<name> <value>".
        end,           ///< END: the end of a stats listing.
        version,       ///< VERSION: `data` holds the version.
        ok,            ///< OK (flush_all).
        item,          ///< VALUE of a classic `get`: `flags` holds the key, `data` the value.
    };
    kind type = kind::noop;
    std::string flags;  ///< The returned flags, space-separated, as sent ("O12 t-1 c77").
    std::string data;   ///< The value of a VA, or the message of an error.

    /// The token of returned flag `letter` ("12" for `O12`), or `nullopt` if absent.
    [[nodiscard]] auto flag(char letter) const -> std::optional<std::string_view>;
    /// A flag's token as a signed integer, or `nullopt` if absent or not a number.
    [[nodiscard]] auto flag_int(char letter) const -> std::optional<std::int64_t>;
};

/// An incremental parser: feed bytes as they arrive, take replies as they complete. A header
/// line over `max_line` bytes or a value over `max_value` bytes is a protocol error (thrown as
/// `errc::protocol_error`) before anything is allocated for it; the parser must then be reset.
class parser {
public:
    /// Defaults: a 4 KiB line (keys are at most 250 bytes) and a 1 GiB value (memcached's
    /// `-I` tops out at 1 GiB).
    explicit parser(std::size_t max_line = 4096, std::size_t max_value = std::size_t{1} << 30);

    void feed(char const* data, std::size_t n);
    /// The next complete reply, or `nullopt` until more bytes arrive.
    auto next() -> std::optional<reply>;
    void reset();
    /// Bytes buffered and not yet returned as replies.
    [[nodiscard]] auto buffered() const noexcept -> std::size_t { return buf_.size() - pos_; }

private:
    std::string buf_;
    std::size_t pos_ = 0;
    std::size_t max_line_;
    std::size_t max_value_;
};

/// Appends `mg <key> <flags>\r\n`. `flags` are meta flags without the leading space ("v t f").
void append_get(std::string& out, std::string_view key, std::string_view flags);
/// Appends `ms <key> <size> <flags>\r\n<value>\r\n`.
void append_set(std::string& out, std::string_view key, std::string_view value,
                std::string_view flags);
/// Appends `md <key> <flags>\r\n`.
void append_delete(std::string& out, std::string_view key, std::string_view flags);
/// Appends `ma <key> <flags>\r\n`.
void append_arithmetic(std::string& out, std::string_view key, std::string_view flags);
/// Appends `get <key> <key>...\r\n`: one command for many keys, answered by one VALUE per hit and
/// END. memcached serves it in one pass (a quiet batch of `mg` counts one command per key
/// against the server's per-event limit, `-R`, which splits large batches).
void append_multi_get(std::string& out, std::vector<std::string_view> const& keys);
/// Appends `mn\r\n`, the no-op that ends a quiet batch.
void append_noop(std::string& out);

/// True for a key the text protocol can carry as it is: 1 to 250 bytes, no whitespace or
/// control character.
auto is_text_key(std::string_view key) noexcept -> bool;

}  // namespace asiocache::backends::meta
