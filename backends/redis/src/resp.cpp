// SPDX-License-Identifier: MIT
#include "resp.hpp"

#include <fmt/format.h>
#include <hiredis/hiredis.h>

#include <array>
#include <memory>
#include <new>
#include <vector>

namespace asiocache::backends::redis_detail {
namespace {

// hiredis calls these for every node of a reply. A child is constructed in place in its
// parent's `elements` (sized when the array header was read), so only the root is
// heap-allocated, and freeObject is only ever called on a root.
auto node_for(redisReadTask const* task, raw_reply::kind k) -> raw_reply* {
    raw_reply* node = nullptr;
    if (task->parent != nullptr) {
        auto* parent = static_cast<raw_reply*>(task->parent->obj);
        node = &parent->elements[static_cast<std::size_t>(task->idx)];
    } else {
        node = new (std::nothrow) raw_reply;
        if (node == nullptr) {
            return nullptr;
        }
    }
    node->type = k;
    return node;
}

auto create_string(redisReadTask const* task, char* str, std::size_t len) -> void* {
    auto k = raw_reply::kind::string;
    if (task->type == REDIS_REPLY_STATUS) {
        k = raw_reply::kind::status;
    } else if (task->type == REDIS_REPLY_ERROR) {
        k = raw_reply::kind::error;
    }
    auto* node = node_for(task, k);
    if (node != nullptr) {
        node->str.assign(str, len);
    }
    return node;
}

auto create_array(redisReadTask const* task, int elements) -> void* {
    auto* node = node_for(task, raw_reply::kind::array);
    if (node != nullptr && elements > 0) {
        node->elements.resize(static_cast<std::size_t>(elements));
    }
    return node;
}

auto create_integer(redisReadTask const* task, long long value) -> void* {
    auto* node = node_for(task, raw_reply::kind::integer);
    if (node != nullptr) {
        node->integer = value;
    }
    return node;
}

auto create_nil(redisReadTask const* task) -> void* { return node_for(task, raw_reply::kind::nil); }

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

reply_parser::reply_parser() : reader_(redisReaderCreateWithFunctions(&reply_functions)) {
    if (reader_ == nullptr) {
        throw std::bad_alloc();
    }
}

reply_parser::~reply_parser() { redisReaderFree(reader_); }

void reply_parser::feed(char const* data, std::size_t n) {
    if (redisReaderFeed(reader_, data, n) != REDIS_OK) {
        throw_error(errc::protocol_error, fmt::format("redis: {}", reader_->errstr));
    }
}

auto reply_parser::next() -> std::optional<raw_reply> {
    void* obj = nullptr;
    if (redisReaderGetReply(reader_, &obj) != REDIS_OK) {
        throw_error(errc::protocol_error,
                    fmt::format("redis: malformed reply: {}", reader_->errstr));
    }
    if (obj == nullptr) {
        return std::nullopt;
    }
    std::unique_ptr<raw_reply> root(static_cast<raw_reply*>(obj));
    return std::move(*root);
}

void reply_parser::reset() {
    auto* fresh = redisReaderCreateWithFunctions(&reply_functions);
    if (fresh == nullptr) {
        throw std::bad_alloc();
    }
    redisReaderFree(reader_);
    reader_ = fresh;
}

auto error_for(std::string_view msg) noexcept -> errc {
    if (msg.find("not an integer") != std::string_view::npos) {
        return errc::not_a_number;
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
