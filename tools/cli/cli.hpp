// SPDX-License-Identifier: MIT
#pragma once

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "asiocache/asiocache.hpp"

/// The `asiocache` command-line tool.
namespace asiocache::cli {

/// The tool's exit codes, documented in `--help`.
enum exit_code : int {
    exit_ok = 0,       ///< Done.
    exit_miss = 1,     ///< A miss: `get`/`mget` found nothing, `exists`/`expire`/`ttl` no key,
                       ///< `del` removed nothing, `add` found the key present.
    exit_usage = 2,    ///< Bad arguments, URL or value: nothing was sent.
    exit_backend = 3,  ///< The backend failed (unreachable, timeout, refused, not supported).
};

/// Bad input found by the tool itself (a value that is not JSON, two `-` values): exit 2.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Options shared by every subcommand; they may come before or after its name.
struct global_options {
    std::string target;      ///< A cache URL, or an alias of the config file.
    std::string serializer;  ///< Overrides the URL's; empty: the URL's, else `bytes`.
    std::string ns;          ///< Overrides the URL's namespace when set.
    std::string ttl;         ///< Default TTL for writes, e.g. `10s`.
    std::string timeout;     ///< Per-operation timeout, e.g. `2s`.
    std::string config;      ///< A JSON config file naming aliases (else `ASIOCACHE_CONFIG`).
    bool json = false;       ///< Machine-readable output.
};

/// A value as read back: raw bytes (`bytes` and `string` serializers) or a document (`json`,
/// `msgpack`, `cbor`).
using value = std::variant<std::string, nlohmann::json>;

/// One command's connection to its cache, and the tool's input and output conventions.
class session {
public:
    explicit session(global_options const& g);
    /// Closes the cache's connections.
    ~session();
    session(session const&) = delete;
    auto operator=(session const&) -> session& = delete;

    [[nodiscard]] auto store() -> cache& { return *cache_; }
    [[nodiscard]] auto json_output() const -> bool { return json_; }
    /// The cache's URL with any password hidden.
    [[nodiscard]] auto printable_url() const -> std::string { return config_.redacted(); }
    /// The configuration the cache was built from, the tool's overrides applied.
    [[nodiscard]] auto config() const -> cache_config const& { return config_; }
    /// Where timers and signal waits go for `run` to drive them.
    [[nodiscard]] auto executor() -> boost::asio::io_context::executor_type {
        return io_.get_executor();
    }
    /// Another cache on this session's thread (`stats` and `watch` ask each memcached server on
    /// its own). The caller closes it (`run(c.close())`) before the session ends.
    [[nodiscard]] auto make_cache(cache_config cfg) -> cache;

    /// Runs one cache operation to completion on this thread. Only until it completes: a
    /// network backend keeps reading its socket, so the context never runs out of work.
    template <class T>
    auto run(task<T> t) -> T {
        auto f = boost::asio::co_spawn(io_, std::move(t), boost::asio::use_future);
        while (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
            if (io_.run_one() == 0) {
                io_.restart();
            }
        }
        return f.get();
    }

    /// Runs several operations at once, to completion; one ready future per operation, in order,
    /// holding its result or its exception. The slowest sets the pace, not their sum.
    template <class T>
    auto run_each(std::vector<task<T>> tasks) -> std::vector<std::future<T>> {
        std::vector<std::future<T>> out;
        out.reserve(tasks.size());
        for (auto& t : tasks) {
            out.push_back(boost::asio::co_spawn(io_, std::move(t), boost::asio::use_future));
        }
        for (auto& f : out) {
            while (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
                if (io_.run_one() == 0) {
                    io_.restart();
                }
            }
        }
        return out;
    }

    /// An argument as a value's bytes: `-` reads standard input to its end (once per command).
    auto input(std::string const& arg) -> std::string;
    /// Stores `text` under `key`: as bytes for byte serializers, parsed as JSON (Python's forms
    /// accepted) for structured ones.
    void write(std::string key, std::string const& text, bool only_if_absent);
    void write_many(std::vector<std::pair<std::string, std::string>> const& items);
    auto read(std::string key) -> std::optional<value>;
    /// One result per key. When some keys failed and others were read (a server of a pool is
    /// down), the values read are returned and `failed` lists the others.
    auto read_many(std::vector<std::string> keys, std::vector<item_failure>& failed)
        -> std::vector<std::optional<value>>;

    /// Writes a value as the plain output of `get`: bytes exactly (a newline is added only on a
    /// terminal), documents as JSON text and a newline.
    static void print_raw(value const& v);
    /// A value inside `--json` output: documents as they are; bytes as a string when they are
    /// UTF-8, else `{"base64": "..."}`.
    static auto to_json(value const& v) -> nlohmann::json;
    /// Prints a JSON document on one line (NaN and Infinity written as Python does).
    static void print_json(nlohmann::json const& doc);

private:
    [[nodiscard]] auto structured() const -> bool;
    auto parse_input(std::string const& text) const -> nlohmann::json;

    boost::asio::io_context io_;
    cache_config config_;
    std::optional<cache> cache_;
    bool json_ = false;
    bool stdin_used_ = false;
};

/// Runs the parsed command against a session; returns the exit code.
using action = std::function<int(session&)>;

/// Adds one subcommand to `app`; when it is the one given, it sets `out`.
using command_adder = void (*)(CLI::App& app, action& out);

/// Every subcommand, in `--help` order. A new subcommand is one function and one line here.
auto commands() -> std::vector<command_adder> const&;

// One function per subcommand (read_commands.cpp, write_commands.cpp, admin_commands.cpp).
void add_get(CLI::App& app, action& out);
void add_mget(CLI::App& app, action& out);
void add_exists(CLI::App& app, action& out);
void add_ttl(CLI::App& app, action& out);
void add_set(CLI::App& app, action& out);
void add_add(CLI::App& app, action& out);
void add_mset(CLI::App& app, action& out);
void add_del(CLI::App& app, action& out);
void add_incr(CLI::App& app, action& out);
void add_expire(CLI::App& app, action& out);
void add_clear(CLI::App& app, action& out);
void add_flush(CLI::App& app, action& out);
void add_stats(CLI::App& app, action& out);
void add_watch(CLI::App& app, action& out);
void add_raw(CLI::App& app, action& out);

}  // namespace asiocache::cli
