// SPDX-License-Identifier: MIT
// Fuzz target: the Redis reply parser (redis_detail::reply_parser over hiredis' redisReader),
// the path every byte a Redis server sends goes through.
//
// The first byte picks how the rest is cut into chunks. Properties:
// - next() returns replies or throws `system_error` with `errc::protocol_error`; nothing else,
//   and no reply, however large its header says it is, allocates past the parser's cap;
// - the replies do not depend on how the bytes were split across feed() calls (a server's TCP
//   segments can split a reply anywhere): chunked feeding gives the same replies, and the same
//   error at the same point, as feeding everything at once;
// - every reply written back as RESP parses to the same reply;
// - after reset(), the parser reads a well-formed reply again.
#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "resp.hpp"

namespace {

using asiocache::errc;
using asiocache::raw_reply;
using asiocache::backends::redis_detail::reply_parser;

// The cap the parsers run with: small, so that hostile headers (`*2147483647`, `$2147483647`)
// and long inputs reach it quickly. Past it, next() must fail cleanly, never allocate.
constexpr std::size_t max_reply_bytes = 64 * 1024;

struct outcome {
    std::vector<raw_reply> replies;
    bool failed = false;
};

auto equal(raw_reply const& a, raw_reply const& b) -> bool {
    if (a.type != b.type || a.integer != b.integer || a.str != b.str ||
        a.elements.size() != b.elements.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.elements.size(); ++i) {
        if (!equal(a.elements[i], b.elements[i])) {
            return false;
        }
    }
    return true;
}

// Drains every complete reply; false once the parser reported malformed input.
auto drain(reply_parser& p, outcome& out) -> bool {
    try {
        while (auto r = p.next()) {
            out.replies.push_back(std::move(*r));
        }
    } catch (boost::system::system_error const& e) {
        FUZZ_CHECK(asiocache::fuzz::has_code(e, errc::protocol_error));
        out.failed = true;
        return false;
    }
    return true;
}

auto parse(std::string_view bytes, std::size_t chunk, unsigned seed,
           std::size_t cap = max_reply_bytes) -> outcome {
    reply_parser p(cap);
    outcome out;
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        // Varying chunk sizes, from a seed, so splits land inside headers and CRLFs.
        auto n = chunk == 0 ? bytes.size() : 1 + (chunk + seed * pos) % (2 * chunk);
        n = std::min(n, bytes.size() - pos);
        try {
            p.feed(bytes.data() + pos, n);
        } catch (boost::system::system_error const& e) {
            FUZZ_CHECK(asiocache::fuzz::has_code(e, errc::protocol_error));
            out.failed = true;
            return out;
        }
        pos += n;
        if (!drain(p, out)) {
            return out;
        }
    }
    return out;
}

// RESP2 for a parsed reply.
void write(raw_reply const& r, std::string& out) {
    switch (r.type) {
        case raw_reply::kind::nil: out += "$-1\r\n"; return;
        case raw_reply::kind::integer: out += fmt::format(":{}\r\n", r.integer); return;
        case raw_reply::kind::status: out += fmt::format("+{}\r\n", r.str); return;
        case raw_reply::kind::error: out += fmt::format("-{}\r\n", r.str); return;
        case raw_reply::kind::string: out += fmt::format("${}\r\n{}\r\n", r.str.size(), r.str); return;
        case raw_reply::kind::array:
            out += fmt::format("*{}\r\n", r.elements.size());
            for (auto const& e : r.elements) {
                write(e, out);
            }
            return;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    auto mode = data[0];
    std::string_view bytes(reinterpret_cast<char const*>(data) + 1, size - 1);
    auto whole = parse(bytes, 0, 0);
    auto chunked = parse(bytes, 1 + mode % 16, mode / 16);
    FUZZ_CHECK(whole.failed == chunked.failed);
    FUZZ_CHECK(whole.replies.size() == chunked.replies.size());
    for (std::size_t i = 0; i < whole.replies.size(); ++i) {
        FUZZ_CHECK(equal(whole.replies[i], chunked.replies[i]));
    }

    std::string written;
    for (auto const& r : whole.replies) {
        write(r, written);
    }
    // Written back canonically a reply is never longer, so it fits the same cap.
    auto reread = parse(written, 0, 0);
    FUZZ_CHECK(!reread.failed);
    FUZZ_CHECK(reread.replies.size() == whole.replies.size());
    for (std::size_t i = 0; i < whole.replies.size(); ++i) {
        FUZZ_CHECK(equal(whole.replies[i], reread.replies[i]));
    }

    // A parser that failed, once reset, reads a good reply.
    reply_parser p(max_reply_bytes);
    try {
        p.feed(bytes.data(), bytes.size());
        while (p.next()) {
        }
    } catch (boost::system::system_error const&) {
    }
    p.reset();
    p.feed("+OK\r\n", 5);
    auto ok = p.next();
    FUZZ_CHECK(ok && ok->type == raw_reply::kind::status && ok->str == "OK");
    return 0;
}
