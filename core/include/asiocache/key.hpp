// SPDX-License-Identifier: MIT
#pragma once

/// Keys for memoized functions: the default key (a tag plus every argument, formatted with fmt)
/// and the key builders that pick the arguments that matter.
///
/// A memoized call's key is `<key_prefix>:<part>`, and the cache then joins its namespace as for
/// any other key. The part is built from the arguments: each one is formatted with fmt, its `\`
/// and `:` are escaped with a `\`, and the escaped arguments are joined with `:`. So
/// `("a:b", "c")` gives `a\:b:c` and `("a", "b:c")` gives `a:b\:c`: two argument lists of one
/// function never share a key, and the key is the same in every run and every process (it never
/// holds an address). Types fmt cannot format are rejected at compile time: give them a
/// `fmt::formatter`, or a key builder that leaves them out (`key_from_args`, `noself`).

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstddef>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace asiocache {

namespace detail {

/// True for hash containers (`std::unordered_map`/`set` and their kind: anything with a `hasher`
/// and a `key_equal`), whose iteration order, and so whose formatted text, can differ between
/// two equal values and between processes.
template <class T, class = void>
struct is_hashed_container : std::false_type {};
template <class T>
struct is_hashed_container<T, std::void_t<typename T::hasher, typename T::key_equal>>
    : std::true_type {};

/// True for a hash container, or a range or optional holding one at any depth.
template <class T, class = void>
struct has_unstable_order : is_hashed_container<T> {};
template <class T>
struct has_unstable_order<T, std::void_t<typename T::value_type>>
    : std::bool_constant<is_hashed_container<T>::value ||
                         (!std::is_same_v<typename T::value_type, T> &&
                          has_unstable_order<std::remove_cv_t<typename T::value_type>>::value)> {};

/// True for the types the default key may format: what fmt can format, except pointers other
/// than C strings (fmt prints `void*` as an address, which is different in every process), and
/// hash containers (their order is not stable: sort them into a `std::set` or `std::map`).
template <class T>
inline constexpr bool key_formattable_v =
    fmt::is_formattable<T>::value &&
    (!std::is_pointer_v<T> || std::is_same_v<std::remove_cv_t<std::remove_pointer_t<T>>, char>) &&
    !has_unstable_order<T>::value;

/// Appends `text` with `\` and `:` escaped by a `\`, so that `:` stays a separator. Runs
/// without either character are copied whole (the common case: one append).
inline void append_escaped(std::string& out, std::string_view text) {
    // Most arguments hold neither character: two vectorized scans, then one append.
    if (text.empty() || (std::memchr(text.data(), ':', text.size()) == nullptr &&
                         std::memchr(text.data(), '\\', text.size()) == nullptr)) {
        out.append(text);
        return;
    }
    std::size_t run = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char ch = text[i];
        if (ch == '\\' || ch == ':') {
            out.append(text.data() + run, i - run);
            out.push_back('\\');
            run = i;  // the special character starts the next run
        }
    }
    out.append(text.data() + run, text.size() - run);
}

/// Appends one argument to a key: formatted with fmt, then escaped.
template <class T>
void append_key_arg(std::string& out, T const& arg) {
    static_assert(key_formattable_v<T>,
                  "asiocache: the default key formats every argument with fmt, and this argument "
                  "type cannot be formatted, or is a pointer (an address is not a stable key) or "
                  "a hash container (its order is not stable; pass a std::set or std::map). "
                  "Specialize fmt::formatter for it, or give the memoized function a key_builder "
                  "that leaves it out, e.g. asiocache::key_from_args<1, 2>() or "
                  "asiocache::noself().");
    if constexpr (std::is_convertible_v<T const&, std::string_view>) {
        append_escaped(out, std::string_view(arg));
    } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                         !std::is_same_v<T, char>) {
        // Digits and '-' never need escaping: format straight into the key.
        fmt::format_to(std::back_inserter(out), "{}", arg);
    } else {
        fmt::memory_buffer buf;
        fmt::format_to(std::back_inserter(buf), "{}", arg);
        append_escaped(out, std::string_view(buf.data(), buf.size()));
    }
}

/// Appends the escaped arguments joined with `:`.
template <class... Ts>
void append_key_args(std::string& out, Ts const&... args) {
    [[maybe_unused]] bool first = true;
    [[maybe_unused]] auto one = [&](auto const& a) {
        if (!first) {
            out.push_back(':');
        }
        first = false;
        append_key_arg(out, a);
    };
    (one(args), ...);
}

}  // namespace detail

/// Formats `args` as the key part of a memoized call: each argument formatted with fmt, `\` and
/// `:` escaped, joined with `:`. Useful in key builders of your own.
template <class... Ts>
auto format_key_args(Ts const&... args) -> std::string {
    std::string out;
    detail::append_key_args(out, args...);
    return out;
}

/// The default key builder: every argument (see the file comment).
struct all_args_key {
    template <class... Ts>
    auto operator()(Ts const&... args) const -> std::string {
        std::string out;
        append_key(out, args...);
        return out;
    }
    /// Appends the part to `out` (what a memoized call uses: no string of its own).
    template <class... Ts>
    void append_key(std::string& out, Ts const&... args) const {
        detail::append_key_args(out, args...);
    }
};

/// A key builder that uses only the arguments at the given 0-based positions, in that order:
/// `key_from_args<1, 2>()` keys `fetch(client, channel, ts)` on `channel` and `ts`, so that
/// callers with different client objects share cache entries.
template <std::size_t... I>
struct key_from_args_t {
    template <class... Ts>
    auto operator()(Ts const&... args) const -> std::string {
        std::string out;
        append_key(out, args...);
        return out;
    }
    /// Appends the part to `out` (what a memoized call uses: no string of its own).
    template <class... Ts>
    void append_key(std::string& out, Ts const&... args) const {
        static_assert(((I < sizeof...(Ts)) && ...),
                      "asiocache::key_from_args: an argument position is past the last argument "
                      "(positions are 0-based)");
        auto refs = std::forward_as_tuple(args...);
        detail::append_key_args(out, std::get<I>(refs)...);
    }
};

/// See `key_from_args_t`.
template <std::size_t... I>
constexpr auto key_from_args() noexcept -> key_from_args_t<I...> {
    return {};
}

/// A key builder that leaves out the first argument (aiocache's `noself`): for functions whose
/// first parameter is the object they are called on, or a client handle that differs per call.
struct noself_key {
    template <class First, class... Ts>
    auto operator()(First const& self, Ts const&... args) const -> std::string {
        std::string out;
        append_key(out, self, args...);
        return out;
    }
    /// Appends the part to `out` (what a memoized call uses: no string of its own).
    template <class First, class... Ts>
    void append_key(std::string& out, First const& /*self*/, Ts const&... args) const {
        detail::append_key_args(out, args...);
    }
};

/// See `noself_key`.
constexpr auto noself() noexcept -> noself_key { return {}; }

/// The key builder of a memoized function taking `Args...` (`cached_options::key_builder`):
/// any callable that takes the arguments and returns the key's argument part, held as a
/// `std::function` holds it. A stateless builder with an `append_key(out, args...)` member
/// (`key_from_args`, `noself`, `all_args_key`) is also kept as a plain function that appends
/// the part to the key in place, which the memoized call uses: no string of its own per call.
template <class... Args>
class memo_key_builder {
public:
    using append_fn = void (*)(std::string& out, Args const&... args);

    /// Empty: a memoized function refuses it (`invalid_argument`).
    memo_key_builder() noexcept = default;
    memo_key_builder(std::nullptr_t) noexcept {}  // NOLINT: as std::function's

    template <class F>
        requires(!std::is_same_v<std::remove_cvref_t<F>, memo_key_builder> &&
                 !std::is_same_v<std::remove_cvref_t<F>, std::nullptr_t> &&
                 std::is_invocable_r_v<std::string, F const&, Args const&...>)
    memo_key_builder(F f)  // NOLINT: converts from any builder, as std::function does
        : build_(std::move(f)) {
        using G = std::remove_cvref_t<F>;
        if constexpr (std::is_empty_v<G> && std::is_default_constructible_v<G> &&
                      requires(G const& g, std::string& out, Args const&... args) {
                          g.append_key(out, args...);
                      }) {
            append_ = [](std::string& out, Args const&... args) { G{}.append_key(out, args...); };
        }
    }

    /// The argument part of the key.
    auto operator()(Args const&... args) const -> std::string { return build_(args...); }
    explicit operator bool() const noexcept { return static_cast<bool>(build_); }
    /// The builder held, if it is a `T` (as `std::function::target`).
    template <class T>
    [[nodiscard]] auto target() const noexcept -> T const* {
        return build_.template target<T>();
    }
    /// What appends the part in place, or nullptr when the builder only returns it.
    [[nodiscard]] auto appender() const noexcept -> append_fn { return append_; }

private:
    std::function<std::string(Args const&...)> build_;
    append_fn append_ = nullptr;
};

}  // namespace asiocache
