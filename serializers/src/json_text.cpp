// SPDX-License-Identifier: MIT
#include "json_text.hpp"

#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace asiocache::serializers::detail {
namespace {

using nlohmann::json;

auto has_non_finite(json const& j) -> bool {
    switch (j.type()) {
        case json::value_t::number_float: return !std::isfinite(j.get<double>());
        case json::value_t::array:
        case json::value_t::object:
            for (auto const& v : j) {
                if (has_non_finite(v)) {
                    return true;
                }
            }
            return false;
        default: return false;
    }
}

// Only used when the document holds a non-finite float: everything else goes through
// nlohmann's own dump, which is the fast path.
void write_python_style(json const& j, std::string& out) {
    switch (j.type()) {
        case json::value_t::object: {
            out += '{';
            bool first = true;
            for (auto const& [k, v] : j.items()) {
                if (!first) {
                    out += ',';
                }
                first = false;
                out += json(k).dump();
                out += ':';
                write_python_style(v, out);
            }
            out += '}';
            return;
        }
        case json::value_t::array: {
            out += '[';
            bool first = true;
            for (auto const& v : j) {
                if (!first) {
                    out += ',';
                }
                first = false;
                write_python_style(v, out);
            }
            out += ']';
            return;
        }
        case json::value_t::number_float: {
            auto d = j.get<double>();
            if (std::isnan(d)) {
                out += "NaN";
            } else if (std::isinf(d)) {
                out += d > 0 ? "Infinity" : "-Infinity";
            } else {
                out += j.dump();
            }
            return;
        }
        default: out += j.dump(); return;
    }
}

// The placeholder a non-finite token becomes before nlohmann parses the text is a string that
// begins with U+0001. The substitution count is checked after parsing, so a stored string
// that happens to equal a placeholder is detected and reported, never misread as a number.
struct token {
    std::string_view text;     // as Python writes it
    std::string_view decoded;  // the placeholder string after parsing
    std::string_view literal;  // the placeholder as a JSON string literal
    double value;
};

auto const& tokens() {
    static std::array<token, 3> const list{{
        {"-Infinity", "\x01" "asiocache-nonfinite:-inf", "\"\\u0001asiocache-nonfinite:-inf\"",
         -std::numeric_limits<double>::infinity()},
        {"Infinity", "\x01" "asiocache-nonfinite:inf", "\"\\u0001asiocache-nonfinite:inf\"",
         std::numeric_limits<double>::infinity()},
        {"NaN", "\x01" "asiocache-nonfinite:nan", "\"\\u0001asiocache-nonfinite:nan\"",
         std::numeric_limits<double>::quiet_NaN()},
    }};
    return list;
}

// Replaces non-finite tokens outside strings; returns how many it replaced.
auto substitute(std::string_view in, std::string& out) -> std::size_t {
    std::size_t count = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < in.size();) {
        char c = in[i];
        if (in_string) {
            out += c;
            if (c == '\\' && i + 1 < in.size()) {
                out += in[i + 1];
                i += 2;
                continue;
            }
            in_string = c != '"';
            ++i;
            continue;
        }
        if (c == '"') {
            in_string = true;
            out += c;
            ++i;
            continue;
        }
        bool replaced = false;
        for (auto const& t : tokens()) {
            if (in.substr(i, t.text.size()) == t.text) {
                out += t.literal;
                i += t.text.size();
                ++count;
                replaced = true;
                break;
            }
        }
        if (!replaced) {
            out += c;
            ++i;
        }
    }
    return count;
}

auto restore(json& j) -> std::size_t {
    if (j.is_string()) {
        auto const& s = j.get_ref<std::string const&>();
        for (auto const& t : tokens()) {
            if (s == t.decoded) {
                j = t.value;
                return 1;
            }
        }
        return 0;
    }
    std::size_t count = 0;
    if (j.is_structured()) {
        for (auto& v : j) {
            count += restore(v);
        }
    }
    return count;
}

// nlohmann's own DOM builder, refusing to open a level past the limit. The readers call
// start_array/start_object before they recurse into the elements, so the throw comes before
// the stack grows.
class bounded_dom_parser : public nlohmann::detail::json_sax_dom_parser<json> {
public:
    using base = nlohmann::detail::json_sax_dom_parser<json>;
    using base::base;

    auto start_object(std::size_t n) -> bool {
        enter();
        return base::start_object(n);
    }
    auto end_object() -> bool {
        --depth_;
        return base::end_object();
    }
    auto start_array(std::size_t n) -> bool {
        enter();
        return base::start_array(n);
    }
    auto end_array() -> bool {
        --depth_;
        return base::end_array();
    }

private:
    void enter() {
        if (++depth_ > max_document_depth) {
            throw std::out_of_range("the document nests deeper than " +
                                    std::to_string(max_document_depth) + " levels");
        }
    }
    std::size_t depth_ = 0;
};

}  // namespace

auto parse_bounded(std::string_view bytes, json::input_format_t format) -> json {
    json out;
    bounded_dom_parser sax(out);
    json::sax_parse(bytes.begin(), bytes.end(), &sax, format, /*strict=*/true);
    return out;
}

auto dump_json_text(json const& doc) -> std::string {
    if (!has_non_finite(doc)) {
        return doc.dump();
    }
    std::string out;
    write_python_style(doc, out);
    return out;
}

auto parse_json_text(std::string_view text) -> json {
    try {
        return parse_bounded(text, json::input_format_t::json);
    } catch (json::parse_error const&) {
        std::string substituted;
        substituted.reserve(text.size() + 64);
        auto replaced = substitute(text, substituted);
        if (replaced == 0) {
            throw;
        }
        auto doc = parse_bounded(substituted, json::input_format_t::json);
        if (restore(doc) != replaced) {
            throw std::runtime_error(
                "JSON text holds a string equal to the internal NaN/Infinity placeholder");
        }
        return doc;
    }
}

}  // namespace asiocache::serializers::detail
