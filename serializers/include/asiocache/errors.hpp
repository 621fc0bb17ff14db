// SPDX-License-Identifier: MIT
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace asiocache {

/// Failure conditions shared by every cache, whatever its backend.
///
/// Operations that run as coroutines report them by throwing `boost::system::system_error`
/// whose `code()` compares equal to one of these values and whose `what()` carries the detail
/// (the key, the server's own message). A cache miss is never an error: it is an empty
/// `std::optional`.
enum class errc {
    timeout = 1,           ///< The operation passed its deadline (default 5 s; 0 disables).
    key_exists,            ///< `add` found the key already present.
    backend_unavailable,   ///< The server could not be reached, or the connection dropped.
    protocol_error,        ///< The server sent a reply the client could not understand.
    backend_error,         ///< The server refused the command; `what()` has its message.
    serialization_failed,  ///< The serializer rejected the value or the stored bytes.
    invalid_key,           ///< The key is empty, too long or has bytes the backend forbids.
    value_too_large,       ///< The encoded value exceeds the backend's item size limit.
    not_a_number,          ///< `increment` found a value that is not a 64-bit integer.
    not_supported,         ///< The backend cannot do this operation (e.g. memcached `ttl`).
    invalid_argument,      ///< An argument is out of range (e.g. a negative TTL).
    cas_mismatch,          ///< A compare-and-set found the value changed since it was read.
    lock_not_acquired,     ///< A lock could not be taken before its wait deadline.
    unknown_backend,       ///< A URL names a scheme whose backend is not built in.
    unknown_alias,         ///< The registry has no cache under that alias.
    invalid_config,        ///< A URL or config entry is malformed or has unknown parameters.
    closed,                ///< The cache was closed and this backend does not reopen.
};

/// The number one past the largest `errc` value: handy for per-error arrays.
inline constexpr std::size_t errc_count = static_cast<std::size_t>(errc::closed) + 1;

/// The name of `e` as written in the enum ("timeout", "backend_unavailable", ...), for logs and
/// metric labels; empty for a value that is not an `errc`.
auto to_string(errc e) noexcept -> std::string_view;

/// The `"asiocache"` error category.
auto cache_category() noexcept -> boost::system::error_category const&;

inline auto make_error_code(errc e) noexcept -> boost::system::error_code {
    return {static_cast<int>(e), cache_category()};
}

/// Throws `boost::system::system_error` carrying `e` and `detail` (shown by `what()`).
[[noreturn]] void throw_error(errc e, std::string const& detail);

/// One item of a batch that failed while other items of the same batch succeeded.
struct item_failure {
    std::size_t index = 0;            ///< Position of the item in the caller's batch.
    boost::system::error_code code;   ///< Why it failed (an `errc`).
    std::string detail;               ///< The server and its message.
};

/// Thrown by a multi-key operation (`multi_get`, `multi_set`) when some items failed and the
/// others were served: a pool of memcached servers with one down, say. `code()` is the first
/// failure's code, so a caller that does not look further sees an ordinary error. `failed()`
/// lists every failed item in order; for `multi_get`, `values()` holds one slot per key, as a
/// successful call would return it, with `nullopt` for misses and for failed keys alike (tell
/// them apart with `failed()`); for `multi_set` it is empty and every item not in `failed()`
/// was stored. A backend throws it with encoded bytes; the facade's typed `multi_get<T>`
/// rethrows it as `partial_values<T>`, which adds the decoded values.
class partial_failure : public boost::system::system_error {
public:
    partial_failure(std::vector<item_failure> failed, std::vector<std::optional<std::string>> values,
                    std::string const& what)
        : system_error(failed.empty() ? boost::system::error_code() : failed.front().code, what),
          failed_(std::move(failed)),
          values_(std::move(values)) {}

    [[nodiscard]] auto failed() const noexcept -> std::vector<item_failure> const& {
        return failed_;
    }
    [[nodiscard]] auto values() const noexcept -> std::vector<std::optional<std::string>> const& {
        return values_;
    }

private:
    std::vector<item_failure> failed_;
    std::vector<std::optional<std::string>> values_;
};

/// The facade's `multi_get<T>` form of `partial_failure`: the same failures, and the values
/// that were read, decoded.
template <class T>
class partial_values : public partial_failure {
public:
    partial_values(partial_failure const& base, std::vector<std::optional<T>> typed)
        : partial_failure(base), typed_(std::move(typed)) {}

    [[nodiscard]] auto typed_values() const noexcept -> std::vector<std::optional<T>> const& {
        return typed_;
    }

private:
    std::vector<std::optional<T>> typed_;
};

}  // namespace asiocache

template <>
struct boost::system::is_error_code_enum<asiocache::errc> : std::true_type {};
