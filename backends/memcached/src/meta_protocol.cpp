// SPDX-License-Identifier: MIT
#include "meta_protocol.hpp"

#include <fmt/format.h>

#include <charconv>

#include "asiocache/errors.hpp"

namespace asiocache::backends::meta {

namespace {

[[noreturn]] void bad(std::string_view what) {
    throw_error(errc::protocol_error, fmt::format("memcached: {}", what));
}

auto printable(std::string_view line) -> std::string {
    std::string out;
    for (char c : line.substr(0, 60)) {
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    return out;
}

struct code_entry {
    std::string_view text;
    reply::kind type;
};

constexpr code_entry codes[] = {
    {"HD", reply::kind::stored},     {"EN", reply::kind::miss},   {"NF", reply::kind::not_found},
    {"NS", reply::kind::not_stored}, {"EX", reply::kind::exists}, {"MN", reply::kind::noop},
};

}  // namespace

auto reply::flag(char letter) const -> std::optional<std::string_view> {
    std::string_view rest = flags;
    while (!rest.empty()) {
        auto sp = rest.find(' ');
        auto token = rest.substr(0, sp);
        if (!token.empty() && token.front() == letter) {
            return token.substr(1);
        }
        if (sp == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(sp + 1);
    }
    return std::nullopt;
}

auto reply::flag_int(char letter) const -> std::optional<std::int64_t> {
    auto token = flag(letter);
    if (!token) {
        return std::nullopt;
    }
    std::int64_t v = 0;
    auto const* end = token->data() + token->size();
    auto [p, ec] = std::from_chars(token->data(), end, v);
    if (ec != std::errc{} || p != end) {
        return std::nullopt;
    }
    return v;
}

parser::parser(std::size_t max_line, std::size_t max_value)
    : max_line_(max_line), max_value_(max_value) {}

void parser::feed(char const* data, std::size_t n) {
    // Compact once the consumed part dominates, so the buffer holds at most about one reply.
    if (pos_ > 0 && pos_ >= buf_.size() / 2) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
    buf_.append(data, n);
}

void parser::reset() {
    buf_.clear();
    pos_ = 0;
}

auto parser::next() -> std::optional<reply> {
    std::string_view const avail(buf_.data() + pos_, buf_.size() - pos_);
    auto const eol = avail.find("\r\n");
    if (eol == std::string_view::npos) {
        if (avail.size() > max_line_) {
            bad(fmt::format("a reply line longer than {} bytes", max_line_));
        }
        return std::nullopt;
    }
    if (eol > max_line_) {
        bad(fmt::format("a reply line longer than {} bytes", max_line_));
    }
    auto const line = avail.substr(0, eol);
    auto const head = line.substr(0, line.find(' '));
    auto const after_head =
        head.size() < line.size() ? line.substr(head.size() + 1) : std::string_view{};
    reply r;
    if (head == "VA") {
        auto const size_text = after_head.substr(0, after_head.find(' '));
        std::size_t size = 0;
        auto [p, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size);
        if (ec != std::errc{} || p != size_text.data() + size_text.size() || size_text.empty()) {
            bad(fmt::format("malformed value header '{}'", printable(line)));
        }
        if (size > max_value_) {
            bad(fmt::format("a value of {} bytes, over the {}-byte cap", size, max_value_));
        }
        auto const total = eol + 2 + size + 2;
        if (avail.size() < total) {
            return std::nullopt;  // the data block has not all arrived
        }
        if (avail.substr(eol + 2 + size, 2) != "\r\n") {
            bad("a value not followed by \\r\\n");
        }
        r.type = reply::kind::value;
        if (size_text.size() < after_head.size()) {
            r.flags.assign(after_head.substr(size_text.size() + 1));
        }
        r.data.assign(avail.substr(eol + 2, size));
        pos_ += total;
        return r;
    }
    if (head == "VALUE") {
        // VALUE <key> <flags> <size>
        auto const key = after_head.substr(0, after_head.find(' '));
        auto rest =
            key.size() < after_head.size() ? after_head.substr(key.size() + 1) : std::string_view{};
        auto const flags_text = rest.substr(0, rest.find(' '));
        auto const size_text = flags_text.size() < rest.size() ? rest.substr(flags_text.size() + 1)
                                                               : std::string_view{};
        std::size_t size = 0;
        auto [p, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size);
        if (key.empty() || flags_text.empty() || size_text.empty() || ec != std::errc{} ||
            p != size_text.data() + size_text.size()) {
            bad(fmt::format("malformed value header '{}'", printable(line)));
        }
        if (size > max_value_) {
            bad(fmt::format("a value of {} bytes, over the {}-byte cap", size, max_value_));
        }
        auto const total = eol + 2 + size + 2;
        if (avail.size() < total) {
            return std::nullopt;
        }
        if (avail.substr(eol + 2 + size, 2) != "\r\n") {
            bad("a value not followed by \\r\\n");
        }
        r.type = reply::kind::item;
        r.flags.assign(key);
        r.data.assign(avail.substr(eol + 2, size));
        pos_ += total;
        return r;
    }
    bool known = false;
    for (auto const& c : codes) {
        if (head == c.text) {
            r.type = c.type;
            r.flags.assign(after_head);
            known = true;
            break;
        }
    }
    if (!known) {
        if (head == "CLIENT_ERROR") {
            r.type = reply::kind::client_error;
            r.data.assign(after_head);
        } else if (head == "SERVER_ERROR") {
            r.type = reply::kind::server_error;
            r.data.assign(after_head);
        } else if (line == "ERROR") {
            r.type = reply::kind::error;
        } else if (head == "STAT") {
            r.type = reply::kind::stat;
            r.data.assign(after_head);
        } else if (line == "END") {
            r.type = reply::kind::end;
        } else if (head == "VERSION") {
            r.type = reply::kind::version;
            r.data.assign(after_head);
        } else if (line == "OK") {
            r.type = reply::kind::ok;
        } else {
            bad(fmt::format("unexpected reply '{}'", printable(line)));
        }
    }
    pos_ += eol + 2;
    return r;
}

namespace {
// `<verb> <key>[ <flags>]\r\n`: every meta command but ms, whose data block follows its line.
void append_line(std::string& out, std::string_view verb, std::string_view key,
                 std::string_view flags) {
    out += verb;
    out += ' ';
    out += key;
    if (!flags.empty()) {
        out += ' ';
        out += flags;
    }
    out += "\r\n";
}
}  // namespace

void append_get(std::string& out, std::string_view key, std::string_view flags) {
    append_line(out, "mg", key, flags);
}

void append_set(std::string& out, std::string_view key, std::string_view value,
                std::string_view flags) {
    fmt::format_to(std::back_inserter(out), "ms {} {}", key, value.size());
    if (!flags.empty()) {
        out += ' ';
        out += flags;
    }
    out += "\r\n";
    out += value;
    out += "\r\n";
}

void append_delete(std::string& out, std::string_view key, std::string_view flags) {
    append_line(out, "md", key, flags);
}

void append_arithmetic(std::string& out, std::string_view key, std::string_view flags) {
    append_line(out, "ma", key, flags);
}

void append_multi_get(std::string& out, std::vector<std::string_view> const& keys) {
    out += "get";
    for (auto k : keys) {
        out += ' ';
        out += k;
    }
    out += "\r\n";
}

void append_noop(std::string& out) { out += "mn\r\n"; }

auto is_text_key(std::string_view key) noexcept -> bool {
    if (key.empty() || key.size() > 250) {
        return false;
    }
    for (unsigned char c : key) {
        if (c <= 0x20 || c == 0x7f) {
            return false;
        }
    }
    return true;
}

}  // namespace asiocache::backends::meta
