// SPDX-License-Identifier: MIT
#pragma once
// A fake memcached for the fault harness (tests/support/fault_server.hpp): it parses the meta
// text protocol a client sends (`mn`, `mg`, `ms` with its data block, `md`, `ma`, and the
// classic `stats`, `version`, `flush_all`) and lets a test answer each command, so that a
// scripted server can misbehave at one precise step while answering the rest as memcached
// would (echoing the `O`, `k`, `c`, `t`, `f`, `s` flags a request asks for).

#include "fault_server.hpp"

#include <charconv>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace asiocache::test {

/// One command as the client sent it.
struct meta_command {
    std::string name;                ///< "mn", "mg", "ms", "md", "ma", "stats", "version", ...
    std::string key;                 ///< The key of a meta command; empty otherwise.
    std::vector<std::string> flags;  ///< Tokens after the key (after the size for `ms`).
    std::string data;                ///< The value of an `ms`.
    std::string line;                ///< The command line, without its CRLF.

    [[nodiscard]] auto has_flag(char letter) const -> bool {
        for (auto const& f : flags) {
            if (!f.empty() && f.front() == letter) {
                return true;
            }
        }
        return false;
    }
    /// The flags memcached returns for this request: `O`, `k`, `c`, `t`, `f`, `s` echoed.
    [[nodiscard]] auto returned_flags(std::size_t value_size = 0) const -> std::string {
        std::string out;
        for (auto const& f : flags) {
            if (f.empty()) {
                continue;
            }
            std::string token;
            switch (f.front()) {
                case 'O': token = f; break;
                case 'k': token = "k" + key; break;
                case 'c': token = "c1"; break;
                case 't': token = "t-1"; break;
                case 'f': token = "f0"; break;
                case 's': token = "s" + std::to_string(value_size); break;
                default: break;
            }
            if (!token.empty()) {
                out += ' ';
                out += token;
            }
        }
        return out;
    }
};

/// Splits the inbox into commands and answers each with `answer`. An `ms` waits for its data
/// block. A line that is not a known command is passed on with only `name` and `line` set.
inline auto meta_responder(std::function<reply_plan(meta_command const&)> answer) -> responder {
    return [answer = std::move(answer)](std::string& inbox) -> std::optional<reply_plan> {
        auto const eol = inbox.find("\r\n");
        if (eol == std::string::npos) {
            return std::nullopt;
        }
        meta_command c;
        c.line = inbox.substr(0, eol);
        std::vector<std::string> tokens;
        std::string_view rest(c.line);
        while (!rest.empty()) {
            auto const sp = rest.find(' ');
            if (sp != 0) {
                tokens.emplace_back(rest.substr(0, sp));
            }
            rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
        }
        std::size_t consumed = eol + 2;
        if (!tokens.empty()) {
            c.name = tokens.front();
        }
        bool const meta = c.name == "mg" || c.name == "ms" || c.name == "md" || c.name == "ma";
        if (meta && tokens.size() >= 2) {
            c.key = tokens[1];
            std::size_t first_flag = 2;
            if (c.name == "ms") {
                std::size_t size = 0;
                if (tokens.size() >= 3) {
                    std::from_chars(tokens[2].data(), tokens[2].data() + tokens[2].size(), size);
                }
                if (inbox.size() < consumed + size + 2) {
                    return std::nullopt;  // the data block is not all here yet
                }
                c.data = inbox.substr(consumed, size);
                consumed += size + 2;
                first_flag = 3;
            }
            for (std::size_t i = first_flag; i < tokens.size(); ++i) {
                c.flags.push_back(tokens[i]);
            }
        }
        inbox.erase(0, consumed);
        return answer(c);
    };
}

/// What an empty memcached 1.6 answers: `mn` with MN, every `mg` a miss, `ms` stored, `md` and
/// `ma` not found, a classic `get` only END, `stats` an empty listing, `version` a version; quiet (`q`) replies that
/// memcached suppresses (EN, HD, NF) are suppressed. Anything else is `ERROR`.
inline auto empty_memcached_answer(meta_command const& c) -> reply_plan {
    bool const quiet = c.has_flag('q');
    if (c.name == "mn") {
        return {.bytes = "MN\r\n"};
    }
    if (c.name == "mg") {
        return {.bytes = quiet ? "" : "EN\r\n"};
    }
    if (c.name == "get") {
        return {.bytes = "END\r\n"};  // a classic multi-key get: every key a miss
    }
    if (c.name == "ms") {
        return {.bytes = quiet ? "" : "HD" + c.returned_flags() + "\r\n"};
    }
    if (c.name == "md" || c.name == "ma") {
        return {.bytes = quiet ? "" : "NF" + c.returned_flags() + "\r\n"};
    }
    if (c.name == "stats") {
        return {.bytes = "END\r\n"};
    }
    if (c.name == "version") {
        return {.bytes = "VERSION 1.6.99\r\n"};
    }
    if (c.name == "flush_all") {
        return {.bytes = "OK\r\n"};
    }
    return {.bytes = "ERROR\r\n"};
}

/// A fake memcached that answers as `empty_memcached_answer`, except where `hostile` returns a
/// plan of its own.
inline auto meta_server(std::function<std::optional<reply_plan>(meta_command const&)> hostile)
    -> server_script {
    return {.respond = meta_responder([hostile = std::move(hostile)](meta_command const& c) {
        if (hostile) {
            if (auto plan = hostile(c)) {
                return *plan;
            }
        }
        return empty_memcached_answer(c);
    })};
}

}  // namespace asiocache::test
