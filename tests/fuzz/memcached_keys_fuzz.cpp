// SPDX-License-Identifier: MIT
// Fuzz target: memcached key building (build_key, check_plain_key, split_namespaced and the
// generation key layout), which decides what reaches the server's text protocol.
//
// Input: a flags byte (generations on or off), then a namespace and a key as length-prefixed
// pieces. Properties:
// - build_key returns a key or throws `system_error` with `errc::invalid_key`, and it refuses
//   exactly the keys the documented rule refuses (nothing valid is rejected, nothing invalid
//   slips through, nothing is truncated);
// - in generation mode a namespaced key splits back into the same namespace and key, and its
//   stored form with the largest possible generation is still a valid memcached key;
// - a plain key never looks like a namespaced one.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "memcached_keys.hpp"

namespace {

using asiocache::errc;
namespace mk = asiocache::backends::detail;

auto underscored(std::string_view s) -> std::string {
    std::string out(s);
    for (auto& c : out) {
        c = c == ' ' ? '_' : c;
    }
    return out;
}

auto forbidden(std::string_view s) -> bool {
    for (unsigned char c : s) {
        if (c <= 0x20 || c == 0x7f) {
            return true;
        }
    }
    return false;
}

// A memcached text-protocol key: 1 to 250 bytes, none of them space, control or DEL.
auto valid_for_server(std::string_view k) -> bool {
    return !k.empty() && k.size() <= mk::max_key_size && !forbidden(k);
}

auto plain_ok(std::string_view k, bool generations) -> bool {
    return valid_for_server(k) && !(generations && k.starts_with(mk::reserved_prefix));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    asiocache::fuzz::input in(data, size);
    bool generations = (in.byte() & 1) != 0;
    auto ns = std::string(in.piece());
    // The key may run past 255 bytes: the rest of the input.
    auto key = std::string(in.rest());

    // check_plain_key agrees with the rule, and with key_problem.
    bool threw = false;
    try {
        mk::check_plain_key(key, generations);
    } catch (boost::system::system_error const& e) {
        FUZZ_CHECK(asiocache::fuzz::has_code(e, errc::invalid_key));
        threw = true;
    }
    FUZZ_CHECK(threw == !plain_ok(key, generations));
    FUZZ_CHECK(mk::key_problem(key).empty() == valid_for_server(key));

    std::string built;
    try {
        built = mk::build_key(ns, key, generations);
    } catch (boost::system::system_error const& e) {
        FUZZ_CHECK(asiocache::fuzz::has_code(e, errc::invalid_key));
        if (!generations || ns.empty()) {
            FUZZ_CHECK(!plain_ok(underscored(ns + key), generations));
        } else {
            // Refused only for a forbidden byte or a stored form that could outgrow 250 bytes.
            auto worst = mk::generation_key_for({underscored(ns), underscored(key)},
                                                "18446744073709551615");
            FUZZ_CHECK(forbidden(underscored(ns)) || forbidden(underscored(key)) ||
                       worst.size() > mk::max_key_size);
        }
        return 0;
    }
    if (!generations || ns.empty()) {
        // aiocache's layout: namespace and key joined, spaces as '_', nothing cut.
        FUZZ_CHECK(built == underscored(ns + key));
        FUZZ_CHECK(plain_ok(built, generations));
        FUZZ_CHECK(!mk::split_namespaced(built));
        return 0;
    }
    auto split = mk::split_namespaced(built);
    FUZZ_CHECK(split.has_value());
    FUZZ_CHECK(split->ns == underscored(ns));
    FUZZ_CHECK(split->key == underscored(key));
    for (std::string_view gen : {"0", "1", "18446744073709551615"}) {
        auto stored = mk::generation_key_for(*split, gen);
        FUZZ_CHECK(valid_for_server(stored));
        FUZZ_CHECK(stored.starts_with(mk::reserved_prefix));
    }
    FUZZ_CHECK(valid_for_server(mk::generation_counter_key(split->ns)));
    return 0;
}
