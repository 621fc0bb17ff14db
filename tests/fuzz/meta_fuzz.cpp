// SPDX-License-Identifier: MIT
// Fuzz target: the memcached meta-protocol reply parser (meta::parser), the path every byte a
// memcached server sends will go through.
//
// The first byte picks how the rest is cut into chunks. Properties:
// - next() returns replies or throws `system_error` with `errc::protocol_error`; nothing else,
//   and no value larger than the parser's cap is ever returned or buffered for;
// - the replies do not depend on how the bytes were split across feed() calls: chunked feeding
//   gives the same replies, and fails at the same reply, as feeding everything at once;
// - every reply written back in the protocol's own form parses to the same reply;
// - after reset(), the parser reads a well-formed reply again.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "meta_protocol.hpp"

namespace {

using asiocache::errc;
namespace meta = asiocache::backends::meta;

constexpr std::size_t max_line = 512;
constexpr std::size_t max_value = 16 * 1024;

struct outcome {
    std::vector<meta::reply> replies;
    bool failed = false;
};

auto same(meta::reply const& a, meta::reply const& b) -> bool {
    return a.type == b.type && a.flags == b.flags && a.data == b.data;
}

auto parse(std::string_view bytes, std::size_t chunk) -> outcome {
    meta::parser p(max_line, max_value);
    outcome out;
    std::size_t pos = 0;
    try {
        while (pos < bytes.size()) {
            auto n = chunk == 0 ? bytes.size() : std::min(chunk + pos % 3, bytes.size() - pos);
            p.feed(bytes.data() + pos, n);
            pos += n;
            while (auto r = p.next()) {
                FUZZ_CHECK(r->data.size() <= max_value || (r->type != meta::reply::kind::value &&
                                                            r->type != meta::reply::kind::item));
                out.replies.push_back(std::move(*r));
            }
            // Nothing is buffered past one line and one value of the cap, plus this chunk.
            FUZZ_CHECK(p.buffered() <= max_line + max_value + 4 + n + 2 * chunk + 64);
        }
    } catch (boost::system::system_error const& e) {
        FUZZ_CHECK(asiocache::fuzz::has_code(e, errc::protocol_error));
        out.failed = true;
    }
    return out;
}

// The reply in the protocol's own form.
auto write_back(meta::reply const& r) -> std::string {
    using kind = meta::reply::kind;
    auto with_flags = [&](std::string head) {
        return r.flags.empty() ? head + "\r\n" : head + " " + r.flags + "\r\n";
    };
    switch (r.type) {
        case kind::value: {
            std::string out = "VA " + std::to_string(r.data.size());
            out += r.flags.empty() ? "" : " " + r.flags;
            return out + "\r\n" + r.data + "\r\n";
        }
        case kind::stored: return with_flags("HD");
        case kind::miss: return with_flags("EN");
        case kind::not_found: return with_flags("NF");
        case kind::not_stored: return with_flags("NS");
        case kind::exists: return with_flags("EX");
        case kind::noop: return with_flags("MN");
        case kind::client_error: return "CLIENT_ERROR " + r.data + "\r\n";
        case kind::server_error: return "SERVER_ERROR " + r.data + "\r\n";
        case kind::stat: return "STAT " + r.data + "\r\n";
        case kind::end: return "END\r\n";
        case kind::version: return "VERSION " + r.data + "\r\n";
        case kind::ok: return "OK\r\n";
        case kind::item:
            return "VALUE " + r.flags + " 0 " + std::to_string(r.data.size()) + "\r\n" + r.data +
                   "\r\n";
        case kind::error: return "ERROR\r\n";
    }
    return {};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    std::size_t const chunk = 1 + data[0] % 17;
    std::string_view bytes(reinterpret_cast<char const*>(data) + 1, size - 1);

    auto whole = parse(bytes, 0);
    auto split = parse(bytes, chunk);
    // Split feeding may fail earlier only in one way: a line cap hit before its end arrived is
    // the same error whole feeding hits; so both fail, or both succeed with the same replies.
    FUZZ_CHECK(whole.failed == split.failed);
    FUZZ_CHECK(whole.replies.size() == split.replies.size());
    for (std::size_t i = 0; i < whole.replies.size(); ++i) {
        FUZZ_CHECK(same(whole.replies[i], split.replies[i]));
    }

    std::string again;
    for (auto const& r : whole.replies) {
        again += write_back(r);
    }
    auto reread = parse(again, 0);
    FUZZ_CHECK(!reread.failed);
    FUZZ_CHECK(reread.replies.size() == whole.replies.size());
    for (std::size_t i = 0; i < whole.replies.size(); ++i) {
        FUZZ_CHECK(same(whole.replies[i], reread.replies[i]));
    }

    meta::parser p(max_line, max_value);
    try {
        p.feed(bytes.data(), bytes.size());
        while (p.next()) {
        }
    } catch (boost::system::system_error const&) {
    }
    p.reset();
    std::string_view ok = "VA 2 f1\r\nhi\r\n";
    p.feed(ok.data(), ok.size());
    auto r = p.next();
    FUZZ_CHECK(r && r->type == meta::reply::kind::value && r->data == "hi");
    return 0;
}
