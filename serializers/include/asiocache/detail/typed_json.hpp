// SPDX-License-Identifier: MIT
#pragma once
// The built-in JSON serializer's typed path. `encode_value<T>` and `decode_value<T>` take it when
// the runtime serializer is `serializers::json()` and `T` is a *typed JSON type* (below): the value
// is written straight into a string, and read from Boost.JSON's SAX parser through a flat token
// tape, with no `nlohmann::json` document in between. The bytes written are those of the
// document path (nlohmann's compact dump plus Python's NaN/Infinity tokens), byte for byte.
//
// Typed JSON types:
//   - `bool`, the integer types other than the character types, `float` and `double`;
//   - `std::string`;
//   - `std::optional<U>`, `std::vector<U>`, `std::map<std::string, U>` and
//     `std::unordered_map<std::string, U>` of typed JSON types;
//   - default-constructible classes described with `BOOST_DESCRIBE_STRUCT` (or
//     `BOOST_DESCRIBE_CLASS`) which have neither a nlohmann `to_json` nor a `from_json`, and whose
//     data members, inherited ones included, are typed JSON types or types nlohmann converts
//     both ways (`nlohmann::json`, a type with hooks): such a member is written and read
//     through a document of its own, exactly as the document path would.
// A class with nlohmann hooks keeps them, in both directions, described or not. Anything else,
// such as `nlohmann::json` itself, a container of a type with hooks, or an enum, goes through
// the document path as before.

#include <boost/describe/members.hpp>
#include <boost/describe/modifiers.hpp>
#include <boost/mp11/algorithm.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace asiocache::detail {

template <class T>
concept to_document = requires(T const& v) { nlohmann::json(v); };

template <class T>
concept from_document = requires(nlohmann::json const& j) { j.template get<T>(); };

/// A document as `T`. nlohmann converts any number to any arithmetic type with a plain cast,
/// so 1.5 would read as the integer 1, 2^64-1 as -1, and 1e300 as an integer or a `float` is
/// undefined behaviour. A number read here must fit `T` exactly (3.0 reads as the integer 3,
/// 1.5 does not); anything else throws, and the caller reports `serialization_failed` instead
/// of a wrong value. On the document path, numbers nested inside containers or user types still
/// go through nlohmann's own conversion; the typed path checks them at every depth.
template <class T>
auto document_as(nlohmann::json const& j) -> T {
    if constexpr (std::integral<T> && !std::same_as<T, bool>) {
        if (j.is_number_unsigned()) {
            auto u = j.get<std::uint64_t>();
            if (!std::in_range<T>(u)) {
                throw std::out_of_range(fmt::format("{} does not fit the integer type", u));
            }
            return static_cast<T>(u);
        }
        if (j.is_number_integer()) {
            auto i = j.get<std::int64_t>();
            if (!std::in_range<T>(i)) {
                throw std::out_of_range(fmt::format("{} does not fit the integer type", i));
            }
            return static_cast<T>(i);
        }
        if (j.is_number_float()) {
            // Python writes 3.0 for a float holding an integer: that one reads exactly.
            auto d = j.get<double>();
            constexpr auto lo = static_cast<double>(std::numeric_limits<T>::min());
            // max() + 1 is a power of two, exact as a double, where max() itself may round up.
            constexpr auto hi = static_cast<double>(std::numeric_limits<T>::max() / 2 + 1) * 2;
            if (std::isfinite(d) && std::trunc(d) == d && d >= lo && d < hi) {
                return static_cast<T>(d);
            }
            throw std::domain_error(fmt::format("{} is not an integer of the type read", d));
        }
    } else if constexpr (std::floating_point<T>) {
        if (j.is_number_float()) {
            auto d = j.get<double>();
            if (std::isfinite(d) && (d > static_cast<double>(std::numeric_limits<T>::max()) ||
                                     d < static_cast<double>(std::numeric_limits<T>::lowest()))) {
                throw std::out_of_range(fmt::format("{} is out of range", d));
            }
            return static_cast<T>(d);
        }
    }
    return j.template get<T>();
}

// ---------------------------------------------------------------------------------------------
// Which types take the typed path

template <class T>
concept character =
    std::same_as<T, char> || std::same_as<T, wchar_t> || std::same_as<T, char8_t> ||
    std::same_as<T, char16_t> || std::same_as<T, char32_t>;

template <class T>
concept json_integer = std::integral<T> && !std::same_as<T, bool> && !character<T>;

template <class T>
concept json_floating = std::same_as<T, float> || std::same_as<T, double>;

/// Every data member a described class stores, its bases' included, in declaration order.
template <class T>
using json_members = boost::describe::describe_members<
    T, boost::describe::mod_any_access | boost::describe::mod_inherited>;

template <class P>
struct member_pointee;
template <class M, class C>
struct member_pointee<M C::*> {
    using type = std::remove_cv_t<M>;
};
template <class D>
using member_type = typename member_pointee<std::remove_cv_t<decltype(D::pointer)>>::type;

template <class T>
struct is_typed_json : std::false_type {};

template <class T>
    requires json_integer<T> || json_floating<T> || std::same_as<T, bool> ||
             std::same_as<T, std::string>
struct is_typed_json<T> : std::true_type {};

template <class T>
struct is_typed_json<std::optional<T>> : is_typed_json<T> {};
template <class T>
struct is_typed_json<std::vector<T>> : is_typed_json<T> {};
template <class T>
struct is_typed_json<std::map<std::string, T>> : is_typed_json<T> {};
template <class T>
struct is_typed_json<std::unordered_map<std::string, T>> : is_typed_json<T> {};

/// A type nlohmann converts both ways, which the typed path hands to nlohmann.
template <class T>
concept document_type = to_document<T> && from_document<T>;

template <class D>
using member_is_typed_json =
    std::bool_constant<is_typed_json<member_type<D>>::value || document_type<member_type<D>>>;

template <class T>
concept described_class = std::is_class_v<T> && boost::describe::has_describe_members<T>::value;

// A class with nlohmann hooks keeps them: they are the user's explicit choice of layout.
template <class T>
    requires described_class<T>
struct is_typed_json<T>
    : std::bool_constant<std::is_default_constructible_v<T> && !to_document<T> &&
                         !from_document<T> &&
                         boost::mp11::mp_all_of<json_members<T>, member_is_typed_json>::value> {};

template <class T>
concept typed_json = is_typed_json<T>::value;

/// Whether a typed JSON type has a described class inside; such types have no nlohmann
/// conversion, so MsgPack and CBOR reach them through `typed_to_document`/`typed_from_document`.
template <class T>
struct has_described : std::false_type {};
template <class T>
struct has_described<std::optional<T>> : has_described<T> {};
template <class T>
struct has_described<std::vector<T>> : has_described<T> {};
template <class T>
struct has_described<std::map<std::string, T>> : has_described<T> {};
template <class T>
struct has_described<std::unordered_map<std::string, T>> : has_described<T> {};
template <class T>
    requires described_class<T>
struct has_described<T> : std::true_type {};

// nlohmann objects are `std::map`s: a described class's fields come out sorted by name, as
// `std::string` compares them (bytes as unsigned char), not in declaration order.
constexpr auto name_less(char const* a, char const* b) -> bool {
    for (;; ++a, ++b) {
        auto ca = static_cast<unsigned char>(*a);
        auto cb = static_cast<unsigned char>(*b);
        if (ca != cb || ca == 0) {
            return ca < cb;
        }
    }
}
template <class A, class B>
using by_name = std::bool_constant<name_less(A::name, B::name)>;
template <class T>
using sorted_json_members = boost::mp11::mp_sort<json_members<T>, by_name>;

template <class L>
constexpr auto unique_names() -> bool {
    bool unique = true;
    boost::mp11::mp_for_each<boost::mp11::mp_iota<boost::mp11::mp_size<L>>>([&](auto i) {
        if constexpr (i + 1 < boost::mp11::mp_size<L>::value) {
            using A = boost::mp11::mp_at_c<L, i>;
            using B = boost::mp11::mp_at_c<L, i + 1>;
            unique = unique && name_less(A::name, B::name);
        }
    });
    return unique;
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Appends `s` as a JSON string literal, escaped as nlohmann escapes it. Throws
/// `std::invalid_argument` if `s` is not valid UTF-8, as nlohmann's dump does.
void write_json_string(std::string& out, std::string_view s);
/// Appends a document as the built-in JSON serializer's `dump` writes it.
void write_json_document(std::string& out, nlohmann::json const& doc);
/// Appends `d` as nlohmann writes a double (its shortest round-trip form), or as `NaN`,
/// `Infinity` or `-Infinity`.
void write_json_double(std::string& out, double d);

template <json_integer T>
void write_json_integer(std::string& out, T v) {
    std::array<char, 24> buf{};
    auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    out.append(buf.data(), r.ptr);
}

template <class T>
void write_json(std::string& out, T const& v);

template <class T>
void write_json_object_entries(std::string& out, std::map<std::string, T> const& m) {
    bool first = true;
    for (auto const& [k, e] : m) {
        out += first ? '{' : ',';
        first = false;
        write_json_string(out, k);
        out += ':';
        write_json(out, e);
    }
    out += first ? "{}" : "}";
}

template <class T>
void write_json_object_entries(std::string& out, std::unordered_map<std::string, T> const& m) {
    using entry = typename std::unordered_map<std::string, T>::value_type;
    std::vector<entry const*> sorted;
    sorted.reserve(m.size());
    for (auto const& e : m) {
        sorted.push_back(&e);
    }
    std::sort(sorted.begin(), sorted.end(),
              [](entry const* a, entry const* b) { return a->first < b->first; });
    bool first = true;
    for (auto const* e : sorted) {
        out += first ? '{' : ',';
        first = false;
        write_json_string(out, e->first);
        out += ':';
        write_json(out, e->second);
    }
    out += first ? "{}" : "}";
}

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T>
struct is_vector<std::vector<T>> : std::true_type {};
template <class T>
struct is_string_map : std::false_type {};
template <class T>
struct is_string_map<std::map<std::string, T>> : std::true_type {};
template <class T>
struct is_string_map<std::unordered_map<std::string, T>> : std::true_type {};

template <class T>
void write_json(std::string& out, T const& v) {
    if constexpr (!typed_json<T>) {
        static_assert(document_type<T>);
        write_json_document(out, nlohmann::json(v));
    } else if constexpr (std::same_as<T, bool>) {
        out += v ? "true" : "false";
    } else if constexpr (json_integer<T>) {
        write_json_integer(out, v);
    } else if constexpr (json_floating<T>) {
        write_json_double(out, static_cast<double>(v));
    } else if constexpr (std::same_as<T, std::string>) {
        write_json_string(out, v);
    } else if constexpr (is_optional<T>::value) {
        if (v) {
            write_json(out, *v);
        } else {
            out += "null";
        }
    } else if constexpr (is_vector<T>::value) {
        if (v.empty()) {
            out += "[]";
            return;
        }
        char sep = '[';
        for (auto const& e : v) {
            out += sep;
            sep = ',';
            if constexpr (std::same_as<T, std::vector<bool>>) {
                write_json(out, static_cast<bool>(e));
            } else {
                write_json(out, e);
            }
        }
        out += ']';
    } else if constexpr (is_string_map<T>::value) {
        write_json_object_entries(out, v);
    } else {
        using members = sorted_json_members<T>;
        static_assert(unique_names<members>(), "a described class repeats a member name");
        if constexpr (boost::mp11::mp_empty<members>::value) {
            out += "{}";
        } else {
            char sep = '{';
            boost::mp11::mp_for_each<members>([&](auto d) {
                constexpr std::string_view name = decltype(d)::name;
                out += sep;
                sep = ',';
                out += '"';
                out += name;
                out += "\":";
                write_json(out, v.*d.pointer);
            });
            out += '}';
        }
    }
}

/// `v` as nlohmann writes it: compact JSON text, with Python's NaN/Infinity tokens.
template <typed_json T>
auto typed_to_json_text(T const& v) -> std::string {
    std::string out;
    if constexpr (!std::same_as<T, std::string>) {
        out.reserve(256);  // a string reserves its own size
    }
    write_json(out, v);
    return out;
}

/// The document `nlohmann::json(v)` would build, for types nlohmann cannot convert (described
/// classes, and containers of them): for MsgPack, CBOR and user serializers.
template <class T>
auto typed_to_document(T const& v) -> nlohmann::json {
    if constexpr (!has_described<T>::value) {
        return nlohmann::json(v);
    } else if constexpr (is_optional<T>::value) {
        return v ? typed_to_document(*v) : nlohmann::json(nullptr);
    } else if constexpr (is_vector<T>::value) {
        auto doc = nlohmann::json::array();
        for (auto const& e : v) {
            doc.push_back(typed_to_document(e));
        }
        return doc;
    } else if constexpr (is_string_map<T>::value) {
        auto doc = nlohmann::json::object();
        for (auto const& [k, e] : v) {
            doc[k] = typed_to_document(e);
        }
        return doc;
    } else {
        auto doc = nlohmann::json::object();
        boost::mp11::mp_for_each<json_members<T>>(
            [&](auto d) { doc[decltype(d)::name] = typed_to_document(v.*d.pointer); });
        return doc;
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// One value of a parsed document. Containers hold their contents in the tokens that follow
/// them, up to `end`; an object's contents alternate key (a string token) and value.
struct json_token {
    enum class type : std::uint8_t { null, boolean, int64, uint64, number, string, array, object, other };
    type kind = type::null;
    bool boolean = false;
    bool in_input = false;  ///< A string that is a view of the input text, not of `json_tape::text`.
    union {
        std::int64_t int64 = 0;
        std::uint64_t uint64;
        double number;
        std::size_t offset;  ///< A string's first byte, in the input or in `json_tape::text`.
    };
    std::size_t size = 0;  ///< A string's length, or the element (or entry) count of a container.
    std::size_t end = 0;   ///< A container's end: the index of the token after its contents.
};

/// A parsed document, flat. One per thread is reused (`thread_json_tape`), so reading a value
/// allocates only what the value itself holds.
struct json_tape {
    std::vector<json_token> tokens;
    std::string text;         ///< Strings that had escapes, unescaped.
    std::string_view input;   ///< The text parsed, which the tape's string views point into.
    std::vector<std::size_t> open;  ///< While parsing: the containers not yet closed.

    [[nodiscard]] auto str(json_token const& t) const -> std::string_view {
        return {(t.in_input ? input.data() : text.data()) + t.offset, t.size};
    }
    void clear();
};

/// The calling thread's tape. Reading a value runs no user code, so it is never re-entered.
auto thread_json_tape() -> json_tape&;

/// Parses JSON text as `parse_json_text` does, accepting exactly what it accepts: Boost.JSON
/// first, and on anything it refuses (Python's NaN/Infinity tokens, a byte order mark) the
/// nlohmann path. Throws as `parse_json_text` does.
void load_json_tape(std::string_view text, json_tape& tape);
/// Boost.JSON alone: false where it refuses the text. For tests.
auto parse_json_tape(std::string_view text, json_tape& tape) -> bool;
/// Flattens a document (from MsgPack, CBOR or the fallback) into a tape.
void document_to_tape(nlohmann::json const& doc, json_tape& tape);

/// A stored value that does not match the type read; `what()` names where ("[2].user: ...").
class json_value_error : public std::runtime_error {
public:
    explicit json_value_error(std::string what) : std::runtime_error(what), problem_(std::move(what)) {}
    /// Adds an enclosing path segment, outermost last: `.name` or `[index]`.
    void within(std::string segment) {
        path_.insert(0, segment);
        static_cast<std::runtime_error&>(*this) = std::runtime_error(path_ + ": " + problem_);
    }

private:
    std::string path_;
    std::string problem_;
};

/// The value at `i` as a document; moves `i` past it.
auto tape_to_document(json_tape const& t, std::size_t& i) -> nlohmann::json;

[[noreturn]] void throw_json_mismatch(std::string_view expected, json_token const& found);
[[noreturn]] void throw_json_out_of_range(json_token const& found);
[[noreturn]] void throw_json_missing(std::string_view field);

inline void skip_json(json_tape const& t, std::size_t& i) {
    auto const& tok = t.tokens[i];
    i = (tok.kind == json_token::type::array || tok.kind == json_token::type::object) ? tok.end
                                                                                      : i + 1;
}

// Numbers must fit the type read exactly, as `document_as` checks at the top level, at any depth.
template <json_integer T>
auto json_integer_as(json_token const& tok) -> T {
    switch (tok.kind) {
        case json_token::type::int64:
            if (std::in_range<T>(tok.int64)) {
                return static_cast<T>(tok.int64);
            }
            break;
        case json_token::type::uint64:
            if (std::in_range<T>(tok.uint64)) {
                return static_cast<T>(tok.uint64);
            }
            break;
        case json_token::type::number: {
            // Python writes 3.0 for a float holding an integer: that one reads exactly.
            auto d = tok.number;
            constexpr auto lo = static_cast<double>(std::numeric_limits<T>::min());
            constexpr auto hi = static_cast<double>(std::numeric_limits<T>::max() / 2 + 1) * 2;
            if (std::isfinite(d) && std::trunc(d) == d && d >= lo && d < hi) {
                return static_cast<T>(d);
            }
            break;
        }
        default: throw_json_mismatch("an integer", tok);
    }
    throw_json_out_of_range(tok);
}

template <json_floating T>
auto json_floating_as(json_token const& tok) -> T {
    switch (tok.kind) {
        case json_token::type::int64: return static_cast<T>(tok.int64);
        case json_token::type::uint64: return static_cast<T>(tok.uint64);
        case json_token::type::number: {
            auto d = tok.number;
            if (std::isfinite(d) && (d > static_cast<double>(std::numeric_limits<T>::max()) ||
                                     d < static_cast<double>(std::numeric_limits<T>::lowest()))) {
                throw_json_out_of_range(tok);
            }
            return static_cast<T>(d);
        }
        default: throw_json_mismatch("a number", tok);
    }
}

/// Reads the value at `i` into `out`, overwriting all of it, and moves `i` past it.
template <class T>
void read_json(json_tape const& t, std::size_t& i, T& out) {
    auto const& tok = t.tokens[i];
    using type = json_token::type;
    if constexpr (!typed_json<T>) {
        static_assert(document_type<T>);
        try {
            out = document_as<T>(tape_to_document(t, i));
        } catch (std::exception const& e) {
            throw json_value_error(e.what());
        }
    } else if constexpr (std::same_as<T, bool>) {
        if (tok.kind != type::boolean) {
            throw_json_mismatch("a boolean", tok);
        }
        out = tok.boolean;
        ++i;
    } else if constexpr (json_integer<T>) {
        out = json_integer_as<T>(tok);
        ++i;
    } else if constexpr (json_floating<T>) {
        out = json_floating_as<T>(tok);
        ++i;
    } else if constexpr (std::same_as<T, std::string>) {
        if (tok.kind != type::string) {
            throw_json_mismatch("a string", tok);
        }
        out.assign(t.str(tok));
        ++i;
    } else if constexpr (is_optional<T>::value) {
        if (tok.kind == type::null) {
            out.reset();
            ++i;
        } else {
            read_json(t, i, out.emplace());
        }
    } else if constexpr (is_vector<T>::value) {
        if (tok.kind != type::array) {
            throw_json_mismatch("an array", tok);
        }
        out.clear();
        out.reserve(tok.size);
        ++i;
        for (std::size_t n = 0; n < tok.size; ++n) {
            try {
                if constexpr (std::same_as<T, std::vector<bool>>) {
                    bool b = false;
                    read_json(t, i, b);
                    out.push_back(b);
                } else {
                    read_json(t, i, out.emplace_back());
                }
            } catch (json_value_error& e) {
                e.within("[" + std::to_string(n) + "]");
                throw;
            }
        }
    } else if constexpr (is_string_map<T>::value) {
        if (tok.kind != type::object) {
            throw_json_mismatch("an object", tok);
        }
        out.clear();
        auto const end = tok.end;
        ++i;
        while (i < end) {
            auto key = t.str(t.tokens[i++]);
            try {
                read_json(t, i, out[std::string(key)]);  // a repeated key: the last one wins
            } catch (json_value_error& e) {
                e.within("." + std::string(key));
                throw;
            }
        }
    } else {
        if (tok.kind != type::object) {
            throw_json_mismatch("an object", tok);
        }
        using members = json_members<T>;
        constexpr auto count = boost::mp11::mp_size<members>::value;
        std::array<bool, count> seen{};
        auto const end = tok.end;
        ++i;
        while (i < end) {
            auto key = t.str(t.tokens[i++]);
            bool matched = false;
            boost::mp11::mp_for_each<boost::mp11::mp_iota_c<count>>([&](auto m) {
                using D = boost::mp11::mp_at_c<members, m>;
                if (!matched && key == std::string_view(D::name)) {
                    matched = true;
                    seen[m] = true;  // a repeated key: the last one wins
                    try {
                        read_json(t, i, out.*D::pointer);
                    } catch (json_value_error& e) {
                        e.within("." + std::string(key));
                        throw;
                    }
                }
            });
            if (!matched) {
                skip_json(t, i);  // fields the type does not have are ignored
            }
        }
        boost::mp11::mp_for_each<boost::mp11::mp_iota_c<count>>([&](auto m) {
            if (!seen[m]) {
                throw_json_missing(boost::mp11::mp_at_c<members, m>::name);
            }
        });
    }
}

template <typed_json T>
auto read_json_tape(json_tape const& t) -> T {
    T out{};
    std::size_t i = 0;
    read_json(t, i, out);
    return out;
}

/// Reads JSON text as `T`: the typed path of `decode_value`.
template <typed_json T>
auto typed_from_json_text(std::string_view text) -> T {
    auto& tape = thread_json_tape();
    load_json_tape(text, tape);
    return read_json_tape<T>(tape);
}

/// Reads a document as `T` with the typed path's rules (for MsgPack, CBOR, user serializers).
template <typed_json T>
auto typed_from_document(nlohmann::json const& doc) -> T {
    json_tape tape;
    document_to_tape(doc, tape);
    return read_json_tape<T>(tape);
}

}  // namespace asiocache::detail
