// SPDX-License-Identifier: MIT
// asiocache URL COMMAND [ARGS...]: any cache operation on any backend, from a shell.
#include "cli.hpp"

#include "asiocache/backends/builtin.hpp"
#include "asiocache/bench/command.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <string_view>

namespace asiocache::cli {
namespace {

constexpr auto description = R"(Cache operations on any asiocache backend, from a shell.

URL forms:
  memory://?max_entries=100000             (this process only: useful for trying things)
  redis://[user:password@]host[:port][/db]
  redis+unix:///path/to/redis.sock?db=N
  memcached://host[:port][,host[:port]...]
  with query parameters namespace, ttl, timeout, serializer and the backend's own.
  Percent-encode '@', ':' and '/' in passwords (%40, %3A, %2F).
URL may also be an alias of a JSON config file (--config, or ASIOCACHE_CONFIG); without it,
ASIOCACHE_URL is used.

Values: with the default bytes serializer what you give is stored exactly, and get prints
it exactly. With --serializer json, msgpack or cbor, values are JSON text.

Exit codes: 0 done; 1 a miss (get, mget, exists, ttl, expire, del found nothing; add found
the key present); 2 a usage error (nothing was sent); 3 the backend failed.)";

// What to do about a failure, by its code.
auto advice(boost::system::error_code const& ec) -> std::string_view {
    if (ec.category() != cache_category()) {
        return {};
    }
    switch (static_cast<errc>(ec.value())) {
        case errc::timeout:
            return "the server did not answer in time: check it is healthy, or allow longer "
                   "with --timeout 10s";
        case errc::backend_unavailable:
            return "check that the server is running and that the URL's host, port or socket "
                   "path is right";
        case errc::not_supported:
            return "this backend cannot do that; 'stats' shows what it supports";
        case errc::not_a_number:
            return "incr works only on values that are integers";
        case errc::serialization_failed:
            return "the stored bytes do not decode with this serializer; --serializer bytes "
                   "prints them as they are";
        case errc::backend_error:
            return "the server refused the command; see its message";
        case errc::invalid_key:
            return "the backend does not accept this key (memcached: at most 250 bytes, no "
                   "spaces or control characters)";
        case errc::value_too_large:
            return "the value is larger than the backend accepts";
        default:
            return {};
    }
}

auto is_usage(boost::system::error_code const& ec) -> bool {
    if (ec.category() != cache_category()) {
        return false;
    }
    switch (static_cast<errc>(ec.value())) {
        case errc::invalid_config:
        case errc::unknown_backend:
        case errc::unknown_alias:
        case errc::invalid_argument:
        case errc::invalid_key:
            return true;
        default:
            return false;
    }
}

auto fail(int code, std::string_view message, std::string_view hint = {}) -> int {
    if (hint.empty()) {
        std::fprintf(stderr, "asiocache: %.*s\n", static_cast<int>(message.size()), message.data());
    } else {
        std::fprintf(stderr, "asiocache: %.*s\n  %.*s\n", static_cast<int>(message.size()),
                     message.data(), static_cast<int>(hint.size()), hint.data());
    }
    return code;
}

auto run_cli(int argc, char** argv) -> int {
    CLI::App app{description, "asiocache"};
    global_options g;
    app.add_option("url", g.target, "Cache URL or config alias (default: $ASIOCACHE_URL)")
        ->envname("ASIOCACHE_URL");
    app.add_option("--serializer", g.serializer,
                   "bytes (default), string, json, msgpack or cbor; overrides the URL's")
        ->check(CLI::IsMember({"bytes", "string", "json", "msgpack", "cbor"}));
    app.add_option("--namespace", g.ns, "Namespace joined to every key; overrides the URL's");
    app.add_option("--ttl", g.ttl, "Time to live of written values: 250ms, 30s, 5m, 2h");
    app.add_option("--timeout", g.timeout, "Per-operation timeout (default 5s; 0 disables)");
    app.add_option("--config", g.config,
                   "JSON config file of aliases (default: "
                   "$ASIOCACHE_CONFIG)");
    app.add_flag("--json", g.json, "Machine-readable output: one JSON document per command");
    app.require_subcommand(1, 1);
    app.fallthrough();

    action act;
    for (auto add : commands()) {
        add(app, act);
    }
    try {
        app.parse(argc, argv);
    } catch (CLI::ParseError const& e) {
        if (e.get_exit_code() != 0 && app.get_subcommands().empty()) {
            // CLI11 says only "A subcommand is required"; name what was given and the choices.
            std::string names;
            for (auto const* sub : app.get_subcommands({})) {
                names += (names.empty() ? "" : ", ") + sub->get_name();
            }
            auto extra = app.remaining();
            auto given = extra.empty() ? std::string("no command given")
                                       : fmt::format("unknown command '{}'", extra.front());
            return fail(exit_usage, given,
                        fmt::format("commands: {} (asiocache COMMAND --help)", names));
        }
        int rc = app.exit(e);  // prints help, or the error with a pointer to --help
        return rc == 0 ? exit_ok : exit_usage;
    }
    if (g.target.empty()) {
        return fail(exit_usage, "no cache given",
                    "give a URL first (asiocache redis://127.0.0.1:6379 get KEY) or set "
                    "ASIOCACHE_URL");
    }
    if (!act) {
        return fail(exit_usage, "no command given", "see asiocache --help");
    }

    // Everything up to the session's construction is configuration: a failure there is a
    // usage error, whatever its code.
    std::optional<session> s;
    try {
        s.emplace(g);
    } catch (boost::system::system_error const& e) {
        return fail(exit_usage, error_detail(e),
                    e.code() == errc::unknown_backend ? "" : "see asiocache --help for URL forms");
    }
    std::string where = s->printable_url();
    try {
        return act(*s);
    } catch (usage_error const& e) {
        return fail(exit_usage, e.what());
    } catch (boost::system::system_error const& e) {
        auto message = fmt::format("{}: {}", where, error_detail(e));
        return fail(is_usage(e.code()) ? exit_usage : exit_backend, message, advice(e.code()));
    } catch (std::exception const& e) {
        return fail(exit_backend, fmt::format("{}: {}", where, e.what()));
    }
}

}  // namespace
}  // namespace asiocache::cli

namespace {

// `asiocache bench URL [URL...] [options]` takes URLs after the command, where every other
// command takes one URL before it, so it is dispatched before the main parser sees it.
auto run_bench(int argc, char** argv) -> int {
    CLI::App app{"asiocache bench: measure caches under a workload, side by side",
                 "asiocache bench"};
    asiocache::bench::configure_bench_command(
        app, [](std::string const& url, boost::asio::any_io_executor ex) {
            return std::make_shared<asiocache::cache>(asiocache::make_cache(url, std::move(ex)));
        });
    try {
        app.parse(argc, argv);
    } catch (CLI::ParseError const& e) {
        return app.exit(e) == 0 ? asiocache::cli::exit_ok : asiocache::cli::exit_usage;
    }
    return asiocache::cli::exit_ok;
}

}  // namespace

auto main(int argc, char** argv) -> int {
    try {
        if (argc > 1 && std::string_view(argv[1]) == "bench") {
            return run_bench(argc - 1, argv + 1);
        }
        return asiocache::cli::run_cli(argc, argv);
    } catch (std::exception const& e) {
        std::fprintf(stderr, "asiocache: %s\n", e.what());
        return asiocache::cli::exit_backend;
    }
}
