// SPDX-License-Identifier: MIT
#pragma once
// RESP glue over hiredis: command formatting, an incremental reply parser that builds
// `raw_reply` trees directly, and the mapping from replies to results and `errc` codes.
// Internal: nothing here is installed, and no public header includes hiredis.

#include "asiocache/errors.hpp"
#include "asiocache/types.hpp"

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>

struct redisReader;

namespace asiocache::backends::redis_detail {

/// Appends one command, RESP-encoded by `redisFormatCommandArgv`, to `out`.
void append_command(std::string& out, std::span<std::string_view const> argv);
void append_command(std::string& out, std::initializer_list<std::string_view> argv);
/// One RESP-encoded command.
auto format_command(std::initializer_list<std::string_view> argv) -> std::string;

/// An incremental RESP2 parser (hiredis' `redisReader`) whose object functions build
/// `raw_reply` values, so a reply is never copied out of a `redisReply`.
///
/// A hostile or broken server cannot make it allocate without bound: one reply may take at
/// most `max_reply_bytes`, counting its bytes on the wire plus `sizeof(raw_reply)` for every
/// node of its tree (an array header alone allocates nothing up front), and exceeding that is
/// `errc::protocol_error` naming the cap. hiredis' C code never sees an exception: the object functions catch
/// everything and report it as a parse error.
class reply_parser {
public:
    /// Default cap: 512 MiB, the largest value Redis stores, plus its framing.
    static constexpr std::size_t default_max_reply_bytes = 512ULL * 1024 * 1024 + 4096;

    explicit reply_parser(std::size_t max_reply_bytes = default_max_reply_bytes);
    ~reply_parser();
    reply_parser(reply_parser const&) = delete;
    auto operator=(reply_parser const&) -> reply_parser& = delete;

    /// Adds bytes read from the socket.
    void feed(char const* data, std::size_t n);
    /// The next complete reply, or `nullopt` until more bytes arrive. Throws
    /// `errc::protocol_error` on malformed input or past the cap; the
    /// parser must then be `reset()`.
    auto next() -> std::optional<raw_reply>;
    /// Drops buffered bytes and any partial reply (after a reconnect).
    void reset();
    /// Bytes fed and not yet returned as replies.
    [[nodiscard]] auto buffered() const noexcept -> std::size_t;

    /// Bookkeeping shared with the object functions; internal.
    struct budget {
        std::size_t max = 0;      ///< The cap, in accounted bytes.
        std::size_t used = 0;     ///< Accounted bytes of the reply being parsed.
        std::string failure;      ///< Why an object function refused, for the error message.
    };

private:
    [[noreturn]] void fail(std::string_view what);

    redisReader* reader_;
    budget budget_;
};

/// The `errc` for a server error reply: `not_a_number` for INCRBY on a non-integer,
/// `invalid_argument` for INCRBY past the 64-bit range ("increment or decrement would overflow"),
/// `backend_unavailable` for transient states (LOADING, BUSY, MASTERDOWN, TRYAGAIN),
/// `backend_error` otherwise.
auto error_for(std::string_view server_message) noexcept -> errc;
/// True for an error reply saying a script is not cached (EVALSHA must fall back to EVAL).
auto is_noscript(raw_reply const& r) noexcept -> bool;

/// A key as diagnostics show it: cut after 120 bytes, with its length.
auto shorten(std::string_view key) -> std::string;

/// Throws for an error reply (the code from `error_for`, the server's message, the command and the
/// key), and for any other reply with `errc::protocol_error`.
[[noreturn]] void throw_unexpected(raw_reply const& r, std::string_view cmd, std::string_view key);
/// Accepts only the status `OK`.
void expect_ok(raw_reply const& r, std::string_view cmd, std::string_view key);
/// A bulk string as bytes, nil as `nullopt`.
auto to_bytes(raw_reply&& r, std::string_view cmd, std::string_view key)
    -> std::optional<std::string>;
/// An integer reply.
auto to_integer(raw_reply const& r, std::string_view cmd, std::string_view key) -> std::int64_t;
/// A PTTL reply: -2 (missing) is `nullopt`, -1 is `expiry::never()`, 0 rounds up to 1 ms.
auto to_ttl(raw_reply const& r, std::string_view cmd, std::string_view key)
    -> std::optional<expiry>;
/// An array reply of exactly `n` elements (any `n` when `n` is `npos`).
void expect_array(raw_reply const& r, std::size_t n, std::string_view cmd, std::string_view key);

/// SHA-1 of `text` as 40 lowercase hex digits: the name EVALSHA knows a script by. Written
/// for both digest layouts of `boost::uuids::detail::sha1` (five 32-bit words up to Boost 1.85,
/// twenty bytes from 1.86), so the hash never silently changes with the Boost version.
auto sha1_hex(std::string_view text) -> std::string;

/// Escapes the glob metacharacters `* ? [ ] \` for SCAN MATCH.
auto glob_escape(std::string_view s) -> std::string;

}  // namespace asiocache::backends::redis_detail
