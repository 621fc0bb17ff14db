// SPDX-License-Identifier: MIT
#pragma once

#include "asiocache/detail/typed_json.hpp"
#include "asiocache/errors.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace asiocache {

namespace detail {
/// Marks the built-in JSON serializer; defined inside the library alone.
struct builtin_json_key;
}  // namespace detail

/// How a serializer treats values. The serializer is chosen at run time (`?serializer=json`),
/// the value type at compile time (`get<T>`); the kind decides which conversion of `T` applies.
enum class serializer_kind {
    bytes,       ///< Values are their own bytes: `std::string`, byte vectors, or a `codec<T>`.
    string,      ///< Like `bytes`, plus numbers as decimal text (aiocache's StringSerializer).
    structured,  ///< `T` converts to a JSON document (`to_json`/`from_json`), which the serializer
                 ///< writes as JSON text, MsgPack, CBOR, or a user-defined format.
    objects,     ///< No bytes at all: the backend keeps the objects (`serializers::none()`).
};

/// A pluggable serializer. Built-ins live in `asiocache/serializers/`; a user serializer
/// derives from this class (usually as `structured`, overriding `dump` and `parse`) and is
/// handed to the cache without touching the library.
///
/// Serializers are stateless or immutable, and shared between threads.
class serializer {
public:
    serializer() = default;
    virtual ~serializer() = default;

    /// The name used in URLs and config files: "bytes", "string", "json", "msgpack", ...
    [[nodiscard]] virtual auto name() const noexcept -> std::string_view = 0;
    [[nodiscard]] virtual auto kind() const noexcept -> serializer_kind = 0;

    /// `structured` serializers only: writes a document. May throw any `std::exception`; the
    /// cache reports it as `errc::serialization_failed` naming the key.
    [[nodiscard]] virtual auto dump(nlohmann::json const& doc) const -> std::string;
    /// `structured` serializers only: reads a document. May throw any `std::exception`.
    [[nodiscard]] virtual auto parse(std::string_view bytes) const -> nlohmann::json;

    /// True for `serializers::json()` alone: `encode_value` and `decode_value` then write and
    /// read typed JSON types (see `asiocache/detail/typed_json.hpp`) directly, without a
    /// `nlohmann::json` document, producing the same bytes as `dump`.
    [[nodiscard]] auto is_builtin_json() const noexcept -> bool { return builtin_json_; }

protected:
    explicit serializer(detail::builtin_json_key const& /*key*/) noexcept : builtin_json_(true) {}

private:
    bool builtin_json_ = false;
};

/// Customization point for the `bytes` and `string` kinds, in the style of `fmt::formatter`:
/// specialize with `static std::string encode(T const&)` and `static T decode(std::string_view)`
/// (throwing on bad input) to store a type as bytes of your own layout.
template <class T>
struct codec;

template <>
struct codec<std::string> {
    static auto encode(std::string const& v) -> std::string { return v; }
    static auto decode(std::string_view b) -> std::string { return std::string(b); }
};

template <>
struct codec<std::vector<std::byte>> {
    static auto encode(std::vector<std::byte> const& v) -> std::string {
        return {reinterpret_cast<char const*>(v.data()), v.size()};
    }
    static auto decode(std::string_view b) -> std::vector<std::byte> {
        auto const* p = reinterpret_cast<std::byte const*>(b.data());
        return {p, p + b.size()};
    }
};

namespace detail {

template <class T>
concept has_codec = requires(T const& v, std::string_view b) {
    { codec<T>::encode(v) } -> std::convertible_to<std::string>;
    { codec<T>::decode(b) } -> std::convertible_to<T>;
};

template <class T>
concept decimal = (std::integral<T> || std::floating_point<T>) && !std::same_as<T, bool>;

[[noreturn]] void throw_unrepresentable(std::string_view serializer, std::string_view key,
                                        std::string_view why);

template <decimal T>
auto decimal_encode(T v) -> std::string {
    return fmt::format("{}", v);
}

template <decimal T>
auto decimal_decode(std::string_view b) -> std::optional<T> {
    T out{};
    auto const* end = b.data() + b.size();
    auto [ptr, ec] = std::from_chars(b.data(), end, out);
    if (ec != std::errc{} || ptr != end || b.empty()) {
        return std::nullopt;
    }
    return out;
}


}  // namespace detail

/// Encodes `value` for storage under `key` (the key only names the failure).
/// Throws `errc::serialization_failed` when the serializer cannot represent `T`.
template <class T>
auto encode_value(serializer const& s, T const& value, std::string_view key) -> std::string {
    switch (s.kind()) {
        case serializer_kind::bytes:
        case serializer_kind::string:
            if constexpr (detail::has_codec<T>) {
                return codec<T>::encode(value);
            } else if constexpr (detail::decimal<T>) {
                if (s.kind() == serializer_kind::string) {
                    return detail::decimal_encode(value);
                }
            }
            detail::throw_unrepresentable(s.name(), key,
                                          "the value type has no codec<T> for byte serializers");
        case serializer_kind::structured:
            if constexpr (detail::typed_json<T>) {
                try {
                    if (s.is_builtin_json()) {
                        return detail::typed_to_json_text(value);
                    }
                    return s.dump(detail::typed_to_document(value));
                } catch (std::exception const& e) {
                    detail::throw_unrepresentable(s.name(), key, e.what());
                }
            } else if constexpr (detail::to_document<T>) {
                try {
                    return s.dump(nlohmann::json(value));
                } catch (std::exception const& e) {
                    detail::throw_unrepresentable(s.name(), key, e.what());
                }
            } else {
                detail::throw_unrepresentable(s.name(), key, "the value type has no to_json");
            }
        case serializer_kind::objects:
            detail::throw_unrepresentable(
                s.name(), key, "serializer 'none' keeps objects, and this backend stores bytes");
    }
    detail::throw_unrepresentable(s.name(), key, "unknown serializer kind");
}

/// Decodes stored bytes read from `key`. Bytes that do not decode to a `T` throw
/// `errc::serialization_failed` naming the key; never a default value.
template <class T>
auto decode_value(serializer const& s, std::string_view bytes, std::string_view key) -> T {
    switch (s.kind()) {
        case serializer_kind::bytes:
        case serializer_kind::string:
            if constexpr (detail::has_codec<T>) {
                try {
                    return codec<T>::decode(bytes);
                } catch (std::exception const& e) {
                    detail::throw_unrepresentable(s.name(), key, e.what());
                }
            } else if constexpr (detail::decimal<T>) {
                if (s.kind() == serializer_kind::string) {
                    if (auto v = detail::decimal_decode<T>(bytes)) {
                        return *v;
                    }
                    detail::throw_unrepresentable(s.name(), key, "stored text is not a number");
                }
            }
            detail::throw_unrepresentable(s.name(), key,
                                          "the value type has no codec<T> for byte serializers");
        case serializer_kind::structured:
            if constexpr (detail::typed_json<T>) {
                try {
                    if (s.is_builtin_json()) {
                        return detail::typed_from_json_text<T>(bytes);
                    }
                    if constexpr (detail::has_described<T>::value) {
                        return detail::typed_from_document<T>(s.parse(bytes));
                    } else {
                        return detail::document_as<T>(s.parse(bytes));
                    }
                } catch (std::exception const& e) {
                    detail::throw_unrepresentable(s.name(), key, e.what());
                }
            } else if constexpr (detail::from_document<T>) {
                try {
                    return detail::document_as<T>(s.parse(bytes));
                } catch (std::exception const& e) {
                    detail::throw_unrepresentable(s.name(), key, e.what());
                }
            } else {
                detail::throw_unrepresentable(s.name(), key, "the value type has no from_json");
            }
        case serializer_kind::objects:
            detail::throw_unrepresentable(
                s.name(), key, "serializer 'none' keeps objects, and this backend stores bytes");
    }
    detail::throw_unrepresentable(s.name(), key, "unknown serializer kind");
}

}  // namespace asiocache

/// `std::optional<T>` as a JSON document: `nullopt` is `null`. With it, `get<std::optional<U>>`
/// tells a stored null (a hit holding an empty inner optional) from a miss (an empty outer one).
template <class T>
struct nlohmann::adl_serializer<std::optional<T>> {
    static void to_json(json& j, std::optional<T> const& v) {
        if (v) {
            j = *v;
        } else {
            j = nullptr;
        }
    }
    static void from_json(json const& j, std::optional<T>& v) {
        if (j.is_null()) {
            v.reset();
        } else {
            v = asiocache::detail::document_as<T>(j);
        }
    }
};
