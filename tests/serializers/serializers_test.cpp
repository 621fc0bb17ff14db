// SPDX-License-Identifier: MIT
// The built-in serializers, the typed encode/decode over them, and user extensions: a codec<T>
// of one's own and a serializer of one's own, plugged in without touching the library.
#include "asiocache/asiocache.hpp"
#include "run_coro.hpp"
#include "scripted_backend.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>

namespace demo {

struct reply {
    std::string user;
    std::string text;
    double score = 0;
    std::vector<int> reactions;
    friend auto operator==(reply const&, reply const&) -> bool = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(reply, user, text, score, reactions)

/// A type stored with a byte layout of its own ("x,y").
struct point {
    int x = 0;
    int y = 0;
    friend auto operator==(point const&, point const&) -> bool = default;
};

}  // namespace demo

template <>
struct asiocache::codec<demo::point> {
    static auto encode(demo::point const& p) -> std::string { return fmt::format("{},{}", p.x, p.y); }
    static auto decode(std::string_view b) -> demo::point {
        auto comma = b.find(',');
        if (comma == std::string_view::npos) {
            throw std::invalid_argument("point: no comma");
        }
        demo::point p;
        p.x = std::stoi(std::string(b.substr(0, comma)));
        p.y = std::stoi(std::string(b.substr(comma + 1)));
        return p;
    }
};

namespace {

using asiocache::decode_value;
using asiocache::encode_value;
using asiocache::errc;
namespace ser = asiocache::serializers;

auto code_of(auto&& fn) -> boost::system::error_code {
    try {
        fn();
    } catch (boost::system::system_error const& e) {
        return e.code();
    }
    return {};
}

TEST(json_serializer, user_type_round_trips) {
    demo::reply r{"U1", "héllo \"world\"", 0.5, {1, 2}};
    auto bytes = encode_value(*ser::json(), r, "k");
    EXPECT_EQ(decode_value<demo::reply>(*ser::json(), bytes, "k"), r);
}

TEST(json_serializer, reads_python_json_dumps_output) {
    // json.dumps({"user": "U1", "text": "caf\u00e9 \U0001F600", "score": 2.5, "reactions": [1, 2]})
    std::string python =
        R"({"user": "U1", "text": "caf\u00e9 \ud83d\ude00", "score": 2.5, "reactions": [1, 2]})";
    auto r = decode_value<demo::reply>(*ser::json(), python, "k");
    EXPECT_EQ(r.text, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    EXPECT_EQ(r.score, 2.5);
    EXPECT_EQ(r.reactions, (std::vector<int>{1, 2}));
}

TEST(json_serializer, reads_python_non_finite_floats) {
    auto v = decode_value<std::vector<double>>(*ser::json(), "[NaN, Infinity, -Infinity, 1.5]", "k");
    ASSERT_EQ(v.size(), 4u);
    EXPECT_TRUE(std::isnan(v[0]));
    EXPECT_EQ(v[1], std::numeric_limits<double>::infinity());
    EXPECT_EQ(v[2], -std::numeric_limits<double>::infinity());
    EXPECT_EQ(v[3], 1.5);
}

TEST(json_serializer, non_finite_tokens_inside_strings_are_left_alone) {
    auto doc = decode_value<nlohmann::json>(
        *ser::json(), R"({"a": "NaN \"Infinity\"", "b": NaN, "c": ["-Infinity"]})", "k");
    EXPECT_EQ(doc["a"], "NaN \"Infinity\"");
    EXPECT_TRUE(std::isnan(doc["b"].get<double>()));
    EXPECT_EQ(doc["c"][0], "-Infinity");
}

TEST(json_serializer, writes_non_finite_floats_as_python_does) {
    std::map<std::string, double> m{{"inf", std::numeric_limits<double>::infinity()},
                                    {"nan", std::numeric_limits<double>::quiet_NaN()},
                                    {"neg", -std::numeric_limits<double>::infinity()}};
    auto bytes = encode_value(*ser::json(), m, "k");
    EXPECT_EQ(bytes, R"({"inf":Infinity,"nan":NaN,"neg":-Infinity})");
    auto back = decode_value<std::map<std::string, double>>(*ser::json(), bytes, "k");
    EXPECT_TRUE(std::isnan(back["nan"]));
    EXPECT_EQ(back["inf"], m["inf"]);
}

TEST(json_serializer, a_string_equal_to_the_internal_placeholder_is_not_misread) {
    // The stored text already holds the placeholder string and also needs substitution.
    std::string text = "[\"\\u0001asiocache-nonfinite:nan\", NaN]";
    EXPECT_EQ(code_of([&] { (void)decode_value<nlohmann::json>(*ser::json(), text, "k"); }),
              errc::serialization_failed);
    // Without a non-finite token it is just a string.
    auto doc = decode_value<nlohmann::json>(*ser::json(), "[\"\\u0001asiocache-nonfinite:nan\"]", "k");
    EXPECT_TRUE(doc[0].is_string());
}

TEST(json_serializer, garbage_fails_naming_the_key_and_not_a_number_is_rejected) {
    try {
        (void)decode_value<int>(*ser::json(), "{", "ns:the-key");
        FAIL();
    } catch (boost::system::system_error const& e) {
        EXPECT_EQ(e.code(), errc::serialization_failed);
        EXPECT_NE(std::string(e.what()).find("ns:the-key"), std::string::npos);
    }
    EXPECT_EQ(code_of([] { (void)decode_value<int>(*ser::json(), "Nan", "k"); }),
              errc::serialization_failed);
}

TEST(structured_serializers, a_number_that_does_not_fit_the_type_is_refused_not_cut) {
    // nlohmann converts with a plain cast: 1.5 would read as 1, 2^64-1 as -1, and 1e300 into
    // an integer is undefined behaviour. Each must be serialization_failed, never a wrong value.
    auto const refused = errc::serialization_failed;
    EXPECT_EQ(code_of([] { (void)decode_value<std::int64_t>(*ser::json(), "1.5", "k"); }), refused);
    EXPECT_EQ(code_of([] { (void)decode_value<std::int64_t>(*ser::json(), "1e300", "k"); }),
              refused);
    EXPECT_EQ(code_of([] {
                  (void)decode_value<std::int64_t>(*ser::json(), "18446744073709551615", "k");
              }),
              refused);
    EXPECT_EQ(code_of([] { (void)decode_value<std::uint32_t>(*ser::json(), "-1", "k"); }), refused);
    EXPECT_EQ(code_of([] { (void)decode_value<std::int8_t>(*ser::json(), "300", "k"); }), refused);
    EXPECT_EQ(code_of([] { (void)decode_value<float>(*ser::json(), "1e300", "k"); }), refused);
    EXPECT_EQ(code_of([] {
                  (void)decode_value<std::optional<int>>(*ser::json(), "2.5", "k");
              }),
              refused);
    // MsgPack float64 1.5 and CBOR uint64 max, read as int64.
    EXPECT_EQ(code_of([] {
                  (void)decode_value<std::int64_t>(
                      *ser::msgpack(), std::string("\xcb\x3f\xf8\0\0\0\0\0\0", 9), "k");
              }),
              refused);
    EXPECT_EQ(code_of([] {
                  (void)decode_value<std::int64_t>(
                      *ser::cbor(), "\x1b\xff\xff\xff\xff\xff\xff\xff\xff", "k");
              }),
              refused);
    // What does fit still reads, exactly.
    EXPECT_EQ(decode_value<std::int64_t>(*ser::json(), "-9223372036854775808", "k"),
              std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(decode_value<std::uint64_t>(*ser::json(), "18446744073709551615", "k"),
              std::numeric_limits<std::uint64_t>::max());
    EXPECT_EQ(decode_value<double>(*ser::json(), "3", "k"), 3.0);
    EXPECT_EQ(decode_value<std::int64_t>(*ser::json(), "3.0", "k"), 3);  // Python's float 3.0
    EXPECT_EQ(code_of([] { (void)decode_value<std::int64_t>(*ser::json(), "9.3e18", "k"); }),
              refused);
    EXPECT_EQ(decode_value<float>(*ser::json(), "0.5", "k"), 0.5F);
    EXPECT_TRUE(std::isnan(decode_value<float>(*ser::json(), "NaN", "k")));
    EXPECT_EQ(decode_value<std::optional<int>>(*ser::json(), "7", "k"), 7);
    EXPECT_EQ(decode_value<std::optional<int>>(*ser::json(), "null", "k"), std::nullopt);
}

TEST(structured_serializers, deeply_nested_payloads_are_refused_not_a_stack_overflow) {
    // A stored payload is untrusted input. Nesting a million levels deep (1 MiB of MsgPack or
    // CBOR array headers, or JSON arrays around a NaN) used to recurse once per level and
    // overflow the stack: one corrupt value crashed the process that read it.
    std::size_t const depth = 1'000'000;
    std::string msgpack(depth, '\x91');
    msgpack += '\xc0';
    std::string cbor(depth, '\x81');
    cbor += '\xf6';
    std::string json_nan(depth, '[');
    json_nan += "NaN";
    json_nan.append(depth, ']');
    std::string json(depth, '[');
    json.append(depth, ']');
    auto const refused = errc::serialization_failed;
    EXPECT_EQ(code_of([&] { (void)decode_value<nlohmann::json>(*ser::msgpack(), msgpack, "k"); }),
              refused);
    EXPECT_EQ(code_of([&] { (void)decode_value<nlohmann::json>(*ser::cbor(), cbor, "k"); }),
              refused);
    EXPECT_EQ(code_of([&] { (void)decode_value<nlohmann::json>(*ser::json(), json_nan, "k"); }),
              refused);
    EXPECT_EQ(code_of([&] { (void)decode_value<nlohmann::json>(*ser::json(), json, "k"); }),
              refused);
    // Nesting within the limit still reads.
    std::string ok(100, '[');
    ok += "NaN";
    ok.append(100, ']');
    EXPECT_TRUE(decode_value<nlohmann::json>(*ser::json(), ok, "k").is_array());
}

TEST(json_serializer, invalid_utf8_cannot_be_written) {
    EXPECT_EQ(code_of([] { (void)encode_value(*ser::json(), std::string("\xff\xfe"), "k"); }),
              errc::serialization_failed);
}

TEST(binary_serializers, msgpack_and_cbor_round_trip_the_same_user_type) {
    demo::reply r{"U2", "t", -1.25, {7}};
    for (auto const& s : {ser::msgpack(), ser::cbor()}) {
        auto bytes = encode_value(*s, r, "k");
        EXPECT_EQ(decode_value<demo::reply>(*s, bytes, "k"), r) << s->name();
        EXPECT_EQ(code_of([&] { (void)decode_value<demo::reply>(*s, "\xc1", "k"); }),
                  errc::serialization_failed)
            << s->name();
    }
}

TEST(string_serializer, numbers_are_decimal_text_and_strings_are_verbatim) {
    EXPECT_EQ(encode_value(*ser::string(), 42, "k"), "42");
    EXPECT_EQ(encode_value(*ser::string(), -7LL, "k"), "-7");
    EXPECT_EQ(decode_value<double>(*ser::string(), "2.5", "k"), 2.5);
    EXPECT_EQ(encode_value(*ser::string(), std::string("a b"), "k"), "a b");
    EXPECT_EQ(code_of([] { (void)decode_value<int>(*ser::string(), "12abc", "k"); }),
              errc::serialization_failed);
    EXPECT_EQ(code_of([] { (void)decode_value<int>(*ser::string(), "", "k"); }),
              errc::serialization_failed);
}

TEST(bytes_serializer, byte_vectors_and_user_codecs) {
    std::vector<std::byte> raw{std::byte{0}, std::byte{0xff}, std::byte{10}};
    auto bytes = encode_value(*ser::bytes(), raw, "k");
    EXPECT_EQ(bytes, std::string("\0\xff\n", 3));
    EXPECT_EQ(decode_value<std::vector<std::byte>>(*ser::bytes(), bytes, "k"), raw);

    demo::point p{3, -4};
    EXPECT_EQ(encode_value(*ser::bytes(), p, "k"), "3,-4");
    EXPECT_EQ(decode_value<demo::point>(*ser::bytes(), "3,-4", "k"), p);
    EXPECT_EQ(code_of([] { (void)decode_value<demo::point>(*ser::bytes(), "34", "k"); }),
              errc::serialization_failed);
}

TEST(serializers, lookup_by_name) {
    for (auto name : {"bytes", "string", "json", "msgpack", "cbor"}) {
        auto s = ser::by_name(name);
        ASSERT_NE(s, nullptr) << name;
        EXPECT_EQ(s->name(), name);
    }
    EXPECT_EQ(ser::by_name("pickle"), nullptr);
}

/// A user serializer: JSON documents stored behind a one-byte version tag.
class tagged_json final : public asiocache::serializer {
public:
    auto name() const noexcept -> std::string_view override { return "tagged"; }
    auto kind() const noexcept -> asiocache::serializer_kind override {
        return asiocache::serializer_kind::structured;
    }
    auto dump(nlohmann::json const& doc) const -> std::string override { return "1" + doc.dump(); }
    auto parse(std::string_view bytes) const -> nlohmann::json override {
        if (bytes.empty() || bytes.front() != '1') {
            throw std::runtime_error("unknown tag");
        }
        return nlohmann::json::parse(bytes.substr(1));
    }
};

TEST(user_serializer, plugs_into_the_cache_without_library_changes) {
    boost::asio::io_context io;
    auto backend = std::make_shared<asiocache::test::scripted_backend>();
    asiocache::cache c{backend, {.serializer = std::make_shared<tagged_json const>()}};
    demo::reply r{"U3", "x", 1, {}};
    asiocache::test::run(io, c.set("k", r));
    EXPECT_EQ(backend->stored("k")->front(), '1');
    EXPECT_EQ(asiocache::test::run(io, c.get<demo::reply>("k")), r);
    backend->put("old", "0{}");
    EXPECT_EQ(asiocache::test::run_error(io, c.get<demo::reply>("old")),
              errc::serialization_failed);
}

}  // namespace
