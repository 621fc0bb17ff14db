// SPDX-License-Identifier: MIT
#include "cluster_slots.hpp"

#include <array>
#include <charconv>

#include <fmt/format.h>

#include "asiocache/errors.hpp"

namespace asiocache::backends::cluster {
namespace {

// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection; the table is built
// at compile time.
constexpr auto crc16_table() -> std::array<std::uint16_t, 256> {
    std::array<std::uint16_t, 256> t{};
    for (unsigned i = 0; i < 256; ++i) {
        auto crc = static_cast<std::uint16_t>(i << 8);
        for (int b = 0; b < 8; ++b) {
            crc = static_cast<std::uint16_t>((crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1);
        }
        t[i] = crc;
    }
    return t;
}

constexpr auto table = crc16_table();

constexpr auto crc16(std::string_view s) noexcept -> std::uint16_t {
    std::uint16_t crc = 0;
    for (char c : s) {
        auto const byte = static_cast<unsigned char>(c);
        crc = static_cast<std::uint16_t>((crc << 8) ^ table[((crc >> 8) ^ byte) & 0xff]);
    }
    return crc;
}

// The reference value from the Redis Cluster specification.
static_assert(crc16("123456789") == 0x31c3);

[[noreturn]] void malformed(std::string_view what) {
    throw_error(errc::protocol_error, fmt::format("redis-cluster: CLUSTER SLOTS reply: {}", what));
}

auto to_slot(raw_reply const& r) -> std::uint16_t {
    if (r.type != raw_reply::kind::integer || r.integer < 0 || r.integer >= slot_count) {
        malformed("a slot bound is not an integer in 0..16383");
    }
    return static_cast<std::uint16_t>(r.integer);
}

// A node entry: [host, port, id, ...].
auto to_address(raw_reply const& r, std::string_view asked_host) -> std::string {
    if (r.type != raw_reply::kind::array || r.elements.size() < 2 ||
        r.elements[0].type != raw_reply::kind::string ||
        r.elements[1].type != raw_reply::kind::integer || r.elements[1].integer <= 0 ||
        r.elements[1].integer > 65535) {
        malformed("a node entry is not [host, port, ...]");
    }
    auto const& host = r.elements[0].str;
    return fmt::format("{}:{}", host.empty() || host == "?" ? asked_host : host,
                       r.elements[1].integer);
}

}  // namespace

auto key_slot(std::string_view key) noexcept -> std::uint16_t {
    auto open = key.find('{');
    if (open != std::string_view::npos) {
        auto close = key.find('}', open + 1);
        if (close != std::string_view::npos && close > open + 1) {
            key = key.substr(open + 1, close - open - 1);
        }
    }
    return static_cast<std::uint16_t>(crc16(key) & (slot_count - 1));
}

auto parse_cluster_slots(raw_reply const& r, std::string_view asked_host)
    -> std::vector<slot_range> {
    if (r.type != raw_reply::kind::array) {
        malformed(r.type == raw_reply::kind::error ? r.str : "not an array");
    }
    std::vector<slot_range> out;
    out.reserve(r.elements.size());
    for (auto const& e : r.elements) {
        if (e.type != raw_reply::kind::array || e.elements.size() < 3) {
            malformed("a range is not [first, last, master, replicas...]");
        }
        slot_range range;
        range.first = to_slot(e.elements[0]);
        range.last = to_slot(e.elements[1]);
        if (range.first > range.last) {
            malformed("a range ends before it starts");
        }
        range.master = to_address(e.elements[2], asked_host);
        for (std::size_t i = 3; i < e.elements.size(); ++i) {
            range.replicas.push_back(to_address(e.elements[i], asked_host));
        }
        out.push_back(std::move(range));
    }
    return out;
}

auto split_address(std::string_view address)
    -> std::optional<std::pair<std::string, std::uint16_t>> {
    auto colon = address.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == address.size()) {
        return std::nullopt;
    }
    unsigned port = 0;
    auto digits = address.substr(colon + 1);
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc{} || p != digits.data() + digits.size() || port == 0 || port > 65535) {
        return std::nullopt;
    }
    return std::pair{std::string(address.substr(0, colon)), static_cast<std::uint16_t>(port)};
}

auto parse_redirect(std::string_view error) -> std::optional<redirect> {
    auto word_end = error.find(' ');
    auto word = error.substr(0, word_end);
    if (word == "TRYAGAIN") {
        return redirect{redirect::kind::try_again, 0, {}};
    }
    if (word == "CLUSTERDOWN") {
        return redirect{redirect::kind::cluster_down, 0, {}};
    }
    if ((word != "MOVED" && word != "ASK") || word_end == std::string_view::npos) {
        return std::nullopt;
    }
    auto rest = error.substr(word_end + 1);
    auto space = rest.find(' ');
    if (space == std::string_view::npos) {
        return std::nullopt;
    }
    unsigned slot = 0;
    auto [p, ec] = std::from_chars(rest.data(), rest.data() + space, slot);
    if (ec != std::errc{} || p != rest.data() + space || slot >= slot_count) {
        return std::nullopt;
    }
    auto address = rest.substr(space + 1);
    if (!split_address(address)) {
        return std::nullopt;
    }
    return redirect{word == "MOVED" ? redirect::kind::moved : redirect::kind::ask,
                    static_cast<std::uint16_t>(slot), std::string(address)};
}

}  // namespace asiocache::backends::cluster
