// SPDX-License-Identifier: MIT
// Fuzz target: every built-in serializer's decode (bytes, string, json, msgpack, cbor) into a
// few value types, through `asiocache::decode_value`, the function `cache::get<T>` uses.
//
// The first byte picks the serializer and the type; the rest are the stored bytes. Properties:
// - decoding succeeds, or throws `system_error` with `errc::serialization_failed` whose message
//   names the key; nothing else escapes (no nlohmann exception, no std::out_of_range);
// - a decoded value encodes again, and decoding that gives the same value (NaN included);
// - an integer read through a structured serializer is exactly the number in the document,
//   never a float cut to an integer or a wrapped-around one (a wrong value, which decode must
//   refuse).
#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <memory>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "asiocache/serializers.hpp"
#include "fuzz_check.hpp"

namespace {

using asiocache::errc;

// A user type of the kind the README shows, with the nlohmann hooks users already write.
struct profile {
    std::string name;
    std::int64_t visits = 0;
    std::vector<double> scores;
    std::optional<bool> admin;
    friend auto operator==(profile const&, profile const&) -> bool;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(profile, name, visits, scores, admin)

// NaN == NaN here: a round trip must keep a NaN a NaN.
auto same(double a, double b) -> bool {
    return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0;
}
auto same(std::vector<double> const& a, std::vector<double> const& b) -> bool {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (!same(a[i], b[i])) {
            return false;
        }
    }
    return true;
}
auto operator==(profile const& a, profile const& b) -> bool {
    return a.name == b.name && a.visits == b.visits && same(a.scores, b.scores) &&
           a.admin == b.admin;
}
// Documents compare as nlohmann does, except that NaN equals NaN.
auto same(nlohmann::json const& a, nlohmann::json const& b) -> bool {
    if (a.is_number_float() && b.is_number_float()) {
        return same(a.get<double>(), b.get<double>());
    }
    // Only containers are compared here; scalars go to nlohmann's ==, for which the signed
    // and unsigned 0 of MsgPack's two integer encodings are equal.
    if (a.is_structured() || b.is_structured()) {
        if (a.type() != b.type() || a.size() != b.size()) {
            return false;
        }
    }
    if (a.is_array()) {
        for (std::size_t i = 0; i < a.size(); ++i) {
            if (!same(a[i], b[i])) {
                return false;
            }
        }
        return true;
    }
    if (a.is_object()) {
        for (auto it = a.begin(); it != a.end(); ++it) {
            auto other = b.find(it.key());
            if (other == b.end() || !same(*it, *other)) {
                return false;
            }
        }
        return true;
    }
    return a == b;
}
template <class T>
auto same(T const& a, T const& b) -> bool {
    return a == b;
}

constexpr std::string_view key = "fuzz:key";

template <class T>
void check(asiocache::serializer const& s, std::string_view bytes) {
    std::optional<T> v;
    try {
        v = asiocache::decode_value<T>(s, bytes, key);
    } catch (boost::system::system_error const& e) {
        FUZZ_CHECK(asiocache::fuzz::has_code(e, errc::serialization_failed));
        FUZZ_CHECK(std::string_view(e.what()).find(key) != std::string_view::npos);
        return;
    }
    if constexpr (std::is_integral_v<T>) {
        if (s.kind() == asiocache::serializer_kind::structured) {
            auto doc = s.parse(bytes);
            if (doc.is_number_unsigned()) {
                FUZZ_CHECK(*v >= 0 && static_cast<std::uint64_t>(*v) == doc.get<std::uint64_t>());
            } else if (doc.is_number_integer()) {
                FUZZ_CHECK(*v == doc.get<std::int64_t>());
            } else {
                // Only a float holding exactly that integer (Python's 3.0) reads as one.
                FUZZ_CHECK(doc.is_number_float() &&
                           doc.get<double>() == static_cast<double>(*v) &&
                           std::trunc(doc.get<double>()) == doc.get<double>());
            }
        }
    }
    // What was read can be written back and reads the same. Encoding can refuse only what the
    // format cannot hold (JSON text cannot hold invalid UTF-8 that MsgPack carried).
    std::string again;
    try {
        again = asiocache::encode_value(s, *v, key);
    } catch (boost::system::system_error const& e) {
        FUZZ_CHECK(asiocache::fuzz::has_code(e, errc::serialization_failed));
        FUZZ_CHECK(s.name() != "json" && s.kind() == asiocache::serializer_kind::structured);
        return;
    }
    auto back = asiocache::decode_value<T>(s, again, key);
    FUZZ_CHECK(same(back, *v));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    static std::array<std::shared_ptr<asiocache::serializer const>, 5> const all{
        asiocache::serializers::bytes(), asiocache::serializers::string(),
        asiocache::serializers::json(), asiocache::serializers::msgpack(),
        asiocache::serializers::cbor()};
    auto const& s = *all[data[0] % 5];
    std::string_view bytes(reinterpret_cast<char const*>(data) + 1, size - 1);
    switch ((data[0] / 5) % 7) {
        case 0: check<std::string>(s, bytes); break;
        case 1: check<std::int64_t>(s, bytes); break;
        case 2: check<double>(s, bytes); break;
        case 3: check<std::vector<std::string>>(s, bytes); break;
        case 4: check<profile>(s, bytes); break;
        case 5: check<std::optional<std::int64_t>>(s, bytes); break;
        default: check<nlohmann::json>(s, bytes); break;
    }
    return 0;
}
