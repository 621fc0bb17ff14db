// SPDX-License-Identifier: MIT
#include "asiocache/detail/typed_json.hpp"

#include "json_text.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

namespace asiocache::detail {
namespace {

// The length of the valid UTF-8 sequence at `p` (lead byte 0x80 or above), or 0 where it is not
// valid: the sequences nlohmann's decoder accepts (RFC 3629, no overlongs, no surrogates).
auto utf8_length(unsigned char const* p, unsigned char const* end) -> std::size_t {
    auto const avail = end - p;
    auto cont = [&](std::ptrdiff_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
        return k < avail && p[k] >= lo && p[k] <= hi;
    };
    unsigned const c = p[0];
    if (c >= 0xC2 && c <= 0xDF) {
        return cont(1) ? 2 : 0;
    }
    if (c == 0xE0) {
        return cont(1, 0xA0) && cont(2) ? 3 : 0;
    }
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
        return cont(1) && cont(2) ? 3 : 0;
    }
    if (c == 0xED) {
        return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
    }
    if (c == 0xF0) {
        return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    }
    if (c >= 0xF1 && c <= 0xF3) {
        return cont(1) && cont(2) && cont(3) ? 4 : 0;
    }
    if (c == 0xF4) {
        return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    }
    return 0;
}

// Whether the 8 bytes at `p` are all printable ASCII other than the quote and the backslash.
auto plain_word(unsigned char const* p) -> bool {
    constexpr std::uint64_t ones = 0x0101010101010101;
    constexpr std::uint64_t high = 0x8080808080808080;
    std::uint64_t w = 0;
    std::memcpy(&w, p, sizeof w);
    auto zero_byte = [](std::uint64_t x) { return (x - ones) & ~x & high; };
    auto below_space = (w - ones * 0x20) & ~w & high;
    return ((w & high) | below_space | zero_byte(w ^ (ones * '"')) | zero_byte(w ^ (ones * '\\'))) == 0;
}

auto kind_name(json_token const& t) -> std::string_view {
    switch (t.kind) {
        case json_token::type::null: return "null";
        case json_token::type::boolean: return "a boolean";
        case json_token::type::int64:
        case json_token::type::uint64: return "an integer";
        case json_token::type::number: return "a number";
        case json_token::type::string: return "a string";
        case json_token::type::array: return "an array";
        case json_token::type::object: return "an object";
        case json_token::type::other: break;
    }
    return "a binary value";
}

// Numbers are read again from their text: Boost.JSON 1.81 rounds some doubles differently from
// strtod (precise parsing came in 1.83), and nlohmann reads with strtod.
auto exact_double(std::string_view s) -> std::optional<double> {
    double d = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec == std::errc::result_out_of_range) {
        // Underflow reads as strtod reads it (zero or a denormal); overflow is refused below.
        std::string copy(s);
        d = std::strtod(copy.c_str(), nullptr);
    } else if (ec != std::errc{} || ptr != s.data() + s.size()) {
        return std::nullopt;
    }
    // nlohmann refuses a literal too large for a double ("number overflow").
    if (!std::isfinite(d)) {
        return std::nullopt;
    }
    return d;
}

using boost::json::error_code;
using boost::json::string_view;

// Boost.JSON SAX handler writing the tape.
class tape_builder {
public:
    static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
    static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

    explicit tape_builder(json_tape& tape) : t_(tape) {}

    auto on_document_begin(error_code&) -> bool { return true; }
    auto on_document_end(error_code&) -> bool { return true; }
    auto on_array_begin(error_code&) -> bool { return open(json_token::type::array); }
    auto on_array_end(std::size_t n, error_code&) -> bool { return close(n); }
    auto on_object_begin(error_code&) -> bool { return open(json_token::type::object); }
    auto on_object_end(std::size_t n, error_code&) -> bool { return close(n); }
    auto on_string_part(string_view s, std::size_t, error_code&) -> bool { return part(s); }
    auto on_string(string_view s, std::size_t, error_code&) -> bool { return string(s); }
    auto on_key_part(string_view s, std::size_t, error_code&) -> bool { return part(s); }
    auto on_key(string_view s, std::size_t, error_code&) -> bool { return string(s); }
    auto on_number_part(string_view s, error_code&) -> bool {
        number_.append(s.data(), s.size());
        return true;
    }
    auto on_int64(std::int64_t i, string_view s, error_code&) -> bool {
        // nlohmann reads an integer without a minus sign as unsigned ("-0" is signed).
        bool const minus = number_.empty() ? s.starts_with('-') : number_.front() == '-';
        number_.clear();
        auto& tok = t_.tokens.emplace_back();
        if (!minus) {
            tok.kind = json_token::type::uint64;
            tok.uint64 = static_cast<std::uint64_t>(i);
        } else {
            tok.kind = json_token::type::int64;
            tok.int64 = i;
        }
        return true;
    }
    auto on_uint64(std::uint64_t u, string_view, error_code&) -> bool {
        number_.clear();
        auto& tok = t_.tokens.emplace_back();
        tok.kind = json_token::type::uint64;
        tok.uint64 = u;
        return true;
    }
    auto on_double(double, string_view s, error_code& ec) -> bool {
        std::optional<double> d;
        if (number_.empty()) {
            d = exact_double({s.data(), s.size()});
        } else {
            number_.append(s.data(), s.size());
            d = exact_double(number_);
            number_.clear();
        }
        if (!d) {
            ec = boost::json::error::exponent_overflow;
            return false;
        }
        auto& tok = t_.tokens.emplace_back();
        tok.kind = json_token::type::number;
        tok.number = *d;
        return true;
    }
    auto on_bool(bool b, error_code&) -> bool {
        auto& tok = t_.tokens.emplace_back();
        tok.kind = json_token::type::boolean;
        tok.boolean = b;
        return true;
    }
    auto on_null(error_code&) -> bool {
        t_.tokens.emplace_back().kind = json_token::type::null;
        return true;
    }
    auto on_comment_part(string_view, error_code&) -> bool { return true; }
    auto on_comment(string_view, error_code&) -> bool { return true; }

private:
    auto open(json_token::type kind) -> bool {
        t_.open.push_back(t_.tokens.size());
        t_.tokens.emplace_back().kind = kind;
        return true;
    }
    auto close(std::size_t n) -> bool {
        auto& tok = t_.tokens[t_.open.back()];
        t_.open.pop_back();
        tok.size = n;
        tok.end = t_.tokens.size();
        return true;
    }
    // Pieces of a string with escapes (or split otherwise) are joined in the tape's own buffer.
    auto part(string_view s) -> bool {
        if (!partial_) {
            partial_ = true;
            partial_start_ = t_.text.size();
        }
        t_.text.append(s.data(), s.size());
        return true;
    }
    auto string(string_view s) -> bool {
        auto& tok = t_.tokens.emplace_back();
        tok.kind = json_token::type::string;
        auto const* in = t_.input.data();
        if (partial_) {
            t_.text.append(s.data(), s.size());
            tok.offset = partial_start_;
            tok.size = t_.text.size() - partial_start_;
            partial_ = false;
        } else if (s.data() >= in && s.data() + s.size() <= in + t_.input.size()) {
            tok.in_input = true;
            tok.offset = static_cast<std::size_t>(s.data() - in);
            tok.size = s.size();
        } else {
            tok.offset = t_.text.size();
            tok.size = s.size();
            t_.text.append(s.data(), s.size());
        }
        return true;
    }

    json_tape& t_;
    std::string number_;
    bool partial_ = false;
    std::size_t partial_start_ = 0;
};

void flatten(nlohmann::json const& j, json_tape& t) {
    using vt = nlohmann::json::value_t;
    auto string = [&t](std::string const& s) {
        auto& tok = t.tokens.emplace_back();
        tok.kind = json_token::type::string;
        tok.offset = t.text.size();
        tok.size = s.size();
        t.text += s;
    };
    auto const at = t.tokens.size();
    auto& tok = t.tokens.emplace_back();
    switch (j.type()) {
        case vt::null: tok.kind = json_token::type::null; return;
        case vt::boolean:
            tok.kind = json_token::type::boolean;
            tok.boolean = j.get<bool>();
            return;
        case vt::number_integer:
            tok.kind = json_token::type::int64;
            tok.int64 = j.get<std::int64_t>();
            return;
        case vt::number_unsigned:
            tok.kind = json_token::type::uint64;
            tok.uint64 = j.get<std::uint64_t>();
            return;
        case vt::number_float:
            tok.kind = json_token::type::number;
            tok.number = j.get<double>();
            return;
        case vt::string: t.tokens.pop_back(); string(j.get_ref<std::string const&>()); return;
        case vt::array:
            tok.kind = json_token::type::array;
            for (auto const& e : j) {
                flatten(e, t);
            }
            break;
        case vt::object:
            tok.kind = json_token::type::object;
            for (auto const& [k, v] : j.items()) {
                string(k);
                flatten(v, t);
            }
            break;
        case vt::binary:
        case vt::discarded: tok.kind = json_token::type::other; return;
    }
    // `tok` may have moved as the vector grew.
    t.tokens[at].size = j.size();
    t.tokens[at].end = t.tokens.size();
}

}  // namespace

void write_json_string(std::string& out, std::string_view s) {
    // Bytes copied as they are: printable ASCII but the quote and the backslash.
    static constexpr auto plain = [] {
        std::array<bool, 256> t{};
        for (unsigned c = 0x20; c < 0x80; ++c) {
            t[c] = c != '"' && c != '\\';
        }
        return t;
    }();
    auto const* begin = reinterpret_cast<unsigned char const*>(s.data());
    auto const* end = begin + s.size();
    auto const* p = begin;
    out.reserve(out.size() + s.size() + 2);
    out += '"';
    while (p < end) {
        auto const* run = p;
        while (p < end) {
            if (end - p >= 8 && plain_word(p)) {
                p += 8;
            } else if (plain[*p]) {
                ++p;
            } else if (*p >= 0x80) {
                auto n = utf8_length(p, end);
                if (n == 0) {
                    break;
                }
                p += n;
            } else {
                break;
            }
        }
        out.append(reinterpret_cast<char const*>(run), static_cast<std::size_t>(p - run));
        if (p == end) {
            break;
        }
        unsigned const c = *p;
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\t': out += "\\t"; break;
            case '\n': out += "\\n"; break;
            case '\f': out += "\\f"; break;
            case '\r': out += "\\r"; break;
            default:
                if (c >= 0x80) {
                    throw std::invalid_argument(
                        fmt::format("invalid UTF-8 byte at index {}: 0x{:02X}", p - begin, c));
                }
                constexpr char const* hex = "0123456789abcdef";
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 0xF];
        }
        ++p;
    }
    out += '"';
}

void write_json_document(std::string& out, nlohmann::json const& doc) {
    out += serializers::detail::dump_json_text(doc);
}

auto tape_to_document(json_tape const& t, std::size_t& i) -> nlohmann::json {
    auto const& tok = t.tokens[i++];
    switch (tok.kind) {
        case json_token::type::null: return nullptr;
        case json_token::type::boolean: return tok.boolean;
        case json_token::type::int64: return tok.int64;
        case json_token::type::uint64: return tok.uint64;
        case json_token::type::number: return tok.number;
        case json_token::type::string: return std::string(t.str(tok));
        case json_token::type::array: {
            auto doc = nlohmann::json::array();
            while (i < tok.end) {
                doc.push_back(tape_to_document(t, i));
            }
            return doc;
        }
        case json_token::type::object: {
            auto doc = nlohmann::json::object();
            while (i < tok.end) {
                auto key = std::string(t.str(t.tokens[i++]));
                doc[std::move(key)] = tape_to_document(t, i);
            }
            return doc;
        }
        case json_token::type::other: break;
    }
    throw json_value_error("a binary value cannot be read here");
}

void write_json_double(std::string& out, double d) {
    if (std::isnan(d)) {
        out += "NaN";
    } else if (std::isinf(d)) {
        out += d > 0 ? "Infinity" : "-Infinity";
    } else {
        // nlohmann's own formatter (Grisu2, `1.0`, `1e+100`), which its dump uses.
        std::array<char, 64> buf{};
        auto* end = nlohmann::detail::to_chars(buf.data(), buf.data() + buf.size(), d);
        out.append(buf.data(), end);
    }
}

void json_tape::clear() {
    // Memory kept from one value to the next is capped: a rare huge value is not held forever.
    constexpr std::size_t keep_tokens = 1 << 14;
    constexpr std::size_t keep_text = 1 << 20;
    if (tokens.capacity() > keep_tokens) {
        tokens = {};
    }
    if (text.capacity() > keep_text) {
        text = {};
    }
    tokens.clear();
    text.clear();
    open.clear();
    input = {};
}

auto thread_json_tape() -> json_tape& {
    thread_local json_tape tape;
    return tape;
}

auto parse_json_tape(std::string_view text, json_tape& tape) -> bool {
    tape.clear();
    tape.input = text;
    boost::json::parse_options opt;
    opt.max_depth = serializers::detail::max_document_depth;
    boost::json::basic_parser<tape_builder> parser(opt, tape);
    error_code ec;
    auto n = parser.write_some(false, text.data(), text.size(), ec);
    return !ec && n == text.size() && parser.done();
}

void document_to_tape(nlohmann::json const& doc, json_tape& tape) {
    tape.clear();
    flatten(doc, tape);
}

void load_json_tape(std::string_view text, json_tape& tape) {
    if (!parse_json_tape(text, tape)) {
        document_to_tape(serializers::detail::parse_json_text(text), tape);
    }
}

void throw_json_mismatch(std::string_view expected, json_token const& found) {
    throw json_value_error(fmt::format("expected {}, found {}", expected, kind_name(found)));
}

void throw_json_out_of_range(json_token const& found) {
    std::string value;
    switch (found.kind) {
        case json_token::type::int64: value = std::to_string(found.int64); break;
        case json_token::type::uint64: value = std::to_string(found.uint64); break;
        default: value = fmt::format("{}", found.number); break;
    }
    throw json_value_error(fmt::format("{} does not fit the number type read", value));
}

void throw_json_missing(std::string_view field) {
    throw json_value_error(fmt::format("missing field '{}'", field));
}

}  // namespace asiocache::detail
