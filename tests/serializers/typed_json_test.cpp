// SPDX-License-Identifier: MIT
// The built-in JSON serializer's typed path (`asiocache/detail/typed_json.hpp`) against the
// document path it replaces: the same bytes for every value written, the same values for every
// text read, the same texts refused; Boost.Describe structs through a real cache; nlohmann hooks
// winning over a description; MsgPack and CBOR for described structs.
#include "asiocache/asiocache.hpp"
#include "asiocache/backends/memory.hpp"
#include "run_coro.hpp"

#include <boost/describe/class.hpp>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <unordered_map>

namespace demo {

struct author {
    std::string name;
    std::optional<std::string> email;
    std::uint64_t id = 0;
};
BOOST_DESCRIBE_STRUCT(author, (), (name, email, id))

struct post {
    std::string text;
    author by;
    double score = 0;
    float weight = 0;
    std::vector<bool> flags;
    std::map<std::string, std::vector<double>> series;
    std::unordered_map<std::string, std::optional<std::int64_t>> counters;
    std::vector<author> cc;
    std::int8_t tiny = 0;
    bool pinned = false;
};
// Declared out of alphabetical order on purpose: the JSON text sorts the keys.
BOOST_DESCRIBE_STRUCT(post, (), (text, by, score, weight, flags, series, counters, cc, tiny, pinned))

// Twins with nlohmann's hooks: what the document path writes for the same fields.
struct author_twin {
    std::string name;
    std::optional<std::string> email;
    std::uint64_t id = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(author_twin, name, email, id)

struct post_twin {
    std::string text;
    author_twin by;
    double score = 0;
    float weight = 0;
    std::vector<bool> flags;
    std::map<std::string, std::vector<double>> series;
    std::unordered_map<std::string, std::optional<std::int64_t>> counters;
    std::vector<author_twin> cc;
    std::int8_t tiny = 0;
    bool pinned = false;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(post_twin, text, by, score, weight, flags, series, counters, cc,
                                   tiny, pinned)

/// A base's members are written too.
struct base_part {
    int a = 0;
};
BOOST_DESCRIBE_STRUCT(base_part, (), (a))
struct derived_part : base_part {
    std::string b;
};
BOOST_DESCRIBE_STRUCT(derived_part, (base_part), (b))

/// Described, and with nlohmann hooks of its own: the hooks win.
struct both {
    int x = 0;
};
BOOST_DESCRIBE_STRUCT(both, (), (x))
inline void to_json(nlohmann::json& j, both const& v) { j = nlohmann::json{{"renamed", v.x}}; }
inline void from_json(nlohmann::json const& j, both& v) { v.x = j.at("renamed").get<int>(); }

/// A described member of a type only nlohmann knows: the whole value takes the document path.
struct with_document {
    nlohmann::json extra;
    int n = 0;
};
BOOST_DESCRIBE_STRUCT(with_document, (), (extra, n))

/// A member with nlohmann hooks inside a described struct.
struct both_holder {
    both b;
};
BOOST_DESCRIBE_STRUCT(both_holder, (), (b))

}  // namespace demo

namespace {

using asiocache::decode_value;
using asiocache::encode_value;
using asiocache::errc;
namespace ser = asiocache::serializers;
namespace detail = asiocache::detail;

static_assert(detail::typed_json<demo::post>);
static_assert(detail::typed_json<std::vector<std::map<std::string, std::optional<double>>>>);
static_assert(!detail::typed_json<demo::post_twin>);
static_assert(!detail::typed_json<std::vector<demo::author_twin>>);
static_assert(!detail::typed_json<demo::both>);
static_assert(detail::typed_json<demo::with_document>);
static_assert(detail::typed_json<std::vector<demo::with_document>>);
static_assert(!detail::typed_json<nlohmann::json>);
static_assert(!detail::typed_json<char>);
static_assert(!detail::typed_json<std::map<int, int>>);

/// The built-in JSON serializer behind a user serializer: the document path, same bytes.
class json_document final : public asiocache::serializer {
public:
    auto name() const noexcept -> std::string_view override { return "json-document"; }
    auto kind() const noexcept -> asiocache::serializer_kind override {
        return asiocache::serializer_kind::structured;
    }
    auto dump(nlohmann::json const& doc) const -> std::string override {
        return ser::json()->dump(doc);
    }
    auto parse(std::string_view bytes) const -> nlohmann::json override {
        return ser::json()->parse(bytes);
    }
};

auto document_path() -> asiocache::serializer const& {
    static json_document const s;
    return s;
}

auto code_of(auto&& fn) -> boost::system::error_code {
    try {
        fn();
    } catch (boost::system::system_error const& e) {
        return e.code();
    }
    return {};
}

auto what_of(auto&& fn) -> std::string {
    try {
        fn();
    } catch (boost::system::system_error const& e) {
        return e.what();
    }
    return {};
}

// ---------------------------------------------------------------------------------------------
// Generators

class generator {
public:
    explicit generator(std::uint32_t seed) : rng_(seed) {}

    auto pick(std::size_t n) -> std::size_t {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
    }

    /// Valid UTF-8 with the characters that matter: escapes, controls, DEL, 2/3/4-byte
    /// sequences and their edges.
    auto text() -> std::string {
        static std::vector<std::string> const pieces{
            "a", "Z", " ", "\"", "\\", "/", "\b", "\f", "\n", "\r", "\t", std::string(1, '\0'),
            "\x01", "\x1f", "\x7f", "\xc2\x80", "\xc3\xa9", "\xdf\xbf", "\xe0\xa0\x80",
            "\xe2\x82\xac", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
            "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "NaN", "Infinity", "\\u0041", "{}", "[,]"};
        std::string s;
        auto n = pick(12);
        for (std::size_t i = 0; i < n; ++i) {
            s += pieces[pick(pieces.size())];
        }
        return s;
    }

    /// Any bytes: mostly invalid UTF-8.
    auto bytes() -> std::string {
        std::string s;
        auto n = pick(8);
        for (std::size_t i = 0; i < n; ++i) {
            s += static_cast<char>(pick(256));
        }
        return s;
    }

    auto real() -> double {
        static std::vector<double> const edges{
            0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1.0 / 3, 2.5, 100.0, 1e15, 1e16, 1e17, 123456789012345678.0,
            1e-4, 1e-5, 1.5e-5, 1e100, -1e100, 1e308, 1e-308, 5e-324,
            std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest(),
            std::numeric_limits<double>::min(), std::numeric_limits<double>::epsilon(),
            9007199254740993.0, 4.35, 0.3, 1e21, 1e22, 1e23,
            std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
            -std::numeric_limits<double>::infinity()};
        switch (pick(4)) {
            case 0: return edges[pick(edges.size())];
            case 1: {
                // Any finite bit pattern.
                for (;;) {
                    auto d = std::bit_cast<double>(std::uniform_int_distribution<std::uint64_t>()(rng_));
                    if (std::isfinite(d)) {
                        return d;
                    }
                }
            }
            case 2: return static_cast<double>(std::uniform_int_distribution<int>(-100000, 100000)(rng_)) / 100;
            default: return std::uniform_real_distribution<double>(-1e6, 1e6)(rng_);
        }
    }

    auto integer() -> std::int64_t {
        static std::vector<std::int64_t> const edges{0, 1, -1, 127, -128,
                                                     std::numeric_limits<std::int64_t>::max(),
                                                     std::numeric_limits<std::int64_t>::min()};
        return pick(2) == 0 ? edges[pick(edges.size())]
                            : std::uniform_int_distribution<std::int64_t>()(rng_);
    }

    auto author() -> demo::author {
        demo::author a{text(), std::nullopt, std::uniform_int_distribution<std::uint64_t>()(rng_)};
        if (pick(2) == 0) {
            a.email = text();
        }
        return a;
    }

    auto post() -> demo::post {
        demo::post p;
        p.text = text();
        p.by = author();
        p.score = real();
        p.weight = static_cast<float>(real());
        for (auto n = pick(4); n > 0; --n) {
            p.flags.push_back(pick(2) == 0);
        }
        for (auto n = pick(4); n > 0; --n) {
            auto& s = p.series[text()];
            for (auto k = pick(4); k > 0; --k) {
                s.push_back(real());
            }
        }
        for (auto n = pick(4); n > 0; --n) {
            p.counters[text()] = pick(3) == 0 ? std::nullopt : std::optional(integer());
        }
        for (auto n = pick(3); n > 0; --n) {
            p.cc.push_back(author());
        }
        p.tiny = static_cast<std::int8_t>(integer());
        p.pinned = pick(2) == 0;
        return p;
    }

private:
    std::mt19937 rng_;
};

auto twin(demo::author const& a) -> demo::author_twin { return {a.name, a.email, a.id}; }

auto twin(demo::post const& p) -> demo::post_twin {
    demo::post_twin t{p.text, twin(p.by), p.score, p.weight, p.flags, p.series, p.counters, {},
                      p.tiny, p.pinned};
    for (auto const& a : p.cc) {
        t.cc.push_back(twin(a));
    }
    return t;
}

/// Writes `v` both ways, expects the same bytes, then reads them both ways and expects the same
/// value (compared through the bytes, so NaN equals NaN and -0.0 differs from 0.0).
template <class T>
void expect_both_ways(T const& v) {
    std::string fast;
    auto fast_code = code_of([&] { fast = encode_value(*ser::json(), v, "k"); });
    std::string slow;
    auto slow_code = code_of([&] { slow = encode_value(document_path(), v, "k"); });
    ASSERT_EQ(fast_code, slow_code) << slow;
    if (fast_code) {
        EXPECT_EQ(fast_code, errc::serialization_failed);
        return;
    }
    ASSERT_EQ(fast, slow);
    auto read_fast = decode_value<T>(*ser::json(), fast, "k");
    auto read_slow = decode_value<T>(document_path(), fast, "k");
    EXPECT_EQ(encode_value(*ser::json(), read_fast, "k"), fast);
    EXPECT_EQ(encode_value(*ser::json(), read_slow, "k"), fast);
}

// ---------------------------------------------------------------------------------------------
// Writing: byte for byte

TEST(typed_json, writes_the_bytes_of_the_document_path_for_generated_values) {
    generator g(20240601);
    for (int i = 0; i < 3000; ++i) {
        expect_both_ways(g.text());
        expect_both_ways(g.real());
        expect_both_ways(static_cast<float>(g.real()));
        expect_both_ways(g.integer());
        expect_both_ways(static_cast<std::uint64_t>(g.integer()));
        expect_both_ways(static_cast<std::int16_t>(g.integer()));
        expect_both_ways(g.pick(2) == 0);
        std::vector<std::optional<double>> reals;
        std::unordered_map<std::string, std::string> strings;
        for (auto n = g.pick(5); n > 0; --n) {
            reals.push_back(g.pick(4) == 0 ? std::nullopt : std::optional(g.real()));
            strings[g.text()] = g.text();
        }
        expect_both_ways(reals);
        expect_both_ways(strings);
        expect_both_ways(std::map<std::string, std::unordered_map<std::string, bool>>{
            {g.text(), {{g.text(), true}, {g.text(), false}}}, {g.text(), {}}});
        if (::testing::Test::HasFailure()) {
            FAIL() << "iteration " << i;
        }
    }
}

TEST(typed_json, described_structs_write_what_nlohmann_writes_for_the_same_fields) {
    generator g(7);
    for (int i = 0; i < 2000; ++i) {
        auto p = g.post();
        auto fast = encode_value(*ser::json(), p, "k");
        ASSERT_EQ(fast, encode_value(*ser::json(), twin(p), "k"));  // nlohmann's own layout
        expect_both_ways(p);
        expect_both_ways(std::vector<demo::post>{p, g.post()});
        auto back = decode_value<demo::post_twin>(*ser::json(), fast, "k");
        EXPECT_EQ(encode_value(*ser::json(), back, "k"), fast);
        if (::testing::Test::HasFailure()) {
            FAIL() << "iteration " << i << ": " << fast;
        }
    }
}

TEST(typed_json, number_formats_match_nlohmann) {
    EXPECT_EQ(encode_value(*ser::json(), 1.0, "k"), "1.0");
    EXPECT_EQ(encode_value(*ser::json(), -0.0, "k"), "-0.0");
    EXPECT_EQ(encode_value(*ser::json(), 1e100, "k"), "1e+100");
    EXPECT_EQ(encode_value(*ser::json(), 1e-5, "k"), "1e-05");
    EXPECT_EQ(encode_value(*ser::json(), 0.1F, "k"), "0.10000000149011612");
    EXPECT_EQ(encode_value(*ser::json(), std::numeric_limits<double>::quiet_NaN(), "k"), "NaN");
    EXPECT_EQ(encode_value(*ser::json(), std::vector<double>{-INFINITY, INFINITY}, "k"),
              "[-Infinity,Infinity]");
    EXPECT_EQ(encode_value(*ser::json(), std::string("\x01\x7f\xc3\xa9\"\\/"), "k"),
              "\"\\u0001\x7f\xc3\xa9\\\"\\\\/\"");
}

TEST(typed_json, invalid_utf8_fails_both_ways_alike) {
    generator g(99);
    int refused = 0;
    for (int i = 0; i < 5000; ++i) {
        auto s = g.bytes();
        expect_both_ways(s);
        expect_both_ways(std::map<std::string, int>{{s, 1}});
        if (code_of([&] { (void)encode_value(*ser::json(), s, "k"); })) {
            ++refused;
        }
    }
    EXPECT_GT(refused, 1000);  // the generator does produce invalid UTF-8
    for (std::string bad : {"\xff", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82",
                            "ok\xc3"}) {
        EXPECT_EQ(code_of([&] { (void)encode_value(*ser::json(), bad, "k"); }),
                  errc::serialization_failed)
            << bad;
    }
}

TEST(typed_json, struct_fields_come_out_sorted_by_name_with_base_members) {
    EXPECT_EQ(encode_value(*ser::json(), demo::derived_part{{1}, "x"}, "k"), R"({"a":1,"b":"x"})");
    auto back = decode_value<demo::derived_part>(*ser::json(), R"({"b":"y","a":2})", "k");
    EXPECT_EQ(back.a, 2);
    EXPECT_EQ(back.b, "y");
}

// ---------------------------------------------------------------------------------------------
// Reading: the same texts accepted and refused, the same values

/// A tape as a document, to compare with what the document path parses.
auto to_document(detail::json_tape const& t, std::size_t& i) -> nlohmann::json {
    auto const& tok = t.tokens[i++];
    using type = detail::json_token::type;
    switch (tok.kind) {
        case type::null: return nullptr;
        case type::boolean: return tok.boolean;
        case type::int64: return tok.int64;
        case type::uint64: return tok.uint64;
        case type::number: return tok.number;
        case type::string: return std::string(t.str(tok));
        case type::array: {
            auto a = nlohmann::json::array();
            while (i < tok.end) {
                a.push_back(to_document(t, i));
            }
            return a;
        }
        case type::object: {
            auto o = nlohmann::json::object();
            while (i < tok.end) {
                auto key = std::string(t.str(t.tokens[i++]));
                o[key] = to_document(t, i);
            }
            return o;
        }
        case type::other: break;
    }
    ADD_FAILURE() << "unexpected token";
    return {};
}

/// Reads `text` with the typed path's parser and with the document path's; both must refuse it,
/// or both read the same document (same types, same numbers to the bit).
void expect_same_parse(std::string const& text) {
    std::optional<nlohmann::json> slow;
    try {
        slow = ser::json()->parse(text);
    } catch (std::exception const&) {
    }
    std::optional<nlohmann::json> fast;
    detail::json_tape tape;
    try {
        detail::load_json_tape(text, tape);
        std::size_t i = 0;
        fast = to_document(tape, i);
        EXPECT_EQ(i, tape.tokens.size());
    } catch (std::exception const&) {
    }
    ASSERT_EQ(fast.has_value(), slow.has_value()) << text;
    if (fast) {
        EXPECT_EQ(ser::json()->dump(*fast), ser::json()->dump(*slow)) << text;
        EXPECT_EQ(fast->type(), slow->type()) << text;
        if (fast->is_number_float() && slow->is_number_float()) {
            EXPECT_EQ(std::bit_cast<std::uint64_t>(fast->get<double>()),
                      std::bit_cast<std::uint64_t>(slow->get<double>()))
                << text;
        }
    }
}

TEST(typed_json, accepts_and_refuses_what_the_document_path_does) {
    std::vector<std::string> const cases{
        "", " ", "null", "true", "false", "nul", "-0", "-0.0", "0", "01", "-", "1.", ".5", "1e",
        "1E+2", "1e-2", "1e400", "-1e400", "1e-400", "-1e-400", "2.2250738585072011e-308",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "-9223372036854775809", "18446744073709551615", "18446744073709551616",
        "123456789012345678901234567890", "0.1000000000000000055511151231257827",
        "[1,]", "[,1]", "{\"a\":1,}", "{\"a\" 1}", "{1:2}", "[1 2]", "1 x", " [1] ", "[1]]",
        "\"a\\u00e9\\ud83d\\ude00b\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "\"\\u0000\"", "\"\\x\"", "\"tab\there\"", "\"\x7f\"", "\"\xff\"", "\"\xc3\xa9\"",
        "\"\xed\xa0\x80\"", "\xef\xbb\xbf[1]", "[NaN, Infinity, -Infinity]", "NaN", "-NaN",
        "[\"NaN\", NaN]", "{\"a\":1,\"a\":2}", "// c\n1", "/* c */1", "[1]\n", "\t\r\n 1 \t\r\n",
        "{\"\":0}", "\"\\/\"", "[\"\\b\\f\\n\\r\\t\\\"\\\\\"]", "1.5e308", "4.9e-324", "[1e999]",
        "\"\\uD83D\\uDE00\"", "{\"a\":[{\"b\":null}]}", "\"\\u00\"", "[-]", "[--1]", "+1",
        "Infinity1", "[Infinity,NaN]x"};
    for (auto const& text : cases) {
        expect_same_parse(text);
    }
    for (std::size_t depth : {511, 512, 513, 2000}) {
        std::string nested(depth, '[');
        nested.append(depth, ']');
        expect_same_parse(nested);
        std::string with_nan(depth, '[');
        with_nan += "NaN";
        with_nan.append(depth, ']');
        expect_same_parse(with_nan);
    }
}

TEST(typed_json, mutated_texts_parse_alike) {
    generator g(4242);
    std::string const alphabet = "[]{}:,\"\\0123456789-+.eEtrufalsnNIy \x01\xc3\xa9\xff";
    for (int i = 0; i < 3000; ++i) {
        auto text = encode_value(*ser::json(), g.post(), "k");
        for (auto n = g.pick(4); n > 0; --n) {
            auto at = g.pick(text.size());
            switch (g.pick(3)) {
                case 0: text.erase(at, 1); break;
                case 1: text.insert(at, 1, alphabet[g.pick(alphabet.size())]); break;
                default: text[at] = alphabet[g.pick(alphabet.size())]; break;
            }
        }
        expect_same_parse(text);
        if (::testing::Test::HasFailure()) {
            FAIL() << "iteration " << i;
        }
    }
}

TEST(typed_json, numbers_read_exactly_as_strtod_reads_them) {
    generator g(11);
    for (int i = 0; i < 20000; ++i) {
        auto d = g.real();
        if (!std::isfinite(d)) {
            continue;
        }
        // Printed with 17 digits, and with more digits than a double holds.
        for (auto const& text : {fmt::format("{:.17g}", d), fmt::format("{:.25e}", d)}) {
            auto fast = decode_value<double>(*ser::json(), text, "k");
            auto slow = decode_value<double>(document_path(), text, "k");
            ASSERT_EQ(std::bit_cast<std::uint64_t>(fast), std::bit_cast<std::uint64_t>(slow))
                << text;
            if (text != "-0") {  // nlohmann reads "-0" as the integer 0
                ASSERT_EQ(fast, std::strtod(text.c_str(), nullptr)) << text;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Failures: serialization_failed naming the key, never a default value

TEST(typed_json, missing_fields_and_wrong_types_fail_naming_key_and_field) {
    auto const json = ser::json();
    auto what = what_of([&] {
        (void)decode_value<demo::author>(*json, R"({"name":"n","id":1})", "ns:the-key");
    });
    EXPECT_NE(what.find("ns:the-key"), std::string::npos) << what;
    EXPECT_NE(what.find("email"), std::string::npos) << what;

    what = what_of([&] {
        (void)decode_value<std::vector<demo::author>>(
            *json, R"([{"name":"n","email":null,"id":1},{"name":2,"email":null,"id":1}])", "k");
    });
    EXPECT_NE(what.find("[1].name: expected a string, found an integer"), std::string::npos)
        << what;

    auto const refused = errc::serialization_failed;
    auto fails = [&](auto type_tag, std::string text) {
        using T = typename decltype(type_tag)::type;
        return code_of([&] { (void)decode_value<T>(*json, text, "k"); }) == refused;
    };
    EXPECT_TRUE(fails(std::type_identity<std::vector<int>>{}, "[1.5]"));
    EXPECT_TRUE(fails(std::type_identity<std::vector<int>>{}, "[true]"));
    EXPECT_TRUE(fails(std::type_identity<std::vector<std::uint8_t>>{}, "[256]"));
    EXPECT_TRUE(fails(std::type_identity<std::vector<float>>{}, "[1e300]"));
    EXPECT_TRUE(fails(std::type_identity<std::string>{}, "null"));
    EXPECT_TRUE(fails(std::type_identity<std::string>{}, "1"));
    EXPECT_TRUE(fails(std::type_identity<bool>{}, "1"));
    EXPECT_TRUE(fails(std::type_identity<std::map<std::string, int>>{}, "[]"));
    EXPECT_TRUE(fails(std::type_identity<std::vector<int>>{}, "{}"));
    EXPECT_TRUE(fails(std::type_identity<demo::author>{}, "[]"));
    EXPECT_TRUE(fails(std::type_identity<demo::author>{}, R"({"name":"n","email":1,"id":1})"));
    EXPECT_TRUE(fails(std::type_identity<demo::author>{}, R"({"name":"n","email":null,"id":-1})"));
    EXPECT_TRUE(fails(std::type_identity<demo::author>{}, R"({"name":"n","email":null,"id":1)"));
    EXPECT_TRUE(fails(std::type_identity<demo::author>{}, "\xff"));
    EXPECT_TRUE(fails(std::type_identity<demo::author>{}, ""));
    // The NaN fallback applies the same rules.
    EXPECT_TRUE(fails(std::type_identity<demo::author>{}, R"({"name":NaN,"email":null,"id":1})"));
    EXPECT_TRUE(fails(std::type_identity<std::vector<int>>{}, "[NaN]"));
}

TEST(typed_json, extra_fields_are_ignored_and_a_repeated_key_reads_its_last_value) {
    auto a = decode_value<demo::author>(
        *ser::json(), R"({"x":[{"y":[1,{}]}],"name":"a","id":1,"email":"e","name":"b"})", "k");
    EXPECT_EQ(a.name, "b");
    EXPECT_EQ(a.email, "e");
    EXPECT_EQ(a.id, 1U);
    auto m = decode_value<std::map<std::string, int>>(*ser::json(), R"({"k":1,"k":2})", "k");
    EXPECT_EQ(m.at("k"), 2);
}

TEST(typed_json, python_non_finite_tokens_and_a_bom_read_through_the_fallback) {
    // json.dumps({"name": "a", "email": None, "id": 3, ...}) with NaN scores.
    auto v = decode_value<std::map<std::string, double>>(
        *ser::json(), R"({"a": NaN, "b": -Infinity, "c": 1.5})", "k");
    EXPECT_TRUE(std::isnan(v.at("a")));
    EXPECT_EQ(v.at("b"), -std::numeric_limits<double>::infinity());
    EXPECT_EQ(v.at("c"), 1.5);
    EXPECT_EQ(decode_value<std::vector<int>>(*ser::json(), "\xef\xbb\xbf[1, 2]", "k"),
              (std::vector<int>{1, 2}));
}

// ---------------------------------------------------------------------------------------------
// Precedence, other serializers, a real cache

TEST(typed_json, nlohmann_hooks_win_over_a_description) {
    EXPECT_EQ(encode_value(*ser::json(), demo::both{4}, "k"), R"({"renamed":4})");
    EXPECT_EQ(decode_value<demo::both>(*ser::json(), R"({"renamed":5})", "k").x, 5);
    EXPECT_EQ(encode_value(*ser::json(), std::vector<demo::both>{{1}}, "k"), R"([{"renamed":1}])");
}

TEST(typed_json, a_member_only_nlohmann_knows_is_written_and_read_through_a_document) {
    demo::with_document v{{{"z", 1}, {"a", nullptr}}, 2};
    auto bytes = encode_value(*ser::json(), v, "k");
    EXPECT_EQ(bytes, R"({"extra":{"a":null,"z":1},"n":2})");
    auto back = decode_value<demo::with_document>(*ser::json(), bytes, "k");
    EXPECT_EQ(back.extra, v.extra);
    EXPECT_EQ(back.n, 2);
    v.extra = {{"nan", std::numeric_limits<double>::quiet_NaN()}, {"s", "\x01"}};
    expect_both_ways(std::vector<demo::with_document>{v, {{1, 2.5, "x"}, 3}});
    for (auto const& s : {ser::msgpack(), ser::cbor()}) {
        auto b = encode_value(*s, v, "k");
        EXPECT_EQ(encode_value(*ser::json(), decode_value<demo::with_document>(*s, b, "k"), "k"),
                  encode_value(*ser::json(), v, "k"));
    }
    // nlohmann's own conversion applies inside such a member, with its rules.
    EXPECT_EQ(code_of([] {
                  (void)decode_value<demo::both_holder>(*ser::json(), R"({"b":{"x":1}})", "k");
              }),
              errc::serialization_failed);
}

TEST(typed_json, msgpack_and_cbor_store_described_structs_as_their_nlohmann_twins) {
    generator g(5);
    for (int i = 0; i < 200; ++i) {
        auto p = g.post();
        for (auto const& s : {ser::msgpack(), ser::cbor()}) {
            auto bytes = encode_value(*s, p, "k");
            ASSERT_EQ(bytes, encode_value(*s, twin(p), "k")) << s->name();
            auto back = decode_value<demo::post>(*s, bytes, "k");
            EXPECT_EQ(encode_value(*ser::json(), back, "k"), encode_value(*ser::json(), p, "k"));
            EXPECT_EQ(code_of([&] { (void)decode_value<demo::post>(*s, "\xc1", "k"); }),
                      errc::serialization_failed);
        }
    }
    auto bytes = encode_value(*ser::msgpack(), nlohmann::json{{"name", "n"}, {"id", 1}}, "k");
    EXPECT_EQ(code_of([&] { (void)decode_value<demo::author>(*ser::msgpack(), bytes, "k"); }),
              errc::serialization_failed);
}

TEST(typed_json, a_described_struct_round_trips_through_a_memory_cache) {
    boost::asio::io_context io;
    generator g(3);
    for (auto const& s : {ser::json(), ser::msgpack(), ser::cbor()}) {
        asiocache::cache c{asiocache::backends::make_memory_backend(), {.serializer = s}};
        auto p = g.post();
        asiocache::test::run(io, c.set("post", p));
        auto back = asiocache::test::run(io, c.get<demo::post>("post"));
        ASSERT_TRUE(back.has_value()) << s->name();
        EXPECT_EQ(encode_value(*ser::json(), *back, "k"), encode_value(*ser::json(), p, "k"));
    }
}

}  // namespace
