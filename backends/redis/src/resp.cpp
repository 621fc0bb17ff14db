// SPDX-License-Identifier: MIT
#include "resp.hpp"

#include <boost/uuid/detail/sha1.hpp>

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

namespace asiocache::backends::redis_detail {
namespace {

// hiredis calls these for every node of a reply. A child is constructed in place in its
// parent's `elements`, which grows as children arrive (an array header only reserves a little:
// `*2147483647` must not allocate 2^31 nodes), so only the root is heap-allocated, and
// freeObject is only ever called on a root. These are called from C: they never throw, and a
// refusal (the reply budget, or an allocation failure) returns NULL, which hiredis reports as
// an error that `reply_parser` turns into the reason recorded in the budget.
using budget = reply_parser::budget;

auto budget_of(redisReadTask const* task) -> budget* { return static_cast<budget*>(task->privdata); }

auto charge(redisReadTask const* task, std::size_t bytes) -> bool {
    auto* b = budget_of(task);
    if (b == nullptr) {
        return true;
    }
    b->used += sizeof(raw_reply) + bytes;
    if (b->used > b->max) {
        b->failure = fmt::format("reply exceeds max_reply_bytes ({} bytes)", b->max);
        return false;
    }
    return true;
}

auto node_for(redisReadTask const* task, raw_reply::kind k, std::size_t bytes) noexcept
    -> raw_reply* {
    try {
        if (!charge(task, bytes)) {
            return nullptr;
        }
        raw_reply* node = nullptr;
        if (task->parent != nullptr) {
            auto* parent = static_cast<raw_reply*>(task->parent->obj);
            if (task->idx < 0) {
                return nullptr;
            }
            auto idx = static_cast<std::size_t>(task->idx);
            if (idx >= parent->elements.size()) {
                parent->elements.resize(idx + 1);
            }
            node = &parent->elements[idx];
        } else {
            node = new raw_reply;
        }
        node->type = k;
        return node;
    } catch (...) {
        if (auto* b = budget_of(task); b != nullptr && b->failure.empty()) {
            b->failure = "out of memory while parsing a reply";
        }
        return nullptr;
    }
}

auto create_string(redisReadTask const* task, char* str, std::size_t len) -> void* {
    auto k = raw_reply::kind::string;
    if (task->type == REDIS_REPLY_STATUS) {
        k = raw_reply::kind::status;
    } else if (task->type == REDIS_REPLY_ERROR) {
        k = raw_reply::kind::error;
    }
    auto* node = node_for(task, k, len);
    if (node != nullptr) {
        try {
            node->str.assign(str, len);
        } catch (...) {
            if (auto* b = budget_of(task); b != nullptr && b->failure.empty()) {
                b->failure = "out of memory while parsing a reply";
            }
            if (task->parent == nullptr) {
                delete node;  // a child stays in its parent and is freed with the root
            }
            return nullptr;
        }
    }
    return node;
}

auto create_array(redisReadTask const* task, int elements) -> void* {
    if (elements < 0) {
        if (auto* b = budget_of(task)) {
            b->failure = fmt::format("array header with {} elements", elements);
        }
        return nullptr;
    }
    auto* node = node_for(task, raw_reply::kind::array, 0);
    if (node != nullptr && elements > 0) {
        try {
            node->elements.reserve(std::min<std::size_t>(static_cast<std::size_t>(elements), 1024));
        } catch (...) {
            // Growing one child at a time still works.
        }
    }
    return node;
}

auto create_integer(redisReadTask const* task, long long value) -> void* {
    auto* node = node_for(task, raw_reply::kind::integer, 0);
    if (node != nullptr) {
        node->integer = value;
    }
    return node;
}

auto create_nil(redisReadTask const* task) -> void* {
    return node_for(task, raw_reply::kind::nil, 0);
}

void free_object(void* obj) { delete static_cast<raw_reply*>(obj); }

redisReplyObjectFunctions reply_functions{create_string, create_array, create_integer, create_nil,
                                          free_object};

auto describe(raw_reply const& r) -> std::string {
    switch (r.type) {
        case raw_reply::kind::nil:
            return "nil";
        case raw_reply::kind::integer:
            return fmt::format("integer {}", r.integer);
        case raw_reply::kind::string:
            return fmt::format("a {}-byte string", r.str.size());
        case raw_reply::kind::status:
            return fmt::format("status '{}'", r.str);
        case raw_reply::kind::error:
            return fmt::format("error '{}'", r.str);
        case raw_reply::kind::array:
            return fmt::format("an array of {}", r.elements.size());
    }
    return "an unknown reply";
}

// `Ptrs`/`Lens` are stack arrays for short commands and vectors for long ones.
template <class Ptrs, class Lens>
void append_formatted(std::string& out, std::span<std::string_view const> argv, Ptrs& ptrs,
                      Lens& lens) {
    for (std::size_t i = 0; i < argv.size(); ++i) {
        ptrs[i] = argv[i].data();
        lens[i] = argv[i].size();
    }
    char* cmd = nullptr;
    int len = redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), ptrs.data(), lens.data());
    if (len < 0 || cmd == nullptr) {
        throw std::bad_alloc();
    }
    out.append(cmd, static_cast<std::size_t>(len));
    redisFreeCommand(cmd);
}

}  // namespace

auto shorten(std::string_view key) -> std::string {
    constexpr std::size_t limit = 120;
    if (key.size() <= limit) {
        return std::string(key);
    }
    return fmt::format("{}...({} bytes)", key.substr(0, limit), key.size());
}

void append_command(std::string& out, std::span<std::string_view const> argv) {
    constexpr std::size_t small = 8;
    if (argv.size() <= small) {
        std::array<char const*, small> ptrs{};
        std::array<std::size_t, small> lens{};
        append_formatted(out, argv, ptrs, lens);
    } else {
        std::vector<char const*> ptrs(argv.size());
        std::vector<std::size_t> lens(argv.size());
        append_formatted(out, argv, ptrs, lens);
    }
}

void append_command(std::string& out, std::initializer_list<std::string_view> argv) {
    append_command(out, std::span<std::string_view const>(argv.begin(), argv.size()));
}

auto format_command(std::initializer_list<std::string_view> argv) -> std::string {
    std::string out;
    append_command(out, argv);
    return out;
}

reply_parser::reply_parser(std::size_t max_reply_bytes)
    : reader_(redisReaderCreateWithFunctions(&reply_functions)) {
    if (reader_ == nullptr) {
        throw std::bad_alloc();
    }
    budget_.max = max_reply_bytes;
    reader_->privdata = &budget_;
}

reply_parser::~reply_parser() { redisReaderFree(reader_); }

void reply_parser::fail(std::string_view what) {
    auto why = budget_.failure.empty() ? std::string(what) : budget_.failure;
    throw_error(errc::protocol_error, fmt::format("redis: {}", why));
}

void reply_parser::feed(char const* data, std::size_t n) {
    if (redisReaderFeed(reader_, data, n) != REDIS_OK) {
        fail(reader_->errstr);
    }
}

auto reply_parser::next() -> std::optional<raw_reply> {
    void* obj = nullptr;
    if (redisReaderGetReply(reader_, &obj) != REDIS_OK) {
        fail(fmt::format("malformed reply: {}", reader_->errstr));
    }
    // What is still buffered belongs to the replies after this one.
    auto const buffered = reader_->len - reader_->pos;
    if (obj == nullptr) {
        // The reply in progress: its bytes already turned into nodes (charged to the budget as
        // they were built) plus those still waiting in the buffer, such as a long bulk string.
        if (budget_.used + buffered > budget_.max) {
            fail(fmt::format("reply exceeds max_reply_bytes ({} bytes)", budget_.max));
        }
        return std::nullopt;
    }
    std::unique_ptr<raw_reply> root(static_cast<raw_reply*>(obj));
    budget_.used = 0;
    return std::move(*root);
}

auto reply_parser::buffered() const noexcept -> std::size_t { return reader_->len - reader_->pos; }

void reply_parser::reset() {
    auto* fresh = redisReaderCreateWithFunctions(&reply_functions);
    if (fresh == nullptr) {
        throw std::bad_alloc();
    }
    redisReaderFree(reader_);
    reader_ = fresh;
    reader_->privdata = &budget_;
    budget_.used = 0;
    budget_.failure.clear();
}

auto error_for(std::string_view msg) noexcept -> errc {
    if (msg.find("not an integer") != std::string_view::npos) {
        return errc::not_a_number;
    }
    // INCRBY past the 64-bit range: the memory and memcached backends say invalid_argument.
    if (msg.find("would overflow") != std::string_view::npos) {
        return errc::invalid_argument;
    }
    for (std::string_view transient : {"LOADING", "BUSY ", "MASTERDOWN", "TRYAGAIN"}) {
        if (msg.starts_with(transient)) {
            return errc::backend_unavailable;
        }
    }
    return errc::backend_error;
}

auto is_noscript(raw_reply const& r) noexcept -> bool {
    return r.type == raw_reply::kind::error && std::string_view(r.str).starts_with("NOSCRIPT");
}

void throw_unexpected(raw_reply const& r, std::string_view cmd, std::string_view key) {
    if (r.type == raw_reply::kind::error) {
        throw_error(error_for(r.str), fmt::format("redis {} {}: {}", cmd, shorten(key), r.str));
    }
    throw_error(errc::protocol_error,
                fmt::format("redis {} {}: unexpected reply: {}", cmd, shorten(key), describe(r)));
}

void expect_ok(raw_reply const& r, std::string_view cmd, std::string_view key) {
    if (r.type != raw_reply::kind::status || r.str != "OK") {
        throw_unexpected(r, cmd, key);
    }
}

auto to_bytes(raw_reply&& r, std::string_view cmd, std::string_view key)
    -> std::optional<std::string> {
    if (r.type == raw_reply::kind::string) {
        return std::move(r.str);
    }
    if (r.type == raw_reply::kind::nil) {
        return std::nullopt;
    }
    throw_unexpected(r, cmd, key);
}

auto to_integer(raw_reply const& r, std::string_view cmd, std::string_view key) -> std::int64_t {
    if (r.type != raw_reply::kind::integer) {
        throw_unexpected(r, cmd, key);
    }
    return r.integer;
}

auto to_ttl(raw_reply const& r, std::string_view cmd, std::string_view key)
    -> std::optional<expiry> {
    auto ms = to_integer(r, cmd, key);
    if (ms == -2) {
        return std::nullopt;
    }
    if (ms == -1) {
        return expiry::never();
    }
    if (ms < 0) {
        throw_unexpected(r, cmd, key);
    }
    // An entry about to expire reports 0 ms; 0 would read as "never", so it rounds up.
    return expiry(std::chrono::milliseconds(ms == 0 ? 1 : ms));
}

void expect_array(raw_reply const& r, std::size_t n, std::string_view cmd, std::string_view key) {
    if (r.type != raw_reply::kind::array ||
        (n != std::string_view::npos && r.elements.size() != n)) {
        throw_unexpected(r, cmd, key);
    }
}

auto sha1_hex(std::string_view text) -> std::string {
    boost::uuids::detail::sha1 h;
    h.process_bytes(text.data(), text.size());
    boost::uuids::detail::sha1::digest_type d;
    h.get_digest(d);
    using word = std::remove_cvref_t<decltype(d[0])>;
    std::string out;
    out.reserve(40);
    for (auto const w : d) {
        if constexpr (sizeof(word) == 1) {
            out += fmt::format("{:02x}", static_cast<unsigned>(w));
        } else {
            out += fmt::format("{:08x}", static_cast<std::uint32_t>(w));
        }
    }
    return out;
}

auto glob_escape(std::string_view s) -> std::string {
    std::string out;
    out.reserve(s.size() + 4);
    for (char c : s) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    return out;
}

}  // namespace asiocache::backends::redis_detail
