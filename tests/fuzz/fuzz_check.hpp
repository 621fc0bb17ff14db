// SPDX-License-Identifier: MIT
#pragma once
// Property checks shared by the fuzz targets. A broken property aborts at once with a message,
// so libFuzzer saves the input and the replay driver fails the ctest run. assert() is not used
// because Release builds (the CI replay) compile it out.

#include <boost/system/system_error.hpp>

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "asiocache/errors.hpp"

namespace asiocache::fuzz {

[[noreturn]] inline void fail(char const* what, char const* file, int line) {
    std::fprintf(stderr, "fuzz property broken at %s:%d: %s\n", file, line, what);
    std::abort();
}

/// The one failure shape every target accepts: `system_error` carrying `code`.
inline auto has_code(boost::system::system_error const& e, errc code) -> bool {
    return e.code() == make_error_code(code);
}

/// Reads little values off the front of a fuzz input: choices, lengths and split points, so that
/// one byte string drives a structured test case and mutations stay meaningful.
class input {
public:
    input(unsigned char const* data, std::size_t size)
        : rest_(reinterpret_cast<char const*>(data), size) {}

    auto byte() -> unsigned {
        if (rest_.empty()) {
            return 0;
        }
        auto b = static_cast<unsigned char>(rest_.front());
        rest_.remove_prefix(1);
        return b;
    }
    /// Up to `n` bytes (fewer at the end of the input).
    auto take(std::size_t n) -> std::string_view {
        auto out = rest_.substr(0, n);
        rest_.remove_prefix(out.size());
        return out;
    }
    /// A length-prefixed piece: one byte of length, then that many bytes.
    auto piece() -> std::string_view { return take(byte()); }
    [[nodiscard]] auto rest() const -> std::string_view { return rest_; }

private:
    std::string_view rest_;
};

}  // namespace asiocache::fuzz

#define FUZZ_CHECK(cond)                                          \
    do {                                                          \
        if (!(cond)) {                                            \
            ::asiocache::fuzz::fail(#cond, __FILE__, __LINE__);   \
        }                                                         \
    } while (false)
